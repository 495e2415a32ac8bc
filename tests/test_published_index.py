"""`helm oci index`: a namespace's chart repository index published in the registry beside
its charts (NAMESPACE/index.yaml:latest), which the ocirepo:// downloader then serves with
one manifest read (and the blob, unless the chart cache has it) instead of reading every
chart. Real Helm 4.3 adds and loads charts through it; its relative URLs resolve to the
URLs the downloader serves; it is as current as its last publishing; a repository that
cannot be read, or no charts at all, publishes nothing; a mirror serves it; a registry that
will not show it has the index made from the charts; and a tampered index, or something
else at its path, never reaches Helm."""
import hashlib
import json
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urljoin

import pytest

from conftest import Registry, free_port, helm4
from fronts import Front
from test_discovery import chart_files, seed, seed_image
from test_downloader import download, downloaded, error_line, helm4_env, installed, plugin_env, run_as, versions

ARTIFACT_TYPE = "application/vnd.helm-oci.index.v1+json"


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
    assert manifest["artifactType"] == ARTIFACT_TYPE
    assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
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
    assert first == ["/v2/charts/index.yaml/manifests/latest", f"/v2/charts/index.yaml/blobs/{layer}"], first
    assert second == ["/v2/charts/index.yaml/manifests/latest"], "the index blob is kept in the chart cache"
    # Two reads in a row: one connection (it opened 16 ahead, as for an index made from the charts).
    traced = download({**env, "HELM_DEBUG": "true"}, f"ocirepo+http://{registry.host}/charts/index.yaml")
    assert json.loads(traced.stdout) == index
    assert traced.stderr.decode().count("opened connection") == 1, traced.stderr.decode()

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


@pytest.mark.parametrize("helm", ["helm2", "helm3"])
def test_the_published_index_as_helm_2_and_3_run_the_downloader(helm_oci, registry, tmp_path, helm):
    """Helm 2 and 3 run the downloader with their own environment shape: the published index
    is served the same, and what its URLs resolve to is each entry's archive."""
    seeded(registry)
    publish(helm_oci, registry)
    env, elsewhere = run_as(helm, tmp_path)
    base = f"ocirepo+http://{registry.host}/charts"
    p = download(env, f"{base}/index.yaml", cwd=elsewhere)
    assert p.returncode == 0 and p.stderr == b"", p.stderr
    layer = json.loads(registry.manifest("charts/index.yaml", "latest"))["layers"][0]["digest"]
    assert json.loads(p.stdout) == json.loads(registry.blob("charts/index.yaml", layer))
    (nested,) = json.loads(p.stdout)["entries"]["team/nested"]
    archive = download(env, resolved(base, nested["urls"][0]), cwd=elsewhere)
    assert hashlib.sha256(archive.stdout).hexdigest() == nested["digest"], archive.stderr
    assert not any(elsewhere.iterdir()), "nothing is written where Helm runs it"


def test_a_published_index_is_as_current_as_its_last_publishing(helm_oci, registry, tmp_path):
    seeded(registry)
    publish(helm_oci, registry)
    seed(registry, "charts/alpha", "1.3.0")
    env = plugin_env(tmp_path)
    url = f"ocirepo+http://{registry.host}/charts/index.yaml"
    assert versions(json.loads(downloaded(env, url)))["alpha"] == {"1.0.0", "v1.2.0"}
    republished = publish(helm_oci, registry).splitlines()
    assert republished[0] == f"Published: {registry.host}/charts/index.yaml:latest (2 charts, 4 versions)"
    assert versions(json.loads(downloaded(env, url)))["alpha"] == {"1.0.0", "v1.2.0", "1.3.0"}
    # Publishing what is there already puts nothing, and names the index that stands.
    with Front(registry.host) as front:
        again = helm_oci.run("index", f"oci://{front.host}/charts", "--plain-http").stdout.splitlines()
    assert again == [f"Unchanged: {front.host}/charts/index.yaml:latest (2 charts, 4 versions)", republished[1]]
    assert not [p for m, p, _ in front.seen if m in ("POST", "PUT")], front.seen
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
    index = json.loads(downloaded(plugin_env(tmp_path), f"ocirepo+http://{registry.host}/index.yaml"))
    assert versions(index) == {"charts/alpha": {"1.0.0", "v1.2.0"}, "charts/team/nested": {"0.1.0"},
                               "other/delta": {"3.0.0"}}
    assert index["entries"]["charts/team/nested"][0]["urls"][0].startswith("./charts/team/nested@sha256:"), \
        "the published one, not one made from the charts"


def test_a_repository_that_cannot_be_read_stops_publishing(helm_oci, registry):
    seeded(registry)
    locked = lambda method, path, headers: (403, [], b"") if path.startswith("/v2/charts/alpha/tags/") else None
    with Front(registry.host, intercept=locked) as front:
        line = helm_oci.fails("index", f"oci://{front.host}/charts", "--plain-http")
        assert line.startswith(f"Error: cannot publish {front.host}/charts/index.yaml:latest: ") \
            and "access denied" in line, line
    assert not [p for m, p, _ in front.seen if m in ("POST", "PUT")], "nothing was uploaded"


