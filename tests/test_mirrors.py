"""The registries configuration ($HELM_CONFIG_HOME/oci/registries.yaml). Mirrors: reads go to
a registry's mirrors first, in order, and reach the registry itself only for what they
lack. What a mirror serves is verified as the registry's would be: one that serves tampered
content, or is down, is passed over with a warning. Repository lists: a namespace of a
registry that will not list its catalog is searched and indexed from the list. Each test has
an origin registry behind a Front that records every request, and most a mirror registry
holding copies of some of its charts."""
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from conftest import Registry, free_port, htpasswd, pulled_by_digest, sha256
from fronts import Front, Recorder, Silent
from pki import CA
from test_discovery import seed
from test_downloader import download, plugin_env
from tokenserver import TokenServer

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def origin(tmp_path):
    """The registry, seeded with charts/alpha 1.0.0 and 2.0.0 and charts/beta 1.0.0, behind
    a recording Front (its `host` is what the references name)."""
    reg = Registry(tmp_path / "origin")
    for repo, version in (("charts/alpha", "1.0.0"), ("charts/alpha", "2.0.0"), ("charts/beta", "1.0.0")):
        seed(reg, repo, version, description=f"{repo} {version} from the origin")
    with Front(reg.host) as front:
        front.registry = reg
        yield front
    reg.stop()


@pytest.fixture
def mirror(tmp_path):
    reg = Registry(tmp_path / "mirror")
    yield reg
    reg.stop()


def copy(src, src_repo, dst, dst_repo, tag):
    """Copies a manifest and its blobs as they are, so digests stay the same."""
    manifest = src.manifest(src_repo, tag)
    for blob in [json.loads(manifest)["config"], *json.loads(manifest)["layers"]]:
        dst.put_blob(dst_repo, src.blob(src_repo, blob["digest"]))
    dst.put_manifest(dst_repo, tag, manifest)
    return manifest


def configure(helm_oci, prefix, *mirrors):
    """Writes the registries configuration: `prefix` mirrored at each (location, plain_http)."""
    config = helm_oci.home / "config" / "oci" / "registries.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    entries = "".join(f"      - location: {loc}\n        plainHttp: {str(plain).lower()}\n" for loc, plain in mirrors)
    config.write_text(f"registries:\n  - prefix: {prefix}\n    mirrors:\n{entries}")
    return config


def origin_paths(front):
    return [path for _, path, _ in front.seen]


def layer_digest(manifest):
    return json.loads(manifest)["layers"][0]["digest"]


def test_what_goes_wrong_at_a_mirror_is_said_of_the_mirror(helm_oci, origin, tmp_path):
    """A mirror that wants credentials no one gave is named in the warning's reason too, so
    `helm oci login` is run for the right host."""
    locked = Registry(tmp_path / "locked", auth={"htpasswd": {"realm": "m", "path": str(
        htpasswd(tmp_path / "htpasswd", {"alice": "pw"}))}})
    try:
        configure(helm_oci, f"{origin.host}/charts", (f"{locked.host}/charts", True))
        p = helm_oci.run("pull", f"oci://{origin.host}/charts/alpha:1.0.0", "-d", tmp_path, "--plain-http")
        assert p.stderr.startswith(f"WARNING: the mirror {locked.host}/charts/alpha was passed over: "
                                   f"{locked.host}/charts/alpha:1.0.0: authentication required"), p.stderr
        # Listing its tags, and searching, as well.
        for command in (["tags", f"oci://{origin.host}/charts/alpha"], ["search", f"{origin.host}/charts"]):
            p = helm_oci.run(*command, "--plain-http")
            assert p.stderr.startswith(f"WARNING: the mirror {locked.host}/charts/alpha was passed over: "
                                       f"{locked.host}/charts/alpha: authentication required"), (command, p.stderr)
    finally:
        locked.stop()


