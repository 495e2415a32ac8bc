"""The transport against the real docker-registry, with misbehaving servers in between:
blob downloads redirected to a storage host (which never gets the credentials, and whose
grant lasts one request), requests retried when the network or the registry fails for a
moment, broken downloads resumed with Range, failed uploads restarted in a new session, and
HTTPS_PROXY, HTTP_PROXY and NO_PROXY with a proxy written here."""
import base64
import itertools
import json
import os
import re
import socket
import time
import urllib.error

import pytest

from conftest import Registry, files_left, free_port, htpasswd, sha256, write_chart
from fronts import HANG_UP, RESET, Broken, Front, Proxy, Storage
from pki import CA

PLAIN = "--plain-http"
USER, PASSWORD = "alice", "wonderland"
CREDENTIALS = ("--username", USER, "--password", PASSWORD)
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
# A name no resolver knows: only a proxy (which connects to 127.0.0.1 whatever it is asked)
# can reach a registry by it, since loopback addresses are never proxied.
NAME = "charts.helm-oci.test"
UNAVAILABLE = (503, [], b"")


def push(helm_oci, chart, host, *flags, env=None):
    """Pushes to oci://host/charts; returns the manifest digest it reports."""
    p = helm_oci.run("push", chart, f"oci://{host}/charts", *flags, env=env)
    return dict(l.split(": ", 1) for l in p.stdout.splitlines())["Digest"]


def pull(helm_oci, host, out, *flags, env=None):
    """Pulls charts/mychart 0.1.0 into `out`; returns the run and the archive's bytes."""
    p = helm_oci.run("pull", f"oci://{host}/charts/mychart", "--version", "0.1.0", "-d", out, *flags, env=env)
    return p, (out / "mychart-0.1.0.tgz").read_bytes()


def digest_of(p):
    return dict(l.split(": ", 1) for l in p.stdout.splitlines())["Digest"]


def fails_with_debug(helm_oci, *args, env=None):
    """Runs a command with --debug that must fail: exit 1 and, besides the trace, one `Error:`
    line. Returns that line and the trace."""
    p = helm_oci.run(*args, "--debug", check=False, env=env)
    assert p.returncode == 1, p.stderr
    lines = [l for l in p.stderr.splitlines() if l.strip() and not l.startswith("[debug] ")]
    assert len(lines) == 1 and lines[0].startswith("Error: "), p.stderr
    return lines[0], p.stderr


def first(n, answer):
    """An intercept that gives `answer` to the first `n` tries of the first request it sees
    (the same method and path; other requests in flight meanwhile pass on), then passes
    everything on. The request it picked is its `target`."""
    count = itertools.count()

    def intercept(method, path, headers):
        intercept.target = intercept.target or (method, path)
        if (method, path) == intercept.target and next(count) < n:
            return answer
    intercept.target = None
    return intercept


def big_chart(tmp_path):
    """A chart whose archive is large enough (~128 KiB) to break in the middle of."""
    return write_chart(tmp_path / "src", extra={"files/noise.bin": os.urandom(128 << 10)})


def chart_layer(registry):
    return json.loads(registry.manifest("charts/mychart", "0.1.0"))["layers"][0]["digest"]


# Redirects to a storage host.

@pytest.fixture
def auth_registry(tmp_path):
    """A registry that wants alice's password (htpasswd, Basic)."""
    r = Registry(tmp_path / "auth-registry", auth={"htpasswd": {
        "realm": "charts", "path": str(htpasswd(tmp_path / "htpasswd", {USER: PASSWORD}))}})
    yield r
    r.stop()


def redirect_blobs_to(storage):
    """A tamper that answers every blob download the registry would serve with a 307 to the
    same path on the storage host, signed the way object stores sign URLs."""
    def tamper(method, path, status, headers, body):
        if method == "GET" and "/blobs/" in path and status in (200, 206):
            return 307, [("Location", f"http://{storage.host}{path}?X-Amz-Signature=0123abcd")], b""
        return status, headers, body
    return tamper


