"""Round trips through a real registry: what is pushed comes back byte for byte."""
import io
import json
import os
import tarfile
import urllib.error
from pathlib import Path

import pytest
from conftest import files_left, helm4, pulled_by_digest, sha256, write_chart
from fronts import Front


def pushed_digest(out):
    lines = dict(l.split(": ", 1) for l in out.splitlines())
    return lines["Pushed"], lines["Digest"]


def test_push_directory_then_pull_gives_the_same_archive(helm_oci, registry, chart, tmp_path):
    p = helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")
    ref, digest = pushed_digest(p.stdout)
    assert ref == f"{registry.host}/charts/mychart:0.1.0"

    manifest = json.loads(registry.manifest("charts/mychart", "0.1.0"))
    assert sha256(registry.manifest("charts/mychart", "0.1.0")) == digest
    layer = manifest["layers"][0]

    out = tmp_path / "out"
    p = helm_oci.run("pull", f"oci://{registry.host}/charts/mychart", "--version", "0.1.0", "-d", out, "--plain-http")
    assert p.stdout == f"Pulled: {ref}\nDigest: {digest}\n"
    pulled = (out / "mychart-0.1.0.tgz").read_bytes()
    assert sha256(pulled) == layer["digest"] and len(pulled) == layer["size"]
    assert files_left(out) == ["mychart-0.1.0.tgz"]

    # The archive holds the chart's files under mychart/, and nothing else.
    with tarfile.open(fileobj=io.BytesIO(pulled)) as t:
        names = sorted(t.getnames())
        assert names == ["mychart/Chart.yaml", "mychart/templates/cm.yaml", "mychart/values.yaml"]
        assert t.extractfile("mychart/values.yaml").read() == (chart / "values.yaml").read_bytes()

    # Pushing the pulled archive as it is stores the very same blob, and pulls back identical.
    helm_oci.run("push", out / "mychart-0.1.0.tgz", f"oci://{registry.host}/again", "--plain-http")
    again = json.loads(registry.manifest("again/mychart", "0.1.0"))
    assert again["layers"] == manifest["layers"]
    out2 = tmp_path / "out2"
    helm_oci.run("pull", f"oci://{registry.host}/again/mychart:0.1.0", "-d", out2, "--plain-http")
    assert (out2 / "mychart-0.1.0.tgz").read_bytes() == pulled


def archive_files(data):
    """An archive's regular files: name -> bytes."""
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


