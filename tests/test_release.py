"""The release archive as a user installs it: release.sh packs the built plugin, the install
hook compiles the component with no cargo on PATH (as Helm 3 and Helm 2 run it, from the
unpacked archive and from a directory installed as a symlink), and the installed plugin
pushes and pulls. A component that is not the host's is refused plainly."""
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import REPO, files_left, helm2_plugin_env, helm3_plugin_env

# A PATH without cargo or rustup: what a user of the release archive has.
CLEAN_PATH = "/usr/bin:/bin"
TOP = "helm-oci"  # Helm 4 unpacks helm-oci-<version>-<os>-<arch>.tgz from helm-oci/
SHIPPED = {"plugin.yaml", "README.md", "LICENSE", "host", "host/build.sh", "bin", "bin/helm-oci", "bin/helm-oci.wasm",
           "ocirepo", "ocirepo/plugin.yaml", "ocirepo/bin", "ocirepo/bin/helm-oci"}


def workspace_version():
    text = (REPO / "Cargo.toml").read_text()
    return re.search(r'^\[workspace\.package\][^\[]*?^version\s*=\s*"([^"]+)"', text, re.M | re.S).group(1)


def install_hook():
    """plugin.yaml's hooks.install command, as Helm reads it (a YAML double-quoted string)."""
    text = (REPO / "plugin.yaml").read_text()
    return json.loads(re.search(r'^hooks:\n(?:\s+.*\n)*?\s+install:\s*(".*")\s*$', text, re.M).group(1))


@pytest.fixture(scope="module")
def archive():
    p = subprocess.run(["bash", str(REPO / "release.sh")], cwd=REPO, capture_output=True, text=True, timeout=3600)
    assert p.returncode == 0, p.stderr
    path = REPO / p.stdout.strip().splitlines()[-1]
    assert path.name == f"helm-oci-{workspace_version()}-linux-amd64.tgz" and path.is_file()
    return path


def unpack(archive: Path, plugins: Path) -> Path:
    plugins.mkdir(parents=True)
    with tarfile.open(archive) as t:
        t.extractall(plugins, **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))
    return plugins / TOP


def no_cargo():
    if shutil.which("cargo", path=CLEAN_PATH) or shutil.which("rustup", path=CLEAN_PATH):
        pytest.skip(f"cargo is on {CLEAN_PATH}: a machine without it cannot be made here")


def helm3_env(plugin_dir: Path, home: Path):
    return helm3_plugin_env(plugin_dir, home, plugin_dir.parent, CLEAN_PATH)


def helm2_env(plugin_dir: Path, home: Path):
    return helm2_plugin_env(plugin_dir, home, plugin_dir.parent, CLEAN_PATH)


def run_hook(env):
    """The install hook as Helm 2 and 3 run it: `sh -c` with the plugin's environment."""
    return subprocess.run(["sh", "-c", install_hook()], env=env, capture_output=True, text=True, timeout=600)


def compiled(plugin_dir: Path):
    return [n for n in files_left(plugin_dir / "bin") if n.endswith(".cwasm")]


def run(plugin_dir: Path, env, *args):
    return subprocess.run([str(plugin_dir / "bin" / "helm-oci"), *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=120)


def error_line(p):
    assert p.returncode == 1, f"expected exit 1, got {p.returncode}: {p.stdout}{p.stderr}"
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), p.stderr
    return lines[0]


def test_archive_holds_the_built_plugin_and_no_sources(archive):
    with tarfile.open(archive) as t:
        members = {m.name: m for m in t.getmembers()}
    assert {n for n in members if n != TOP} == {f"{TOP}/{n}" for n in SHIPPED}
    for exe in ("bin/helm-oci", "host/build.sh", "ocirepo/bin/helm-oci"):
        assert members[f"{TOP}/{exe}"].mode & 0o111
    # Helm's archive installers refuse anything but files and directories.
    assert all(m.isfile() or m.isdir() for m in members.values())
    assert (REPO / "LICENSE").read_text().lstrip().startswith("Apache License")