def test_pulls_come_from_the_mirror_and_reach_the_origin_only_for_what_it_lacks(helm_oci, origin, mirror, tmp_path):
    alpha = copy(origin.registry, "charts/alpha", mirror, "copies/charts/alpha", "1.0.0")
    configure(helm_oci, f"{origin.host}/charts", (f"{mirror.host}/copies/charts", True))
    out = tmp_path / "out"
    out.mkdir()

    p = helm_oci.run("pull", f"oci://{origin.host}/charts/alpha", "--version", "1.0.0", "-d", out, "--plain-http",
                     "--debug")
    assert origin_paths(origin) == [], "the mirror had it: the origin is not asked"
    assert f"Pulled: {origin.host}/charts/alpha:1.0.0" in p.stdout
    assert f"Digest: {sha256(alpha)}" in p.stdout
    assert sha256((out / "alpha-1.0.0.tgz").read_bytes()) == layer_digest(alpha)
    # --debug names the endpoint of every request, and the mirror that served.
    assert f"http://{mirror.host}/v2/copies/charts/alpha/manifests/1.0.0" in p.stderr
    assert f"served by the mirror {mirror.host}/copies/charts/alpha" in p.stderr
    assert "WARNING" not in p.stderr
    # Cached under the name the user asked for.
    listed = helm_oci.run("list").stdout
    assert f"{origin.host}/charts/alpha:1.0.0" in listed and mirror.host not in listed
    # Pinned to that digest, the cache serves it alone: no mirror is said to have served it.
    p = helm_oci.run("pull", f"oci://{origin.host}/charts/alpha@{sha256(alpha)}", "-d", tmp_path / "pinned",
                     "--plain-http", "--debug")
    assert f"{mirror.host}" not in p.stderr and origin_paths(origin) == [], p.stderr

    # What the mirror lacks (a repository, a version) comes from the origin, and only that.
    helm_oci.run("pull", f"oci://{origin.host}/charts/beta", "--version", "1.0.0", "-d", out, "--plain-http")
    helm_oci.run("pull", f"oci://{origin.host}/charts/alpha:2.0.0", "-d", out, "--plain-http")
    asked = origin_paths(origin)
    assert asked and all(p.startswith(("/v2/charts/beta/", "/v2/charts/alpha/manifests/2.0.0", "/v2/charts/alpha/blobs/"))
                         for p in asked), asked
    assert "/v2/charts/alpha/manifests/1.0.0" not in asked
    assert (out / "beta-1.0.0.tgz").exists() and (out / "alpha-2.0.0.tgz").exists()
    assert "WARNING" not in helm_oci.run("pull", f"oci://{origin.host}/charts/beta:1.0.0", "-d", out,
                                         "--plain-http").stderr, "a mirror lacking a chart is no warning"


def test_a_constraint_is_resolved_against_the_mirrors_tags(helm_oci, origin, mirror, tmp_path):
    """A mirror stands in for the registry: its tags are the ones listed (containers'
    registries.conf does the same); `tags` lists them too."""
    copy(origin.registry, "charts/alpha", mirror, "charts/alpha", "1.0.0")
    configure(helm_oci, origin.host, (mirror.host, True))
    p = helm_oci.run("pull", f"oci://{origin.host}/charts/alpha", "--version", "^1 || ^2", "-d", tmp_path,
                     "--plain-http")
    assert "alpha:1.0.0" in p.stdout and origin_paths(origin) == []
    tags = json.loads(helm_oci.run("tags", f"oci://{origin.host}/charts/alpha", "--plain-http", "-o", "json").stdout)
    assert [t["version"] for t in tags] == ["1.0.0"] and origin_paths(origin) == []
    tags = json.loads(helm_oci.run("tags", f"oci://{origin.host}/charts/beta", "--plain-http", "-o", "json").stdout)
    assert [t["version"] for t in tags] == ["1.0.0"]
    assert origin_paths(origin) == ["/v2/charts/beta/tags/list"]


def tampering(layer):
    """A Front `tamper` that flips a byte of one blob."""
    def tamper(method, path, status, headers, body):
        if path.endswith(layer) and method == "GET":
            body = bytes([body[0] ^ 1]) + body[1:]
        return status, headers, body
    return tamper


