"""Helm's own repository commands over a registry, through plugin.yaml's downloader for
ocirepo:// (HTTPS) and ocirepo+http:// (plain HTTP): the real Helm 4.3 library adds a
registry namespace as a chart repository and loads charts from it; the downloader run as
Helm 2 and 3 run it gives the same index and archives; credentials and CA files reach it
the way Helm passes them; and what a registry serves is verified before Helm sees it."""
import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import (HELM4, REPO, Registry, config_json, helm2_plugin_env, helm3_plugin_env, helm4, htpasswd, sha256, tgz,
                      write_chart)
from fronts import Front
from pki import CA
from test_discovery import chart_files, seed, seed_image

NAMESPACE = "charts"
ALPHA = ["1.0.0", "1.0.0+build.1", "1.1.0", "v1.2.0", "2.0.0-rc.1"]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """charts/alpha (build metadata, a `v` tag, a prerelease and `latest`), charts/gamma
    (packaged and pushed by Helm 4.3), charts/team/nested, charts/legacy (apiVersion v1),
    charts/broken (an invalid config), an image inside the namespace, and a chart outside it."""
    root = tmp_path_factory.mktemp("downloader")
    reg = Registry(root / "registry")
    for v in ALPHA:
        seed(reg, "charts/alpha", v, appVersion=f"app-{v}", description=f"Alpha at {v}")
    seed(reg, "charts/alpha", "1.1.0", tag="latest", appVersion="app-1.1.0", description="Alpha at 1.1.0")
    chart = write_chart(root / "src", name="gamma", version="0.3.0", description="Packaged by Helm",
                        keywords=["web"], maintainers=[{"name": "ops", "email": "ops@example.com"}])
    packaged = helm4("package", chart, root / "pkg").strip()
    helm4("push", packaged, f"oci://{reg.host}/{NAMESPACE}")
    seed(reg, "charts/team/nested", "0.1.0")
    config, layer = chart_files("legacy", "1.0.0")
    reg.put_chart("charts/legacy", "1.0.0", config.replace(b'"apiVersion": "v2"', b'"apiVersion": "v1"'), layer)
    reg.put_chart("charts/broken", "1.0.0", b'{"name": "broken"}', layer)
    seed_image(reg, "charts/image", "1.0.0")
    seed(reg, "other/delta", "3.0.0")
    yield reg
    reg.stop()


EXPECTED = {"alpha": {*ALPHA}, "gamma": {"0.3.0"}, "team/nested": {"0.1.0"}, "legacy": {"1.0.0"}}