def test_installed_archive_needs_no_cargo_and_works(archive, registry, chart, tmp_path):
    no_cargo()
    plugin_dir = unpack(archive, tmp_path / "plugins")
    assert compiled(plugin_dir) == []

    # Helm 3 runs the install hook: no cargo, so the shipped build is kept and compiled here.
    shipped = {n: (plugin_dir / "bin" / n).read_bytes() for n in ("helm-oci", "helm-oci.wasm")}
    env3 = helm3_env(plugin_dir, tmp_path)
    p = run_hook(env3)
    assert (p.returncode, p.stderr) == (0, ""), p.stderr
    assert len(compiled(plugin_dir)) == 1
    assert not (plugin_dir / "target").exists()
    assert {n: (plugin_dir / "bin" / n).read_bytes() for n in shipped} == shipped

    # So does Helm 2, with its own environment; the compiled component is made again.
    for f in compiled(plugin_dir):
        (plugin_dir / "bin" / f).unlink()
    env2 = helm2_env(plugin_dir, tmp_path)
    p = run_hook(env2)
    assert (p.returncode, p.stderr) == (0, ""), p.stderr
    assert len(compiled(plugin_dir)) == 1

    version = workspace_version()
    p = run(plugin_dir, env3, "version")
    assert p.stdout == f"helm-oci {version} (component {version})\n"

    p = run(plugin_dir, env3, "push", chart, f"oci://{registry.host}/charts", "--plain-http")
    assert p.returncode == 0, p.stderr
    assert re.fullmatch(rf"Pushed: {re.escape(registry.host)}/charts/mychart:0\.1\.0\nDigest: sha256:[0-9a-f]{{64}}\n",
                        p.stdout)
    digest = p.stdout.split("Digest: ")[1].strip()

    out = tmp_path / "out"
    p = run(plugin_dir, env2, "pull", f"oci://{registry.host}/charts/mychart", "--version", "0.1.0", "-d", out,
            "--plain-http")
    assert p.returncode == 0, p.stderr
    assert p.stdout == f"Pulled: {registry.host}/charts/mychart:0.1.0\nDigest: {digest}\n"
    assert files_left(out) == ["mychart-0.1.0.tgz"]
    # The downloader plugin inside it, installed as `helm plugin install DIR` links it, runs
    # this binary: the index lists the chart just pushed.
    (plugin_dir.parent / "ocirepo").symlink_to(plugin_dir / "ocirepo")
    getter = helm3_env(plugin_dir.parent / "ocirepo", tmp_path)
    p = subprocess.run([str(plugin_dir.parent / "ocirepo" / "bin" / "helm-oci"), "downloader", "", "", "",
                        f"ocirepo+http://{registry.host}/charts/index.yaml"], env=getter, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert [e["version"] for e in json.loads(p.stdout)["entries"]["mychart"]] == ["0.1.0"]
    # The compiled component stays beside the binary, never in Helm's homes.
    assert not any(f.name.endswith(".cwasm") for f in tmp_path.rglob("*") if plugin_dir not in f.parents)


@pytest.mark.parametrize("helm", ["helm3", "helm2"])
def test_directory_install_through_a_symlink(archive, registry, chart, tmp_path, helm):
    """`helm plugin install DIR` links DIR into the plugins directory and runs the hook with
    HELM_PLUGIN_DIR set to the link: the component is compiled into DIR once, and the plugin
    works through the link."""
    no_cargo()
    source = unpack(archive, tmp_path / "checkout")
    link = tmp_path / "plugins" / TOP
    link.parent.mkdir()
    link.symlink_to(source, target_is_directory=True)
    env = (helm3_env if helm == "helm3" else helm2_env)(link, tmp_path)
    p = run_hook(env)
    assert (p.returncode, p.stderr) == (0, ""), p.stderr
    assert len(compiled(source)) == 1 and link.is_symlink()
    # Helm runs the plugin as $HELM_PLUGIN_DIR/bin/helm-oci, the link's path; a second command
    # reuses the compiled component.
    p = run(link, env, "push", chart, f"oci://{registry.host}/charts", "--plain-http")
    assert p.returncode == 0, p.stderr
    out = tmp_path / "out"
    p = run(link, env, "pull", f"oci://{registry.host}/charts/mychart", "--version", "0.1.0", "-d", out,
            "--plain-http")
    assert p.returncode == 0, p.stderr
    assert files_left(out) == ["mychart-0.1.0.tgz"] and len(compiled(source)) == 1


def test_a_component_of_another_version_is_refused(archive, tmp_path):
    """The shipped component with its version string changed (no second build needed)."""
    plugin_dir = unpack(archive, tmp_path / "plugins")
    wasm = plugin_dir / "bin" / "helm-oci.wasm"
    data = wasm.read_bytes()
    version = workspace_version()
    # The version as a string constant: not the `@version` of the WIT interface names.
    spots = [m.start() for m in re.finditer(re.escape(version.encode()), data) if data[m.start() - 1] != ord("@")]
    if len(spots) != 1:
        pytest.skip(f"the version string is not found once in the component ({len(spots)} times)")
    other = re.sub(r"\d", "9" if "9" not in version else "8", version)
    wasm.write_bytes(data[:spots[0]] + other.encode() + data[spots[0] + len(version):])

    expected = (f"Error: the component {wasm} is version {other} but this helm-oci is {version}: "
                "reinstall the plugin (or run host/build.sh)")
    env = helm3_env(plugin_dir, tmp_path)
    assert error_line(run(plugin_dir, env, "version")) == expected
    assert error_line(run(plugin_dir, env, "pull", "oci://127.0.0.1:1/charts/mychart", "--version", "1.0.0")) \
        == expected
    # The install hook says so too, and fails.
    assert error_line(run_hook(env)) == expected


def test_a_component_of_another_wit_is_refused(archive, tmp_path):
    """A component exporting nothing this host calls: what a component built from another WIT
    looks like to it."""
    plugin_dir = unpack(archive, tmp_path / "plugins")
    wasm = plugin_dir / "bin" / "helm-oci.wasm"
    wasm.write_bytes(b"\0asm\x0d\0\x01\0")  # an empty component
    line = error_line(run(plugin_dir, helm3_env(plugin_dir, tmp_path), "version"))
    assert line.startswith(f"Error: the component {wasm} does not match this helm-oci {workspace_version()} "
                           "(built from another WIT?): reinstall the plugin (or run host/build.sh): "), line
