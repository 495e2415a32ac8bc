"""`helm oci dependency update|build`: a chart's OCI dependencies resolved against the
registry's tags (through the cache and the mirrors), vendored into charts/ as the chart
layers' exact bytes, and locked in Chart.lock (requirements.lock for apiVersion v1) with
Helm's own digest plus each chart's manifest digest; `build` reproduces charts/ byte for
byte and refuses a tag that moved. Against real registries (one behind a recording Front)
and Helm 4.3's loader and linter."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from contextlib import nullcontext
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from conftest import HELM4, Registry, helm4, htpasswd, tgz, write_chart
from fronts import Front, Silent
from pki import CA
from tokenserver import TokenServer
from test_discovery import seed
from test_downloader import helm4_env, installed
from test_mirrors import configure, copy, mirror  # noqa: F401 (a fixture)

DB_VERSIONS = ["0.9.0", "1.0.0", "1.2.0", "2.0.0"]
WEB_VERSIONS = ["2.0.0", "2.1.0", "2.1.5", "2.2.0"]


@pytest.fixture
def origin(tmp_path):
    """The registry with charts/db and charts/web, behind a Front that records requests."""
    reg = Registry(tmp_path / "origin")
    for v in DB_VERSIONS:
        seed(reg, "charts/db", v, description=f"db {v}")
    for v in WEB_VERSIONS:
        seed(reg, "charts/web", v, description=f"web {v}")
    with Front(reg.host) as front:
        front.registry = reg
        yield front
    reg.stop()


def go_json(value):
    """JSON as Go's encoding/json writes it: compact, `<`, `>`, `&`, U+2028/9 escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                          ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text.encode()


def helm_dependency(d):
    """A dependency as Go marshals Helm's chart.Dependency: its field order, omitempty."""
    out = {"name": d["name"]}
    if d.get("version"):
        out["version"] = d["version"]
    out["repository"] = d.get("repository", "")
    for key in ("condition", "tags", "enabled", "import-values", "alias"):
        if d.get(key):
            out[key] = d[key]
    return out


def hash_req(declared, locked):
    """Helm 3/4's resolver.HashReq."""
    data = go_json([[helm_dependency(d) for d in declared], [helm_dependency(d) for d in locked]])
    return "sha256:" + hashlib.sha256(data).hexdigest()


def hash_v2_req(declared):
    """Helm 2's HashReq (Helm 3's HashV2Req)."""
    data = go_json({"dependencies": [helm_dependency(d) for d in declared]})
    return "sha256:" + hashlib.sha256(data).hexdigest()