def test_a_mirror_serving_tampered_content_is_passed_over(helm_oci, origin, mirror, tmp_path):
    alpha = copy(origin.registry, "charts/alpha", mirror, "charts/alpha", "1.0.0")
    with Front(mirror.host, tamper=tampering(layer_digest(alpha))) as bad:
        configure(helm_oci, f"{origin.host}/charts", (f"{bad.host}/charts", True))
        p = helm_oci.run("pull", f"oci://{origin.host}/charts/alpha:1.0.0", "-d", tmp_path, "--plain-http")
    warnings = [l for l in p.stderr.splitlines() if l.startswith("WARNING")]
    assert len(warnings) == 1 and f"the mirror {bad.host}/charts/alpha was passed over" in warnings[0], p.stderr
    assert "digest" in warnings[0]
    assert sha256((tmp_path / "alpha-1.0.0.tgz").read_bytes()) == layer_digest(alpha)
    assert f"/v2/charts/alpha/blobs/{layer_digest(alpha)}" in origin_paths(origin)
    # Nothing the mirror served unverified was kept.
    for blob in (Path(helm_oci.env["HELM_CACHE_HOME"]) / "oci" / "blobs" / "sha256").iterdir():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name


def test_a_pinned_digest_is_taken_from_a_mirror_only_with_that_digest(helm_oci, origin, mirror, tmp_path):
    """The mirror's 1.0.0 is another chart than the origin's: by tag, the mirror's is
    pulled; by the origin's digest, a mirror lacking it or answering with other bytes is
    passed over."""
    wanted = origin.registry.manifest("charts/alpha", "1.0.0")
    seed(mirror, "charts/alpha", "1.0.0", description="the mirror's own 1.0.0")
    other = mirror.manifest("charts/alpha", "1.0.0")
    assert sha256(other) != sha256(wanted)
    configure(helm_oci, origin.host, (mirror.host, True))
    pinned = f"oci://{origin.host}/charts/alpha@{sha256(wanted)}"
    p = helm_oci.run("pull", pinned, "-d", tmp_path / "a", "--plain-http")
    assert f"Digest: {sha256(wanted)}" in p.stdout and "WARNING" not in p.stderr, "lacking it is no warning"
    assert f"/v2/charts/alpha/manifests/{sha256(wanted)}" in origin_paths(origin)

    def lie(method, path, headers):
        return (200, [("Content-Type", MANIFEST)], other) if "/manifests/sha256:" in path else None
    with Front(mirror.host, intercept=lie) as liar:
        configure(helm_oci, origin.host, (liar.host, True))
        helm_oci.run("remove", f"{origin.host}/charts/alpha@{sha256(wanted)}")
        p = helm_oci.run("pull", pinned, "-d", tmp_path / "b", "--plain-http")
    assert f"Digest: {sha256(wanted)}" in p.stdout
    assert f"the mirror {liar.host}/charts/alpha was passed over" in p.stderr and "digest" in p.stderr
    assert sha256((tmp_path / "b" / pulled_by_digest("alpha", sha256(wanted))).read_bytes()) == layer_digest(wanted)


def test_a_failing_mirror_falls_through_to_the_next_then_the_origin(helm_oci, origin, mirror, tmp_path):
    alpha = copy(origin.registry, "charts/alpha", mirror, "charts/alpha", "1.0.0")
    down = f"127.0.0.1:{free_port()}"
    configure(helm_oci, origin.host, (down, True), (mirror.host, True))
    p = helm_oci.run("pull", f"oci://{origin.host}/charts/alpha:1.0.0", "-d", tmp_path, "--plain-http")
    assert f"Digest: {sha256(alpha)}" in p.stdout and origin_paths(origin) == []
    assert f"WARNING: the mirror {down}/charts/alpha was passed over" in p.stderr

    # With both mirrors failing, the origin serves; with it failing too, its error is the one.
    configure(helm_oci, origin.host, (down, True))
    helm_oci.run("pull", f"oci://{origin.host}/charts/beta:1.0.0", "-d", tmp_path, "--plain-http")
    assert "/v2/charts/beta/manifests/1.0.0" in origin_paths(origin)
    line = helm_oci.fails("pull", f"oci://{origin.host}/charts/nothing:1.0.0", "-d", tmp_path, "--plain-http")
    assert f"{origin.host}/charts/nothing:1.0.0" in line


