"""Promotion: `helm oci tag` puts a manifest's own bytes under more tags and uploads nothing;
`helm oci copy` copies a chart to another repository (mounting its blobs within one registry,
streaming them when the registry refuses or across registries), verifies every blob on the
way, and keeps the manifest's digest. Seen from the wire through fronts, and read back by
Helm 4.3."""
import json
import os
import urllib.error
import urllib.request

import pytest

from conftest import Registry, config_json, helm4, htpasswd, sha256, tgz
from fronts import Front
from tokenserver import TokenServer
from test_wrapped import INDEX, MANIFEST, descriptor, put_image, put_index

PLAIN = "--plain-http"


class Watched(Front):
    """A front that also records each answer's status: `answers` holds (method, path, status)."""

    def __init__(self, upstream, **options):
        self.answers = []
        tamper = options.pop("tamper", None) or (lambda *a: a[2:])

        def watch(method, path, status, headers, body):
            self.answers.append((method, path, status))
            return tamper(method, path, status, headers, body)

        super().__init__(upstream, tamper=watch, **options)

    def requests(self, method, part=""):
        return [(m, p, s) for m, p, s in self.answers if m == method and part in p]


class RefusesMounts(Watched):
    """A front whose registry never hears of a mount: `mount` and `from` are taken off an
    upload's query, so the registry opens an upload session (202) as it does when it refuses."""

    def upstream_request(self, path, headers):
        base, _, query = path.partition("?")
        kept = [p for p in query.split("&") if p and not p.startswith(("mount=", "from="))]
        return base + ("?" + "&".join(kept) if kept else ""), headers


def tampering_with(digest, after=0):
    """A `tamper` that flips the first byte of the blob `digest` whenever it is downloaded,
    but the first `after` times."""
    downloads = []

    def tamper(method, path, status, headers, body):
        if method == "GET" and path.endswith(f"/blobs/{digest}") and status == 200:
            downloads.append(path)
            if len(downloads) > after:
                body = bytes([body[0] ^ 1]) + body[1:]
        return status, headers, body
    return tamper


def pushed(helm_oci, chart, host, *flags):
    """Pushes the chart to host/charts; returns its manifest digest."""
    out = helm_oci.run("push", chart, f"oci://{host}/charts", PLAIN, *flags).stdout
    return out.split("Digest: ")[1].strip()


def lines(p):
    return p.stdout.splitlines()


def tags_of(registry, repo):
    try:
        with urllib.request.urlopen(registry.url(f"/v2/{repo}/tags/list")) as r:
            return json.load(r).get("tags") or []
    except urllib.error.HTTPError as e:
        assert e.code == 404
        return []


def has_blob(registry, repo, digest):
    try:
        urllib.request.urlopen(urllib.request.Request(registry.url(f"/v2/{repo}/blobs/{digest}"), method="HEAD"))
        return True
    except urllib.error.HTTPError as e:
        assert e.code == 404
        return False


def big_artifact(registry, repo, tag, size=9 << 20):
    """A manifest whose layer is larger than one upload PUT takes (by default 9 MiB), so that
    it is streamed; returns (manifest digest, layer digest)."""
    layer = os.urandom(size)
    manifest = registry.put_chart(repo, tag, config_json("big", "1.0.0"), layer)
    return sha256(manifest), sha256(layer)


# tag

def test_tag_puts_the_same_manifest_under_new_tags_and_uploads_nothing(helm_oci, registry, chart):
    digest = pushed(helm_oci, chart, registry.host)
    with Watched(registry.host) as front:
        p = helm_oci.run("tag", f"oci://{front.host}/charts/mychart:0.1.0", "stable", "0.1", "0", PLAIN)
    assert lines(p) == [f"Tagged: {front.host}/charts/mychart:stable", f"Tagged: {front.host}/charts/mychart:0.1",
                        f"Tagged: {front.host}/charts/mychart:0", f"Digest: {digest}"]
    # The manifest read once, put under each tag; no blob read or written.
    assert sorted((m, path) for m, path, _ in front.answers) == [
        ("GET", "/v2/charts/mychart/manifests/0.1.0"), ("PUT", "/v2/charts/mychart/manifests/0"),
        ("PUT", "/v2/charts/mychart/manifests/0.1"), ("PUT", "/v2/charts/mychart/manifests/stable")]
    for tag in ("stable", "0.1", "0"):
        assert sha256(registry.manifest("charts/mychart", tag)) == digest
    assert p.stderr == ""
    shown = helm4("show", f"oci://{registry.host}/charts/mychart:0.1")
    assert "name: mychart" in shown and "version: 0.1.0" in shown