def snapshot(directory):
    """Every file under `directory`, by relative path, with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def layer_of(reg, repo, tag):
    manifest = reg.manifest(repo, tag)
    layer = json.loads(manifest)["layers"][0]["digest"]
    return reg.blob(repo, layer), "sha256:" + hashlib.sha256(manifest).hexdigest()


def chart_archive(name, version):
    return tgz({f"{name}/Chart.yaml": f"apiVersion: v2\nname: {name}\nversion: {version}\n".encode()})


def app_chart(tmp_path, origin, extra_deps=()):
    """A v2 chart depending on db (^1.0.0) and web (~2.1) in the origin, and on a chart
    vendored under charts/local (no repository), with an outdated db archive and an unrelated
    file already in charts/."""
    deps = [
        {"name": "db", "version": "^1.0.0", "repository": f"oci://{origin.host}/charts", "condition": "db.enabled"},
        {"name": "web", "version": "~2.1", "repository": f"oci://{origin.host}/charts/", "alias": "front",
         "tags": ["frontend"], "import-values": [{"child": "exports", "parent": "web"}]},
        {"name": "local", "version": ">=0.3.0 <1", "repository": ""},
        *extra_deps,
    ]
    chart = write_chart(tmp_path / "src", name="app", version="1.0.0", dependencies=deps)
    write_chart(chart / "charts", name="local", version="0.3.1")
    (chart / "charts" / "db-0.9.0.tgz").write_bytes(chart_archive("db", "0.9.0"))
    (chart / "charts" / "_notes.txt").write_text("not a dependency\n")
    return chart, deps


def test_update_vendors_the_layers_and_locks_them_with_helms_digest(helm_oci, origin, mirror, tmp_path):
    copy(origin.registry, "charts/web", mirror, "copies/web", "2.1.5")
    copy(origin.registry, "charts/web", mirror, "copies/web", "2.1.0")
    configure(helm_oci, f"{origin.host}/charts/web", (f"{mirror.host}/copies/web", True))
    chart, deps = app_chart(tmp_path, origin)

    p = helm_oci.run("dependency", "update", chart, "--plain-http")
    assert p.stdout.splitlines()[0] == "Saving 3 charts"
    assert f"Downloading db from repo oci://{origin.host}/charts" in p.stdout
    assert "Dependency local did not declare a repository. Assuming it exists in the charts directory" in p.stdout
    assert p.stdout.splitlines()[-1] == "Deleting outdated charts"
    assert [path for _, path, _ in origin.seen if "charts/web" in path] == [], "web came from the mirror"

    charts = chart / "charts"
    assert sorted(p.name for p in charts.iterdir()) == ["_notes.txt", "db-1.2.0.tgz", "local", "web-2.1.5.tgz"]
    db_layer, db_manifest = layer_of(origin.registry, "charts/db", "1.2.0")
    web_layer, web_manifest = layer_of(mirror, "copies/web", "2.1.5")
    assert (charts / "db-1.2.0.tgz").read_bytes() == db_layer
    assert (charts / "web-2.1.5.tgz").read_bytes() == web_layer

    lock = yaml.safe_load((chart / "Chart.lock").read_text())
    assert sorted(lock) == ["dependencies", "digest", "generated"]
    assert lock["dependencies"] == [
        {"name": "db", "repository": f"oci://{origin.host}/charts", "version": "1.2.0", "manifestDigest": db_manifest},
        {"name": "web", "repository": f"oci://{origin.host}/charts/", "version": "2.1.5",
         "manifestDigest": web_manifest},
        {"name": "local", "repository": "", "version": ">=0.3.0 <1"},
    ]
    assert lock["digest"] == hash_req(deps, lock["dependencies"])
    # One value worked out by hand from Go's encoding/json and chart.Dependency.
    by_hand = (
        f'[[{{"name":"db","version":"^1.0.0","repository":"oci://{origin.host}/charts","condition":"db.enabled"}},'
        f'{{"name":"web","version":"~2.1","repository":"oci://{origin.host}/charts/","tags":["frontend"],'
        f'"import-values":[{{"child":"exports","parent":"web"}}],"alias":"front"}},'
        f'{{"name":"local","version":"\\u003e=0.3.0 \\u003c1","repository":""}}],'
        f'[{{"name":"db","version":"1.2.0","repository":"oci://{origin.host}/charts"}},'
        f'{{"name":"web","version":"2.1.5","repository":"oci://{origin.host}/charts/"}},'
        f'{{"name":"local","version":"\\u003e=0.3.0 \\u003c1","repository":""}}]]'
    )
    assert lock["digest"] == "sha256:" + hashlib.sha256(by_hand.encode()).hexdigest()

    shown = helm4("show", chart)
    assert "name: app" in shown
    linted = json.loads(helm4("lint", chart))
    assert not linted["Errors"] and all(m["Severity"] < 2 for m in linted["Messages"]), linted

    # Nothing changed upstream: a second update locks the same and leaves the lock alone.
    before = (chart / "Chart.lock").read_bytes()
    helm_oci.run("dep", "up", chart, "--plain-http")
    assert (chart / "Chart.lock").read_bytes() == before


def test_update_removes_outdated_archives_as_helm_does(helm_oci, origin, tmp_path):
    """As Helm's safeMoveDeps: every other archive in charts/ that loads as a chart goes (an
    older version, a dependency no longer declared), unless it is named like a dependency
    vendored in charts/; a file that is no chart stays (one the loader passes over: Helm
    loads the chart first, and fails on any other)."""
    chart, _ = app_chart(tmp_path, origin)
    charts = chart / "charts"
    (charts / "gone-1.0.0.tgz").write_bytes(chart_archive("gone", "1.0.0"))
    (charts / "renamed.tgz").write_bytes(chart_archive("web", "1.0.0"))
    (charts / "local-0.1.0.tgz").write_bytes(chart_archive("local", "0.1.0"))
    (charts / "_db-0.0.1.tgz").write_bytes(b"not a chart, named like one")
    helm_oci.run("dependency", "update", chart, "--plain-http")
    assert sorted(p.name for p in charts.iterdir()) == [
        "_db-0.0.1.tgz", "_notes.txt", "db-1.2.0.tgz", "local", "local-0.1.0.tgz", "web-2.1.5.tgz"]


def test_an_archive_that_cannot_go_in_fails_the_update_before_any_moves(helm_oci, origin, tmp_path):
    """A directory where web's archive goes: nothing is moved (db's new archive went in
    first, beside its old one, and Helm then loaded both)."""
    chart, _ = app_chart(tmp_path, origin)
    (chart / "charts" / "web-2.1.5.tgz").mkdir()
    before = snapshot(chart / "charts")
    line = helm_oci.fails("dependency", "update", chart, "--plain-http")
    assert line == f"Error: {chart / 'charts' / 'web-2.1.5.tgz'}: is a directory", line
    assert snapshot(chart / "charts") == before
    assert sorted(p.name for p in (chart / "charts").iterdir()) == [
        "_notes.txt", "db-0.9.0.tgz", "local", "web-2.1.5.tgz"]
    assert not (chart / "Chart.lock").exists()


def test_an_empty_list_of_dependencies_clears_charts_and_locks_none_as_helm_does(helm_oci, origin, tmp_path):
    """`dependencies: []` is a list, if an empty one (Go's slice is not nil): Helm's update
    saves nothing, removes the archives once vendored and locks no dependency, so a build
    then agrees; without the key at all, it does nothing."""
    deps = [{"name": "db", "version": "^1.0.0", "repository": f"oci://{origin.host}/charts"}]
    chart = write_chart(tmp_path / "src", name="app", version="1.0.0", dependencies=deps)
    helm_oci.run("dependency", "update", chart, "--plain-http")
    chart_yaml = (chart / "Chart.yaml").read_text()
    (chart / "Chart.yaml").write_text(yaml.safe_dump({**yaml.safe_load(chart_yaml), "dependencies": []}))
    p = helm_oci.run("dependency", "update", chart, "--plain-http")
    assert p.stdout.splitlines() == ["Saving 0 charts", "Deleting outdated charts"]
    assert list((chart / "charts").iterdir()) == []
    lock = yaml.safe_load((chart / "Chart.lock").read_text())
    assert lock["dependencies"] == [] and lock["digest"] == hash_req([], [])
    helm_oci.run("dependency", "build", chart, "--plain-http")

    # No list at all is Go's nil, which the lock of none does not cover: build refuses it, and
    # update leaves everything as it is.
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: app\nversion: 1.0.0\n")
    (chart / "charts" / "db-1.2.0.tgz").write_bytes(chart_archive("db", "1.2.0"))
    line = helm_oci.fails("dependency", "build", chart, "--plain-http")
    assert "the lock file (Chart.lock) is out of sync" in line, line
    p = helm_oci.run("dependency", "update", chart, "--plain-http")
    assert p.stdout == "" and [c.name for c in (chart / "charts").iterdir()] == ["db-1.2.0.tgz"]


def test_a_lock_file_that_is_a_symlink_is_not_written(helm_oci, origin, tmp_path):
    """As Helm, which refuses to write a lock over a symlink, and leaves alone one that
    already locks the same; an absolute one is refused as every symlink out of a chart is."""
    chart, _ = app_chart(tmp_path, origin)
    (chart / "locks").mkdir()
    (chart / "locks" / "app.lock").write_text("dependencies: []\n")
    (chart / "Chart.lock").symlink_to("locks/app.lock")
    line = helm_oci.fails("dependency", "update", chart, "--plain-http")
    assert 'the Chart.lock file is a symlink to "locks/app.lock"' in line, line
    assert (chart / "locks" / "app.lock").read_text() == "dependencies: []\n"
    # A symlinked lock that already locks the same needs no writing.
    (chart / "Chart.lock").unlink()
    helm_oci.run("dependency", "update", chart, "--plain-http")
    (chart / "Chart.lock").rename(chart / "locks" / "app.lock")
    (chart / "Chart.lock").symlink_to("locks/app.lock")
    helm_oci.run("dependency", "update", chart, "--plain-http")
    assert (chart / "Chart.lock").is_symlink()


def test_build_in_a_fresh_cache_reproduces_charts_byte_for_byte(helm_oci, origin, mirror, tmp_path):
    copy(origin.registry, "charts/web", mirror, "copies/web", "2.1.5")
    configure(helm_oci, f"{origin.host}/charts/web", (f"{mirror.host}/copies/web", True))
    chart, _ = app_chart(tmp_path, origin)
    helm_oci.run("dependency", "update", chart, "--plain-http")
    built = snapshot(chart / "charts")
    lock = (chart / "Chart.lock").read_bytes()

    shutil.rmtree(chart / "charts")
    write_chart(chart / "charts", name="local", version="0.3.1")
    (chart / "charts" / "_notes.txt").write_text("not a dependency\n")
    shutil.rmtree(tmp_path / "helm-cache")
    p = helm_oci.run("dependency", "build", chart, "--plain-http")
    assert "Saving 3 charts" in p.stdout
    assert snapshot(chart / "charts") == {k: v for k, v in built.items() if k != "db-0.9.0.tgz"}
    assert (chart / "Chart.lock").read_bytes() == lock, "build does not rewrite the lock"


def test_build_passes_over_a_mirror_whose_tag_names_other_content(helm_oci, origin, mirror, tmp_path):
    """A locked chart is taken from a mirror only with its locked digest: a mirror holding
    other content under the same tag is passed over for the registry, which still has it."""
    chart, _ = app_chart(tmp_path, origin)
    helm_oci.run("dependency", "update", chart, "--plain-http")
    built = snapshot(chart / "charts")
    seed(mirror, "copies/db", "1.2.0", description="other content under the locked tag")
    configure(helm_oci, f"{origin.host}/charts/db", (f"{mirror.host}/copies/db", True))
    shutil.rmtree(chart / "charts")
    write_chart(chart / "charts", name="local", version="0.3.1")
    shutil.rmtree(tmp_path / "helm-cache")
    p = helm_oci.run("dependency", "build", chart, "--plain-http")
    assert snapshot(chart / "charts") == {k: v for k, v in built.items() if k not in ("db-0.9.0.tgz", "_notes.txt")}
    assert f"the mirror {mirror.host}/copies/db was passed over" in p.stderr and "digest mismatch" in p.stderr


def test_a_v1_chart_locks_requirements_with_the_hash_helm_2_and_3_accept(helm_oci, origin, tmp_path):
    local_charts(tmp_path)
    deps = [{"name": "db", "version": "~1.0", "repository": f"ocirepo+http://{origin.host}/charts"},
            {"name": "common", "version": "0.2.0", "repository": "file://../../libs/common"}]
    chart = write_chart(tmp_path / "src", name="legacy", version="0.1.0", apiVersion="v1")
    (chart / "requirements.yaml").write_text(yaml.safe_dump({"dependencies": deps}))

    helm_oci.run("dependency", "update", chart)
    assert not (chart / "Chart.lock").exists()
    lock = yaml.safe_load((chart / "requirements.lock").read_text())
    assert [(d["name"], d["version"]) for d in lock["dependencies"]] == [("db", "1.0.0"), ("common", "0.2.0")]
    assert lock["digest"] == hash_v2_req(deps)
    assert "name: legacy" in helm4("show", chart)
    built = snapshot(chart / "charts")

    shutil.rmtree(chart / "charts")
    shutil.rmtree(tmp_path / "helm-cache")
    helm_oci.run("dependency", "build", chart)
    assert snapshot(chart / "charts") == built


def test_a_tag_moved_upstream_fails_the_build_and_leaves_charts_alone(helm_oci, origin, tmp_path):
    chart, _ = app_chart(tmp_path, origin)
    helm_oci.run("dependency", "update", chart, "--plain-http")
    before = snapshot(chart / "charts")

    seed(origin.registry, "charts/db", "1.2.0", description="the same version, other content")
    (chart / "charts" / "db-1.2.0.tgz").unlink()
    before.pop("db-1.2.0.tgz")
    line = helm_oci.fails("dependency", "build", chart, "--plain-http")
    assert "digest mismatch" in line and f"{origin.host}/charts/db:1.2.0" in line, line
    assert snapshot(chart / "charts") == before
    assert not [p for p in (chart / "charts").iterdir() if p.name.startswith(".helm-oci-")]


@pytest.mark.parametrize("bad", ["sha256:../../x", "sha256:1234", "md5:abc", "SHA256:" + "A" * 64])
def test_a_locked_manifest_digest_that_is_none_is_refused_before_any_request(helm_oci, origin, tmp_path, bad):
    """A digest goes into a URL only once it is known to be one, as a reference's does."""
    chart, _ = app_chart(tmp_path, origin)
    helm_oci.run("dependency", "update", chart, "--plain-http")
    lock_file = chart / "Chart.lock"
    lock = yaml.safe_load(lock_file.read_text())
    lock["dependencies"][0]["manifestDigest"] = bad
    lock_file.write_text(yaml.safe_dump(lock, sort_keys=False))
    (chart / "charts" / "db-1.2.0.tgz").unlink()
    before, asked = snapshot(chart), len(origin.seen)

    line = helm_oci.fails("dependency", "build", chart, "--plain-http")
    assert line == (f"Error: {lock_file}: the manifestDigest of dependency \"db\", \"{bad}\", is not "
                    "sha256:<64 lowercase hex digits>; run 'helm oci dependency update' to lock it again"), line
    assert len(origin.seen) == asked and snapshot(chart) == before


def test_a_lock_helm_wrote_is_built_saying_where_each_version_came_from(helm_oci, origin, tmp_path):
    """Helm's own Chart.lock records no manifest digests: each locked version is taken as
    the registry tags it now, or, offline, as the chart cache holds it; and said so."""
    chart, _ = app_chart(tmp_path, origin)
    helm_oci.run("dependency", "update", chart, "--plain-http")
    lock_file = chart / "Chart.lock"
    lock = yaml.safe_load(lock_file.read_text())
    for d in lock["dependencies"]:
        d.pop("manifestDigest", None)
    lock_file.write_text(yaml.safe_dump(lock, sort_keys=False))
    built = snapshot(chart / "charts")

    for flags, source in ((["--plain-http"], "the registry"), (["--offline"], "the chart cache")):
        p = helm_oci.run("dependency", "build", chart, *flags)
        assert (f'WARNING: Chart.lock records no manifest digest for "db": its version tag was taken as '
                f"{source} has it now") in p.stderr, p.stderr
        assert snapshot(chart / "charts") == built


def test_a_lock_out_of_sync_fails_with_helms_message(helm_oci, origin, tmp_path):
    chart, _ = app_chart(tmp_path, origin)
    helm_oci.run("dependency", "update", chart, "--plain-http")
    chart_yaml = chart / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace('"^1.0.0"', '"^2.0.0"'))
    before = snapshot(chart)

    line = helm_oci.fails("dependency", "build", chart, "--plain-http")
    assert line == ("Error: the lock file (Chart.lock) is out of sync with the dependencies file (Chart.yaml). "
                    "Please update the dependencies with 'helm dependency update'")
    assert snapshot(chart) == before


