"""helm-oci as Helm runs it: plugin.yaml's command with Helm 3's (and Helm 2's) environment
behaves as it does standalone; and the component imports nothing but standard WASI."""
import os
import re
import subprocess
from pathlib import Path

import yaml

from conftest import BIN, REPO, files_left, helm2_plugin_env, helm3_plugin_env

# What Helm 2.16+ and 3.4+ parse strictly (an unknown field makes them refuse every plugin).
LEGACY_FIELDS = {"name", "version", "usage", "description", "command", "hooks", "ignoreFlags", "downloaders"}
DOWNLOADER_FIELDS = {"command", "protocols"}


def plugin_yaml():
    text = (REPO / "plugin.yaml").read_text()
    return dict(re.findall(r'^([A-Za-z]+):\s*"?([^"\n]*)"?', text, re.M))


def test_manifest_uses_only_legacy_fields_and_is_named_oci():
    top = plugin_yaml()
    assert set(top) <= LEGACY_FIELDS
    assert top["name"] == "oci" and top["command"] == "$HELM_PLUGIN_DIR/bin/helm-oci"
    manifest = yaml.safe_load((REPO / "plugin.yaml").read_text())
    assert set(manifest) == set(top)
    # Helm 4 reads a legacy plugin that declares downloaders as a downloader only (getter/v1,
    # internal/plugin/metadata.go fromMetadataLegacy), and only cli/v1 plugins become
    # commands: with one, `helm oci` would not exist.
    assert "downloaders" not in manifest


def test_the_downloader_is_a_plugin_of_its_own_that_runs_the_oci_plugins_binary(tmp_path):
    manifest = yaml.safe_load((REPO / "ocirepo" / "plugin.yaml").read_text())
    assert set(manifest) <= LEGACY_FIELDS and "command" not in manifest and "hooks" not in manifest
    oci = yaml.safe_load((REPO / "plugin.yaml").read_text())
    assert manifest["name"] == "ocirepo" and manifest["version"] == oci["version"]
    [downloader] = manifest["downloaders"]
    assert set(downloader) == DOWNLOADER_FIELDS and downloader["protocols"] == ["ocirepo", "ocirepo+http"]
    program, *args = downloader["command"].split(" ")
    assert args == ["downloader"]
    # Installed as `helm plugin install DIR` leaves both (symlinks), and as a checkout has
    # them, Helm runs the command relative to the downloader plugin's own directory.
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "some-checkout").symlink_to(REPO)
    (plugins / "ocirepo").symlink_to(plugins / "some-checkout" / "ocirepo")
    expected = subprocess.run([BIN, "version"], capture_output=True, text=True).stdout
    for plugin_dir in (plugins / "ocirepo", REPO / "ocirepo"):
        p = subprocess.run([plugin_dir / program, "version"], capture_output=True, text=True, cwd=tmp_path)
        assert (p.returncode, p.stdout, p.stderr) == (0, expected, "")


def run_as_plugin(env, args):
    command = plugin_yaml()["command"].replace("$HELM_PLUGIN_DIR", env["HELM_PLUGIN_DIR"])
    return subprocess.run([command, *map(str, args)], env=env, capture_output=True, text=True, timeout=120)


def test_helm3_environment(helm_oci, registry, chart, tmp_path):
    standalone = helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")
    helm_home = tmp_path / "helm3"
    env = helm3_plugin_env(REPO, tmp_path, helm_home / "plugins", os.environ["PATH"])
    p = run_as_plugin(env, ["push", chart, f"oci://{registry.host}/charts", "--plain-http"])
    assert (p.returncode, p.stdout, p.stderr) == (0, standalone.stdout, "")
    # The compiled component lives beside the binary, never in Helm's (writable) cache.
    assert any(n.endswith(".cwasm") for n in files_left(BIN.parent))
    assert not any(p.name.endswith(".cwasm") for p in helm_home.rglob("*"))

    out = tmp_path / "out"
    p = run_as_plugin({**env, "HELM_DEBUG": "true"}, ["pull", f"oci://{registry.host}/charts/mychart",
                                                      "--version", "0.1.0", "-d", out, "--plain-http"])
    assert p.returncode == 0 and "[debug] GET" in p.stderr
    assert files_left(out) == ["mychart-0.1.0.tgz"]