def test_floating_tags_are_pulled_and_listed_once(helm_oci, registry, chart):
    """Helm pulls a floating version tag (0.1 on chart 0.1.0), and so does helm-oci; listings
    show the version once, under its own tag."""
    pushed(helm_oci, chart, registry.host)
    p = helm_oci.run("tag", f"oci://{registry.host}/charts/mychart:0.1.0", "0.1", "0", PLAIN)
    assert p.stderr == ""
    pulled = helm_oci.run("pull", f"oci://{registry.host}/charts/mychart:0.1", "-d", helm_oci.home, PLAIN)
    assert f"Pulled: {registry.host}/charts/mychart:0.1" in pulled.stdout
    found = json.loads(helm_oci.run("search", f"{registry.host}/charts", "--versions", "-o", "json", PLAIN).stdout)
    assert [h["version"] for h in found] == ["0.1.0"]


def tags(registry, repository):
    """The tags a repository has; none if the registry does not know it."""
    try:
        with urllib.request.urlopen(registry.url(f"/v2/{repository}/tags/list")) as r:
            return sorted(json.load(r)["tags"] or [])
    except urllib.error.HTTPError as e:
        assert e.code == 404
        return []


def annotated(helm_oci, registry, chart):
    pushed(helm_oci, chart, registry.host)
    return "0.1.0"


def as_helm_3_11_pushes_it(helm_oci, registry, chart):
    """No annotations: Helm wrote the version annotation from 3.12 on."""
    layer = tgz({f"mychart/{p.relative_to(chart)}": p.read_bytes() for p in chart.rglob("*") if p.is_file()})
    registry.put_chart("charts/mychart", "0.1.0", config_json(), layer)
    return "0.1.0"


def wrapped_in_an_index(helm_oci, registry, chart):
    digest = pushed(helm_oci, chart, registry.host)
    manifest = registry.manifest("charts/mychart", "0.1.0")
    put_index(registry, "charts/mychart", "multi", [put_image(registry, "charts/mychart"),
                                                    {"mediaType": MANIFEST, "digest": digest, "size": len(manifest)}])
    return "multi"


@pytest.mark.parametrize("source", [annotated, as_helm_3_11_pushes_it, wrapped_in_an_index])
@pytest.mark.parametrize("tag", ["0.2", "0.1.0+ci.5", "3.0.0"])
def test_a_tag_or_copy_naming_another_version_is_refused_before_anything_is_written(helm_oci, registry, chart,
                                                                                     tmp_path, tag, source):
    """As push refuses it: pull takes a version tag for what it says, so such a tag would
    fail every pull of it, and every pull of the newest version once it is the highest. The
    chart's version is its manifest's annotation, else its config's, and under an index the
    chart's manifest's."""
    source = f"oci://{registry.host}/charts/mychart:{source(helm_oci, registry, chart)}"
    before = tags(registry, "charts/mychart")
    line = helm_oci.fails("tag", source, "stable", tag, PLAIN)
    oci_tag = tag.replace("+", "_")
    assert line == f'Error: {registry.host}/charts/mychart:{oci_tag}: tag "{oci_tag}" reads as chart version {tag}, ' \
        "but the chart is 0.1.0: a pull of that tag, or of the newest version, would fail; use a tag that is no " \
        "version, or one over the chart's (1.2 on 1.2.3)"
    line = helm_oci.fails("copy", source, f"oci://{registry.host}/prod/mychart:{tag}", PLAIN)
    assert f'reads as chart version {tag}, but the chart is 0.1.0' in line
    assert tags(registry, "charts/mychart") == before and tags(registry, "prod/mychart") == []
    p = helm_oci.run("pull", f"oci://{registry.host}/charts/mychart", "-d", tmp_path, PLAIN)
    assert p.stdout.startswith(f"Pulled: {registry.host}/charts/mychart:0.1.0\n")