def test_blob_downloads_follow_redirects_without_the_credentials(helm_oci, auth_registry, chart, tmp_path):
    digest = push(helm_oci, chart, auth_registry.host, PLAIN, *CREDENTIALS)
    with Storage(auth_registry.host, BASIC) as storage, Front(auth_registry.host, redirect_blobs_to(storage)) as front:
        p, tgz = pull(helm_oci, front.host, tmp_path / "out", PLAIN, *CREDENTIALS)
    assert digest_of(p) == digest
    # The config and the chart layer both came from the storage host, the chart verified.
    assert [m for m, _, _ in storage.seen] == ["GET", "GET"]
    assert f"/v2/charts/mychart/blobs/{sha256(tgz)}?X-Amz-Signature=0123abcd" in [p for _, p, _ in storage.seen]
    # The registry got the password; the storage host never saw an Authorization header.
    assert any(h.get("Authorization") == BASIC for _, path, h in front.seen if "/blobs/" in path)
    assert all("Authorization" not in h for _, _, h in storage.seen)


def test_manifests_follow_a_redirect_as_helm_does(helm_oci, auth_registry, chart, tmp_path):
    """Go's client (and so Helm) follows a registry's redirect of a manifest GET or HEAD;
    credentials go along only on the registry's own host."""
    digest = push(helm_oci, chart, auth_registry.host, PLAIN, *CREDENTIALS)

    def moved(method, path, status, headers, body):
        if "/manifests/" in path and "moved=1" not in path:
            return 307, [("Location", f"{path}?moved=1")], b""
        return status, headers, body

    with Front(auth_registry.host, moved) as front:
        p, _ = pull(helm_oci, front.host, tmp_path / "out", PLAIN, *CREDENTIALS)
        again, _ = pull(helm_oci, front.host, tmp_path / "again", PLAIN, *CREDENTIALS)
    assert digest_of(p) == digest == digest_of(again)
    followed = [(m, path) for m, path, _ in front.seen if "moved=1" in path]
    # The first pull's GET, the second's HEAD (the manifest is cached by then).
    assert ("GET", "/v2/charts/mychart/manifests/0.1.0?moved=1") in followed
    assert ("HEAD", "/v2/charts/mychart/manifests/0.1.0?moved=1") in followed


def test_a_relative_location_with_a_url_in_its_query_is_relative(helm_oci, registry, chart, tmp_path):
    """`/v2/...?next=https://cdn/x` is a path on the registry (RFC 3986: a scheme comes before
    any `/` or `?`), as Go resolves it; it was taken for an absolute URL and refused."""
    digest = push(helm_oci, chart, registry.host, PLAIN)
    query = "moved=1&next=https://cdn.example/x"

    def moved(method, path, status, headers, body):
        if "/blobs/" in path and "moved=1" not in path:
            return 307, [("Location", f"{path}?{query}")], b""
        return status, headers, body

    with Front(registry.host, moved) as front:
        p, _ = pull(helm_oci, front.host, tmp_path / "out", PLAIN)
    assert digest_of(p) == digest
    assert len([path for _, path, _ in front.seen if path.endswith(f"?{query}")]) == 2


@pytest.mark.parametrize("written, handed_out", [("127.0.0.1", "127.0.0.1:80"), ("127.0.0.1:80", "127.0.0.1")])
def test_an_upload_location_with_or_without_the_default_port_is_the_registry(helm_oci, auth_registry, chart, tmp_path,
                                                                             monkeypatch, written, handed_out):
    """A registry (or a front setting Host to host:port) hands out upload locations with the
    scheme's default port written out, or without it: the same registry, credentials and
    all, as oras-go (and so Helm) takes it. They were refused as another host."""
    import fronts
    with socket.socket() as s:
        # As the front's server binds it: a connection of the case before, in TIME_WAIT,
        # does not make the port look taken.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", 80))
        except OSError:
            pytest.skip("port 80 cannot be listened on here")
    monkeypatch.setattr(fronts, "free_port", lambda: 80)

    handed = []

    def located(method, path, status, headers, body):
        moved = [(k, re.sub(r"^http://[^/]+", f"http://{handed_out}", v)) if k.lower() == "location" else (k, v)
                 for k, v in headers]
        handed.extend(v for k, v in moved if k.lower() == "location")
        return status, moved, body

    with Front(auth_registry.host, located) as front:
        digest = push(helm_oci, chart, written, PLAIN, *CREDENTIALS)
        uploads = [m for m, path, _ in front.seen if m in ("PATCH", "PUT") and "/blobs/uploads/" in path]
    assert uploads, front.seen
    assert handed and all(v.startswith(f"http://{handed_out}/v2/") for v in handed), handed
    assert digest.startswith("sha256:")