def installed(tmp_path):
    """A plugins directory with helm-oci's two plugins in it, the oci plugin and its ocirepo
    downloader, as `helm plugin install` of each directory leaves them (symlinks)."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "oci").symlink_to(REPO)
    (plugins / "ocirepo").symlink_to(REPO / "ocirepo")
    return plugins


def run_as(helm, tmp_path):
    """The environment Helm 2 or Helm 3 runs the downloader with (Helm 3 passes a
    repository's credentials, empty here), and a working directory of Helm's own."""
    plugins = installed(tmp_path)
    shape = helm2_plugin_env if helm == "helm2" else helm3_plugin_env
    env = shape(plugins / "ocirepo", tmp_path, plugins, os.environ["PATH"])
    if helm == "helm3":
        env.update(HELM_PLUGIN_USERNAME="", HELM_PLUGIN_PASSWORD="", HELM_PLUGIN_PASS_CREDENTIALS_ALL="false")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    return env, elsewhere


def plugin_env(tmp_path):
    """Helm 3's environment for the downloader of helm-oci installed under `tmp_path`."""
    plugins = installed(tmp_path)
    return helm3_plugin_env(plugins / "ocirepo", tmp_path, plugins, os.environ["PATH"])


def helm4_env(tmp_path, plugins):
    helm = tmp_path / "helm4"
    repositories = helm / "config" / "repositories.yaml"
    repositories.parent.mkdir(parents=True)
    repositories.write_text("apiVersion: v1\nrepositories: []\n")
    return {**os.environ, "HOME": str(tmp_path), "HELM_PLUGINS": str(plugins),
            "HELM_CONFIG_HOME": str(helm / "config"), "HELM_CACHE_HOME": str(helm / "cache"),
            "HELM_DATA_HOME": str(helm / "data"), "HELM_REPOSITORY_CONFIG": str(repositories),
            "HELM_REPOSITORY_CACHE": str(helm / "cache" / "repository")}


def download(env, url, cert="", key="", ca="", cwd=None):
    """Runs the downloader as Helm does: the command plugin.yaml declares, relative to the
    plugin's directory, then CERT KEY CA URL; stdout read as bytes."""
    declared = yaml.safe_load((REPO / "ocirepo" / "plugin.yaml").read_text())["downloaders"][0]["command"]
    program, *args = declared.split(" ")
    command = [str(Path(env["HELM_PLUGIN_DIR"]) / program), *args, cert, key, ca, url]
    return subprocess.run(command, capture_output=True, env=env, cwd=cwd, timeout=120)


def downloaded(env, url, **files):
    p = download(env, url, **files)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout


def error_line(p):
    assert p.returncode == 1 and p.stdout == b"", (p.returncode, p.stdout[:200], p.stderr)
    lines = [l for l in p.stderr.decode().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), p.stderr
    return lines[0]


def versions(index):
    return {name: {e["version"] for e in entries} for name, entries in index["entries"].items()}


def layer_of(reg, repo, manifest_digest):
    manifest = json.loads(reg.manifest(repo, manifest_digest))
    (layer,) = [l for l in manifest["layers"] if l["mediaType"].startswith("application/vnd.cncf.helm.chart.content")]
    return layer["digest"]


def check_index(reg, index, scheme):
    """The index lists exactly the charts and versions under the namespace, each entry with
    Helm's fields, the chart layer's digest, and a URL pinned to the manifest it came from."""
    assert index["apiVersion"] == "v1" and index["generated"]
    assert versions(index) == EXPECTED
    for name, entries in index["entries"].items():
        for e in entries:
            (url,) = e["urls"]
            prefix = f"{scheme}://{reg.host}/{NAMESPACE}/{name}@"
            assert url.startswith(prefix) and url.endswith(f"/{e['name']}-{e['version']}.tgz"), url
            manifest_digest = url[len(prefix):].split("/")[0]
            assert "sha256:" + e["digest"] == layer_of(reg, f"{NAMESPACE}/{name}", manifest_digest)
            assert e["apiVersion"] in ("v1", "v2")
    alpha = {e["version"]: e for e in index["entries"]["alpha"]}
    assert alpha["v1.2.0"]["appVersion"] == "app-v1.2.0" and alpha["v1.2.0"]["description"] == "Alpha at v1.2.0"
    gamma = index["entries"]["gamma"][0]
    assert gamma["keywords"] == ["web"] and gamma["maintainers"] == [{"name": "ops", "email": "ops@example.com"}]
    assert gamma["created"].endswith("Z"), "Helm's push stamps when it packaged the chart"
    assert index["entries"]["legacy"][0]["apiVersion"] == "v1"


def test_helm_adds_a_registry_namespace_as_a_repository_and_loads_its_charts(seeded, tmp_path):
    env = helm4_env(tmp_path, installed(tmp_path))
    helm4("repo-add", "myoci", f"ocirepo+http://{seeded.host}/{NAMESPACE}", env=env)
    cached = Path(env["HELM_REPOSITORY_CACHE"]) / "myoci-index.yaml"
    check_index(seeded, json.loads(cached.read_text()), "ocirepo+http")

    # Helm picks the newest stable version, fetches it through the downloader, and keeps it
    # under the index's digest, which is the archive's own.
    shown = helm4("show", "myoci/alpha", env=env)
    assert "name: alpha" in shown and "version: v1.2.0" in shown
    assert "name: gamma" in helm4("show", "myoci/gamma", env=env)
    content = sorted(p.name for p in (Path(env["HELM_CACHE_HOME"]) / "content").rglob("*.chart"))
    index = json.loads(cached.read_text())
    digests = {e["version"]: e["digest"] for e in index["entries"]["alpha"]}
    assert f"{digests['v1.2.0']}.chart" in content and len(content) == 2
    for chart in (Path(env["HELM_CACHE_HOME"]) / "content").rglob("*.chart"):
        assert hashlib.sha256(chart.read_bytes()).hexdigest() == chart.stem


@pytest.mark.parametrize("helm", ["helm2", "helm3"])
def test_the_downloader_run_as_helm_2_and_3_run_it(seeded, tmp_path, helm):
    """Helm 2 and 3 run the command from their own working directory with their plugin
    environment; the index is the same, and every URL in it serves exactly its archive."""
    env, elsewhere = run_as(helm, tmp_path)
    p = download(env, f"ocirepo+http://{seeded.host}/{NAMESPACE}/index.yaml", cwd=elsewhere)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stderr.decode().startswith(f"WARNING: skipped {NAMESPACE}/broken: ")
    index = json.loads(p.stdout)
    check_index(seeded, index, "ocirepo+http")
    for entries in index["entries"].values():
        for e in entries:
            archive = downloaded(env, e["urls"][0])
            assert hashlib.sha256(archive).hexdigest() == e["digest"]
    assert not any(elsewhere.iterdir()), "nothing is written where Helm runs it"


def test_the_whole_registry_is_one_repository(seeded, tmp_path):
    env = plugin_env(tmp_path)
    index = json.loads(downloaded(env, f"ocirepo+http://{seeded.host}/index.yaml"))
    assert {"charts/alpha", "charts/gamma", "charts/team/nested", "other/delta"} <= set(index["entries"])
    assert "charts/image" not in index["entries"]


THROTTLED = (429, [("Retry-After", "3600")], b'{"errors":[{"code":"TOOMANYREQUESTS","message":"rate limited"}]}')
DENIED = (403, [], b'{"errors":[{"code":"DENIED","message":"not yours"}]}')


def refusing(answers):
    """A Front `intercept` giving each repository's tag list the answer `answers` names."""
    def intercept(method, path, headers):
        for repository, answer in answers.items():
            if path.startswith(f"/v2/{repository}/tags/list"):
                return answer
        return None
    return intercept


def test_a_repository_throttled_or_in_trouble_fails_the_index_and_helm_keeps_none(seeded, tmp_path):
    """An index without a repository the registry would not serve for now would have Helm
    say its charts do not exist until the next update: the downloader fails instead, naming
    it, and Helm caches nothing. (The throttle asks for an hour, so nothing is waited for.)"""
    answers = {"charts/gamma": THROTTLED, "charts/team/nested": DENIED}
    with Front(seeded.host, intercept=refusing(answers)) as front:
        line = error_line(download(plugin_env(tmp_path), f"ocirepo+http://{front.host}/{NAMESPACE}/index.yaml"))
        assert line == (f"Error: cannot index {front.host}/charts: {front.host}/charts/gamma: rate limited; the "
                        "registry asks for a pause of 3600 s (TOOMANYREQUESTS, HTTP 429)")
        env = helm4_env(tmp_path, tmp_path / "plugins")
        p = subprocess.run([sys.executable, str(HELM4), "repo-add", "myoci", f"ocirepo+http://{front.host}/{NAMESPACE}"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 1 and "rate limited" in p.stderr, p.stderr
    assert not (Path(env["HELM_REPOSITORY_CACHE"]) / "myoci-index.yaml").exists()


def test_a_repository_refused_for_good_is_left_out_of_the_index_and_said(seeded, tmp_path):
    with Front(seeded.host, intercept=refusing({"charts/team/nested": DENIED})) as front:
        p = download(plugin_env(tmp_path), f"ocirepo+http://{front.host}/{NAMESPACE}/index.yaml")
    assert p.returncode == 0, p.stderr
    assert versions(json.loads(p.stdout)) == {k: v for k, v in EXPECTED.items() if k != "team/nested"}
    assert f"WARNING: skipped charts/team/nested: {front.host}/charts/team/nested: access denied (not yours)" \
        in p.stderr.decode()


@pytest.mark.parametrize("namespace", ["typo", "charts/alpha"])
def test_an_index_of_nothing_warns_that_the_namespace_may_be_wrong(seeded, tmp_path, namespace):
    """Helm adds a repository whose index is empty without a word: a mistyped namespace, or a
    chart's repository given for its namespace, is said on stderr (which Helm passes on)."""
    p = download(plugin_env(tmp_path), f"ocirepo+http://{seeded.host}/{namespace}/index.yaml")
    assert p.returncode == 0 and json.loads(p.stdout)["entries"] == {}, p.stderr
    assert p.stderr.decode() == (f"WARNING: no charts under {seeded.host}/{namespace}: is that the namespace the "
                                 "charts are in (not a chart's own repository)?\n")


def test_an_index_lists_short_versions_and_passes_over_only_a_stray_tag(registry, tmp_path):
    for version in ("1.2", "v2"):
        seed(registry, "short/web", version)
    seed(registry, "short/web", "v2", tag="2.1.0")
    env = plugin_env(tmp_path)
    p = download(env, f"ocirepo+http://{registry.host}/short/index.yaml")
    assert p.returncode == 0, p.stderr
    assert versions(json.loads(p.stdout)) == {"web": {"1.2", "v2"}}
    assert p.stderr.decode().startswith(f"WARNING: skipped short/web: {registry.host}/short/web:2.1.0: ")


def test_an_index_keeps_any_rfc3339_created_and_reads_a_config_without_api_version(registry, tmp_path):
    """Other tools stamp `created` with fractions or an offset, and may leave apiVersion out
    of the config; Helm reads both (the chart as v1)."""
    stamps = {"1.0.0": "2020-01-02T03:04:05.123456789Z", "1.1.0": "2020-01-02T04:04:05+01:00"}
    for version, created in stamps.items():
        _, layer = chart_files("web", version)
        registry.put_chart("stamped/web", version, json.dumps({"name": "web", "version": version}).encode(), layer,
                           annotations={"org.opencontainers.image.created": created})
    index = json.loads(downloaded(plugin_env(tmp_path), f"ocirepo+http://{registry.host}/stamped/index.yaml"))
    entries = {e["version"]: e for e in index["entries"]["web"]}
    assert {v: e["created"] for v, e in entries.items()} == stamps
    assert {e["apiVersion"] for e in entries.values()} == {"v1"}


def test_an_index_lists_what_its_urls_fetch_even_after_a_tag_moves(seeded, tmp_path):
    env = plugin_env(tmp_path)
    before = json.loads(downloaded(env, f"ocirepo+http://{seeded.host}/other/index.yaml"))
    seed(seeded, "other/delta", "3.0.0", description="Pushed again")
    after = json.loads(downloaded(env, f"ocirepo+http://{seeded.host}/other/index.yaml"))
    (old,), (new,) = before["entries"]["delta"], after["entries"]["delta"]
    assert old["digest"] != new["digest"] and new["description"] == "Pushed again"
    for entry in (old, new):
        assert hashlib.sha256(downloaded(env, entry["urls"][0])).hexdigest() == entry["digest"]


def test_a_provenance_url_serves_the_charts_provenance_file(helm_oci, registry, tmp_path):
    """Helm asks for `URL.prov` on `--verify` and `--prov`: the chart's provenance layer, as
    pushed; a chart without one is said to have none."""
    packaged = helm4("package", write_chart(tmp_path / "src", name="signed"), tmp_path / "pkg").strip()
    signed = b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: signed\n"
    Path(packaged + ".prov").write_bytes(signed)
    helm_oci.run("push", packaged, f"oci://{registry.host}/ns", "--plain-http")
    helm_oci.run("push", write_chart(tmp_path / "plain", name="unsigned"), f"oci://{registry.host}/ns", "--plain-http")
    env = plugin_env(tmp_path)
    index = json.loads(downloaded(env, f"ocirepo+http://{registry.host}/ns/index.yaml"))
    (signed_url,), (unsigned_url,) = index["entries"]["signed"][0]["urls"], index["entries"]["unsigned"][0]["urls"]
    assert downloaded(env, signed_url + ".prov") == signed
    assert hashlib.sha256(downloaded(env, signed_url)).hexdigest() == index["entries"]["signed"][0]["digest"]
    line = error_line(download(env, unsigned_url + ".prov"))
    assert line == f"Error: {registry.host}/ns/unsigned@{unsigned_url.split('@')[1].split('/')[0]} has no provenance file"


USER, PASSWORD = "alice", "s3cret-pass"


@pytest.fixture
def tls_registry(tmp_path):
    ca = CA(tmp_path / "pki")
    cert, key = ca.issue("registry")
    auth = {"htpasswd": {"realm": "test", "path": str(htpasswd(tmp_path / "htpasswd", {USER: PASSWORD}))}}
    reg = Registry(tmp_path / "tls-registry", tls={"certificate": str(cert), "key": str(key)}, auth=auth)
    yield reg, ca
    reg.stop()


def test_credentials_and_ca_file_as_helm_passes_them(helm_oci, tls_registry, tmp_path):
    reg, ca = tls_registry
    chart = write_chart(tmp_path / "src", name="secure", version="1.0.0")
    helm_oci.run("push", chart, f"oci://{reg.host}/{NAMESPACE}", "--ca-file", ca.cert,
                 "--username", USER, "--password", PASSWORD)
    env = {**plugin_env(tmp_path), "HELM_PLUGIN_USERNAME": USER, "HELM_PLUGIN_PASSWORD": PASSWORD}
    url = f"ocirepo://{reg.host}/{NAMESPACE}/index.yaml"
    index = json.loads(downloaded(env, url, ca=str(ca.cert)))
    (entry,) = index["entries"]["secure"]
    assert entry["urls"][0].startswith(f"ocirepo://{reg.host}/")
    archive = downloaded(env, entry["urls"][0], ca=str(ca.cert))
    assert hashlib.sha256(archive).hexdigest() == entry["digest"]

    # Hints name what `helm repo add` offers: Helm passes a downloader no --insecure-skip-tls-verify.
    unknown = error_line(download(env, url))
    assert "certificate signed by unknown authority" in unknown and "helm repo add --ca-file" in unknown
    assert "--insecure-skip-tls-verify" not in unknown
    anonymous = {**env, "HELM_PLUGIN_USERNAME": "", "HELM_PLUGIN_PASSWORD": ""}
    assert "authentication required: no credentials were found for this registry (log in with `helm oci login`, " \
        "or add the repository with --username and --password)" in error_line(download(anonymous, url, ca=str(ca.cert)))
    # A chart pinned by digest is served from the cache with no request, so a cache of its own.
    wrong = {**env, "HELM_PLUGIN_PASSWORD": "wrong", "HELM_CACHE_HOME": str(tmp_path / "empty-cache")}
    assert "credentials were rejected" in error_line(download(wrong, entry["urls"][0], ca=str(ca.cert)))

    # Without credentials from Helm, the stored login is used.
    config = Path(anonymous["HELM_REGISTRY_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"auths": {reg.host: {"auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}}}))
    assert json.loads(downloaded(anonymous, url, ca=str(ca.cert)))["entries"]["secure"]