def test_tagging_a_multi_platform_image_reads_none_of_its_manifests(helm_oci, registry):
    """The version check looks under an index for a chart, but not in entries that name a
    platform: an image's index is tagged with one read, its own."""
    put_index(registry, "apps/web", "1.0.0", [put_image(registry, "apps/web")])
    with Watched(registry.host) as front:
        helm_oci.run("tag", f"oci://{front.host}/apps/web:1.0.0", "stable", "2.0.0", PLAIN)
        assert [p for _, p, _ in front.requests("GET")] == ["/v2/apps/web/manifests/1.0.0"]
    assert sorted(tags(registry, "apps/web")) == ["1.0.0", "2.0.0", "stable"]


def test_the_version_check_reads_only_what_a_version_tag_needs(helm_oci, registry, chart):
    """A tag that is no version claims none, so the config goes unread; and an index whose
    entries cannot be read is taken to wrap no chart, as tagging it reads nothing under it."""
    as_helm_3_11_pushes_it(helm_oci, registry, chart)
    entry = put_image(registry, "apps/sparse")
    del entry["platform"]
    put_index(registry, "apps/sparse", "1.0.0", [entry])
    gone = lambda method, path, status, headers, body: (404, [], b"") if entry["digest"] in path else \
        (status, headers, body)
    with Watched(registry.host, tamper=gone) as front:
        helm_oci.run("tag", f"oci://{front.host}/charts/mychart:0.1.0", "stable", PLAIN)
        helm_oci.run("tag", f"oci://{front.host}/apps/sparse:1.0.0", "2.0.0", PLAIN)
        assert [p for _, p, _ in front.requests("GET")] == [
            "/v2/charts/mychart/manifests/0.1.0", "/v2/apps/sparse/manifests/1.0.0",
            f"/v2/apps/sparse/manifests/{entry['digest']}"]
    assert tags(registry, "apps/sparse") == ["1.0.0", "2.0.0"]


def test_tag_by_digest(helm_oci, registry, chart):
    digest = pushed(helm_oci, chart, registry.host)
    p = helm_oci.run("tag", f"oci://{registry.host}/charts/mychart@{digest}", "stable", PLAIN)
    assert lines(p) == [f"Tagged: {registry.host}/charts/mychart:stable", f"Digest: {digest}"]
    assert p.stderr == ""
    assert sha256(registry.manifest("charts/mychart", "stable")) == digest


@pytest.mark.parametrize("source,tag,said", [
    ("charts/mychart:0.1.0", "bad/tag", 'cannot tag "bad/tag": tag "bad/tag" is not a valid tag'),
    ("charts/mychart:9.9.9", "stable", "charts/mychart:9.9.9: not found"),
    ("charts/nochart:0.1.0", "stable", "charts/nochart:0.1.0: not found"),
    ("charts/mychart", "stable", "nothing to tag in"),
])
def test_tag_failures_are_one_error_line(helm_oci, registry, chart, source, tag, said):
    pushed(helm_oci, chart, registry.host)
    line = helm_oci.fails("tag", f"oci://{registry.host}/{source}", tag, PLAIN)
    assert said in line
    assert tags_of(registry, "charts/mychart") == ["0.1.0"]


# copy within one registry

def test_copy_within_a_registry_mounts_every_blob(helm_oci, registry, chart):
    digest = pushed(helm_oci, chart, registry.host)
    with Watched(registry.host) as front:
        p = helm_oci.run("copy", f"oci://{front.host}/charts/mychart:0.1.0", f"oci://{front.host}/prod/mychart", PLAIN)
        assert lines(p) == [f"Copied: {front.host}/charts/mychart:0.1.0 -> {front.host}/prod/mychart:0.1.0",
                            f"Digest: {digest}"]
        mounts = front.requests("POST", "/blobs/uploads/")
        assert len(mounts) == 2 and all("mount=sha256%3A" in path and "from=charts%2Fmychart" in path and status == 201
                                        for _, path, status in mounts)
        assert not front.requests("PATCH") and not front.requests("PUT", "/blobs/")
        assert not front.requests("GET", "/blobs/"), "a mounted blob is never downloaded"
        # Again: the destination's tag already names this manifest, so copy reads the source,
        # asks the tag, and writes nothing (blob checks it no longer needs may be dropped).
        front.answers.clear()
        helm_oci.run("copy", f"oci://{front.host}/charts/mychart:0.1.0", f"oci://{front.host}/prod/mychart", PLAIN)
        assert [p for _, p, _ in front.requests("GET")] == ["/v2/charts/mychart/manifests/0.1.0"]
        assert front.requests("HEAD", "/v2/prod/mychart/manifests/0.1.0")
        assert {m for m, _, _ in front.answers} == {"GET", "HEAD"}
    assert sha256(registry.manifest("prod/mychart", "0.1.0")) == digest
    assert "name: mychart" in helm4("show", f"oci://{registry.host}/prod/mychart:0.1.0")


