"""Authentication challenges remembered across runs: after one run has been challenged, the
next run's first requests answer the challenge at once (Basic credentials, or a token from
the registry's own token service) instead of going out bare to be refused. A token service on
another host is never remembered, a stale entry gives way to the live challenge, and a
planted one cannot send a credential anywhere new."""
import json
import subprocess

import pytest

from conftest import BIN, Registry, htpasswd
from fronts import Front, Recorder, passing
from tokenserver import TokenServer

CREDENTIALS = ("--username", "alice", "--password", "pw")


@pytest.fixture
def started():
    servers = []
    yield servers
    for s in reversed(servers):
        s.stop()


def password_registry(tmp_path, started):
    """A registry asking for a password, behind a front that records each request."""
    tmp_path.mkdir(exist_ok=True)
    reg = Registry(tmp_path / "registry",
                   auth={"htpasswd": {"realm": "r", "path": str(htpasswd(tmp_path / "htpasswd", {"alice": "pw"}))}})
    front = Front(reg.host)
    started.extend([reg, front])
    return front


def token_registry(tmp_path, started):
    """A token-auth registry whose token service is answered for by its own host (the front),
    as GHCR's and Harbor's are; returns (front, token_server)."""
    tmp_path.mkdir(exist_ok=True)
    ts = TokenServer(tmp_path / "ts", users={"alice": "pw"})
    front = Front(None)
    started.extend([ts, front])
    front.intercept = passing("/token", ts.host)
    auth = ts.registry_auth()
    auth["token"]["realm"] = f"http://{front.host}/token"
    reg = Registry(tmp_path / "registry", auth=auth)
    started.append(reg)
    front.upstream = reg.host
    return front, ts


def endpoints_file(helm_oci):
    return helm_oci.home.parent / "helm-cache" / "helm-oci" / "endpoints.json"


def remembered(helm_oci):
    """Each endpoint's remembered challenge."""
    path = endpoints_file(helm_oci)
    endpoints = json.loads(path.read_text()) if path.exists() else {}
    return {key: e["challenge"] for key, e in endpoints.items() if "challenge" in e}


def remember(helm_oci, challenges):
    path = endpoints_file(helm_oci)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({key: {"challenge": c} for key, c in challenges.items()}))


def authorizations(front):
    return [(method, path.split("?")[0], headers.get("Authorization", "").split(" ")[0])
            for method, path, headers in front.seen]


def push(helm_oci, chart, host, *flags):
    return helm_oci.run("push", chart, f"oci://{host}/charts", "--plain-http", *flags)


def pull(helm_oci, host, out, *flags):
    return helm_oci.run("pull", f"oci://{host}/charts/mychart", "--version", "0.1.0", "-d", out, "--plain-http",
                        *flags)


def test_a_password_registry_gets_the_credential_with_the_first_request_of_the_next_run(
        helm_oci, tmp_path, started, chart):
    front = password_registry(tmp_path, started)
    push(helm_oci, chart, front.host, *CREDENTIALS)
    assert authorizations(front)[0][2] == "", "the first run learns the scheme from a 401"
    assert remembered(helm_oci) == {f"http://{front.host}": "Basic"}

    front.seen.clear()
    pull(helm_oci, front.host, tmp_path / "out", *CREDENTIALS)
    # The manifest, the config and the chart layer: three requests, each with the password.
    assert len(front.seen) == 3 and all(a == "Basic" for _, _, a in authorizations(front))
    assert (tmp_path / "out" / "mychart-0.1.0.tgz").is_file()


def test_a_token_service_on_the_registry_is_asked_before_the_registry_on_the_next_run(
        helm_oci, tmp_path, started, chart):
    front, ts = token_registry(tmp_path, started)
    push(helm_oci, chart, front.host, *CREDENTIALS)
    assert authorizations(front)[0][1] != "/token" and authorizations(front)[0][2] == ""
    assert remembered(helm_oci) == {f"http://{front.host}": 'Bearer realm="/token",service="helm-oci-test"'}

    front.seen.clear()
    ts.requests.clear()
    pull(helm_oci, front.host, tmp_path / "out", *CREDENTIALS)
    seen = authorizations(front)
    assert seen[0] == ("GET", "/token", "Basic"), seen
    assert [a for _, path, a in seen if path.startswith("/v2/")] == ["Bearer"] * 3, seen
    assert [r["scopes"] for r in ts.requests] == [["repository:charts/mychart:pull"]]


def test_a_token_service_on_another_host_is_learnt_afresh_each_run(helm_oci, tmp_path, started, chart):
    ts = TokenServer(tmp_path / "ts", users={"alice": "pw"})
    started.append(ts)
    reg = Registry(tmp_path / "registry", auth=ts.registry_auth())
    front = Front(reg.host)
    started.extend([reg, front])
    push(helm_oci, chart, front.host, *CREDENTIALS)
    front.seen.clear()
    pull(helm_oci, front.host, tmp_path / "out", *CREDENTIALS)
    assert remembered(helm_oci) == {}
    assert authorizations(front)[0][2] == "", "the run learns the token service from the registry's 401"


def test_a_stale_challenge_gives_way_to_the_live_one(helm_oci, tmp_path, started, chart):
    password = password_registry(tmp_path / "a", started)
    tokens, ts = token_registry(tmp_path / "b", started)
    remember(helm_oci, {f"http://{password.host}": 'Bearer realm="/gone",service="x"',
                        f"http://{tokens.host}": "Basic"})

    push(helm_oci, chart, password.host, *CREDENTIALS)
    push(helm_oci, chart, tokens.host, *CREDENTIALS)
    assert remembered(helm_oci) == {f"http://{password.host}": "Basic",
                                    f"http://{tokens.host}": 'Bearer realm="/token",service="helm-oci-test"'}
    assert ts.requests and all(r["user"] == "alice" for r in ts.requests)


def test_a_planted_challenge_sends_no_credential_elsewhere(helm_oci, tmp_path, started, chart):
    front = password_registry(tmp_path, started)
    elsewhere = Recorder()
    started.append(elsewhere)
    remember(helm_oci, {f"http://{front.host}": f'Bearer realm="http://{elsewhere.host}/token"'})

    push(helm_oci, chart, front.host, *CREDENTIALS)
    assert elsewhere.seen == []
    assert remembered(helm_oci) == {f"http://{front.host}": "Basic"}


def test_a_wrong_password_is_still_refused_in_one_line(helm_oci, tmp_path, started, chart):
    front = password_registry(tmp_path, started)
    push(helm_oci, chart, front.host, *CREDENTIALS)
    error = helm_oci.fails("pull", f"oci://{front.host}/charts/mychart", "--version", "0.1.0", "-d",
                           tmp_path / "out", "--plain-http", "--username", "alice", "--password", "wrong")
    assert "the credentials were rejected" in error
    assert not (tmp_path / "out" / "mychart-0.1.0.tgz").exists()


def test_parallel_logins_to_many_registries_remember_every_challenge(helm_oci, tmp_path, started):
    front = password_registry(tmp_path, started)
    # One registry behind many fronts: each front is an endpoint of its own to remember.
    hosts = [front.host]
    for _ in range(19):
        other = Front(front.upstream)
        started.append(other)
        hosts.append(other.host)
    runs = [subprocess.Popen([str(BIN), "login", host, *CREDENTIALS, "--plain-http"], cwd=helm_oci.home,
                             env=helm_oci.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for host in hosts]
    for run in runs:
        assert run.wait(timeout=120) == 0, run.stderr.read()
    assert remembered(helm_oci) == {f"http://{host}": "Basic" for host in hosts}