def test_an_empty_lock_is_no_lock_and_build_updates_as_helm_does(helm_oci, origin, tmp_path):
    """An empty or comment-only Chart.lock decodes to no lock in Helm, whose build then runs
    an update."""
    chart, _ = app_chart(tmp_path, origin)
    (chart / "Chart.lock").write_text("# locked by CI\n")
    helm_oci.run("dependency", "build", chart, "--plain-http")
    lock = yaml.safe_load((chart / "Chart.lock").read_text())
    assert [d["name"] for d in lock["dependencies"]] and lock["digest"].startswith("sha256:")
    assert (chart / "charts" / "db-1.2.0.tgz").exists()


def test_offline_works_from_the_cache_alone_and_names_what_it_lacks(helm_oci, origin, tmp_path):
    chart, _ = app_chart(tmp_path, origin)
    helm_oci.run("dependency", "update", chart, "--plain-http")
    built = snapshot(chart / "charts")
    origin.registry.stop()

    (chart / "charts" / "db-1.2.0.tgz").unlink()
    p = helm_oci.run("dependency", "build", chart, "--offline")
    assert snapshot(chart / "charts") == built
    # Nothing is downloaded, and the output does not say so.
    assert f"Taking db from the chart cache (repo oci://{origin.host}/charts)" in p.stdout
    assert "Downloading" not in p.stdout, p.stdout
    helm_oci.run("dependency", "update", chart, "--offline")
    assert snapshot(chart / "charts") == built

    more = {"name": "cache", "version": "1.0.0", "repository": f"oci://{origin.host}/other"}
    offline, _ = app_chart(tmp_path / "more", origin, extra_deps=[more])
    line = helm_oci.fails("dependency", "update", offline, "--offline")
    assert f"{origin.host}/other/cache:1.0.0" in line and "not in the chart cache" in line, line