@pytest.mark.parametrize("size", ["small", "large"])
def test_copy_streams_what_the_registry_will_not_mount(helm_oci, registry, chart, size):
    if size == "small":
        digest, source = pushed(helm_oci, chart, registry.host), "charts/mychart:0.1.0"
    else:
        digest, _ = big_artifact(registry, "charts/big", "1.0.0")
        source = "charts/big:1.0.0"
    with RefusesMounts(registry.host) as front:
        p = helm_oci.run("copy", f"oci://{front.host}/{source}", f"oci://{front.host}/prod/copied", PLAIN)
    assert lines(p)[-1] == f"Digest: {digest}"
    mounts = front.requests("POST", "/blobs/uploads/")
    assert len(mounts) == 2 and all("mount=" in path and status == 202 for _, path, status in mounts)
    # Each blob read from the source and written into the session the refusal opened; the
    # large one's manifest has no version annotation, so its config is read once more first,
    # to check the version tag.
    assert len(front.requests("GET", "/v2/charts/")) == (4 if size == "large" else 3)
    commits = front.requests("PUT", "/v2/prod/copied/blobs/uploads/")
    assert len(commits) == 2 and all(status == 201 for _, _, status in commits)
    # A blob too large for one PUT goes in one streamed PATCH; the PUT then only commits it.
    assert len(front.requests("PATCH")) == (1 if size == "large" else 0)
    assert sha256(registry.manifest("prod/copied", source.split(":")[1])) == digest


def test_a_mount_token_covers_both_repositories(helm_oci, tmp_path, chart):
    ts = TokenServer(tmp_path / "ts", users={"alice": "pw"})
    reg = Registry(tmp_path / "token-registry", auth=ts.registry_auth())
    credentials = ("--username", "alice", "--password", "pw")
    try:
        pushed(helm_oci, chart, reg.host, *credentials)
        ts.requests.clear()
        with Watched(reg.host) as front:
            helm_oci.run("copy", f"oci://{front.host}/charts/mychart:0.1.0", f"oci://{front.host}/prod/mychart",
                         PLAIN, *credentials)
        # The mount's token was asked for once, with both repositories' scopes, and was enough.
        assert [r["scopes"] for r in ts.requests].count(
            ["repository:charts/mychart:pull", "repository:prod/mychart:pull,push"]) == 1
        assert sorted(status for _, _, status in front.requests("POST", "/blobs/uploads/")) == [201, 201]
        assert [status for _, _, status in front.requests("PUT", "/prod/mychart/manifests/0.1.0")][-1] == 201
    finally:
        reg.stop()
        ts.stop()


# copy across registries

USERS = {"src": ("alice", "alice-pw"), "dst": ("bob", "bob-pw")}


@pytest.fixture
def two_private_registries(tmp_path):
    regs = {}
    for name, (user, password) in USERS.items():
        users = htpasswd(tmp_path / f"{name}.htpasswd", {user: password})
        regs[name] = Registry(tmp_path / name, auth={"htpasswd": {"realm": name, "path": str(users)}})
    yield regs["src"], regs["dst"]
    for r in regs.values():
        r.stop()


