"""Token auth (distribution's `auth.token`) against the real docker-registry and a token
server: scopes grow from pull to pull,push, login checks credentials with the token service,
anonymous callers may pull but not push, expired and expiring tokens are renewed, --debug
never shows a token or the password, TLS holds for the realm too, and the sandbox lets
credentials reach only the registry and the realm its challenge names."""
import base64
import json
import time
from urllib.parse import urlsplit

import pytest

from conftest import Registry, files_left
from fronts import Front, Recorder
from pki import CA
from tokenserver import TokenServer

PASSWORD = "pw"
CREDENTIALS = ("--username", "alice", "--password", PASSWORD)


@pytest.fixture
def serve(tmp_path):
    """Starts a token server (for alice unless `users` says otherwise; other TokenServer
    keywords pass through) and a registry that trusts it; returns (token_server, registry).
    `auth` may rewrite the registry's auth section before it starts."""
    started = []

    def start(registry_tls=None, auth=lambda a: a, users=None, **token_args):
        ts = TokenServer(tmp_path / f"ts{len(started)}", users=users or {"alice": PASSWORD}, **token_args)
        started.append(ts)
        reg = Registry(tmp_path / f"registry{len(started)}", tls=registry_tls, auth=auth(ts.registry_auth()))
        started.append(reg)
        return ts, reg

    yield start
    for s in reversed(started):
        s.stop()


def push(helm_oci, chart, host, *flags):
    return helm_oci.run("push", chart, f"oci://{host}/charts", "--plain-http", *flags)


def pull(helm_oci, host, out, *flags):
    return helm_oci.run("pull", f"oci://{host}/charts/mychart", "--version", "0.1.0", "-d", out,
                        "--plain-http", *flags)


PULL = "repository:charts/mychart:pull"
PULL_PUSH = "repository:charts/mychart:pull,push"


def test_push_with_credentials_asks_for_growing_scopes(helm_oci, serve, chart):
    ts, reg = serve()
    p = push(helm_oci, chart, reg.host, *CREDENTIALS)
    assert p.stdout.startswith(f"Pushed: {reg.host}/charts/mychart:0.1.0\nDigest: sha256:")
    # The first request (a blob HEAD) needs only pull; the upload then needs pull,push.
    scopes = [r["scopes"] for r in ts.requests]
    assert scopes[0] == [PULL]
    assert scopes[1:] and all(s == [PULL_PUSH] for s in scopes[1:])
    assert all(r["user"] == "alice" and r["grant"] == "basic" for r in ts.requests)


def test_login_checks_with_the_token_service_and_push_uses_it(helm_oci, serve, chart):
    ts, reg = serve()
    p = helm_oci.run("login", reg.host, "--plain-http", "-u", "alice", "-p", PASSWORD)
    assert p.stdout == "Login Succeeded\n"
    assert [r["user"] for r in ts.requests] == ["alice"]
    stored = json.loads(helm_oci.registry_config.read_text())
    assert stored == {"auths": {reg.host: {"auth": base64.b64encode(b"alice:pw").decode()}}}

    ts.requests.clear()
    push(helm_oci, chart, reg.host)
    assert ts.requests and all(r["user"] == "alice" for r in ts.requests)
    assert ts.requests[-1]["granted"] == [PULL_PUSH]


def test_login_with_a_wrong_password_stores_nothing(helm_oci, serve):
    ts, reg = serve()
    line = helm_oci.fails("login", reg.host, "--plain-http", "-u", "alice", "--password-stdin", input="wrong")
    assert line == f"Error: the token service {ts.host} rejected the credentials (HTTP 401)"
    assert not helm_oci.registry_config.exists()
    assert files_left(helm_oci.registry_config.parent) == []


def test_anonymous_pull_of_a_chart_alice_pushed(helm_oci, serve, chart, tmp_path):
    ts, reg = serve()
    pushed = push(helm_oci, chart, reg.host, *CREDENTIALS).stdout
    ts.requests.clear()
    p = pull(helm_oci, reg.host, tmp_path / "out")
    assert p.stdout == pushed.replace("Pushed:", "Pulled:")
    assert files_left(tmp_path / "out") == ["mychart-0.1.0.tgz"]
    assert ts.requests
    for r in ts.requests:
        assert r["user"] is None and r["grant"] == "anonymous"
        assert r["scopes"] == [PULL]