def test_dependencies_are_fetched_at_once(helm_oci, origin, tmp_path):
    """Helm fetches one dependency after another, each a tag list, a manifest and its blobs
    away; here the registry holds every answer back 50 ms (the first declared chart's tag
    list 300 ms more), and all four tag lists are asked for together. The lock still lists
    them in the order declared."""
    for name in ("cache", "queue"):
        seed(origin.registry, f"charts/{name}", "1.0.0")

    def slower_web(method, path, headers):
        if "/charts/web/tags/" in path:
            time.sleep(0.3)

    with Front(origin.registry.host, delay=0.05, intercept=slower_web) as slow:
        deps = [{"name": n, "version": "*", "repository": f"oci://{slow.host}/charts"}
                for n in ("web", "db", "queue", "cache")]
        chart = write_chart(tmp_path / "src", name="app", version="1.0.0", dependencies=deps)
        helm_oci.run("dependency", "update", chart, "--plain-http")
        lists = [(start, end) for method, path, start, end in slow.timeline if path.endswith("/tags/list")]
    assert len(lists) == 4
    assert max(start for start, _ in lists) < min(end for _, end in lists), lists
    lock = yaml.safe_load((chart / "Chart.lock").read_text())
    assert [(d["name"], d["version"]) for d in lock["dependencies"]] == [
        ("web", "2.2.0"), ("db", "2.0.0"), ("queue", "1.0.0"), ("cache", "1.0.0")]
    assert sorted(p.name for p in (chart / "charts").iterdir()) == [
        "cache-1.0.0.tgz", "db-2.0.0.tgz", "queue-1.0.0.tgz", "web-2.2.0.tgz"]


def nine_dependencies(origin, tmp_path):
    """A chart with nine dependencies in the origin, one more than are fetched at once."""
    names = [f"dep{i}" for i in range(9)]
    for name in names:
        seed(origin.registry, f"charts/{name}", "1.0.0")
    deps = [{"name": n, "version": "^1", "repository": f"oci://{origin.host}/charts"} for n in names]
    return write_chart(tmp_path / "src", name="app", version="1.0.0", dependencies=deps), names


def bearer_at(token_host):
    """A Front `intercept` that answers everything 401, sending for tokens to `token_host`."""
    def challenge(method, path, headers):
        return 401, [("WWW-Authenticate", f'Bearer realm="http://{token_host}/token",service="mirror"')], b""
    return challenge


@pytest.mark.parametrize("silent", ["mirror", "token service"])
def test_a_mirror_that_never_answers_is_waited_on_once_for_all_the_dependencies(helm_oci, origin, tmp_path, silent):
    """Nine dependencies behind a mirror that never answers, or whose token service never
    does: the first eight pulls each wait on it (together), and the ninth, started once one
    of them is done, passes the mirror over without asking, so the update waits about 10 s,
    not 20."""
    chart, names = nine_dependencies(origin, tmp_path)
    with Silent() as hung:
        in_front = Front(origin.registry.host, intercept=bearer_at(hung.host)) if silent == "token service" \
            else nullcontext(hung)
        with in_front as mirror:
            configure(helm_oci, f"{origin.host}/charts", (f"{mirror.host}/charts", True))
            p = helm_oci.run("dependency", "update", chart, "--plain-http")
        asked = hung.requests
    assert sorted(p.name for p in (chart / "charts").iterdir()) == [f"{n}-1.0.0.tgz" for n in names]
    first = "GET /token?" if silent == "token service" else "GET /v2/charts/dep"
    assert len(asked) == 8 and all(line.startswith(first) for line in asked), asked
    if silent == "token service":
        assert len(mirror.seen) == 8, "the ninth pull did not ask the mirror either"
    for name in names:
        assert f"the mirror {mirror.host}/charts/{name} was passed over: cannot reach {hung.host}" in p.stderr


def test_a_mirror_whose_token_service_answers_an_error_is_tried_again(helm_oci, origin, tmp_path):
    """A token service that answers, if only with an error, is up: each dependency's pull
    asks it again, where one that gives no answer is passed over for the rest."""
    chart, names = nine_dependencies(origin, tmp_path)
    with Front(origin.registry.host, intercept=lambda *a: (404, [], b"no such service")) as tokens, \
            Front(origin.registry.host, intercept=bearer_at(tokens.host)) as mirror:
        configure(helm_oci, f"{origin.host}/charts", (f"{mirror.host}/charts", True))
        p = helm_oci.run("dependency", "update", chart, "--plain-http")
    assert sorted(p.name for p in (chart / "charts").iterdir()) == [f"{n}-1.0.0.tgz" for n in names]
    assert len([path for _, path, _ in tokens.seen if path.startswith("/token?")]) == 9, tokens.seen
    assert f"the token service {tokens.host} failed (HTTP 404)" in p.stderr


# A time the source files are set to, and one SOURCE_DATE_EPOCH gives instead.
FILES_TIME, EPOCH = 1_600_000_000, 1_700_000_000


