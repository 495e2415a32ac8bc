"""A chart wrapped in an OCI image index (alone, beside a platform image, nested), pushed
by Helm 4.3 and then wrapped as some publishers do: pulled as Helm 4.3 pulls it, with the
index's digest, from the registry and then from the cache; listed by search and tags; locked
as a dependency by the index's digest; and
indexes that hold no chart, or are Docker manifest lists, refused as Helm refuses them."""
import json
import os
import shutil
import time
from pathlib import Path

import pytest
import yaml

from conftest import helm4, pulled_by_digest, sha256, write_chart
from fronts import Front

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
PLAIN = "--plain-http"


def descriptor(data, media_type=MANIFEST, **fields):
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **fields}


def put_index(registry, repo, ref, entries, media_type=INDEX):
    """Puts an index of `entries` under `ref` (its digest if None); returns its bytes."""
    data = json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": entries}).encode()
    return registry.put_manifest(repo, ref or sha256(data), data, media_type=media_type)


def put_image(registry, repo):
    """A linux/amd64 image's manifest, put by digest; returns its index entry."""
    config = registry.put_blob(repo, b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}')
    image = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST, "layers": [],
                        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config}}).encode()
    registry.put_manifest(repo, sha256(image), image)
    return descriptor(image, platform={"architecture": "amd64", "os": "linux"})


@pytest.fixture
def helm_pushed(registry, tmp_path):
    """mychart 0.1.0 pushed by Helm 4.3: its archive and its manifest's index entry."""
    chart = write_chart(tmp_path / "src", name="mychart", version="0.1.0")
    packaged = helm4("package", chart, tmp_path / "pkg").strip()
    helm4("push", packaged, f"oci://{registry.host}/charts")
    manifest = registry.manifest("charts/mychart", "0.1.0")
    return open(packaged, "rb").read(), descriptor(manifest)


def wrap(registry, shape, chart):
    """The entries of an index of `shape` around the chart's manifest entry."""
    if shape == "beside an image":
        return [put_image(registry, "charts/mychart"), {**chart, "artifactType": HELM_CONFIG}]
    if shape == "alone":
        return [chart]
    inner = put_index(registry, "charts/mychart", None, [chart])
    return [descriptor(inner, INDEX)]


@pytest.mark.parametrize("shape", ["beside an image", "alone", "nested"])
def test_a_wrapped_chart_is_pulled_as_helm_pulls_it_with_the_index_digest(helm_oci, registry, helm_pushed,
                                                                           tmp_path, shape):
    archive, chart = helm_pushed
    index = put_index(registry, "charts/mychart", "0.1.0", wrap(registry, shape, chart))
    ref = f"{registry.host}/charts/mychart:0.1.0"
    p = helm_oci.run("pull", f"oci://{ref}", "-d", tmp_path / "out", PLAIN)
    assert p.stdout == f"Pulled: {ref}\nDigest: {sha256(index)}\n" and p.stderr == ""
    assert (tmp_path / "out" / "mychart-0.1.0.tgz").read_bytes() == archive
    shown = helm4("show", f"oci://{ref}").splitlines()
    assert f"Digest: {sha256(index)}" in shown and "version: 0.1.0" in shown
    # From the cache: by the tag and by the index's digest, with no registry at all.
    for offline_ref, named in ((ref, "mychart-0.1.0.tgz"),
                               (f"{registry.host}/charts/mychart@{sha256(index)}", pulled_by_digest("mychart", sha256(index)))):
        p = helm_oci.run("pull", f"oci://{offline_ref}", "--offline", "-d", tmp_path / "offline")
        assert p.stdout == f"Pulled: {offline_ref}\nDigest: {sha256(index)}\n", offline_ref
        assert (tmp_path / "offline" / named).read_bytes() == archive
    [listed] = json.loads(helm_oci.run("list", "-o", "json").stdout)
    assert listed["digest"] == sha256(index)


def test_a_wrapped_chart_pulled_again_is_read_from_the_cache_after_one_head(helm_oci, registry, helm_pushed, tmp_path):
    """The cache's entry is the chart's manifest, marked with the index's digest and kept
    beside the index: a HEAD that still names the index is the only request. The index
    shows which manifest it wraps: without it in the cache, the entry is not that tag's."""
    archive, chart = helm_pushed
    index = put_index(registry, "charts/mychart", "0.1.0", wrap(registry, "beside an image", chart))
    with Front(registry.host) as front:
        ref = f"oci://{front.host}/charts/mychart:0.1.0"
        helm_oci.run("pull", ref, "-d", tmp_path / "first", PLAIN)
        front.seen.clear()
        p = helm_oci.run("pull", ref, "-d", tmp_path / "again", PLAIN)
        assert [(m, path) for m, path, _ in front.seen if path != "/v2/"] == [
            ("HEAD", "/v2/charts/mychart/manifests/0.1.0")]
        # Pushed back from the cache, its manifest alone would replace the index under the tag.
        line = helm_oci.fails("push", f"{front.host}/charts/mychart:0.1.0", PLAIN)
        assert f"image index {sha256(index)}" in line and "helm oci copy" in line, line
        assert registry.manifest_digest("charts/mychart", "0.1.0") == sha256(index)
    assert p.stdout.endswith(f"Digest: {sha256(index)}\n")
    assert (tmp_path / "again" / "mychart-0.1.0.tgz").read_bytes() == archive
    cached_index = Path(helm_oci.env["HELM_CACHE_HOME"]) / "oci" / "blobs" / "sha256" / sha256(index).removeprefix("sha256:")
    # Kept with the entry: prune deletes only blobs no entry uses (older than an hour).
    os.utime(cached_index, (time.time() - 7200,) * 2)
    helm_oci.run("prune")
    assert cached_index.exists()
    cached_index.unlink()
    line = helm_oci.fails("pull", ref, "--offline", "-d", tmp_path / "offline")
    assert "not in the chart cache" in line, line
    # A removal by the index's digest takes the entry.
    p = helm_oci.run("remove", f"{front.host}/charts/mychart@{sha256(index)}")
    assert p.stdout.startswith("0.1.0: removed\n")
    assert json.loads(helm_oci.run("list", "-o", "json").stdout) == []