def test_anonymous_push_is_refused(helm_oci, serve, chart):
    ts, reg = serve()
    line = helm_oci.fails("push", chart, f"oci://{reg.host}/charts", "--plain-http")
    assert "authentication required" in line or "unauthorized" in line.lower()
    # Push was asked for, but only pull was ever granted, and nothing was stored.
    assert ts.requests[-1]["scopes"] == [PULL_PUSH]
    assert all(r["granted"] == [PULL] for r in ts.requests)
    assert not (reg.root / "data").exists()


def test_a_push_the_credentials_may_not_make_is_denied_not_blamed_on_them(helm_oci, serve, chart):
    """A token service that knows the user but grants only pull: the registry answers the
    push's upload 401 with insufficient_scope. The password was right; the access is what
    is refused."""
    ts, reg = serve(users={"alice": PASSWORD, "reader": PASSWORD}, readers={"reader"})
    line = helm_oci.fails("push", chart, f"oci://{reg.host}/charts", "--plain-http",
                          "--username", "reader", "--password", PASSWORD)
    assert line.endswith(f": access denied: the credentials do not allow {PULL_PUSH}"), line
    assert all(r["user"] == "reader" for r in ts.requests)


def test_token_rejected_as_expired_is_renewed(helm_oci, serve, chart, tmp_path):
    ts, reg = serve(expire_first=1)
    push(helm_oci, chart, reg.host, *CREDENTIALS)
    assert len(ts.issued) >= 2
    # The renewal asks for the same scope the rejected token had, not a wider one.
    assert ts.requests[0]["scopes"] == ts.requests[1]["scopes"] == [PULL]
    assert all(r["user"] == "alice" for r in ts.requests)
    pull(helm_oci, reg.host, tmp_path / "out")


def test_a_negative_expires_in_is_read_as_none(helm_oci, serve, chart, tmp_path):
    """oras and Docker ignore an `expires_in` that is no lifetime; so does helm-oci."""
    ts, reg = serve(expires_in=-5)
    push(helm_oci, chart, reg.host, *CREDENTIALS)
    pull(helm_oci, reg.host, tmp_path / "out")


@pytest.mark.parametrize("shape", [
    lambda a: {**a, "access_token": ""},
    lambda a: {**a, "expires_in": str(a["expires_in"])},
], ids=["empty access_token beside a token", "expires_in as a string"])
def test_token_answers_docker_and_oras_take_are_taken(helm_oci, serve, chart, tmp_path, shape):
    ts, reg = serve(shape=shape, post_404=True)
    push(helm_oci, chart, reg.host, *CREDENTIALS)
    pull(helm_oci, reg.host, tmp_path / "out")
    assert ts.issued


def test_token_expiring_mid_run_is_renewed_before_use(helm_oci, serve, chart, tmp_path):
    """Tokens live 1 s; the manifest answer is held back past that, so the blob downloads
    after it need a fresh token. The registry tolerates 60 s of clock skew, so it would take
    the stale token: only the client's own renewal can make the second token request."""
    ts, reg = serve(expires_in=1)
    push(helm_oci, chart, reg.host, *CREDENTIALS)
    ts.requests.clear()
    answers = []
    tokens_when_answered = []

    def slow_manifest(method, path, status, headers, body):
        if method == "GET" and "/manifests/" in path and status == 200:
            time.sleep(1.2)
            tokens_when_answered.append(len(ts.requests))
        answers.append((method, path, status))
        return status, headers, body

    with Front(reg.host, slow_manifest) as front:
        pull(helm_oci, front.host, tmp_path / "out")
    [tokens_before] = tokens_when_answered
    assert len(ts.requests) > tokens_before
    assert all(r["scopes"] == [PULL] for r in ts.requests)
    # Renewed before use: nothing after the slow answer was refused.
    slow = next(i for i, a in enumerate(answers) if "/manifests/" in a[1] and a[2] == 200)
    after = answers[slow + 1:]
    assert after and all(status == 200 for _, _, status in after), answers


def test_debug_output_shows_the_realm_but_no_token_or_password(helm_oci, serve, chart, tmp_path):
    password = "s3cret-Pa55word"
    ts, reg = serve(users={"bob": password})
    flags = ("--username", "bob", "--password", password, "--debug")
    out = push(helm_oci, chart, reg.host, *flags)
    out2 = pull(helm_oci, reg.host, tmp_path / "out", *flags)
    text = out.stdout + out.stderr + out2.stdout + out2.stderr
    assert f"requesting a token from {ts.realm} for [{PULL}]" in out.stderr
    assert f"requesting a token from {ts.realm} for [{PULL_PUSH}]" in out.stderr
    assert f"requesting a token from {ts.realm}" in out2.stderr
    assert len(ts.issued) >= 3
    for token in ts.issued:
        assert token not in text
        # Not even the signature alone.
        assert token.rsplit(".", 1)[1] not in text
    assert password not in text
    assert base64.b64encode(f"bob:{password}".encode()).decode() not in text