def test_copy_across_registries_each_with_its_own_credentials(helm_oci, two_private_registries, chart):
    """The source's credentials come from a stored login, the destination's from the flags."""
    src, dst = two_private_registries
    (user, password), (dst_user, dst_password) = USERS["src"], USERS["dst"]
    helm_oci.run("login", src.host, "-u", user, "-p", password, PLAIN)
    digest = pushed(helm_oci, chart, src.host)
    p = helm_oci.run("copy", f"oci://{src.host}/charts/mychart:0.1.0", f"oci://{dst.host}/stable/mychart", PLAIN,
                     "--username", dst_user, "--password", dst_password)
    assert lines(p) == [f"Copied: {src.host}/charts/mychart:0.1.0 -> {dst.host}/stable/mychart:0.1.0",
                        f"Digest: {digest}"]
    shown = helm4("show", f"oci://{dst.host}/stable/mychart:0.1.0", "--auth", dst.host, dst_user, dst_password)
    assert "name: mychart" in shown and "version: 0.1.0" in shown
    # Without the destination's credentials (the stored login is the source's) it is refused.
    line = helm_oci.fails("copy", f"oci://{src.host}/charts/mychart:0.1.0", f"oci://{dst.host}/other/mychart", PLAIN)
    assert line.endswith("authentication required: no credentials were found for this registry "
                         "(log in with `helm oci login`, or pass --username and --password)"), line
    # Without a login to the source, the flags (the destination's) are no way in: only a login is.
    helm_oci.run("logout", src.host)
    line = helm_oci.fails("copy", f"oci://{src.host}/charts/mychart:0.1.0", f"oci://{dst.host}/other/mychart", PLAIN,
                          "--username", dst_user, "--password", dst_password)
    assert src.host in line and line.endswith(
        "authentication required: no credentials were found for this registry (log in with `helm oci login`)"), line


def test_a_large_blob_streams_across_registries_in_constant_memory(helm_oci, registry, tmp_path):
    other = Registry(tmp_path / "other")
    try:
        digest, layer = big_artifact(registry, "charts/big", "1.0.0", size=64 << 20)
        with Watched(other.host) as front:
            p, rss = helm_oci.run_measured("copy", f"oci://{registry.host}/charts/big:1.0.0", f"oci://{front.host}/big",
                                           PLAIN)
        assert lines(p)[-1] == f"Digest: {digest}"
        assert rss < 40, f"{rss:.0f} MB for a 64 MiB blob"
        assert [status for _, _, status in front.requests("PATCH")] == [202]
        assert sha256(other.blob("big", layer)) == layer
        assert sha256(other.manifest("big", "1.0.0")) == digest
    finally:
        other.stop()


def no_large_chunks(method, path, headers):
    """A front `intercept` of a registry that takes no PATCH over 4 MiB, as GHCR answers it."""
    if method == "PATCH" and int(headers.get("Content-Length") or 0) > 4 << 20:
        return 416, [("Content-Type", "application/json")], b'{"errors":[{"code":"REQUESTED_RANGE_NOT_SATISFIABLE"}]}'
    return None


@pytest.mark.parametrize("size", ["small", "large", "large, in one PUT"])
def test_a_source_serving_tampered_bytes_leaves_nothing_at_the_destination(helm_oci, registry, chart, tmp_path,
                                                                            size):
    """Even a PUT that commits as its body ends (a registry that takes no large chunks gets
    a large blob so: here the source serves the right bytes to the refused PATCH, then other
    ones) never carries other bytes to their end: its last piece is held back."""
    if size == "small":
        pushed(helm_oci, chart, registry.host)
        manifest = json.loads(registry.manifest("charts/mychart", "0.1.0"))
        layer = next(l["digest"] for l in manifest["layers"] if l["mediaType"].endswith("tar+gzip"))
        source = "charts/mychart:0.1.0"
    else:
        _, layer = big_artifact(registry, "charts/big", "1.0.0")
        source = "charts/big:1.0.0"
    other = Registry(tmp_path / "other")
    try:
        refusing = {"intercept": no_large_chunks} if size == "large, in one PUT" else {}
        tamper = tampering_with(layer, after=1 if refusing else 0)
        with Front(registry.host, tamper=tamper) as src, Watched(other.host, **refusing) as dst:
            line = helm_oci.fails("copy", f"oci://{src.host}/{source}", f"oci://{dst.host}/prod/copied", PLAIN)
        # The source is named, so that the side that failed is plain.
        repository = source.split(":")[0]
        assert f"blob {src.host}/{repository}@{layer}: digest mismatch: expected {layer}, got sha256:" in line
        assert tags_of(other, "prod/copied") == []
        assert not dst.requests("PUT", "/manifests/")
        assert not has_blob(other, "prod/copied", layer)
        # Nothing unverified was committed: no PUT for the layer reached the registry whole,
        # and each session was cancelled (the refused one too), unless the registry dropped
        # it when its request broke off (404).
        assert not [path for _, path, _ in dst.requests("PUT", "/blobs/uploads/") if layer.replace(":", "%3A") in path]
        cancelled = [status for _, _, status in dst.requests("DELETE")]
        assert len(cancelled) == (2 if refusing else 1) and set(cancelled) <= {204, 404}, cancelled
        # A streamed PATCH breaks off before its last piece.
        assert not dst.requests("PATCH")
    finally:
        other.stop()