@pytest.mark.parametrize("status", [429, 503])
def test_a_mirror_whose_token_service_is_busy_for_a_moment_is_asked_again(helm_oci, origin, mirror, tmp_path,
                                                                          status):
    """A mirror's token service that answers 429 or 503 is up: it is asked again after the
    pause it asks for, as a registry's would be, and the mirror then serves."""
    copy(origin.registry, "charts/alpha", mirror, "charts/alpha", "1.0.0")
    tokens = TokenServer(tmp_path / "ts")
    busy = []

    def busy_once(method, path, headers):
        if not busy:
            busy.append(path)
            return status, [("Retry-After", "1")], b"busy"
        return None

    with Front(tokens.host, intercept=busy_once) as front:
        auth = tokens.registry_auth()
        auth["token"]["realm"] = f"http://{front.host}/token"
        guarded = Registry(tmp_path / "guarded", auth=auth, data=tmp_path / "mirror" / "data")
        try:
            configure(helm_oci, f"{origin.host}/charts", (f"{guarded.host}/charts", True))
            p = helm_oci.run("pull", f"oci://{origin.host}/charts/alpha:1.0.0", "-d", tmp_path, "--plain-http",
                             "--debug")
        finally:
            guarded.stop()
            tokens.stop()
    assert f"served by the mirror {guarded.host}/charts/alpha" in p.stderr
    assert "WARNING" not in p.stderr and origin_paths(origin) == []
    assert len(busy) == 1 and [r["scopes"] for r in tokens.requests] == [["repository:charts/alpha:pull"]]
    assert f"GET http://{front.host}/token?" in p.stderr and f"HTTP {status}; retrying in 1000 ms" in p.stderr


@pytest.mark.parametrize("busy_repos", [("alpha", "beta"), ("alpha",)])
def test_a_mirror_that_stays_busy_through_every_try_is_not_waited_on_again(helm_oci, origin, mirror, busy_repos):
    """A mirror answering 503 to every try of the retry policy is passed over, and for the
    rest of the command asked once, with no pauses: a search of two repositories, one at a
    time, waits out its retries once, not once per repository. Such trouble may be one
    repository's (a proxy cache's upstream): another the mirror serves is still read there."""
    for repo in ("alpha", "beta"):
        copy(origin.registry, f"charts/{repo}", mirror, f"charts/{repo}", "1.0.0")

    def busy_for(method, path, headers):
        if any(path.startswith(f"/v2/charts/{repo}/") for repo in busy_repos):
            return 503, [("Retry-After", "1")], b"busy"
        return None

    with Front(mirror.host, intercept=busy_for) as busy:
        configure(helm_oci, f"{origin.host}/charts", (f"{busy.host}/charts", True))
        p = helm_oci.run("search", f"{origin.host}/charts", "--concurrency", "1", "-o", "json", "--plain-http")
    assert [h["name"] for h in json.loads(p.stdout)] == [f"{origin.host}/charts/alpha", f"{origin.host}/charts/beta"]
    asked = [path for _, path, _ in busy.seen]
    assert len([a for a in asked if a.startswith("/v2/charts/alpha/")]) == 6, asked
    assert f"the mirror {busy.host}/charts/alpha was passed over" in p.stderr, p.stderr
    assert "/v2/charts/alpha/tags/list" in origin_paths(origin)
    beta = [a for a in asked if a.startswith("/v2/charts/beta/")]
    if "beta" in busy_repos:
        assert beta == ["/v2/charts/beta/tags/list"], "asked once, with no pauses"
        assert f"the mirror {busy.host}/charts/beta was passed over" in p.stderr, p.stderr
        assert "/v2/charts/beta/tags/list" in origin_paths(origin)
    else:
        assert "/v2/charts/beta/tags/list" in beta, "served by the mirror"
        assert "beta" not in p.stderr and not any("/charts/beta/" in a for a in origin_paths(origin)), p.stderr