def local_charts(tmp_path):
    """Two chart directories outside the app chart, as umbrella charts keep them, every file
    dated FILES_TIME: `common`, a library with a .helmignore and a vendored subchart, and
    `tools`, named `toolbox` inside."""
    common = write_chart(tmp_path / "libs", name="common", version="0.2.0", type="library", extra={
        ".helmignore": "*.md\n",
        "README.md": "ignored\n",
        "templates/_helpers.tpl": '{{- define "common.name" -}}common{{- end -}}\n',
        "charts/inner/Chart.yaml": "apiVersion: v2\nname: inner\nversion: 1.0.0\n",
    })
    (common / "templates" / "cm.yaml").unlink()
    tools = write_chart(tmp_path / "elsewhere", name="toolbox", version="v1.4.0")
    tools = tools.rename(tools.parent / "tools")
    for path in [*common.rglob("*"), *tools.rglob("*")]:
        os.utime(path, (FILES_TIME, FILES_TIME))
    return common, tools


def members(archive, name):
    """The files of an archive with their bytes (Chart.yaml as the YAML it holds), and the
    times they are stamped with."""
    with tarfile.open(archive) as t:
        files = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
        times = {m.mtime for m in t.getmembers()}
    return {**files, f"{name}/Chart.yaml": yaml.safe_load(files[f"{name}/Chart.yaml"])}, times


def test_file_dependencies_are_packaged_as_helm_packages_them_and_locked(helm_oci, origin, tmp_path):
    common, tools = local_charts(tmp_path)
    extra = [{"name": "common", "version": "~0.2", "repository": "file://../../libs/common"},
             {"name": "tools", "version": ">=1.0.0", "repository": f"file://{tools}/"},
             {"name": "common", "alias": "again", "version": "0.2.x", "repository": "file://../../libs/common"}]
    chart, deps = app_chart(tmp_path, origin, extra_deps=extra)
    charts = chart / "charts"
    (charts / "common-0.1.0.tgz").write_bytes(chart_archive("common", "0.1.0"))
    (charts / "toolbox-v1.3.0.tgz").write_bytes(chart_archive("toolbox", "v1.3.0"))
    sources = snapshot(tmp_path / "libs"), snapshot(tmp_path / "elsewhere")

    p = helm_oci.run("dependency", "update", chart, "--plain-http")
    assert p.stdout.splitlines()[0] == "Saving 6 charts"
    assert sorted(p.name for p in charts.iterdir()) == [
        "_notes.txt", "common-0.2.0.tgz", "db-1.2.0.tgz", "local", "toolbox-v1.4.0.tgz", "web-2.1.5.tgz"]
    assert (snapshot(tmp_path / "libs"), snapshot(tmp_path / "elsewhere")) == sources, "sources are only read"

    # The archive holds the files Helm's own package of the directory holds, with the same
    # bytes (Chart.yaml is kept as written, where Helm writes its own YAML of the same
    # fields), all stamped with the newest file's time.
    helms = helm4("package", common, tmp_path).strip()
    ours, times = members(charts / "common-0.2.0.tgz", "common")
    assert ours == members(helms, "common")[0]
    assert "common/charts/inner/Chart.yaml" in ours and "common/README.md" not in ours
    assert times == {FILES_TIME}

    lock = yaml.safe_load((chart / "Chart.lock").read_text())
    assert lock["dependencies"][3:] == [
        {"name": "common", "repository": "file://../../libs/common", "version": "0.2.0"},
        {"name": "tools", "repository": f"file://{tools}/", "version": "v1.4.0"},
        {"name": "common", "repository": "file://../../libs/common", "version": "0.2.0"},
    ]
    assert lock["digest"] == hash_req(deps, lock["dependencies"])
    assert "name: app" in helm4("show", chart)

    # A fresh build packs the same bytes again, from the lock; so does one offline.
    built = snapshot(charts)
    shutil.rmtree(charts)
    write_chart(charts, name="local", version="0.3.1")
    (charts / "_notes.txt").write_text("not a dependency\n")
    shutil.rmtree(tmp_path / "helm-cache")
    helm_oci.run("dependency", "build", chart, "--plain-http")
    assert snapshot(charts) == built
    (charts / "common-0.2.0.tgz").unlink()
    helm_oci.run("dependency", "build", chart, "--offline")
    assert snapshot(charts) == built

    # SOURCE_DATE_EPOCH stamps the archives, as it does `helm package`'s.
    helm_oci.run("dependency", "update", chart, "--plain-http", env={"SOURCE_DATE_EPOCH": str(EPOCH)})
    assert members(charts / "common-0.2.0.tgz", "common")[1] == {EPOCH}

    # The directory moved on to a version the lock does not name: build refuses it, in Helm's words.
    (common / "Chart.yaml").write_text((common / "Chart.yaml").read_text().replace('"0.2.0"', '"0.2.1"'))
    before = snapshot(chart)
    line = helm_oci.fails("dependency", "build", chart, "--plain-http")
    assert line == "Error: can't get a valid version for dependency common", line
    assert snapshot(chart) == before


@pytest.mark.parametrize("local_last", [True, False])
def test_two_dependencies_giving_one_archive_name_end_as_in_helm(helm_oci, origin, tmp_path, local_last):
    """Helm writes them one after another, so the one declared last stays; fetched at once,
    they still do."""
    write_chart(tmp_path / "libs", name="db", version="1.2.0", description="the local db")
    deps = [{"name": "db", "version": "1.2.0", "repository": f"oci://{origin.host}/charts"},
            {"name": "db", "alias": "other", "version": "1.2.0", "repository": "file://../../libs/db"}]
    deps = deps if local_last else deps[::-1]
    chart = write_chart(tmp_path / "src", name="app", version="1.0.0", dependencies=deps)
    helm_oci.run("dependency", "update", chart, "--plain-http")
    assert sorted(p.name for p in (chart / "charts").iterdir()) == ["db-1.2.0.tgz"]
    meta = members(chart / "charts" / "db-1.2.0.tgz", "db")[0]["db/Chart.yaml"]
    assert meta["description"] == ("the local db" if local_last else "db 1.2.0")


def test_a_lock_naming_a_directory_since_removed_is_out_of_sync(helm_oci, tmp_path):
    common, tools = local_charts(tmp_path)
    deps = [{"name": "tools", "version": "^1", "repository": f"file://{tools}"}]
    chart = write_chart(tmp_path / "src", name="app", version="1.0.0", dependencies=deps)
    helm_oci.run("dependency", "update", chart)
    shutil.rmtree(tools)
    chart_yaml = chart / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace(f"file://{tools}", "file://../../libs/common"))
    line = helm_oci.fails("dependency", "build", chart)
    assert line.startswith("Error: the lock file (Chart.lock) is out of sync"), line