def test_symlinks_out_of_the_chart_are_followed_as_helm_follows_them(helm_oci, registry, tmp_path):
    """A monorepo: the chart vendors a library chart beside it through a symlink, and links
    to files elsewhere, relatively, absolutely, from inside the linked chart, and out and
    back in. Helm's loader follows them all; so does push, and packages what Helm packages."""
    mono, shared = tmp_path / "mono", tmp_path / "shared"
    common = write_chart(mono, name="common", version="2.0.0", type="library")
    (common / "templates" / "cm.yaml").unlink()
    (common / "templates" / "_helpers.tpl").write_text('{{- define "common.name" -}}common{{- end -}}\n')
    shared.mkdir()
    (shared / "labels.tpl").write_text('{{- define "common.labels" -}}team: a{{- end -}}\n')
    (shared / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n")
    os.symlink("../../../shared/labels.tpl", common / "templates" / "_labels.tpl")
    app = write_chart(mono, name="app", version="1.0.0",
                      dependencies=[{"name": "common", "version": "2.0.0", "repository": "file://../common"}])
    (app / "charts").mkdir()
    os.symlink("../../common", app / "charts" / "common")
    os.symlink(shared / "cm.yaml", app / "templates" / "shared.yaml")
    os.symlink("../../app/values.yaml", app / "templates" / "values-again.yaml")
    # .helmignore itself, from the monorepo, and a link it names (not followed, as in Helm).
    (mono / "helmignore").write_text("*.bak\nignored-link\neditor/\n")
    os.symlink("../helmignore", app / ".helmignore")
    (app / "templates" / "old.bak").write_text("left out")
    os.symlink("/usr/share", app / "ignored-link")
    os.symlink("/usr/share", app / "editor")  # passed over as a directory: never granted

    helm_oci.run("push", app, f"oci://{registry.host}/linked", "--plain-http")
    manifest = json.loads(registry.manifest("linked/app", "1.0.0"))
    ours = archive_files(registry.blob("linked/app", manifest["layers"][0]["digest"]))
    helms = archive_files(Path(helm4("package", app, tmp_path / "pkg").strip()).read_bytes())
    # Helm writes each Chart.yaml anew from what it read; every other file goes as it is.
    assert ours.keys() == helms.keys()
    assert {k: v for k, v in ours.items() if not k.endswith("Chart.yaml")} == \
        {k: v for k, v in helms.items() if not k.endswith("Chart.yaml")}
    assert ours["app/charts/common/templates/_labels.tpl"] == (shared / "labels.tpl").read_bytes()
    assert ours["app/templates/shared.yaml"] == (shared / "cm.yaml").read_bytes()
    assert ours["app/templates/values-again.yaml"] == (app / "values.yaml").read_bytes()

    # save packages the same archive.
    saved = helm_oci.run("save", app, f"{registry.host}/saved").stdout
    assert f"content: {manifest['layers'][0]['digest']}\n" in saved


def test_a_namespace_with_a_trailing_slash_is_joined_as_helm_joins_it(helm_oci, registry, chart):
    """Helm joins the namespace and the chart's name with path.Join: `oci://host/ns/` is
    `oci://host/ns`. CI scripts build it as `oci://$REGISTRY/$NAMESPACE/`."""
    p = helm_oci.run("push", chart, f"oci://{registry.host}/charts/", "--plain-http")
    assert pushed_digest(p.stdout)[0] == f"{registry.host}/charts/mychart:0.1.0"
    p = helm_oci.run("save", chart, f"{registry.host}/charts//")
    assert f"ref:     {registry.host}/charts/mychart:0.1.0" in p.stdout, p.stdout


def test_the_same_directory_always_gives_the_same_digest(helm_oci, registry, chart):
    first = pushed_digest(helm_oci.run("push", chart, f"oci://{registry.host}/a", "--plain-http").stdout)[1]
    second = pushed_digest(helm_oci.run("push", chart, f"oci://{registry.host}/b", "--plain-http").stdout)[1]
    assert first == second
    # Pushing again uploads nothing: every blob is found by HEAD and skipped.
    again = helm_oci.run("push", chart, f"oci://{registry.host}/a", "--plain-http", "--debug")
    assert "HEAD " in again.stderr and "POST " not in again.stderr and "PATCH " not in again.stderr
    (chart / "values.yaml").write_text("replicaCount: 2\n")
    third = pushed_digest(helm_oci.run("push", chart, f"oci://{registry.host}/a", "--plain-http").stdout)[1]
    assert third != first


def test_helmignore_and_subcharts(helm_oci, registry, tmp_path):
    chart = write_chart(tmp_path / "src", extra={
        ".helmignore": "*.bak\nsecret/\n",
        "notes.bak": "x",
        "secret/key": "x",
        "templates/.hidden": "x",
        "charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 1.0.0\n",
        "charts/sub/values.yaml": "a: 1\n",
    })
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")
    out = tmp_path / "out"
    helm_oci.run("pull", f"oci://{registry.host}/charts/mychart:0.1.0", "-d", out, "--plain-http")
    with tarfile.open(out / "mychart-0.1.0.tgz") as t:
        names = set(t.getnames())
    assert "mychart/charts/sub/Chart.yaml" in names and "mychart/.helmignore" in names
    assert not {"mychart/notes.bak", "mychart/secret/key", "mychart/templates/.hidden"} & names


def test_untar_into_untardir(helm_oci, registry, chart, tmp_path):
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")
    out = tmp_path / "out"
    helm_oci.run("pull", f"oci://{registry.host}/charts/mychart", "--version", "0.1.0",
                 "-d", out, "--untar", "--untardir", "unpacked", "--plain-http")
    assert (out / "unpacked" / "mychart" / "Chart.yaml").read_bytes() == (chart / "Chart.yaml").read_bytes()
    assert files_left(out / "unpacked") == ["mychart"]
    # A second untar must not overwrite what is there.
    line = helm_oci.fails("pull", f"oci://{registry.host}/charts/mychart:0.1.0", "-d", out, "--untar",
                          "--untardir", "unpacked", "--plain-http")
    assert "already exists" in line
    assert files_left(out / "unpacked") == ["mychart"]


def test_pull_without_version_takes_the_newest_stable(helm_oci, registry, tmp_path):
    for v in ["0.9.0", "1.2.0", "1.10.0", "2.0.0-rc.1"]:
        c = write_chart(tmp_path / v, version=v)
        helm_oci.run("push", c, f"oci://{registry.host}/charts", "--plain-http")
    out = tmp_path / "out"
    p = helm_oci.run("pull", f"oci://{registry.host}/charts/mychart", "-d", out, "--plain-http")
    assert p.stdout.startswith(f"Pulled: {registry.host}/charts/mychart:1.10.0\n")
    assert files_left(out) == ["mychart-1.10.0.tgz"]


def test_pull_takes_several_charts_and_stops_at_the_first_that_fails(helm_oci, registry, tmp_path):
    for name in ("one", "two"):
        helm_oci.run("push", write_chart(tmp_path / name, name=name), f"oci://{registry.host}/charts", "--plain-http")
    out = tmp_path / "out"
    base = f"oci://{registry.host}/charts"
    p = helm_oci.run("pull", f"{base}/one:0.1.0", f"{base}/two:0.1.0", "-d", out, "--plain-http")
    assert [l for l in p.stdout.splitlines() if l.startswith("Pulled: ")] == [
        f"Pulled: {registry.host}/charts/one:0.1.0", f"Pulled: {registry.host}/charts/two:0.1.0"]
    assert files_left(out) == ["one-0.1.0.tgz", "two-0.1.0.tgz"]
    # As in Helm: what came before the failing one stays, and nothing after it is pulled.
    out = tmp_path / "out2"
    p = helm_oci.run("pull", f"{base}/two:0.1.0", f"{base}/missing:0.1.0", f"{base}/one:0.1.0",
                     "-d", out, "--plain-http", check=False)
    assert p.stdout.startswith(f"Pulled: {registry.host}/charts/two:0.1.0\n")
    assert "missing" in helm_oci.error_line(p)
    assert files_left(out) == ["two-0.1.0.tgz"]


def test_pull_by_digest_and_build_metadata_versions(helm_oci, registry, tmp_path):
    """The archive is named as Helm's pull names it (pkg/downloader's DownloadTo): after the
    reference as asked, whatever the chart inside says. By digest, Helm cuts the name at the
    digest's ':'; a version, a constraint, or a tag that reads as one, is written with '+'."""
    c = write_chart(tmp_path / "src", version="1.0.0+build.7")
    _, digest = pushed_digest(helm_oci.run("push", c, f"oci://{registry.host}/charts", "--plain-http").stdout)
    assert registry.manifest("charts/mychart", "1.0.0_build.7")
    repo = f"oci://{registry.host}/charts/mychart"
    for i, (asked, named) in enumerate([
        ([f"{repo}@{digest}"], pulled_by_digest("mychart", digest)),
        ([f"{repo}:1.0.0_build.7"], "mychart-1.0.0+build.7.tgz"),
        ([repo, "--version", "1.0.0+build.7"], "mychart-1.0.0+build.7.tgz"),
        ([repo, "--version", ">=1.0.0"], "mychart-1.0.0+build.7.tgz"),
        ([repo], "mychart-1.0.0+build.7.tgz"),
    ]):
        out = tmp_path / f"out{i}"
        helm_oci.run("pull", *asked, "-d", out, "--plain-http")
        assert files_left(out) == [named], asked
        assert "name: mychart" in helm4("show", out / named)


def test_a_version_beside_a_digest_is_read_as_helm_reads_a_tag(helm_oci, registry, tmp_path):
    """Helm takes `--version` beside a digest as a tag that, if it exists, must name the
    digest. helm-oci also wants the chart to be that version (Helm does not look), spelt as
    tags may spell it: with or without a `v`, `1.0` for 1.0.0, or a floating tag over a
    version with build metadata."""
    repo = f"oci://{registry.host}/charts/mychart"
    for i, (chart_version, version) in enumerate([("1.0.0+build.7", "1.0"), ("1.0.0+build.7", "1.0.0+build.7"),
                                                  ("v3.0.0", "3.0.0"), ("3.1.0", "v3.1.0")]):
        c = write_chart(tmp_path / f"src{i}", version=chart_version)
        _, digest = pushed_digest(helm_oci.run("push", c, f"oci://{registry.host}/charts", "--plain-http").stdout)
        out = tmp_path / f"out{i}"
        helm_oci.run("pull", f"{repo}@{digest}", "--version", version, "-d", out, "--plain-http")
        assert files_left(out) == [pulled_by_digest("mychart", digest)], version
    c = write_chart(tmp_path / "src", version="1.0.0+build.7")
    _, digest = pushed_digest(helm_oci.run("push", c, f"oci://{registry.host}/charts", "--plain-http").stdout)
    line = helm_oci.fails("pull", f"{repo}@{digest}", "--version", "2.0.0", "-d", tmp_path / "no", "--plain-http")
    assert line.endswith(f"it is version 1.0.0+build.7, not 2.0.0"), line
    line = helm_oci.fails("pull", f"{repo}:1.0.0_build.7", "--version", "2.0.0", "-d", tmp_path / "no",
                          "--plain-http")
    assert line == "Error: chart reference and version mismatch: 2.0.0 is not 1.0.0_build.7"
    assert files_left(tmp_path / "no") == []


def test_a_pull_by_a_tag_that_is_no_version_is_named_after_the_tag(helm_oci, registry, chart, tmp_path):
    """A floating tag names the archive as Helm's pull names it (`app:0.1` gives app-0.1.tgz),
    and a chart copied under another repository's name is named after that repository:
    scripts written for Helm look there. A tag that is no version (which Helm's pull
    refuses) names it likewise."""
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")
    helm_oci.run("tag", f"oci://{registry.host}/charts/mychart:0.1.0", "stable", "0.1", "--plain-http")
    helm_oci.run("copy", f"oci://{registry.host}/charts/mychart:0.1.0", f"oci://{registry.host}/prod/renamed",
                 "--plain-http")
    for i, (asked, named) in enumerate([
        ("charts/mychart:stable", "mychart-stable.tgz"),
        ("charts/mychart:0.1", "mychart-0.1.tgz"),
        ("prod/renamed:0.1.0", "renamed-0.1.0.tgz"),
    ]):
        out = tmp_path / f"out{i}"
        p = helm_oci.run("pull", f"oci://{registry.host}/{asked}", "-d", out, "--plain-http")
        assert files_left(out) == [named], asked
        assert (out / named).read_bytes() == (tmp_path / "out0" / "mychart-stable.tgz").read_bytes()
        assert p.stdout.startswith(f"Pulled: {registry.host}/{asked}\n")
    # Unpacked, the chart's directory is the chart's own name, as in Helm.
    helm_oci.run("pull", f"oci://{registry.host}/prod/renamed:0.1.0", "-d", tmp_path / "u", "--untar",
                 "--plain-http")
    assert files_left(tmp_path / "u") == ["mychart"]


def test_full_reference_with_its_own_tag_warns(helm_oci, registry, chart, tmp_path):
    p = helm_oci.run("push", chart, f"{registry.host}/myrepo/mychart:latest", "--plain-http")
    assert p.stdout.startswith(f"Pushed: {registry.host}/myrepo/mychart:latest\n")
    assert p.stderr.startswith("WARNING: ") and "semver" in p.stderr
    out = tmp_path / "out"
    helm_oci.run("pull", f"{registry.host}/myrepo/mychart:latest", "-d", out, "--plain-http")
    assert files_left(out) == ["mychart-latest.tgz"]


def test_a_push_to_another_versions_tag_is_refused(helm_oci, registry, chart):
    """Helm's push refuses a tag other than the chart's version; a tag that reads as another
    version would make every pull and listing of it fail, so it is refused before any request."""
    line = helm_oci.fails("push", chart, f"oci://{registry.host}/charts/mychart:2.0.0", "--plain-http")
    assert 'tag "2.0.0" reads as another chart version than mychart 0.1.0' in line
    with pytest.raises(urllib.error.HTTPError):
        registry.manifest("charts/mychart", "2.0.0")
    # A tag that is no version, or a floating one, still goes (with the warning of a tag
    # Helm's --version does not find).
    for tag in ("stable", "0.1"):
        p = helm_oci.run("push", chart, f"oci://{registry.host}/charts/mychart:{tag}", "--plain-http")
        assert p.stderr.startswith("WARNING: ")


def test_a_tag_beside_a_digest_must_name_it(helm_oci, registry, tmp_path):
    """As Helm: `name:tag@digest` is pulled by digest, and refused if the tag names another
    manifest; a tag that does not exist is no refusal."""
    _, old = pushed_digest(helm_oci.run("push", write_chart(tmp_path / "a", version="0.1.0"),
                                        f"oci://{registry.host}/charts", "--plain-http").stdout)
    helm_oci.run("push", write_chart(tmp_path / "b", version="0.2.0"), f"oci://{registry.host}/charts", "--plain-http")
    out = tmp_path / "out"
    line = helm_oci.fails("pull", f"oci://{registry.host}/charts/mychart:0.2.0@{old}", "-d", out, "--plain-http")
    assert f"the tag of {registry.host}/charts/mychart:0.2.0@{old}: digest mismatch: expected {old}" in line
    assert not out.exists() or files_left(out) == []
    helm_oci.run("pull", f"oci://{registry.host}/charts/mychart:0.1.0@{old}", "-d", out, "--plain-http")
    helm_oci.run("pull", f"oci://{registry.host}/charts/mychart:9.9.9@{old}", "-d", tmp_path / "out2", "--plain-http")
    named = pulled_by_digest("mychart", old)
    assert files_left(out) == [named] and files_left(tmp_path / "out2") == [named]


def quiet_heads(status, manifests):
    """A front `tamper` under which HEADs of manifests under `manifests` answer `status`, or
    (200) answer without the digest, so that only a GET can tell what a tag names."""
    def tamper(method, path, code, headers, body):
        if method != "HEAD" or not path.startswith(manifests):
            return code, headers, body
        if status == 200:
            return code, [(k, v) for k, v in headers if k.lower() != "docker-content-digest"], body
        return status, [("Content-Length", "0")], b""
    return tamper


@pytest.mark.parametrize("status", [200, 405])
def test_a_tag_beside_a_digest_is_read_with_a_get_where_a_head_does_not_say(helm_oci, registry, tmp_path, status):
    """A registry (or a proxy in front of it) that answers no HEAD, or one without the
    digest, still has the tag checked: its manifest is read and hashed."""
    _, old = pushed_digest(helm_oci.run("push", write_chart(tmp_path / "a", version="0.1.0"),
                                        f"oci://{registry.host}/charts", "--plain-http").stdout)
    helm_oci.run("push", write_chart(tmp_path / "b", version="0.2.0"), f"oci://{registry.host}/charts", "--plain-http")
    with Front(registry.host, tamper=quiet_heads(status, "/v2/charts/mychart/manifests/")) as front:
        out = tmp_path / "out"
        line = helm_oci.fails("pull", f"oci://{front.host}/charts/mychart:0.2.0@{old}", "-d", out, "--plain-http")
        assert f"the tag of {front.host}/charts/mychart:0.2.0@{old}: digest mismatch: expected {old}" in line, line
        assert ("GET", "/v2/charts/mychart/manifests/0.2.0") in [(m, p) for m, p, _ in front.seen]
        p = helm_oci.run("pull", f"oci://{front.host}/charts/mychart:0.1.0@{old}", "-d", out, "--plain-http")
        assert ("GET", "/v2/charts/mychart/manifests/0.1.0") in [(m, p) for m, p, _ in front.seen]
        assert "WARNING" not in p.stderr
        assert files_left(out) == [pulled_by_digest("mychart", old)]


def test_a_tag_the_registry_will_not_show_is_said_unchecked(helm_oci, registry, tmp_path):
    """As Helm, a tag beside a digest that cannot be read (403 here) does not stop the pull by
    the digest; unlike Helm, the pull says that the tag went unchecked."""
    _, old = pushed_digest(helm_oci.run("push", write_chart(tmp_path / "a", version="0.1.0"),
                                        f"oci://{registry.host}/charts", "--plain-http").stdout)
    with Front(registry.host, tamper=quiet_heads(403, "/v2/charts/mychart/manifests/0.1.0")) as front:
        p = helm_oci.run("pull", f"oci://{front.host}/charts/mychart:0.1.0@{old}", "-d", tmp_path / "out",
                         "--plain-http")
    assert p.stderr.startswith("WARNING: ") and \
        f"whether the tag 0.1.0 still names {old} was not checked" in p.stderr, p.stderr
    assert files_left(tmp_path / "out") == [pulled_by_digest("mychart", old)]


def test_credentials_in_a_reference_are_refused_without_printing_them(helm_oci, registry, chart, tmp_path):
    for command in (["pull", f"oci://me:s3cret@{registry.host}/charts/mychart", "-d", tmp_path, "--plain-http"],
                    ["pull", f"https://me:s3 cret@{registry.host}/charts/mychart", "-d", tmp_path, "--plain-http"],
                    ["push", chart, f"oci://me:s3cret@{registry.host}/charts", "--plain-http"],
                    ["login", f"me:s3cret@{registry.host}", "-u", "me", "--password-stdin", "--insecure"],
                    ["logout", f"me:s3cret@{registry.host}"]):
        line = helm_oci.fails(*command, input="x")
        assert "it holds credentials before the host" in line and "s3" not in line, line


def test_large_chart_goes_up_in_chunks_and_streams_down(helm_oci, registry, tmp_path):
    # Incompressible, above the 8 MiB single-PUT limit, each file within Helm's 5 MiB.
    blobs = {f"files/blob{i}.bin": os.urandom(4 << 20) for i in range(3)}
    c = write_chart(tmp_path / "src", extra=blobs)
    p = helm_oci.run("push", c, f"oci://{registry.host}/charts", "--plain-http", "--debug")
    assert p.stderr.count("PATCH ") >= 2, p.stderr
    out = tmp_path / "out"
    helm_oci.run("pull", f"oci://{registry.host}/charts/mychart:0.1.0", "-d", out, "--plain-http")
    with tarfile.open(out / "mychart-0.1.0.tgz") as t:
        assert all(t.extractfile(f"mychart/{name}").read() == data for name, data in blobs.items())


def test_a_chart_of_many_small_files_goes_both_ways_as_in_helm(helm_oci, registry, tmp_path):
    """Helm bounds a chart's bytes, not its number of files: 25,000 of them push, pull,
    unpack and load, in helm-oci and in Helm 4.3."""
    chart = write_chart(tmp_path / "src", name="many", version="1.0.0")
    (chart / "files").mkdir()
    for i in range(25_000):
        (chart / "files" / f"f{i}.txt").write_text("x\n")
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")
    helm_oci.run("pull", f"oci://{registry.host}/charts/many:1.0.0", "-d", tmp_path / "out", "--plain-http",
                 "--untar")
    assert len(list((tmp_path / "out" / "many" / "files").iterdir())) == 25_000
    assert "name: many" in helm4("show", f"oci://{registry.host}/charts/many:1.0.0")


def test_a_registry_that_takes_no_large_chunks_gets_the_blob_in_one_put(helm_oci, registry, tmp_path):
    """GHCR refuses a PATCH of more than 4 MiB (416 REQUESTED_RANGE_NOT_SATISFIABLE): a large
    chart, pushed or copied there, goes up in one PUT instead, as Helm always sends it."""
    from conftest import Registry
    from fronts import Front

    def ghcr(method, path, headers):
        if method == "PATCH" and int(headers.get("Content-Length") or 0) > 4 << 20:
            body = b'{"errors":[{"code":"REQUESTED_RANGE_NOT_SATISFIABLE","message":"the request body is too large"}]}'
            return 416, [("Content-Type", "application/json")], body
        return None

    blobs = {f"files/blob{i}.bin": os.urandom(4 << 20) for i in range(3)}
    c = write_chart(tmp_path / "src", extra=blobs)
    source = Registry(tmp_path / "source")
    try:
        helm_oci.run("push", c, f"oci://{source.host}/charts", "--plain-http")
        with Front(registry.host, intercept=ghcr) as front:
            helm_oci.run("push", c, f"oci://{front.host}/charts", "--plain-http")
            helm_oci.run("copy", f"oci://{source.host}/charts/mychart:0.1.0", f"oci://{front.host}/copied/mychart",
                         "--plain-http")
            refused = [path for m, path, _ in front.seen if m == "PATCH"]
            whole = [path for m, path, _ in front.seen if m == "PUT" and "/blobs/uploads/" in path]
    finally:
        source.stop()
    assert len(refused) == 2 and len(whole) >= 2, front.seen
    for repository in ("charts", "copied"):
        out = tmp_path / repository
        helm_oci.run("pull", f"oci://{registry.host}/{repository}/mychart:0.1.0", "-d", out, "--plain-http")
        with tarfile.open(out / "mychart-0.1.0.tgz") as t:
            assert all(t.extractfile(f"mychart/{name}").read() == data for name, data in blobs.items())


def test_reads_the_legacy_layer_of_helm_3_0_to_3_6(helm_oci, registry, chart, tmp_path):
    import urllib.request
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")
    manifest = json.loads(registry.manifest("charts/mychart", "0.1.0"))
    manifest["layers"][0]["mediaType"] = "application/tar+gzip"
    req = urllib.request.Request(registry.url("/v2/charts/mychart/manifests/legacy"), method="PUT",
                                 data=json.dumps(manifest).encode(),
                                 headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    urllib.request.urlopen(req).close()
    out = tmp_path / "out"
    p = helm_oci.run("pull", f"oci://{registry.host}/charts/mychart:legacy", "-d", out, "--plain-http")
    assert p.stderr.startswith("WARNING: ") and "application/tar+gzip" in p.stderr
    assert sha256((out / "mychart-legacy.tgz").read_bytes()) == manifest["layers"][0]["digest"]


@pytest.mark.parametrize("root", ["oci://{host}", "oci://{host}/"])
def test_a_push_to_the_registrys_root_goes_where_helm_puts_it(helm_oci, registry, chart, tmp_path, root):
    """Helm joins the chart's name onto the destination: oci://host puts mychart at host/mychart."""
    p = helm_oci.run("push", chart, root.format(host=registry.host), "--plain-http")
    assert p.stdout.startswith(f"Pushed: {registry.host}/mychart:0.1.0\n")
    assert "version: 0.1.0" in helm4("show", f"oci://{registry.host}/mychart:0.1.0")
    ours = json.loads(registry.manifest("mychart", "0.1.0"))["config"]
    packaged = helm4("package", chart, tmp_path / "pkg").strip()
    helm4("push", packaged, f"oci://{registry.host}")
    assert json.loads(registry.manifest("mychart", "0.1.0"))["config"] == ours, "Helm put its own at the same place"