def test_search_and_tags_list_a_wrapped_chart_without_reading_platform_images(helm_oci, registry, helm_pushed):
    """A multi-platform image is left out with no word, and no platform's manifest is read:
    a listing meets many images. A second listing reads no manifest under an index again."""
    _, chart = helm_pushed
    for tag in ("0.1.0", "stable"):
        put_index(registry, "charts/mychart", tag, wrap(registry, "beside an image", chart))
    image = put_image(registry, "charts/mychart")
    put_index(registry, "charts/mychart", "0.2.0", [image, {**image, "platform": {"os": "linux", "architecture": "arm64"}}])
    with Front(registry.host) as front:
        for first in (True, False):
            front.seen.clear()
            p = helm_oci.run("search", f"{front.host}/charts", "--versions", "-o", "json", PLAIN)
            assert [(h["name"], h["version"]) for h in json.loads(p.stdout)] == [(f"{front.host}/charts/mychart", "0.1.0")]
            assert p.stderr == ""
            read = [path.rsplit("/", 1)[-1] for method, path, _ in front.seen if method == "GET" and "/manifests/" in path]
            assert image["digest"] not in read
            assert (chart["digest"] in read) == first, read
        front.seen.clear()
        p = helm_oci.run("tags", f"oci://{front.host}/charts/mychart", "--all", "-o", "json", PLAIN)
        assert not any(image["digest"] in path for _, path, _ in front.seen)
    # A tag that is no version is read for the version it holds.
    assert ("stable", "0.1.0") in [(e["tag"], e.get("version")) for e in json.loads(p.stdout)]


def test_an_index_with_no_chart_or_a_docker_list_is_refused_as_helm_refuses_it(helm_oci, registry, helm_pushed,
                                                                                tmp_path):
    _, chart = helm_pushed
    put_index(registry, "charts/mychart", "0.2.0", [put_image(registry, "charts/mychart")])
    line = helm_oci.fails("pull", f"oci://{registry.host}/charts/mychart:0.2.0", "-d", tmp_path, PLAIN)
    assert line == (f"Error: {registry.host}/charts/mychart:0.2.0 is not a Helm chart: it is an image index, "
                    "and no manifest under it is a chart's")
    docker_list = "application/vnd.docker.distribution.manifest.list.v2+json"
    put_index(registry, "charts/mychart", "0.3.0", [chart], media_type=docker_list)
    line = helm_oci.fails("pull", f"oci://{registry.host}/charts/mychart:0.3.0", "-d", tmp_path, PLAIN)
    assert line == (f"Error: {registry.host}/charts/mychart:0.3.0 is not a Helm chart: it is a Docker manifest "
                    "list (an image per platform)")
    # An entry whose size is not its manifest's is not taken on trust.
    put_index(registry, "charts/mychart", "0.4.0", [{**chart, "size": chart["size"] + 1}])
    line = helm_oci.fails("pull", f"oci://{registry.host}/charts/mychart:0.4.0", "-d", tmp_path, PLAIN)
    assert "digest mismatch" in line and f"{chart['size'] + 1} bytes" in line, line
    assert list(tmp_path.glob("*.tgz")) == []


def test_a_manifest_annotated_with_another_version_is_pulled_with_a_warning(helm_oci, registry, tmp_path):
    """Helm pulls it, and search lists it by its config: one verdict everywhere."""
    from test_discovery import chart_files
    config, layer = chart_files("mychart", "0.1.0")
    registry.put_chart("charts/mychart", "0.1.0", config, layer,
                       annotations={"org.opencontainers.image.version": "0.9.0"})
    ref = f"{registry.host}/charts/mychart:0.1.0"
    p = helm_oci.run("pull", f"oci://{ref}", "-d", tmp_path, PLAIN)
    assert p.stderr == (f"WARNING: {ref}: its manifest is annotated as version 0.9.0, but the chart is "
                        "version 0.1.0\n")
    assert (tmp_path / "mychart-0.1.0.tgz").read_bytes() == layer


def test_a_wrapped_dependency_is_locked_by_the_index_digest_and_built_again_from_it(helm_oci, registry, helm_pushed,
                                                                                    tmp_path):
    archive, chart = helm_pushed
    index = put_index(registry, "charts/mychart", "0.1.0", wrap(registry, "beside an image", chart))
    app = write_chart(tmp_path / "app", name="app", version="1.0.0",
                      dependencies=[{"name": "mychart", "version": "^0.1.0", "repository": f"oci://{registry.host}/charts"}])
    helm_oci.run("dependency", "update", app, PLAIN)
    assert (app / "charts" / "mychart-0.1.0.tgz").read_bytes() == archive
    [locked] = yaml.safe_load((app / "Chart.lock").read_text())["dependencies"]
    assert locked["manifestDigest"] == sha256(index)
    (app / "charts" / "mychart-0.1.0.tgz").unlink()
    shutil.rmtree(tmp_path / "helm-cache")
    helm_oci.run("dependency", "build", app, PLAIN)
    assert (app / "charts" / "mychart-0.1.0.tgz").read_bytes() == archive