@pytest.mark.parametrize("repository, why", [
    ("file://../missing", "Error: directory {tmp}/src/missing not found"),
    ("file://../../libs/common",
     'Error: can\'t get a valid version for 1 subchart(s): "common" (repository "file://../../libs/common", '
     'version "^1.0"). Make sure a matching chart version exists in the repo, or change the version constraint '
     'in Chart.yaml'),
    ("file://../../elsewhere", "Error: {tmp}/elsewhere: Chart.yaml file is missing"),
    ("file://.", 'Error: dependency "common": repository "file://." names {tmp}/src/app, which holds the chart'),
    ("file://..", 'Error: dependency "common": repository "file://.." names {tmp}/src, which holds the chart'),
    ("file://{tmp}/helm-cache",
     'Error: dependency "common": repository "file://{tmp}/helm-cache" names {tmp}/helm-cache, which holds '
     'the chart cache'),
])
def test_a_file_dependency_that_cannot_be_packaged_fails_as_helm_says(helm_oci, tmp_path, repository, why):
    """Each fails before anything is written or granted: no charts/ appears."""
    local_charts(tmp_path)
    repository = repository.format(tmp=tmp_path)
    deps = [{"name": "common", "version": "^1.0", "repository": repository}]
    chart = write_chart(tmp_path / "src", name="app", version="1.0.0", dependencies=deps)
    helm_oci.run("list")  # the chart cache is there
    before = snapshot(tmp_path)
    assert helm_oci.fails("dependency", "update", chart) == why.format(tmp=tmp_path)
    assert snapshot(tmp_path) == before
    assert not (chart / "charts").exists()


@pytest.mark.parametrize("verb", ["update", "build"])
def test_a_chart_helm_cannot_load_is_refused_before_anything_is_fetched(helm_oci, origin, tmp_path, verb):
    """Helm loads the chart whole first: a stray file in charts/ (not an archive, not a
    chart directory) fails its load, and so the command, with nothing fetched or written."""
    deps = [{"name": "db", "version": "^1.0", "repository": f"oci://{origin.host}/charts"}]
    chart = write_chart(tmp_path / "src", name="app", version="1.0.0", dependencies=deps,
                        extra={"charts/README.txt": "vendored charts go here\n"})
    helm_oci.run("list")  # the chart cache is there
    before = snapshot(tmp_path)
    line = helm_oci.fails("dependency", verb, chart, "--plain-http")
    assert line.startswith(f"Error: {chart}: ") and "README.txt" in line, line
    assert snapshot(tmp_path) == before
    helm = subprocess.run([sys.executable, HELM4, "package", chart, tmp_path / "pkg"], capture_output=True, text=True)
    assert helm.returncode != 0 and "README.txt" in helm.stderr, "Helm refuses the same chart"


def test_symlinks_out_of_the_chart_do_not_stop_an_update(helm_oci, origin, tmp_path):
    """Helm's loader follows symlinks anywhere (a monorepo's shared library chart linked into
    charts/, say); the sandbox cannot, so they are passed over in the check that the chart
    loads, not refused."""
    chart, _ = app_chart(tmp_path, origin)
    library = write_chart(tmp_path / "library", name="common", version="1.0.0")
    (chart / "charts").mkdir(exist_ok=True)
    os.symlink(os.path.relpath(library, chart / "charts"), chart / "charts" / "common")
    (tmp_path / "shared.txt").write_text("shared\n")
    os.symlink(os.path.relpath(tmp_path / "shared.txt", chart), chart / "shared.txt")
    helm_oci.run("dependency", "update", chart, "--plain-http")
    assert (chart / "charts" / "db-1.2.0.tgz").exists() and (chart / "charts" / "common").is_symlink()


def test_symlinks_are_followed_as_helm_follows_them(helm_oci, origin, tmp_path):
    """A monorepo's shapes, which Helm's loader and downloader follow: a vendored dependency
    that is a link to a chart elsewhere (charts/shared -> ../../shared), a `file://` chart
    whose templates link to one shared across charts and to one of the chart being updated,
    a `charts` that links to a directory elsewhere in the chart, and outdated archives there
    that are links, in the chart and out of it (removed as an outdated archive is). The
    archive packaged from the `file://` chart holds the linked templates, as Helm's would."""
    repo = tmp_path / "repo"
    write_chart(repo, name="shared", version="1.0.0")
    (repo / "snippets").mkdir()
    (repo / "snippets" / "_common.tpl").write_text('{{- define "common" -}}from the snippets{{- end -}}\n')
    sub = write_chart(repo, name="sub", version="0.3.0")
    os.symlink("../../snippets/_common.tpl", sub / "templates" / "_common.tpl")
    os.symlink("../../app/templates/_app.tpl", sub / "templates" / "_app.tpl")
    deps = [{"name": "db", "version": "^1.0.0", "repository": f"oci://{origin.host}/charts"},
            {"name": "shared", "version": "^1", "repository": ""},
            {"name": "sub", "version": "0.3.x", "repository": "file://../sub"}]
    app = write_chart(repo, name="app", version="1.0.0", dependencies=deps)
    (app / "templates" / "_app.tpl").write_text('{{- define "app" -}}from the app{{- end -}}\n')
    (repo / "old").mkdir()
    (repo / "old" / "gone-1.0.0.tgz").write_bytes(chart_archive("gone", "1.0.0"))
    (app / "vendor").mkdir()
    os.symlink("vendor", app / "charts")
    os.symlink("../../shared", app / "vendor" / "shared")
    (app / "archives").mkdir()
    (app / "archives" / "db-0.9.0.tgz").write_bytes(chart_archive("db", "0.9.0"))
    os.symlink("../archives/db-0.9.0.tgz", app / "vendor" / "db-0.9.0.tgz")
    os.symlink("../../old/gone-1.0.0.tgz", app / "vendor" / "gone-1.0.0.tgz")

    p = helm_oci.run("dependency", "update", app, "--plain-http")
    assert "Saving 3 charts" in p.stdout, p.stdout
    vendor = app / "vendor"
    assert sorted(p.name for p in vendor.iterdir()) == ["db-1.2.0.tgz", "shared", "sub-0.3.0.tgz"]
    assert (vendor / "shared").is_symlink() and (app / "archives" / "db-0.9.0.tgz").exists()
    assert (repo / "old" / "gone-1.0.0.tgz").exists(), "the link goes, not what it leads to"
    with tarfile.open(vendor / "sub-0.3.0.tgz") as t:
        linked = [t.extractfile(f"sub/templates/{name}").read() for name in ("_common.tpl", "_app.tpl")]
    assert linked == [(repo / "snippets" / "_common.tpl").read_bytes(), (app / "templates" / "_app.tpl").read_bytes()]
    lock = yaml.safe_load((app / "Chart.lock").read_text())
    assert [(d["name"], d["version"]) for d in lock["dependencies"]] == [("db", "1.2.0"), ("shared", "^1"),
                                                                         ("sub", "0.3.0")]
    helm_oci.run("dependency", "build", app, "--plain-http")
    assert "name: app" in helm4("show", app)