def test_tls_registry_and_tls_token_service(helm_oci, serve, chart, tmp_path):
    ca = CA(tmp_path / "ca")
    reg_cert, reg_key = ca.issue("registry")
    ts, reg = serve(registry_tls={"certificate": str(reg_cert), "key": str(reg_key)},
                    tls=ca.issue("tokens"))
    assert ts.realm.startswith("https://")
    p = helm_oci.run("push", chart, f"oci://{reg.host}/charts", "--ca-file", ca.cert, *CREDENTIALS)
    assert p.stdout.startswith(f"Pushed: {reg.host}/charts/mychart:0.1.0\n")
    assert [r["scopes"] for r in ts.requests][:2] == [[PULL], [PULL_PUSH]]
    assert all(r["user"] == "alice" for r in ts.requests)

    ts.requests.clear()
    out = tmp_path / "out"
    helm_oci.run("pull", f"oci://{reg.host}/charts/mychart", "--version", "0.1.0", "-d", out, "--ca-file", ca.cert)
    assert files_left(out) == ["mychart-0.1.0.tgz"]
    assert ts.requests and all(r["grant"] == "anonymous" for r in ts.requests)


def test_token_service_certificate_is_verified_too(helm_oci, serve, chart, tmp_path):
    """The registry's certificate is trusted, the token service's (from another CA) is not."""
    ca = CA(tmp_path / "ca")
    reg_cert, reg_key = ca.issue("registry")
    stranger = CA(tmp_path / "other-ca", name="someone else")
    ts, reg = serve(registry_tls={"certificate": str(reg_cert), "key": str(reg_key)},
                    tls=stranger.issue("tokens"))
    line = helm_oci.fails("push", chart, f"oci://{reg.host}/charts", "--ca-file", ca.cert, *CREDENTIALS)
    assert f"cannot reach {ts.host}" in line and "certificate signed by unknown authority" in line
    assert ts.requests == []


def test_credentials_reach_only_the_registry_and_its_realm(helm_oci, serve, chart, tmp_path):
    """The realm sits behind a recording front (the registry's challenge names the front), and
    the registry redirects blob downloads to a storage host. The password goes to the realm
    only, tokens to the registry only, and the storage host gets no Authorization at all."""
    stored = {}
    realm_fronts = []

    def realm_behind_a_front(auth):
        realm_fronts.append(Front(urlsplit(auth["token"]["realm"]).netloc))
        auth["token"]["realm"] = f"http://{realm_fronts[0].host}/token"
        return auth

    ts, reg = serve(auth=realm_behind_a_front)
    realm_front = realm_fronts[0]

    def serve_stored(method, path, status, headers, body):
        return 200, [("Content-Type", "application/octet-stream")], stored[path]

    def redirect_blobs(method, path, status, headers, body):
        if method == "GET" and "/blobs/" in path and status == 200:
            stored[path] = body
            return 307, [("Location", f"http://{storage.host}{path}")], b""
        # Upload locations name the registry behind us; keep the client talking to the front.
        return status, [(k, v.replace(reg.host, front.host)) for k, v in headers], body

    with realm_front, Front(reg.host, serve_stored) as storage, Front(reg.host, redirect_blobs) as front:
        push(helm_oci, chart, front.host, *CREDENTIALS)
        pull(helm_oci, front.host, tmp_path / "out", *CREDENTIALS)

    assert files_left(tmp_path / "out") == ["mychart-0.1.0.tgz"]
    basic = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert realm_front.seen and all(authorization(h) == basic for _, _, h in realm_front.seen)
    registry_auth = [authorization(h) for _, _, h in front.seen]
    assert all(a is None or (a.startswith("Bearer ") and a[7:] in ts.issued) for a in registry_auth)
    assert any(registry_auth)
    assert len(storage.seen) == 2 and all(authorization(h) is None for _, _, h in storage.seen)


def authorization(headers):
    return next((v for k, v in headers.items() if k.lower() == "authorization"), None)