def test_helm2_environment(registry, chart, tmp_path):
    helm_home = tmp_path / ".helm"
    env = helm2_plugin_env(REPO, tmp_path, helm_home / "plugins", os.environ["PATH"])
    p = run_as_plugin(env, ["push", chart, f"oci://{registry.host}/charts", "--plain-http"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(f"Pushed: {registry.host}/charts/mychart:0.1.0\nDigest: sha256:")
    assert not any(p.name.endswith(".cwasm") for p in helm_home.rglob("*"))
    # A Helm 3 variable left in the environment does not move Helm 2's cache.
    leftover = {**env, "HELM_CACHE_HOME": str(tmp_path / "helm3-cache")}
    p = run_as_plugin(leftover, ["pull", f"oci://{registry.host}/charts/mychart:0.1.0", "-d", tmp_path / "out",
                                 "--plain-http"])
    assert p.returncode == 0, p.stderr
    assert (helm_home / "cache" / "oci" / "index.json").exists(), "Helm 2's cache is under HELM_HOME"
    assert not (tmp_path / "helm3-cache").exists()


def test_a_helm_home_left_from_helm_2_is_not_helm_3s(registry, chart, tmp_path):
    """Helm 3.0-3.3 pass a plugin no HELM_CONFIG_HOME or HELM_CACHE_HOME: a HELM_HOME left in
    the environment from Helm 2 does not move Helm 3's chart cache or configuration."""
    env = helm3_plugin_env(REPO, tmp_path, tmp_path / "plugins", os.environ["PATH"])
    for name in ("HELM_CONFIG_HOME", "HELM_CACHE_HOME", "HELM_DATA_HOME"):
        del env[name]
    env.update(HELM_HOME=str(tmp_path / ".helm"), XDG_CACHE_HOME=str(tmp_path / "xdg-cache"))
    assert run_as_plugin(env, ["push", chart, f"oci://{registry.host}/charts", "--plain-http"]).returncode == 0
    p = run_as_plugin(env, ["pull", f"oci://{registry.host}/charts/mychart:0.1.0", "-d", tmp_path / "out",
                            "--plain-http"])
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "xdg-cache" / "helm" / "oci" / "index.json").exists()
    assert not (tmp_path / ".helm").exists()


def test_help_on_every_command(helm_oci):
    for cmd in ["push", "pull", "tag", "copy", "version"]:
        p = helm_oci.run(cmd, "--help")
        assert "Usage:" in p.stdout and "--help" in p.stdout


def test_version_asks_the_component(helm_oci):
    p = helm_oci.run("version")
    assert re.fullmatch(r"helm-oci \d+\.\d+\.\d+ \(component \d+\.\d+\.\d+\)\n", p.stdout)


def leb(data, i):
    value = shift = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def component_imports(path: Path):
    """Names of a component's top-level imports (component-model binary format, import section 10)."""
    data = path.read_bytes()
    assert data[:8] == b"\0asm\x0d\0\x01\0", "not a component"
    names, i = [], 8
    while i < len(data):
        section = data[i]
        size, i = leb(data, i + 1)
        if section == 10:
            j = i
            count, j = leb(data, j)
            for _ in range(count):
                assert data[j] in (0, 1)
                length, j = leb(data, j + 1)
                names.append(data[j:j + length].decode())
                j += length
                sort = data[j]
                j += 2 if sort == 0 else 1  # core-module sort has a second byte
                if sort in (2, 3):  # value / type bound: a tag byte, then an index
                    j += 1
                _, j = leb(data, j)
        i += size
    return names


def test_component_imports_only_standard_wasi():
    imports = component_imports(BIN.parent / "helm-oci.wasm")
    assert imports, "the component imports nothing? the parser is broken"
    assert any(n.startswith("wasi:http/outgoing-handler@0.2") for n in imports)
    assert [n for n in imports if not re.match(r"wasi:(cli|filesystem|http|io|clocks|random)/[a-z-]+@0\.2\.\d+$", n)] == []