def test_blob_checks_follow_a_redirect_to_the_storage_host(helm_oci, auth_registry, chart, tmp_path):
    """A registry that serves blobs from object storage may redirect a blob HEAD too: the
    check follows it (without the credentials) and finds the blob, so nothing is uploaded."""
    digest = push(helm_oci, chart, auth_registry.host, PLAIN, *CREDENTIALS)

    def storage_heads(storage):
        def tamper(method, path, status, headers, body):
            if method == "HEAD" and "/manifests/" in path:
                return 404, [], b""  # the tag looks new, so every blob is checked
            if method == "HEAD" and "/blobs/" in path and status == 200:
                return 307, [("Location", f"http://{storage.host}{path}?X-Amz-Signature=0123abcd")], b""
            return status, headers, body
        return tamper

    with Storage(auth_registry.host, BASIC) as storage, \
            Front(auth_registry.host, storage_heads(storage)) as front:
        assert push(helm_oci, chart, front.host, PLAIN, *CREDENTIALS) == digest
    assert sorted(m for m, _, _ in storage.seen) == ["HEAD", "HEAD"]
    assert all("Authorization" not in h for _, _, h in storage.seen)
    assert not [p for m, p, _ in front.seen if m in ("POST", "PATCH") or (m == "PUT" and "/blobs/" in p)]


def test_tag_lists_follow_a_redirect(helm_oci, auth_registry, tmp_path):
    for version in ("0.1.0", "0.2.0"):
        push(helm_oci, write_chart(tmp_path / version, version=version), auth_registry.host, PLAIN, *CREDENTIALS)

    def moved(method, path, status, headers, body):
        if "/tags/list" in path and "moved=1" not in path:
            return 307, [("Location", path + ("&" if "?" in path else "?") + "moved=1")], b""
        return status, headers, body

    with Front(auth_registry.host, moved) as front:
        p = helm_oci.run("tags", f"oci://{front.host}/charts/mychart", PLAIN, *CREDENTIALS)
    assert p.stdout.split() == ["VERSION", "0.2.0", "0.1.0"]
    assert any("/tags/list" in path and "moved=1" in path for _, path, _ in front.seen)


def test_a_failing_storage_host_is_reached_again_only_through_the_registry(helm_oci, registry, chart, tmp_path):
    """A redirect target is granted for one request. When it answers 503, the client does not
    resend to it (that would be refused) but asks the registry again for a fresh redirect."""
    digest = push(helm_oci, chart, registry.host, PLAIN)
    with Storage(registry.host, intercept=first(1, UNAVAILABLE)) as storage, \
            Front(registry.host, redirect_blobs_to(storage)) as front:
        p = helm_oci.run("pull", f"oci://{front.host}/charts/mychart:0.1.0", "-d", tmp_path / "out", PLAIN, "--debug")
    assert f"Digest: {digest}" in p.stdout
    assert "asking the registry again" in p.stderr
    assert "refused by the sandbox" not in p.stderr
    blob_gets = [path for m, path, _ in front.seen if "/blobs/" in path]
    # Three blob downloads through the registry (config twice: the first redirect failed), each
    # answered with a redirect that the storage host then served once.
    assert len(blob_gets) == 3 and len(storage.seen) == 3


