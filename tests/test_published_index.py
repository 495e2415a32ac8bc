"""`helm oci index`: a namespace's chart repository index published in the registry beside
its charts (NAMESPACE/index.yaml:latest), which the ocirepo:// downloader then serves with
one manifest read (and the blob, unless the chart cache has it) instead of reading every
chart. Real Helm 4.3 adds and loads charts through it; its relative URLs resolve to the
URLs the downloader serves; it is as current as its last publishing; nothing is published
when a repository cannot be read; and a tampered index never reaches Helm."""
import hashlib
import json
from pathlib import Path
from urllib.parse import urljoin

from fronts import Front
from test_discovery import chart_files, seed, seed_image
from test_downloader import download, downloaded, error_line, helm4_env, installed, plugin_env, versions

from conftest import helm4

INDEX_CONFIG = "application/vnd.helm-oci.index.config.v1+json"


def seeded(reg):
    seed(reg, "charts/alpha", "1.0.0", description="Alpha at 1.0.0")
    seed(reg, "charts/alpha", "v1.2.0", description="Alpha at v1.2.0")
    seed(reg, "charts/team/nested", "0.1.0")
    seed_image(reg, "charts/image", "1.0.0")
    seed(reg, "other/delta", "3.0.0")


def resolved(repository_url, url):
    """`url` resolved against the repository's URL as Helm does (Go's net/url): Python's
    urljoin resolves relative references only for schemes it knows."""
    scheme, rest = repository_url.split("://", 1)
    return scheme + urljoin(f"http://{rest}/", url)[len("http"):]


def publish(helm_oci, reg, namespace="charts"):
    return helm_oci.run("index", f"oci://{reg.host}/{namespace}".rstrip("/"), "--plain-http").stdout


def test_a_published_index_is_served_with_one_read_and_helm_loads_charts_from_it(helm_oci, registry, tmp_path):
    seeded(registry)
    out = publish(helm_oci, registry)
    assert out.splitlines()[0] == f"Published: {registry.host}/charts/index.yaml:latest (2 charts, 3 versions)"
    manifest = json.loads(registry.manifest("charts/index.yaml", "latest"))
    assert manifest["config"]["mediaType"] == INDEX_CONFIG
    assert out.splitlines()[1] == "Digest: sha256:" + hashlib.sha256(registry.manifest("charts/index.yaml", "latest")).hexdigest()

    env = plugin_env(tmp_path)
    with Front(registry.host) as front:
        base = f"ocirepo+http://{front.host}/charts"
        index = json.loads(downloaded(env, f"{base}/index.yaml"))
        first = [path for _, path, _ in front.seen]
        again = json.loads(downloaded(env, f"{base}/index.yaml"))
        second = [path for _, path, _ in front.seen[len(first):]]
    assert versions(index) == {"alpha": {"1.0.0", "v1.2.0"}, "team/nested": {"0.1.0"}}
    assert again == index
    layer = manifest["layers"][0]["digest"]
    assert [p for p in first if "/_catalog" in p or "/tags/" in p] == [], first
    assert first == ["/v2/charts/index.yaml/manifests/latest", f"/v2/charts/index.yaml/blobs/{layer}"], first
    assert second == ["/v2/charts/index.yaml/manifests/latest"], "the index blob is kept in the chart cache"

    # Each URL is relative to the repository's, as Helm 2, 3 and 4 resolve it; what it
    # resolves to serves exactly the archive the entry's digest names.
    base = f"ocirepo+http://{registry.host}/charts"
    for name, entries in index["entries"].items():
        for e in entries:
            (url,) = e["urls"]
            assert url.startswith(f"./{name}@sha256:") and url.endswith(f"/{name.split('/')[-1]}-{e['version']}.tgz")
            archive = downloaded(env, resolved(base, url))
            assert hashlib.sha256(archive).hexdigest() == e["digest"]

    (tmp_path / "h4").mkdir()
    helm = helm4_env(tmp_path / "h4", installed(tmp_path / "h4"))
    helm4("repo-add", "myoci", f"ocirepo+http://{registry.host}/charts", env=helm)
    cached = json.loads((Path(helm["HELM_REPOSITORY_CACHE"]) / "myoci-index.yaml").read_text())
    assert cached == json.loads(registry.blob("charts/index.yaml", layer))
    shown = helm4("show", "myoci/alpha", env=helm)
    assert "version: v1.2.0" in shown and "description: Alpha at v1.2.0" in shown