def test_a_mirror_whose_token_service_stays_busy_is_given_up_for_the_command(helm_oci, origin, mirror, tmp_path):
    """A mirror's token service answering 503 to every try is given up on with its mirror
    for the rest of the command (every repository there needs it): a search of two
    repositories waits out its retries once, and the registry serves both."""
    copy(origin.registry, "charts/alpha", mirror, "charts/alpha", "1.0.0")
    tokens = TokenServer(tmp_path / "ts")
    with Front(tokens.host, intercept=lambda *_: (503, [("Retry-After", "1")], b"busy")) as busy:
        auth = tokens.registry_auth()
        auth["token"]["realm"] = f"http://{busy.host}/token"
        guarded = Registry(tmp_path / "guarded", auth=auth, data=tmp_path / "mirror" / "data")
        try:
            configure(helm_oci, f"{origin.host}/charts", (f"{guarded.host}/charts", True))
            p = helm_oci.run("search", f"{origin.host}/charts", "--concurrency", "1", "-o", "json", "--plain-http")
        finally:
            guarded.stop()
            tokens.stop()
    assert [h["name"] for h in json.loads(p.stdout)] == [f"{origin.host}/charts/alpha", f"{origin.host}/charts/beta"]
    assert len(busy.seen) == 6, f"one token request's six tries, then no more: {[path for _, path, _ in busy.seen]}"
    for repo in ("alpha", "beta"):
        assert f"the mirror {guarded.host}/charts/{repo} was passed over" in p.stderr, p.stderr
        assert f"/v2/charts/{repo}/tags/list" in origin_paths(origin)


def test_a_mirror_that_never_answers_is_passed_over_soon_and_once(helm_oci, origin, mirror, tmp_path):
    """A hung mirror (it takes the connection and says nothing) is waited on for 10 s, not
    tried again, and then passed over for the rest of the command: a search of two
    repositories, one at a time, asks it once."""
    alpha = copy(origin.registry, "charts/alpha", mirror, "charts/alpha", "1.0.0")
    with Silent() as hung:
        configure(helm_oci, origin.host, (hung.host, True), (mirror.host, True))
        p = helm_oci.run("pull", f"oci://{origin.host}/charts/alpha:1.0.0", "-d", tmp_path, "--plain-http")
        assert f"Digest: {sha256(alpha)}" in p.stdout and origin_paths(origin) == []
        assert (f"WARNING: the mirror {hung.host}/charts/alpha was passed over: cannot reach {hung.host}: "
                "timed out waiting for the registry") in p.stderr, p.stderr
        assert hung.requests == ["GET /v2/charts/alpha/manifests/1.0.0 HTTP/1.1"], "not tried again"

        configure(helm_oci, f"{origin.host}/charts", (f"{hung.host}/charts", True))
        p = helm_oci.run("search", f"{origin.host}/charts", "--concurrency", "1", "-o", "json", "--plain-http")
        assert [h["name"] for h in json.loads(p.stdout)] == [f"{origin.host}/charts/alpha",
                                                               f"{origin.host}/charts/beta"]
        assert len(hung.requests) == 2, f"the search waited on the mirror once: {hung.requests}"
        for repo in ("alpha", "beta"):
            assert f"the mirror {hung.host}/charts/{repo} was passed over" in p.stderr


def test_a_mirror_uses_its_own_stored_login(helm_oci, origin, tmp_path):
    htpasswd(tmp_path / "htpasswd", {"mirror-user": "mirror-pass"})
    guarded = Registry(tmp_path / "guarded", auth={"htpasswd": {"realm": "mirror", "path": str(tmp_path / "htpasswd")}})
    try:
        # The mirror's copy: the origin's archive, pushed there by helm-oci.
        src = tmp_path / "src"
        src.mkdir()
        helm_oci.run("pull", f"oci://{origin.host}/charts/alpha:1.0.0", "-d", src, "--plain-http")
        helm_oci.run("remove", f"{origin.host}/charts/alpha:1.0.0")
        helm_oci.run("push", src / "alpha-1.0.0.tgz", f"oci://{guarded.host}/charts", "--plain-http",
                     "--username", "mirror-user", "--password", "mirror-pass")
        origin.seen.clear()
        configure(helm_oci, origin.host, (guarded.host, True))
        out = tmp_path / "out"
        p = helm_oci.run("pull", f"oci://{origin.host}/charts/alpha:1.0.0", "-d", out, "--plain-http")
        assert "WARNING: the mirror" in p.stderr and "authentication required" in p.stderr, "no login: passed over"
        # The command's flags are the origin's: only a login gives a mirror credentials.
        assert "no credentials were found for this registry (log in with `helm oci login`)" in p.stderr
        helm_oci.run("remove", f"{origin.host}/charts/alpha:1.0.0")
        helm_oci.run("login", guarded.host, "--username", "mirror-user", "--password-stdin", "--plain-http",
                     input="mirror-pass\n")
        origin.seen.clear()
        p = helm_oci.run("pull", f"oci://{origin.host}/charts/alpha:1.0.0", "-d", out, "--plain-http")
        assert origin_paths(origin) == [] and "WARNING" not in p.stderr, p.stderr
        assert (out / "alpha-1.0.0.tgz").read_bytes() == (src / "alpha-1.0.0.tgz").read_bytes()
    finally:
        guarded.stop()