@pytest.mark.parametrize("helm", ["helm2", "helm3"])
def test_what_an_older_helm_does_not_pass_comes_from_the_repository_it_was_added_as(helm_oci, tls_registry,
                                                                                      tmp_path, helm):
    """Helm 2 and Helm 3 before 3.14 pass a downloader no credentials, and Helm 2 and 3.0-3.6
    no TLS files for `dependency update`'s fetch by a published index's relative URL: they
    come from the entry in Helm's repositories file whose URL holds the URL asked for."""
    reg, ca = tls_registry
    chart = write_chart(tmp_path / "src", name="secure", version="1.0.0")
    helm_oci.run("push", chart, f"oci://{reg.host}/{NAMESPACE}", "--ca-file", ca.cert,
                 "--username", USER, "--password", PASSWORD)
    env, _ = run_as(helm, tmp_path)
    repositories = Path(env.get("HELM_REPOSITORY_CONFIG") or env["HELM_PATH_REPOSITORY_FILE"])
    repositories.parent.mkdir(parents=True, exist_ok=True)

    def added(url):
        repositories.write_text(yaml.safe_dump({"apiVersion": "v1", "repositories": [
            {"name": "elsewhere", "url": f"ocirepo://{reg.host}/{NAMESPACE}-other", "username": USER,
             "password": "wrong", "caFile": "/nonexistent/ca.pem"},
            {"name": "secure", "url": url, "username": USER, "password": PASSWORD, "caFile": str(ca.cert)}]}))

    index_url = f"ocirepo://{reg.host}/{NAMESPACE}/index.yaml"
    added(f"ocirepo://{reg.host}/{NAMESPACE}/")
    (entry,) = json.loads(downloaded(env, index_url))["entries"]["secure"]
    env["HELM_CACHE_HOME"] = str(tmp_path / "empty-cache")  # so the chart is read from the registry
    assert hashlib.sha256(downloaded(env, entry["urls"][0])).hexdigest() == entry["digest"]
    # A CA file Helm passes wins over the entry's; so does a password Helm passes.
    # (another CA made under the same name: its signature does not verify)
    assert "a signature does not verify" in error_line(download(env, index_url, ca=str(CA(tmp_path / "other").cert)))
    if helm == "helm3":
        wrong = {**env, "HELM_PLUGIN_USERNAME": USER, "HELM_PLUGIN_PASSWORD": "wrong"}
        assert "credentials were rejected" in error_line(download(wrong, index_url))
    # Another repository's entry is not this one's.
    added(f"ocirepo://{reg.host}/{NAMESPACE}/team")
    assert "unknown authority" in error_line(download(env, index_url))
    # A stored login comes before the entry's password, which may be one since changed
    # (`repo add --force-update` cannot reach the entry before the index is read).
    repositories.write_text(yaml.safe_dump({"apiVersion": "v1", "repositories": [
        {"name": "secure", "url": f"ocirepo://{reg.host}/{NAMESPACE}", "username": USER, "password": "old"}]}))
    assert "credentials were rejected" in error_line(download(env, index_url, ca=str(ca.cert)))
    config = Path(env.get("HELM_REGISTRY_CONFIG") or Path(env["HELM_HOME"]) / "registry" / "config.json")
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"auths": {reg.host: {"auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}}}))
    assert json.loads(downloaded(env, index_url, ca=str(ca.cert)))["entries"]["secure"]
    # Stores that cannot answer (a locked keyring) leave the entry's credentials to be used.
    added(f"ocirepo://{reg.host}/{NAMESPACE}")
    config.write_text(json.dumps({"credsStore": "locked"}))
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    (helpers / "docker-credential-locked").write_text("#!/bin/sh\necho 'the keyring is locked' >&2\nexit 1\n")
    (helpers / "docker-credential-locked").chmod(0o755)
    locked = {**env, "PATH": f"{helpers}{os.pathsep}{env['PATH']}"}
    assert json.loads(downloaded(locked, index_url))["entries"]["secure"]


def test_a_plain_http_registry_added_as_https_is_told_to_use_the_plain_scheme(seeded, tmp_path):
    env = plugin_env(tmp_path)
    line = error_line(download(env, f"ocirepo://{seeded.host}/{NAMESPACE}/index.yaml"))
    assert "does not speak TLS" in line and "ocirepo+http://" in line and "--plain-http" not in line


def test_a_tampered_archive_never_reaches_helm(seeded, tmp_path):
    env = plugin_env(tmp_path)
    index = json.loads(downloaded(env, f"ocirepo+http://{seeded.host}/{NAMESPACE}/index.yaml"))
    (entry,) = index["entries"]["team/nested"]

    def tamper(method, path, status, headers, body):
        if method == "GET" and path.endswith(entry["digest"]):
            body = body[:-4] + b"\0\0\0\0"
        return status, headers, body

    with Front(seeded.host, tamper=tamper) as front:
        url = entry["urls"][0].replace(seeded.host, front.host)
        assert "digest" in error_line(download(env, url)).lower()
    assert not (Path(env["HELM_CACHE_HOME"]) / "oci" / "blobs" / "sha256" / entry["digest"]).exists()


def test_a_chart_over_helms_caps_is_refused_without_a_flag_helm_cannot_pass(registry, tmp_path):
    """Helm runs the downloader with no --max-file-size to raise its cap: the error names none."""
    files = {"big/Chart.yaml": b"apiVersion: v2\nname: big\nversion: 1.0.0\n", "big/big.bin": bytes(6 << 20)}
    manifest = registry.put_chart("caps/big", "1.0.0", config_json("big", "1.0.0"), tgz(files))
    url = f"ocirepo+http://{registry.host}/caps/big@{sha256(manifest)}/big-1.0.0.tgz"
    env = plugin_env(tmp_path)
    line = error_line(download(env, url))
    assert line.endswith('the file "big/big.bin" is 6291456 bytes unpacked, more than the 5242880 allowed for one '
                         'file'), line
    # A chart layer larger than any chart within the cap can be is refused before it is read.
    claimed = json.loads(manifest)
    claimed["layers"][0]["size"] = 300 << 20
    huge = registry.put_manifest("caps/big", "2.0.0", json.dumps(claimed).encode())
    line = error_line(download(env, url.replace(sha256(manifest), sha256(huge))))
    assert line.endswith("its chart layer is 314572800 bytes, more than a chart of at most 104857600 bytes unpacked "
                         "can be"), line


@pytest.mark.parametrize("url, says", [
    ("oci://r.example/charts/index.yaml", "ocirepo:// and ocirepo+http:// URLs only"),
    ("ocirepo://r.example/charts/web-1.0.0.tgz", "neither a repository's index.yaml nor a chart URL"),
    ("ocirepo://Bad Host/index.yaml", "Bad Host"),
])
def test_urls_it_cannot_serve_fail_with_one_line(tmp_path, url, says):
    env = plugin_env(tmp_path)
    assert says in error_line(download(env, url))