def test_the_realm_grant_covers_the_realm_only(helm_oci, serve, chart):
    """Being named as realm opens the token URL, not the rest of the token service's host."""
    ts, reg = serve()

    def upload_to_token_host(method, path, status, headers, body):
        if method == "POST" and "/blobs/uploads/" in path:
            headers = [(k, f"http://{ts.host}/steal" if k.lower() == "location" else v) for k, v in headers]
        return status, headers, body

    with Front(reg.host, upload_to_token_host) as front:
        line = helm_oci.fails("push", chart, f"oci://{front.host}/charts", "--plain-http", *CREDENTIALS)
    assert f"request to {ts.host} was refused by the sandbox" in line


@pytest.mark.parametrize("where", ["same host", "other host"])
def test_a_token_services_redirect_is_followed_with_credentials_only_on_its_host(helm_oci, serve, chart, tmp_path,
                                                                                 where):
    """Go's client (and so Helm) follows a token service's redirect (a moved realm, a path
    normalised); the password goes along only on the service's own host, so one sent to
    another host is asked there without it, and fails there as anonymous."""
    realm_fronts = []

    def realm_behind_a_front(auth):
        realm_fronts.append(Front(urlsplit(auth["token"]["realm"]).netloc, intercept=moved))
        auth["token"]["realm"] = f"http://{realm_fronts[0].host}/old-token"
        return auth

    def moved(method, path, headers):
        if path.startswith("/old-token"):
            host = realm_fronts[0].host if where == "same host" else other.host
            return 301, [("Location", f"http://{host}/token" + path[len("/old-token"):])], b""
        return None

    ts, reg = serve(auth=realm_behind_a_front)
    with realm_fronts[0], Front(ts.host) as other:
        p = helm_oci.run("push", chart, f"oci://{reg.host}/charts", "--plain-http", *CREDENTIALS, check=False)
    basic = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    if where == "same host":
        assert p.returncode == 0, p.stderr
        followed = [h for _, path, h in realm_fronts[0].seen if path.startswith("/token")]
        assert followed and all(authorization(h) == basic for h in followed)
    else:
        assert p.returncode == 1 and "Error: " in p.stderr
        assert other.seen and all(authorization(h) is None for _, _, h in other.seen)


def test_a_realm_named_by_a_redirect_target_is_not_granted(helm_oci, serve, chart, tmp_path):
    """Only the registry's own challenge is answered: a storage host the registry redirects
    to cannot send the client (and its credentials) to a token service of its choosing."""
    _, reg = serve()
    push(helm_oci, chart, reg.host, *CREDENTIALS)
    elsewhere = Recorder()

    def challenge(method, path, status, headers, body):
        return 401, [("WWW-Authenticate", f'Bearer realm="http://{elsewhere.host}/token",service="x"')], b""

    def redirect_blobs(method, path, status, headers, body):
        if method == "GET" and "/blobs/" in path and status == 200:
            return 307, [("Location", f"http://{storage.host}{path}")], b""
        return status, headers, body

    with elsewhere, Front(reg.host, challenge) as storage, Front(reg.host, redirect_blobs) as front:
        line = helm_oci.fails("pull", f"oci://{front.host}/charts/mychart", "--version", "0.1.0",
                              "-d", tmp_path / "out", "--plain-http", *CREDENTIALS)
    assert "authentication required" in line
    assert storage.seen and elsewhere.seen == []
    assert files_left(tmp_path / "out") == []


def test_a_throttled_token_service_says_the_pause_it_asks_for(helm_oci, tmp_path):
    """A token service asking for a longer pause than helm-oci waits ends the command at once,
    with its words and the pause, as a registry's throttling does."""
    tokens = TokenServer(tmp_path / "ts", users={"alice": PASSWORD})
    throttled = (429, [("Retry-After", "3600")], b"slow down")
    with Front(tokens.host, intercept=lambda *request: throttled) as front:
        auth = tokens.registry_auth()
        auth["token"]["realm"] = f"http://{front.host}/token"
        reg = Registry(tmp_path / "registry", auth=auth)
        try:
            line = helm_oci.fails("tags", f"oci://{reg.host}/charts/mychart", "--plain-http", *CREDENTIALS)
        finally:
            reg.stop()
            tokens.stop()
    assert line.endswith(f"the token service {front.host} failed (HTTP 429): slow down; the token service asks "
                         "for a pause of 3600 s"), line
    assert len(front.seen) == 1