def test_search_reads_each_repository_from_the_mirror_and_the_catalog_from_the_origin(
        helm_oci, origin, mirror):
    for tag in ("1.0.0", "2.0.0"):
        alpha = copy(origin.registry, "charts/alpha", mirror, "copies/charts/alpha", tag)
    configure(helm_oci, f"{origin.host}/charts", (f"{mirror.host}/copies/charts", True))

    def search(*flags):
        p = helm_oci.run("search", f"{origin.host}/charts", "--versions", "-o", "json", "--plain-http", *flags)
        return [(h["name"], h["version"]) for h in json.loads(p.stdout)], p.stderr
    hits, stderr = search()
    assert hits == [(f"{origin.host}/charts/alpha", "2.0.0"), (f"{origin.host}/charts/alpha", "1.0.0"),
                    (f"{origin.host}/charts/beta", "1.0.0")]
    asked = origin_paths(origin)
    assert asked[0].startswith("/v2/_catalog") and not any(p.startswith("/v2/charts/alpha/") for p in asked), asked
    assert any(p.startswith("/v2/charts/beta/") for p in asked) and "WARNING" not in stderr
    origin.seen.clear()
    assert search("--repository", "alpha")[0][:2] == hits[:2] and origin_paths(origin) == []
    # A chart's own repository, searched itself, is read from the mirror too.
    p = helm_oci.run("search", f"{origin.host}/charts/alpha", "--versions", "-o", "json", "--plain-http")
    assert [(h["name"], h["version"]) for h in json.loads(p.stdout)] == hits[:2]
    assert [path for path in origin_paths(origin) if not path.startswith("/v2/_catalog")] == []
    assert "WARNING" not in p.stderr

    # A mirror serving a tampered config is passed over, with a warning, for the origin's (the
    # chart cache, which keeps the configs read, emptied first).
    config = json.loads(alpha)["config"]["digest"]
    shutil.rmtree(Path(helm_oci.env["HELM_CACHE_HOME"]) / "oci")
    with Front(mirror.host, tamper=tampering(config)) as bad:
        configure(helm_oci, f"{origin.host}/charts", (f"{bad.host}/copies/charts", True))
        hits_again, stderr = search()
    assert hits_again == hits
    assert f"WARNING: the mirror {bad.host}/copies/charts/alpha was passed over" in stderr and "digest" in stderr
    assert any(p == f"/v2/charts/alpha/blobs/{config}" for p in origin_paths(origin))


def test_a_mirrors_unusable_version_sends_search_to_the_origin(helm_oci, origin, mirror):
    """A version that is no usable chart at a mirror (here its 2.0.0 tag holds chart 1.0.0)
    fails the mirror, not the version: the origin has it right."""
    manifest = copy(origin.registry, "charts/alpha", mirror, "copies/charts/alpha", "1.0.0")
    mirror.put_manifest("copies/charts/alpha", "2.0.0", manifest)
    configure(helm_oci, f"{origin.host}/charts", (f"{mirror.host}/copies/charts", True))
    p = helm_oci.run("search", f"{origin.host}/charts", "alpha", "--versions", "-o", "json", "--plain-http")
    assert [h["version"] for h in json.loads(p.stdout)] == ["2.0.0", "1.0.0"]
    assert f"WARNING: the mirror {mirror.host}/copies/charts/alpha was passed over" in p.stderr, p.stderr