def test_a_tag_list_not_found_but_by_the_registrys_own_word_stops_publishing(helm_oci, registry):
    """Only distribution's NAME_UNKNOWN says a catalogued repository has nothing tagged: a
    404 in other words (a proxy's page) is a repository that cannot be read."""
    seeded(registry)
    page = lambda method, path, headers: (404, [], b"<html>gone</html>") \
        if path.startswith("/v2/charts/alpha/tags/") else None
    with Front(registry.host, intercept=page) as front:
        line = helm_oci.fails("index", f"oci://{front.host}/charts", "--plain-http")
    assert line.endswith(f"{front.host}/charts/alpha: not found"), line


def test_a_repository_holding_only_untagged_manifests_has_no_charts_and_stops_nothing(helm_oci, registry):
    """A copy by digest leaves a repository with no tag, which distribution lists in its
    catalog but whose tag list it does not find (404): it has no chart to list, so it
    neither stops publishing nor is said to be skipped, by `index` or `search`."""
    seeded(registry)
    digest = "sha256:" + hashlib.sha256(registry.manifest("charts/alpha", "1.0.0")).hexdigest()
    helm_oci.run("copy", f"oci://{registry.host}/charts/alpha@{digest}", f"oci://{registry.host}/charts/pinned",
                 "--plain-http")
    p = helm_oci.run("index", f"oci://{registry.host}/charts", "--plain-http")
    assert "(2 charts, 3 versions)" in p.stdout and p.stderr == ""
    p = helm_oci.run("search", f"{registry.host}/charts", "--plain-http")
    assert "charts/alpha" in p.stdout and "pinned" not in p.stdout + p.stderr, p.stdout + p.stderr
    # Named, it may as well not be there: it is not found.
    line = helm_oci.fails("index", f"oci://{registry.host}/charts", "--repository", "alpha", "--repository", "pinned",
                          "--plain-http")
    assert line.endswith(f"{registry.host}/charts/pinned: not found"), line


def test_a_version_that_is_no_chart_is_left_out_and_said(helm_oci, registry):
    seeded(registry)
    _, layer = chart_files("broken", "1.0.0")
    registry.put_chart("charts/broken", "1.0.0", b'{"name": "broken"}', layer)
    p = helm_oci.run("index", f"oci://{registry.host}/charts", "--plain-http")
    assert "(2 charts, 3 versions)" in p.stdout
    assert p.stderr.startswith("WARNING: skipped charts/broken: "), p.stderr


def test_nothing_is_published_for_a_namespace_without_charts(helm_oci, registry):
    seeded(registry)
    line = helm_oci.fails("index", f"oci://{registry.host}/charts/alpha", "--plain-http")
    assert line == (f"Error: cannot publish {registry.host}/charts/alpha/index.yaml:latest: {registry.host}/charts/"
                    "alpha: no charts under it: is that the namespace the charts are in (not a chart's own "
                    "repository)?"), line
    with pytest.raises(urllib.error.HTTPError) as refused:
        registry.manifest("charts/alpha/index.yaml", "latest")
    assert refused.value.code == 404, "nothing was put there"


def test_a_namespace_whose_charts_are_all_gone_says_its_old_index_is_still_served(helm_oci, registry):
    seed(registry, "gone/db", "1.0.0")
    publish(helm_oci, registry, namespace="gone")
    manifest = registry.manifest("gone/db", "1.0.0")
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    request = urllib.request.Request(f"http://{registry.host}/v2/gone/db/manifests/{digest}", method="DELETE")
    assert urllib.request.urlopen(request).status == 202
    line = helm_oci.fails("index", f"oci://{registry.host}/gone", "--plain-http")
    assert line.endswith(f"no charts under it: is that the namespace the charts are in (not a chart's own "
                         f"repository)? (the index published there before is still served; delete "
                         f"{registry.host}/gone/index.yaml:latest to stop it)"), line


def test_nothing_is_published_when_no_chart_is_usable(helm_oci, registry):
    _, layer = chart_files("broken", "1.0.0")
    registry.put_chart("odd/broken", "1.0.0", b'{"name": "broken"}', layer)
    registry.put_chart("odd/broken", "2.0.0", b'{"name": "broken"}', layer)
    line = helm_oci.fails("index", f"oci://{registry.host}/odd", "--plain-http")
    assert line.startswith(f"Error: cannot publish {registry.host}/odd/index.yaml:latest: "
                           f"{registry.host}/odd: none of its charts is usable: {registry.host}/odd/broken") \
        and line.endswith(" (and 1 more)"), line


def test_an_index_the_registry_will_not_show_is_made_from_the_charts(registry, tmp_path):
    """A registry that refuses the index's name (stricter names than OCI's), or will not show
    it to this client, has the index made from the charts, as before any was published."""
    seeded(registry)
    refuse = lambda method, path, headers: (
        (400, [("Content-Type", "application/json")], b'{"errors":[{"code":"NAME_INVALID","message":"invalid name"}]}')
        if "/index.yaml/" in path else None)
    with Front(registry.host, intercept=refuse) as front:
        index = json.loads(downloaded(plugin_env(tmp_path), f"ocirepo+http://{front.host}/charts/index.yaml"))
    assert versions(index) == {"alpha": {"1.0.0", "v1.2.0"}, "team/nested": {"0.1.0"}}