def test_a_download_broken_at_the_storage_host_resumes_through_the_registry(helm_oci, registry, tmp_path):
    """The resumed download asks the registry again, which hands out a fresh redirect."""
    push(helm_oci, big_chart(tmp_path), registry.host, PLAIN)
    layer = chart_layer(registry)
    half = []

    def break_first_layer_download(method, path, status, headers, body):
        if path.startswith(f"/v2/charts/mychart/blobs/{layer}?") and not half:
            half.append(len(body) // 2)
            return status, headers, Broken(body, half[0])
        return status, headers, body

    with Storage(registry.host, tamper=break_first_layer_download) as storage, \
            Front(registry.host, redirect_blobs_to(storage)) as front:
        _, tgz = pull(helm_oci, front.host, tmp_path / "out", PLAIN)
    assert sha256(tgz) == layer
    assert [h.get("Range") for m, p, h in front.seen if p.endswith(layer)] == [None, f"bytes={half[0]}-"]
    assert [h.get("Range") for m, p, h in storage.seen if layer in p] == [None, f"bytes={half[0]}-"]


# Retries.

@pytest.mark.parametrize("failure,failures,trace", [
    # No answer: tried 5 times in all.
    (HANG_UP, 2, r"connection closed unexpectedly; retrying in \d+ ms \(try 3 of 5\)"),
    (RESET, 2, r"; retrying in \d+ ms \(try 3 of 5\)"),
    # An answer of "not now": 6 tries, as Helm's.
    (UNAVAILABLE, 2, r"HTTP 503; retrying in \d+ ms \(try 3 of 6\)"),
    # No pause at all is the usual back-off (200-300 ms), not a storm of tries.
    ((503, [("Retry-After", "0")], b""), 2, r"HTTP 503; retrying in (2\d\d|300) ms \(try 2 of 6\)"),
    ((503, [("Retry-After", "1")], b""), 1, r"HTTP 503; retrying in 1000 ms \(try 2 of 6\)"),
], ids=["hang-up", "reset", "503", "503-retry-after-0", "503-retry-after-1"])
def test_push_and_pull_retry_a_flaky_registry(helm_oci, registry, chart, tmp_path, failure, failures, trace):
    """The first requests of each command fail; a later try of the same request works."""
    for command in ("push", "pull"):
        with Front(registry.host, intercept=first(failures, failure)) as front:
            if command == "push":
                p = helm_oci.run("push", chart, f"oci://{front.host}/charts", PLAIN, "--debug")
                digest = digest_of(p)
            else:
                p, _ = pull(helm_oci, front.host, tmp_path / "out", PLAIN, "--debug")
                assert digest_of(p) == digest
        assert re.search(trace, p.stderr), p.stderr
        assert [(m, path) for m, path, _ in front.seen].count(front.intercept.target) == failures + 1


def test_a_retry_after_date_is_waited_for(helm_oci, registry, chart):
    """`Retry-After` may be an HTTP date (RFC 9110), as some throttling registries send it."""
    from email.utils import formatdate
    push(helm_oci, chart, registry.host, PLAIN)
    until = time.time() + 3

    def throttled(method, path, headers):
        if "/tags/list" in path and time.time() < until:
            return 429, [("Retry-After", formatdate(until, usegmt=True))], b'{"errors":[{"code":"TOOMANYREQUESTS"}]}'
        return None

    with Front(registry.host, intercept=throttled) as front:
        p = helm_oci.run("tags", f"oci://{front.host}/charts/mychart", PLAIN, "--debug")
    assert p.stdout.split()[-1] == "0.1.0"
    # One pause to the date (whole seconds, so 2 or 3 s), not the usual back-off.
    assert re.search(r"HTTP 429; retrying in [23]\d{3} ms \(try 2 of 6\)", p.stderr), p.stderr


@pytest.mark.parametrize("what", ["/manifests/", "/tags/list"])
def test_a_small_answer_broken_mid_body_is_asked_for_again(helm_oci, registry, chart, tmp_path, what):
    """A manifest or a page of tags is read whole before it counts, so one whose body breaks
    off is fetched again like any failed request."""
    digest = push(helm_oci, chart, registry.host, PLAIN)
    broken = []

    def break_first(method, path, status, headers, body):
        if method == "GET" and what in path and not broken:
            broken.append(path)
            return status, headers, Broken(body, len(body) // 2)
        return status, headers, body

    with Front(registry.host, break_first) as front:
        p = helm_oci.run("pull", f"oci://{front.host}/charts/mychart", "-d", tmp_path / "out", PLAIN, "--debug")
    assert digest_of(p) == digest
    assert broken and [path for m, path, _ in front.seen if m == "GET"].count(broken[0]) == 2
    assert f"GET http://{front.host}{broken[0]}: connection terminated; retrying in " in p.stderr


def test_a_registry_that_stays_unavailable_fails_after_six_tries(helm_oci, registry, chart, tmp_path):
    """Six tries over about 7 s of pauses (250 ms doubling to 3 s), as Helm 4.3 waits."""
    push(helm_oci, chart, registry.host, PLAIN)
    always_503 = (503, [("Retry-After", "0")], b"")
    with Front(registry.host, intercept=lambda *request: always_503) as front:
        start = time.monotonic()
        line, trace = fails_with_debug(helm_oci, "pull", f"oci://{front.host}/charts/mychart:0.1.0",
                                       "-d", tmp_path / "out", PLAIN)
        took = time.monotonic() - start
    assert "HTTP 503" in line
    assert "giving up after 6 tries" in trace
    assert len(front.seen) == 6
    pauses = [int(ms) for ms in re.findall(r"retrying in (\d+) ms", trace)]
    nominal = (250, 500, 1000, 2000, 3000)
    assert len(pauses) == 5 and all(0.8 <= ms / n <= 1.2 for ms, n in zip(pauses, nominal)), pauses
    assert took >= sum(pauses) / 1000, "the pauses were not waited"
    assert files_left(tmp_path / "out") == []


@pytest.mark.parametrize("asked,timeout", [(3600, "5m"), (30, "5s")], ids=["over-a-minute", "past-timeout"])
def test_a_registry_asking_for_too_long_a_pause_fails_at_once_saying_so(helm_oci, registry, chart, asked, timeout):
    """A pause longer than helm-oci waits, or than `--timeout` leaves, is not waited for
    (nor cut off by the timeout): the registry's own error ends the command, with the pause
    it asked for, so the user knows when to come back."""
    push(helm_oci, chart, registry.host, PLAIN)
    throttled = (429, [("Retry-After", str(asked))], b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}')
    with Front(registry.host, intercept=lambda method, path, headers: throttled if "/tags/" in path else None) as front:
        line, trace = fails_with_debug(helm_oci, "tags", f"oci://{front.host}/charts/mychart", PLAIN,
                                       "--timeout", timeout)
    assert line == (f"Error: {front.host}/charts/mychart: slow down; the registry asks for a pause of {asked} s "
                    "(TOOMANYREQUESTS, HTTP 429)")
    assert [path for _, path, _ in front.seen if "/tags/" in path] == ["/v2/charts/mychart/tags/list"]
    why = "; a minute is the most waited" if asked > 60 else ", past --timeout"
    assert f"HTTP 429 (it asks for a pause of {asked} s{why}); giving up\n" in trace


def test_connection_refused_fails_after_five_tries(helm_oci, chart):
    port = free_port()
    line, trace = fails_with_debug(helm_oci, "push", chart, f"oci://127.0.0.1:{port}/charts", PLAIN)
    assert line.startswith(f"Error: cannot reach 127.0.0.1:{port}: connection refused")
    assert "gave up after 5 tries" in line
    # Each request made (push checks its blobs at once) is tried five times: four retries,
    # then it gives up.
    retries = [l for l in trace.splitlines() if "connection refused; retrying in " in l]
    requests = {l.split(": connection refused")[0] for l in retries}
    assert requests and all([l.split(": connection refused")[0] for l in retries].count(r) == 4 for r in requests)
    assert trace.count("connection refused; giving up after 5 tries") == len(requests)


# Resumed downloads.

def pull_through_a_breaking_front(helm_oci, registry, tmp_path, **front_options):
    """Pulls through a front that sends the first download of the chart layer with its full
    Content-Length but only half its body, then hangs up. Returns the pull, the archive, the
    layer digest, where the body broke, the statuses the layer's downloads got upstream, and
    the Range headers the front saw for them."""
    push(helm_oci, big_chart(tmp_path), registry.host, PLAIN)
    layer = chart_layer(registry)
    half, statuses = [], []

    def break_first_layer_download(method, path, status, headers, body):
        if method == "GET" and path.endswith(layer):
            statuses.append(status)
            if not half:
                half.append(len(body) // 2)
                return status, headers, Broken(body, half[0])
        return status, headers, body

    with Front(registry.host, break_first_layer_download, **front_options) as front:
        p, tgz = pull(helm_oci, front.host, tmp_path / "out", PLAIN, "--debug")
    ranges = [h.get("Range") for m, path, h in front.seen if m == "GET" and path.endswith(layer)]
    assert tgz == registry.blob("charts/mychart", layer) and sha256(tgz) == layer
    assert files_left(tmp_path / "out") == ["mychart-0.1.0.tgz"]
    return p, layer, half[0], statuses, ranges


def test_a_download_broken_mid_body_resumes_with_range(helm_oci, registry, tmp_path):
    p, layer, half, statuses, ranges = pull_through_a_breaking_front(helm_oci, registry, tmp_path)
    assert ranges == [None, f"bytes={half}-"]
    assert statuses == [200, 206]
    assert f"download of blob {layer} broke at byte {half} (" in p.stderr and "); resuming" in p.stderr


def test_a_resumed_download_from_a_server_that_ignores_range(helm_oci, registry, tmp_path):
    """The registry gets no Range and sends the whole blob again; the first half is skipped."""
    p, layer, half, statuses, ranges = pull_through_a_breaking_front(
        helm_oci, registry, tmp_path, drop_headers=("Range",))
    assert ranges == [None, f"bytes={half}-"]
    assert statuses == [200, 200]
    assert "resuming" in p.stderr


# Restarted uploads.

def is_blob_put(method, path):
    return method == "PUT" and "/blobs/uploads/" in path


@pytest.mark.parametrize("failure", [UNAVAILABLE, RESET], ids=["503", "reset"])
def test_a_failed_blob_upload_starts_a_new_session(helm_oci, registry, chart, tmp_path, failure):
    failed = []

    def fail_first_blob_put(method, path, headers):
        if is_blob_put(method, path) and not failed:
            failed.append(path)
            return failure

    with Front(registry.host, intercept=fail_first_blob_put) as front:
        p = helm_oci.run("push", chart, f"oci://{front.host}/charts", PLAIN, "--debug")
    assert "; starting a new upload session" in p.stderr
    # The failed session (the PUT's location, without the digest) was cancelled.
    session = failed[0].split("?")[0]
    assert [path.split("?")[0] for m, path, _ in front.seen if m == "DELETE"] == [session]
    assert sum(is_blob_put(m, path) for m, path, _ in front.seen) == 3

    pulled, tgz = pull(helm_oci, registry.host, tmp_path / "out", PLAIN)
    assert digest_of(pulled) == digest_of(p)
    assert sha256(tgz) == chart_layer(registry)


@pytest.mark.parametrize("status", [429, 503])
def test_a_throttled_blob_upload_starts_again_when_the_registry_says(helm_oci, registry, chart, tmp_path, status):
    """A rate-limit window: every blob PUT for a second answers `Retry-After: 1`. Each new
    session waits that long (it came back at once, and failed three times in 60 ms)."""
    window = []

    def throttle(method, path, headers):
        if is_blob_put(method, path):
            window.append(window[0] if window else time.monotonic())
            if time.monotonic() - window[0] < 1.0:
                return (status, [("Retry-After", "1")], b"")

    with Front(registry.host, intercept=throttle) as front:
        p = helm_oci.run("push", chart, f"oci://{front.host}/charts", PLAIN, "--debug")
    assert p.stderr.count("; starting a new upload session in 1000 ms") == 2, p.stderr
    puts = [m for m, path, _ in front.seen if is_blob_put(m, path)]
    assert len(puts) == 4, "each blob: one PUT in the window, one after it"
    pulled, tgz = pull(helm_oci, registry.host, tmp_path / "out", PLAIN)
    assert digest_of(pulled) == digest_of(p)


def test_an_upload_that_always_fails_leaves_no_manifest(helm_oci, registry, chart):
    def fail_blob_puts(method, path, headers):
        return UNAVAILABLE if is_blob_put(method, path) else None

    with Front(registry.host, intercept=fail_blob_puts) as front:
        line = helm_oci.fails("push", chart, f"oci://{front.host}/charts", PLAIN)
    assert "HTTP 503" in line
    # Three sessions per blob (push uploads its blobs at once), each cancelled after its PUT
    # failed; no PUT is retried within a session.
    uploads = [(m, path) for m, path, _ in front.seen if "/blobs/uploads/" in path]
    puts = [path for m, path in uploads if m == "PUT"]
    sessions = [path.split("?")[0] for path in puts]
    digests = [path.split("digest=")[1] for path in puts]
    assert len(set(sessions)) == len(sessions) == 6
    assert sorted(path.split("?")[0] for m, path in uploads if m == "DELETE") == sorted(sessions)
    assert [m for m, _ in uploads].count("POST") == 6
    assert len(set(digests)) == 2 and all(digests.count(d) == 3 for d in digests)
    with pytest.raises(urllib.error.HTTPError) as e:
        registry.manifest("charts/mychart", "0.1.0")
    assert e.value.code == 404


# Proxies.

@pytest.fixture
def ca(tmp_path):
    return CA(tmp_path / "ca")


@pytest.fixture
def named_registry(tmp_path, ca):
    """A TLS registry whose certificate names only NAME; it listens on 127.0.0.1."""
    cert, key = ca.issue("charts", sans=(f"DNS:{NAME}",))
    r = Registry(tmp_path / "named-registry", tls={"certificate": str(cert), "key": str(key)})
    yield r
    r.stop()


def test_https_proxy_tunnels_with_connect(helm_oci, named_registry, ca, chart, tmp_path):
    host = f"{NAME}:{named_registry.port}"
    with Proxy() as proxy:
        env = {"HTTPS_PROXY": f"http://{proxy.host}"}
        digest = push(helm_oci, chart, host, "--ca-file", ca.cert, env=env)
        p, _ = pull(helm_oci, host, tmp_path / "out", "--ca-file", ca.cert, env=env)
    assert digest_of(p) == digest
    assert proxy.seen and {(m, target) for m, target, _ in proxy.seen} == {("CONNECT", host)}
    assert all("Proxy-Authorization" not in h for _, _, h in proxy.seen)


def test_a_proxy_that_never_answers_connect_fails_within_the_connect_timeout(helm_oci, tmp_path):
    """A stuck tunnel is a proxy error after 30 s, as a stuck TCP connect is, not a wait
    for the whole command's --timeout (5 minutes here)."""
    silent = socket.create_server(("127.0.0.1", 0))
    try:
        line = helm_oci.fails("tags", "oci://registry.invalid/charts/mychart",
                              env={"HTTPS_PROXY": f"http://127.0.0.1:{silent.getsockname()[1]}"})
    finally:
        silent.close()
    assert "the proxy did not answer CONNECT within 30s" in line, line


def test_a_proxy_that_cannot_be_reached_is_named_as_the_proxy(helm_oci):
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    line = helm_oci.fails("tags", "oci://registry.invalid/charts/mychart",
                          env={"HTTPS_PROXY": f"http://127.0.0.1:{port}"})
    assert line == (f"Error: cannot reach registry.invalid: the proxy 127.0.0.1:{port} cannot be reached"
                    " (connection refused)")


@pytest.mark.parametrize("userinfo, pair", [("proxy-user:pr0xy", b"proxy-user:pr0xy"), ("t0ken", b"t0ken:")])
def test_https_proxy_credentials_go_to_the_proxy(helm_oci, named_registry, ca, chart, userinfo, pair):
    """As Go sends them: Basic of user:password, the colon there without a password too."""
    with Proxy() as proxy:
        env = {"HTTPS_PROXY": f"http://{userinfo}@{proxy.host}"}
        push(helm_oci, chart, f"{NAME}:{named_registry.port}", "--ca-file", ca.cert, env=env)
    expected = "Basic " + base64.b64encode(pair).decode()
    assert proxy.seen and all(h.get("Proxy-Authorization") == expected for _, _, h in proxy.seen)


def test_http_proxy_gets_absolute_form_requests(helm_oci, registry, chart, tmp_path):
    host = f"{NAME}:{registry.port}"
    with Proxy() as proxy:
        env = {"HTTP_PROXY": f"http://{proxy.host}"}
        digest = push(helm_oci, chart, host, PLAIN, env=env)
        p, _ = pull(helm_oci, host, tmp_path / "out", PLAIN, env=env)
    assert digest_of(p) == digest
    targets = [target for _, target, _ in proxy.seen]
    assert targets and all(t.startswith(f"http://{host}/v2/charts/mychart/") for t in targets)
    assert ("GET", f"http://{host}/v2/charts/mychart/manifests/0.1.0") in [(m, t) for m, t, _ in proxy.seen]


@pytest.mark.parametrize("proxy_url", ["socks5://127.0.0.1:1080", "https://127.0.0.1:3129"])
def test_a_proxy_of_a_kind_not_supported_is_an_error_not_a_bypass(helm_oci, named_registry, ca, tmp_path, proxy_url):
    host = f"{NAME}:{named_registry.port}"
    line = helm_oci.fails("pull", f"oci://{host}/charts/mychart:0.1.0", "-d", tmp_path / "out", "--ca-file", ca.cert,
                          env={"HTTPS_PROXY": proxy_url})
    scheme = proxy_url.split(":")[0]
    assert line == (f"Error: cannot reach {host}: HTTPS_PROXY names a {scheme}:// proxy, "
                    "which is not supported (only http:// proxies are)")


@pytest.mark.parametrize("no_proxy", [NAME, ".helm-oci.test", "helm-oci.test", f"{NAME}:{{port}}", "example.com,*"])
def test_no_proxy_excludes_the_registry(helm_oci, registry, tmp_path, no_proxy):
    """Not proxied, the registry must be found by name, and no resolver knows it."""
    host = f"{NAME}:{registry.port}"
    with Proxy() as proxy:
        env = {"HTTPS_PROXY": f"http://{proxy.host}", "HTTP_PROXY": f"http://{proxy.host}",
               "NO_PROXY": no_proxy.format(port=registry.port)}
        line = helm_oci.fails("pull", f"oci://{host}/charts/mychart:0.1.0", "-d", tmp_path / "out", PLAIN, env=env)
    assert line == f"Error: cannot reach {host}: host not found"
    assert proxy.seen == []


@pytest.fixture
def loopback_registry(tmp_path, ca):
    """A TLS registry with a certificate for 127.0.0.1 and localhost."""
    cert, key = ca.issue("loopback")
    r = Registry(tmp_path / "loopback-registry", tls={"certificate": str(cert), "key": str(key)})
    yield r
    r.stop()


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost"])
def test_loopback_is_never_proxied(helm_oci, loopback_registry, ca, chart, tmp_path, hostname):
    host = f"{hostname}:{loopback_registry.port}"
    with Proxy() as proxy:
        env = {"HTTPS_PROXY": f"http://{proxy.host}"}
        digest = push(helm_oci, chart, host, "--ca-file", ca.cert, env=env)
        p, _ = pull(helm_oci, host, tmp_path / "out", "--ca-file", ca.cert, env=env)
    assert digest_of(p) == digest
    assert proxy.seen == []