def test_the_downloader_reads_through_the_mirror(origin, mirror, tmp_path):
    """`helm repo add` through the downloader: the index lists what the origin's catalog
    has, read from the mirror where it has a copy; the charts Helm then downloads come from
    the mirror too."""
    alpha = copy(origin.registry, "charts/alpha", mirror, "mirrored/alpha", "1.0.0")
    env = plugin_env(tmp_path)
    config = Path(env["HELM_CONFIG_HOME"]) / "oci" / "registries.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(f"registries:\n  - prefix: {origin.host}/charts\n"
                      f"    mirrors:\n      - location: {mirror.host}/mirrored\n        plainHttp: true\n")
    index = json.loads(download(env, f"ocirepo+http://{origin.host}/charts/index.yaml").stdout)
    assert {name: sorted(e["version"] for e in entries) for name, entries in index["entries"].items()} == {
        "alpha": ["1.0.0"], "beta": ["1.0.0"]}, "the mirror's tags stand for the origin's"
    assert not any(p.startswith("/v2/charts/alpha/") for p in origin_paths(origin))
    url = next(e for e in index["entries"]["alpha"] if e["version"] == "1.0.0")["urls"][0]
    origin.seen.clear()
    got = download(env, url)
    assert got.returncode == 0, got.stderr
    assert sha256(got.stdout) == layer_digest(alpha)
    assert origin_paths(origin) == []


def test_repositories_listed_in_the_configuration_stand_for_a_refused_catalog(helm_oci, origin, tmp_path):
    refuse = lambda method, path, headers: (401, [], b"") if path.startswith("/v2/_catalog") else None
    with Front(origin.host, intercept=refuse) as unlisted:
        line = helm_oci.fails("search", f"{unlisted.host}/charts", "--plain-http")
        assert "does not list its repositories" in line
        config = helm_oci.home / "config" / "oci" / "registries.yaml"
        config.parent.mkdir(parents=True)
        config.write_text(f"registries:\n  - prefix: {unlisted.host}/charts\n    repositories: [alpha, beta]\n")
        p = helm_oci.run("search", f"{unlisted.host}/charts", "-o", "json", "--plain-http")
        assert [(h["name"], h["version"]) for h in json.loads(p.stdout)] == [
            (f"{unlisted.host}/charts/alpha", "2.0.0"), (f"{unlisted.host}/charts/beta", "1.0.0")]
        assert not any(p.startswith("/v2/_catalog") for p in origin_paths(unlisted)[1:])

        env = {**plugin_env(tmp_path), "HELM_CONFIG_HOME": str(helm_oci.home / "config")}
        got = download(env, f"ocirepo+http://{unlisted.host}/charts/index.yaml")
        assert got.returncode == 0, got.stderr
        assert sorted(json.loads(got.stdout)["entries"]) == ["alpha", "beta"]

        # A listed repository that is no repository path is named as listed, not as a flag.
        config.write_text(f"registries:\n  - prefix: {unlisted.host}/charts\n    repositories: [alpha, ../x]\n")
        line = helm_oci.fails("search", f"{unlisted.host}/charts", "--plain-http")
        assert line.startswith('Error: repository "charts/../x": '), line


@pytest.mark.parametrize("text, why", [
    ("registries: [", "is not a valid registries configuration"),
    ("registries:\n  - prefix: reg\n    mirorrs: []\n", "is not a valid registries configuration"),
    ("registries:\n  - prefix: reg\n    mirrors:\n      - location: https://elsewhere\n", "is not host[:port][/path]"),
    ("registries:\n  - prefix: reg/a\n    mirrors: []\n  - prefix: oci://reg/a/\n", 'prefix "reg/a" is listed more than once'),
])
def test_a_bad_configuration_is_one_error_line(helm_oci, origin, tmp_path, text, why):
    config = helm_oci.home / "config" / "oci" / "registries.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(text)
    line = helm_oci.fails("pull", f"oci://{origin.host}/charts/alpha:1.0.0", "-d", tmp_path, "--plain-http")
    assert str(config) in line and why in line
    assert origin_paths(origin) == [] and list(tmp_path.glob("*.tgz")) == []