def test_a_registry_that_will_not_list_its_catalog_is_told_how_to_name_repositories(helm_oci, registry, tmp_path):
    """The namespace is given already: what helps is naming its repositories, with
    --repository to index, or in the registries configuration for the downloader."""
    seeded(registry)
    unlisted = lambda method, path, headers: (404, [], b"") if path.startswith("/v2/_catalog") else None
    advice = ("this registry does not list its repositories to you (GHCR, Docker Hub and Harbor for non-admins never "
              "do): name the namespace's repositories: with --repository to `helm oci index`, or under `repositories` "
              "for {host} in the registries configuration (oci/registries.yaml in Helm's config home) for the "
              "ocirepo:// downloader")
    with Front(registry.host, intercept=unlisted) as front:
        line = helm_oci.fails("index", f"oci://{front.host}/charts", "--plain-http")
        assert line.endswith(advice.format(host=front.host)), line
        line = error_line(download(plugin_env(tmp_path), f"ocirepo+http://{front.host}/charts/index.yaml"))
        assert line.endswith(advice.format(host=front.host)), line
        assert "(1 chart, 2 versions)" in helm_oci.run("index", f"oci://{front.host}/charts", "--plain-http",
                                                       "--repository", "alpha").stdout


@pytest.mark.parametrize("head", ["refused", "not found"])
def test_a_registry_refusing_the_index_name_cannot_have_one_published(helm_oci, registry, head):
    """Its 400 is said as the name refused, whether it says NAME_INVALID or, to a HEAD, has
    no body to say anything (not as a registry that speaks HTTPS only)."""
    seeded(registry)
    invalid = (400, [("Content-Type", "application/json")], b'{"errors":[{"code":"NAME_INVALID","message":""}]}')

    def refuse(method, path, headers):
        if "/index.yaml/" not in path:
            return None
        return (404, [], b"") if method == "HEAD" and head == "not found" else invalid

    with Front(registry.host, intercept=refuse) as front:
        line = helm_oci.fails("index", f"oci://{front.host}/charts", "--plain-http")
    assert line.startswith(f"Error: cannot publish {front.host}/charts/index.yaml:latest: "), line
    said = ("the registry refuses the repository name charts/index.yaml, so it cannot hold a published index "
            "(the ocirepo:// downloader makes this namespace's index from its charts)")
    assert line.endswith(f": {said} (HTTP 400)" if head == "refused" else f": {said} (NAME_INVALID, HTTP 400)"), line


def test_a_mirror_down_is_said_though_the_index_is_then_made_from_the_charts(registry, tmp_path):
    seeded(registry)
    down = f"127.0.0.1:{free_port()}"
    env = plugin_env(tmp_path)
    config = Path(env["HELM_CONFIG_HOME"]) / "oci" / "registries.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(f"registries:\n  - prefix: {registry.host}/charts\n"
                      f"    mirrors:\n      - location: {down}/copies\n        plainHttp: true\n")
    p = download(env, f"ocirepo+http://{registry.host}/charts/index.yaml")
    assert p.returncode == 0, p.stderr
    assert versions(json.loads(p.stdout)) == {"alpha": {"1.0.0", "v1.2.0"}, "team/nested": {"0.1.0"}}
    assert f"WARNING: the mirror {down}/copies/index.yaml was passed over: " in p.stderr.decode(), p.stderr


def test_a_mirror_serves_the_published_index(helm_oci, registry, tmp_path):
    seeded(registry)
    publish(helm_oci, registry)
    mirror = Registry(tmp_path / "mirror")
    try:
        manifest = registry.manifest("charts/index.yaml", "latest")
        for blob in [json.loads(manifest)["config"], *json.loads(manifest)["layers"]]:
            mirror.put_blob("copies/index.yaml", registry.blob("charts/index.yaml", blob["digest"]))
        mirror.put_manifest("copies/index.yaml", "latest", manifest)
        env = plugin_env(tmp_path)
        config = Path(env["HELM_CONFIG_HOME"]) / "oci" / "registries.yaml"
        config.parent.mkdir(parents=True)
        with Front(registry.host) as origin:
            config.write_text(f"registries:\n  - prefix: {origin.host}/charts\n"
                              f"    mirrors:\n      - location: {mirror.host}/copies\n        plainHttp: true\n")
            index = json.loads(downloaded(env, f"ocirepo+http://{origin.host}/charts/index.yaml"))
        assert versions(index) == {"alpha": {"1.0.0", "v1.2.0"}, "team/nested": {"0.1.0"}}
        assert origin.seen == [], "the mirror had it: the registry is not asked"
    finally:
        mirror.stop()


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
    assert line.endswith("is not a chart repository index, but application/vnd.cncf.helm.config.v1+json"), line