def test_a_published_index_is_as_current_as_its_last_publishing(helm_oci, registry, tmp_path):
    seeded(registry)
    publish(helm_oci, registry)
    seed(registry, "charts/alpha", "1.3.0")
    env = plugin_env(tmp_path)
    url = f"ocirepo+http://{registry.host}/charts/index.yaml"
    assert versions(json.loads(downloaded(env, url)))["alpha"] == {"1.0.0", "v1.2.0"}
    assert "(2 charts, 4 versions)" in publish(helm_oci, registry)
    assert versions(json.loads(downloaded(env, url)))["alpha"] == {"1.0.0", "v1.2.0", "1.3.0"}
    # Another namespace, and the whole registry, have none published: made from the charts.
    assert versions(json.loads(downloaded(env, f"ocirepo+http://{registry.host}/other/index.yaml"))) == {"delta": {"3.0.0"}}
    whole = json.loads(downloaded(env, f"ocirepo+http://{registry.host}/index.yaml"))
    assert "charts/alpha" in whole["entries"] and "charts/index.yaml" not in whole["entries"]
    # The index's repository holds no chart: search passes it over without a word.
    found = helm_oci.run("search", f"{registry.host}/charts", "--plain-http")
    assert "charts/index.yaml" not in found.stdout and found.stderr == "", found


def test_a_whole_registry_can_be_published(helm_oci, registry, tmp_path):
    seeded(registry)
    assert "(3 charts, 4 versions)" in publish(helm_oci, registry, namespace="")
    registry.manifest("index.yaml", "latest")
    index = json.loads(downloaded(plugin_env(tmp_path), f"ocirepo+http://{registry.host}/index.yaml"))
    assert versions(index) == {"charts/alpha": {"1.0.0", "v1.2.0"}, "charts/team/nested": {"0.1.0"},
                               "other/delta": {"3.0.0"}}


def test_nothing_is_published_when_a_repository_cannot_be_read(helm_oci, registry):
    seeded(registry)
    _, layer = chart_files("broken", "1.0.0")
    registry.put_chart("charts/broken", "1.0.0", b'{"name": "broken"}', layer)
    line = helm_oci.fails("index", f"oci://{registry.host}/charts", "--plain-http")
    assert line.startswith(f"Error: cannot publish {registry.host}/charts/index.yaml:latest: charts/broken could "
                           "not be read: "), line
    with Front(registry.host) as front:
        helm_oci.fails("index", f"oci://{front.host}/charts", "--plain-http")
    assert not [p for m, p, _ in front.seen if m in ("POST", "PUT")], "nothing was uploaded"


def test_a_tampered_published_index_never_reaches_helm(helm_oci, registry, tmp_path):
    seeded(registry)
    publish(helm_oci, registry)
    layer = json.loads(registry.manifest("charts/index.yaml", "latest"))["layers"][0]["digest"]

    def tamper(method, path, status, headers, body):
        if method == "GET" and path.endswith(layer):
            body = body.replace(b"Alpha at", b"Evil at ")
        return status, headers, body

    env = plugin_env(tmp_path)
    with Front(registry.host, tamper=tamper) as front:
        line = error_line(download(env, f"ocirepo+http://{front.host}/charts/index.yaml"))
    assert "charts/index.yaml@sha256:" in line and "digest mismatch" in line, line
    assert not (Path(env["HELM_CACHE_HOME"]) / "oci" / "blobs" / "sha256" / layer.split(":")[1]).exists()


def test_a_chart_at_the_index_path_is_not_served_as_an_index(registry, tmp_path):
    """Whatever else sits at NAMESPACE/index.yaml:latest is refused, not served to Helm."""
    seed(registry, "charts/index.yaml", "1.0.0", tag="latest")
    line = error_line(download(plugin_env(tmp_path), f"ocirepo+http://{registry.host}/charts/index.yaml"))
    assert "is not a chart repository index" in line, line