# where a copy goes

def test_where_a_copy_goes(helm_oci, registry, chart):
    digest = pushed(helm_oci, chart, registry.host)
    host = registry.host
    # Its own tag, when the destination names one.
    p = helm_oci.run("copy", f"oci://{host}/charts/mychart:0.1.0", f"oci://{host}/prod/mychart:candidate", PLAIN)
    assert lines(p)[0].endswith(f" -> {host}/prod/mychart:candidate")
    # A source named by digest alone goes by digest, and gets no tag.
    p = helm_oci.run("copy", f"oci://{host}/charts/mychart@{digest}", f"oci://{host}/pinned/mychart", PLAIN)
    assert lines(p) == [f"Copied: {host}/charts/mychart@{digest} -> {host}/pinned/mychart@{digest}", f"Digest: {digest}"]
    assert sha256(registry.manifest("pinned/mychart", digest)) == digest
    assert tags_of(registry, "pinned/mychart") == []
    assert "name: mychart" in helm4("show", f"oci://{host}/pinned/mychart@{digest}")
    # A tag and a digest: the tag, the content pinned.
    p = helm_oci.run("copy", f"oci://{host}/charts/mychart:0.1.0@{digest}", f"oci://{host}/both/mychart", PLAIN)
    assert lines(p)[0].endswith(f" -> {host}/both/mychart:0.1.0")
    assert tags_of(registry, "both/mychart") == ["0.1.0"]
    line = helm_oci.fails("copy", f"oci://{host}/charts/mychart:0.1.0", f"oci://{host}/prod/mychart@{digest}", PLAIN)
    assert "a copy keeps the source's digest" in line
    line = helm_oci.fails("copy", f"oci://{host}/charts/mychart", f"oci://{host}/prod/mychart", PLAIN)
    assert "nothing to copy in" in line


def test_an_index_is_copied_whole_with_each_manifest_under_it(helm_oci, registry, chart, tmp_path):
    """A chart wrapped in an image index beside a platform image, copied to another
    registry: each manifest under the index goes first, by its digest and with its blobs,
    then the index under the tag, with the source's digest; the copy pulls as the chart."""
    digest = pushed(helm_oci, chart, registry.host)
    manifest = registry.manifest("charts/mychart", "0.1.0")
    image = put_image(registry, "charts/mychart")
    nested = put_index(registry, "charts/mychart", None, [image])
    index = put_index(registry, "charts/mychart", "multi",
                      [descriptor(nested, INDEX), {"mediaType": MANIFEST, "digest": digest, "size": len(manifest)}])
    other = Registry(tmp_path / "other")
    try:
        p = helm_oci.run("copy", f"oci://{registry.host}/charts/mychart:multi", f"oci://{other.host}/prod/mychart",
                         PLAIN)
        assert lines(p)[-1] == f"Digest: {sha256(index)}"
        assert other.manifest_digest("prod/mychart", "multi") == sha256(index)
        image_config = json.loads(registry.manifest("charts/mychart", image["digest"]))["config"]["digest"]
        assert other.blob("prod/mychart", image_config) == registry.blob("charts/mychart", image_config)
        out = tmp_path / "out"
        p = helm_oci.run("pull", f"oci://{other.host}/prod/mychart:multi", "-d", out, PLAIN)
        assert lines(p)[-1] == f"Digest: {sha256(index)}"
        assert (out / "mychart-multi.tgz").read_bytes() == registry.blob(
            "charts/mychart", json.loads(manifest)["layers"][0]["digest"])
    finally:
        other.stop()


def test_an_index_may_have_more_tags(helm_oci, registry, chart):
    """Tagging moves no blob."""
    digest = pushed(helm_oci, chart, registry.host)
    manifest = registry.manifest("charts/mychart", "0.1.0")
    index = put_index(registry, "charts/mychart", "multi", [{"mediaType": MANIFEST, "digest": digest,
                                                             "size": len(manifest)}])
    p = helm_oci.run("tag", f"oci://{registry.host}/charts/mychart:multi", "multi-stable", PLAIN)
    assert lines(p)[-1] == f"Digest: {sha256(index)}"