def test_a_tls_mirror_of_a_plain_registry_is_trusted_through_ca_file(helm_oci, origin, tmp_path):
    """Each place keeps its own scheme: the registry over plain HTTP (--plain-http), the mirror
    over HTTPS with a certificate from the CA --ca-file names, which the registry never sees."""
    ca = CA(tmp_path / "pki")
    cert, key = ca.issue("mirror")
    secure = Registry(tmp_path / "secure", tls={"certificate": str(cert), "key": str(key)})
    try:
        src = tmp_path / "src"
        src.mkdir()
        helm_oci.run("pull", f"oci://{origin.host}/charts/alpha:1.0.0", "-d", src, "--plain-http")
        helm_oci.run("remove", f"{origin.host}/charts/alpha:1.0.0")
        helm_oci.run("push", src / "alpha-1.0.0.tgz", f"oci://{secure.host}/charts", "--ca-file", ca.cert)
        configure(helm_oci, origin.host, (secure.host, False))
        origin.seen.clear()
        out = tmp_path / "out"
        p = helm_oci.run("pull", f"oci://{origin.host}/charts/alpha:1.0.0", "-d", out, "--plain-http",
                         "--ca-file", ca.cert, "--debug")
        assert origin_paths(origin) == [] and "WARNING" not in p.stderr
        assert f"https://{secure.host}/v2/charts/alpha/manifests/1.0.0" in p.stderr
        assert (out / "alpha-1.0.0.tgz").read_bytes() == (src / "alpha-1.0.0.tgz").read_bytes()

        # Without the CA the mirror's certificate is not trusted: passed over, with a warning.
        helm_oci.run("remove", f"{origin.host}/charts/alpha:1.0.0")
        p = helm_oci.run("pull", f"oci://{origin.host}/charts/alpha:1.0.0", "-d", tmp_path / "again", "--plain-http")
        assert f"WARNING: the mirror {secure.host}/charts/alpha was passed over" in p.stderr
        assert "/v2/charts/alpha/manifests/1.0.0" in origin_paths(origin)
    finally:
        secure.stop()


def test_an_unreadable_ca_file_is_refused_before_any_request_when_only_a_mirror_uses_tls(helm_oci, origin, tmp_path):
    """The registry over plain HTTP comes first; the TLS flags still matter to its HTTPS
    mirror, so they are checked before anything is asked, not found wrong by the mirror's
    first connection (which would pass the mirror over and quietly read the registry)."""
    configure(helm_oci, origin.host, (f"127.0.0.1:{free_port()}", False))
    missing = tmp_path / "missing-ca.pem"
    line = helm_oci.fails("pull", f"oci://{origin.host}/charts/alpha:1.0.0", "-d", tmp_path, "--plain-http",
                          "--ca-file", missing)
    assert line.startswith("Error: reading --ca-file") and str(missing) in line
    assert origin_paths(origin) == [] and list(tmp_path.glob("*.tgz")) == []


def test_a_plain_http_mirror_lets_no_https_registry_name_a_plain_http_token_service(helm_oci, tmp_path, mirror):
    """Plain HTTP is granted to the mirror alone. The HTTPS registry's challenge naming an
    http:// token service is refused as it is without a mirror, so its password never goes
    out in clear text."""
    ca = CA(tmp_path / "pki")
    origin = Registry(tmp_path / "origin")
    clear_text = Recorder()
    challenge = [("WWW-Authenticate", f'Bearer realm="http://{clear_text.host}/token",service="reg"')]
    try:
        with clear_text, Front(origin.host, intercept=lambda *_: (401, challenge, b""), tls=ca.issue("origin")) as front:
            configure(helm_oci, f"{front.host}/charts", (f"{mirror.host}/copies", True))
            line = helm_oci.fails("pull", f"oci://{front.host}/charts/app:1.0.0", "--ca-file", ca.cert,
                                  "--username", "alice", "--password", "s3cret", "-d", tmp_path / "out")
            assert f"request to {clear_text.host} was refused by the sandbox" in line, line
            assert clear_text.seen == []
    finally:
        origin.stop()