def test_a_charts_link_out_of_the_chart_is_refused_saying_where_it_leads(helm_oci, origin, tmp_path):
    """The command writes only in the chart directory: a `charts` that leads out of it is
    refused, before anything is fetched, and nothing there changes."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    deps = [{"name": "db", "version": "^1.0.0", "repository": f"oci://{origin.host}/charts"}]
    app = write_chart(tmp_path / "src", name="app", version="1.0.0", dependencies=deps)
    os.symlink("../elsewhere", app / "charts")
    line = helm_oci.fails("dependency", "update", app, "--plain-http")
    assert line == f'Error: {app / "charts"}: it links to "../elsewhere", outside the chart', line
    assert list(elsewhere.iterdir()) == [] and not (app / "Chart.lock").exists()


@pytest.mark.parametrize("repository", ["https://charts.example.com/stable", "@stable", "alias:stable"])
def test_repositories_outside_a_registry_are_refused(helm_oci, tmp_path, repository):
    """Directly, or through an alias Helm knows for one."""
    repositories = tmp_path / "repositories.yaml"
    repositories.write_text("apiVersion: v1\nrepositories:\n- name: stable\n  url: https://charts.example.com/stable\n"
                            "  username: someone\n  password: secret\n")
    deps = [{"name": "db", "version": "1.0.0", "repository": repository}]
    chart = write_chart(tmp_path / "src", name="app", version="1.0.0", dependencies=deps)
    before = snapshot(chart)
    line = helm_oci.fails("dependency", "update", chart, env={"HELM_REPOSITORY_CONFIG": str(repositories)})
    assert line.startswith('Error: dependency "db": repository "https://charts.example.com/stable"'), line
    assert "helm dependency update" in line and "secret" not in line, line
    assert snapshot(chart) == before


def test_aliases_of_an_ocirepo_repository_stand_for_its_url_as_in_helm(helm_oci, origin, tmp_path):
    """Real Helm adds the registry namespace as a repository through the downloader; a chart
    naming it `@myoci` and `alias:myoci` is then locked as Helm's downloader manager locks it:
    each alias replaced by the URL, in the lock and in the digest. A v1 chart's lock keeps
    Helm 2's digest, of the aliases as written."""
    env = helm4_env(tmp_path, installed(tmp_path))
    url = f"ocirepo+http://{origin.host}/charts"
    helm4("repo-add", "myoci", url, env=env)
    known = {"HELM_REPOSITORY_CONFIG": env["HELM_REPOSITORY_CONFIG"]}
    deps = [{"name": "db", "version": "^1.0.0", "repository": "@myoci"},
            {"name": "web", "version": "~2.1", "repository": "alias:myoci"}]
    chart = write_chart(tmp_path / "src", name="app", version="1.0.0", dependencies=deps)

    p = helm_oci.run("dependency", "update", chart, env=known)
    assert f"Downloading db from repo {url}" in p.stdout
    lock = yaml.safe_load((chart / "Chart.lock").read_text())
    assert [(d["name"], d["repository"], d["version"]) for d in lock["dependencies"]] == [
        ("db", url, "1.2.0"), ("web", url, "2.1.5")]
    assert lock["digest"] == hash_req([{**d, "repository": url} for d in deps], lock["dependencies"])
    assert "name: app" in helm4("show", chart)
    built = snapshot(chart / "charts")
    assert sorted(built) == ["db-1.2.0.tgz", "web-2.1.5.tgz"]
    shutil.rmtree(chart / "charts")
    helm_oci.run("dependency", "build", chart, env=known)
    assert snapshot(chart / "charts") == built

    legacy = write_chart(tmp_path / "legacy", name="legacy", version="0.1.0", apiVersion="v1")
    (legacy / "requirements.yaml").write_text(yaml.safe_dump({"dependencies": deps}))
    helm_oci.run("dependency", "update", legacy, env=known)
    lock = yaml.safe_load((legacy / "requirements.lock").read_text())
    assert [d["repository"] for d in lock["dependencies"]] == [url, url]
    assert lock["digest"] == hash_v2_req(deps)
    shutil.rmtree(legacy / "charts")
    helm_oci.run("dependency", "build", legacy, env=known)
    assert snapshot(legacy / "charts") == built

    # An alias Helm does not know is named, in Helm's words, before anything is fetched.
    unknown = write_chart(tmp_path / "unknown", name="app", version="1.0.0",
                          dependencies=[{**deps[0], "repository": "@elsewhere"}, deps[1]])
    origin.seen.clear()
    line = helm_oci.fails("dependency", "update", unknown, env=known)
    assert line == "Error: no repository definition for @elsewhere. Please add them via 'helm repo add'"
    assert origin.seen == [] and not (unknown / "charts").exists()


REPO_ADD = """
import ctypes, json, sys
sys.path.insert(0, sys.argv[1])
import helm4
lib = helm4.load()
name, url, username, password, ca_file = (a.encode() for a in sys.argv[2:])
h = helm4.H()
if lib.helm_sdkpy_config_create(b"default", None, None, b"{}", ctypes.byref(h)) or lib.helm_sdkpy_repo_add(
        h, name, url, username, password, json.dumps({"ca_file": ca_file.decode()}).encode()):
    sys.exit(ctypes.string_at(lib.helm_sdkpy_last_error()).decode())
"""


def helm4_repo_add(env, name, url, username, password, ca_file):
    """Helm 4.3's `helm repo add NAME URL --username U --password P --ca-file F` (helm4.py's
    repo-add takes no credentials): Helm fetches the index through the downloader with them,
    then writes the entry to the repositories file."""
    p = subprocess.run([sys.executable, "-c", REPO_ADD, str(HELM4.parent), name, url, username, password, str(ca_file)],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


def test_a_version_in_an_ocirepo_repository_is_matched_as_helm_matches_one_in_an_index(helm_oci, tmp_path):
    """A chart repository's dependency resolves its version against the versions listed, as
    Helm's resolver does against an index: `1.1.0` finds `v1.1.0`, `1.3.0` finds
    `1.3.0+build.7` (build metadata aside). (In an oci:// repository, a version is its tag.)
    The repositories file is read as Helm reads it: `yes` is true."""
    reg = Registry(tmp_path / "reg")
    for version in ("v1.0.0", "v1.1.0", "v2.0.0"):
        seed(reg, "charts/vtag", version)
    seed(reg, "charts/db", "1.3.0+build.7")
    url = f"ocirepo+http://{reg.host}/charts"
    repositories = tmp_path / "repositories.yaml"
    repositories.write_text(f"apiVersion: v1\nrepositories:\n- name: myoci\n  url: {url}\n"
                            "  insecure_skip_tls_verify: yes\n")
    deps = [{"name": "vtag", "version": "1.1.0", "repository": "@myoci"},
            {"name": "db", "version": "1.3.0", "repository": url}]
    chart = write_chart(tmp_path / "src", name="app", version="1.0.0", dependencies=deps)
    helm_oci.run("dependency", "update", chart, env={"HELM_REPOSITORY_CONFIG": str(repositories)})
    lock = yaml.safe_load((chart / "Chart.lock").read_text())
    assert [(d["name"], d["version"]) for d in lock["dependencies"]] == [("vtag", "v1.1.0"), ("db", "1.3.0+build.7")]
    # A build takes exactly the locked versions, whose tags must still name what was locked.
    known = {"HELM_REPOSITORY_CONFIG": str(repositories)}
    vendored = snapshot(chart / "charts")
    helm_oci.run("dependency", "build", chart, env=known)
    assert snapshot(chart / "charts") == vendored
    seed(reg, "charts/vtag", "v1.1.0", description="pushed again")
    line = helm_oci.fails("dependency", "build", chart, env=known)
    assert "digest mismatch" in line and "vtag" in line, line
    oci = write_chart(tmp_path / "oci", name="app", version="1.0.0",
                      dependencies=[{"name": "vtag", "version": "1.1.0", "repository": f"oci://{reg.host}/charts"}])
    line = helm_oci.fails("dependency", "update", oci, "--plain-http")
    assert line == f"Error: {reg.host}/charts/vtag:1.1.0: not found", line
    reg.stop()


def test_a_repository_is_reached_with_the_password_and_ca_file_helm_repo_add_gave_it(helm_oci, origin, tmp_path):
    """Helm's downloader manager reaches a repository with the username, password and TLS
    files it was added with, and so does `dependency update|build`: over TLS (a CA of the
    test's) with a password, an `@alias` dependency needs no login and no TLS flag. Flags
    given to the command win over the repository's."""
    ca = CA(tmp_path / "pki")
    cert, key = ca.issue("registry")
    users = htpasswd(tmp_path / "htpasswd", {"alice": "s3cret-pass"})
    secure = Registry(tmp_path / "secure", data=origin.registry.root / "data",
                      tls={"certificate": str(cert), "key": str(key)},
                      auth={"htpasswd": {"realm": "test", "path": str(users)}})
    try:
        env = helm4_env(tmp_path, installed(tmp_path))
        url = f"ocirepo://{secure.host}/charts"
        helm4_repo_add(env, "secure", url, "alice", "s3cret-pass", ca.cert)
        added = yaml.safe_load(Path(env["HELM_REPOSITORY_CONFIG"]).read_text())["repositories"]
        assert [(r["name"], r["username"], r["caFile"]) for r in added] == [("secure", "alice", str(ca.cert))]
        known = {"HELM_REPOSITORY_CONFIG": env["HELM_REPOSITORY_CONFIG"]}
        chart = write_chart(tmp_path / "src", name="app", version="1.0.0",
                            dependencies=[{"name": "db", "version": "^1.0.0", "repository": "@secure"}])

        p = helm_oci.run("dependency", "update", chart, env=known)
        assert f"Pulled: {secure.host}/charts/db:1.2.0" in p.stdout
        built = snapshot(chart / "charts")
        assert list(built) == ["db-1.2.0.tgz"]
        shutil.rmtree(chart / "charts")
        helm_oci.run("dependency", "build", chart, env=known)
        assert snapshot(chart / "charts") == built

        # Each part counts: the same entry without its CA file, or without its username and
        # password, does not reach the registry; flags given to the command win. (The chart
        # cache goes too: it would serve the locked digest with no request.)
        shutil.rmtree(chart / "charts")
        shutil.rmtree(tmp_path / "helm-cache")
        for dropped, said in ((("caFile",), "certificate signed by unknown authority"),
                              (("username", "password"), "no credentials were found")):
            stripped = tmp_path / f"without-{dropped[0]}.yaml"
            stripped.write_text(yaml.safe_dump({"repositories": [
                {k: v for k, v in added[0].items() if k not in dropped}]}))
            line = helm_oci.fails("dependency", "build", chart, env={"HELM_REPOSITORY_CONFIG": str(stripped)})
            assert said in line, line
        line = helm_oci.fails("dependency", "build", chart, "--username", "alice", "--password", "wrong", env=known)
        assert line.endswith("the credentials were rejected") and "s3cret" not in line, line
        line = helm_oci.fails("dependency", "build", chart, "--ca-file", CA(tmp_path / "other").cert, env=known)
        assert line.startswith(f"Error: cannot reach {secure.host}: TLS: "), line
    finally:
        secure.stop()


def test_a_repositorys_token_service_is_reached_with_the_repositorys_ca_file(helm_oci, tmp_path):
    """A registry whose token service is another host (as GitLab's is) under the same private
    CA: the CA file `helm repo add` gave the repository holds for the token service too, as
    it does when Helm runs the downloader with it."""
    ca = CA(tmp_path / "pki")
    cert, key = ca.issue("registry")
    tokens = TokenServer(tmp_path / "tokens", users={"alice": "s3cret-pass"}, tls=ca.issue("tokens"))
    reg = Registry(tmp_path / "registry", tls={"certificate": str(cert), "key": str(key)}, auth=tokens.registry_auth())
    try:
        assert urlsplit(tokens.realm).netloc != reg.host
        for version in ("1.0.0", "1.2.0"):
            source = write_chart(tmp_path / "src" / version, name="db", version=version)
            helm_oci.run("push", source, f"oci://{reg.host}/charts", "--ca-file", ca.cert,
                         "--username", "alice", "--password", "s3cret-pass")
        env = helm4_env(tmp_path, installed(tmp_path))
        helm4_repo_add(env, "secure", f"ocirepo://{reg.host}/charts", "alice", "s3cret-pass", ca.cert)
        known = {"HELM_REPOSITORY_CONFIG": env["HELM_REPOSITORY_CONFIG"]}
        chart = write_chart(tmp_path / "app", name="app", version="1.0.0",
                            dependencies=[{"name": "db", "version": "^1.0.0", "repository": "@secure"}])
        tokens.requests.clear()
        p = helm_oci.run("dependency", "update", chart, env=known)
        assert f"Pulled: {reg.host}/charts/db:1.2.0" in p.stdout
        assert tokens.requests and all(r["user"] == "alice" for r in tokens.requests)
        assert sorted(snapshot(chart / "charts")) == ["db-1.2.0.tgz"]
    finally:
        reg.stop()
        tokens.stop()


def test_verify_is_refused_rather_than_ignored(helm_oci, origin, tmp_path):
    """Provenance is not checked yet: asking for it must fail, not pass unchecked."""
    chart, _ = app_chart(tmp_path, origin)
    before = snapshot(tmp_path)
    line = helm_oci.fails("dependency", "build", chart, "--verify", "--plain-http")
    assert line == "Error: --verify is not supported: helm-oci does not check a chart's provenance file (its .prov layer) yet"
    assert snapshot(tmp_path) == before
