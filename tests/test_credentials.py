"""Where push and pull find credentials: Helm's registry config before Docker's, credential
helpers (credHelpers, credsStore) before a file's auths, identity tokens exchanged at a token
service, login and logout through a helper, and logins Helm 4.3's own library shares."""
import base64
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import BIN, HELM4, Registry, htpasswd, write_chart
from fronts import Front
from tokenserver import TokenServer
from test_mirrors import configure

USER = "alice"
PASSWORD = "c0rrect-h0rse"
HELPER_BIN = Path(__file__).resolve().parent / "credhelper"


def auth(user, password):
    return base64.b64encode(f"{user}:{password}".encode()).decode()


GOOD = {"auth": auth(USER, PASSWORD)}
WRONG = {"auth": auth(USER, "wrong")}


def write_json(path: Path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    return path


@pytest.fixture
def htpasswd_registry(tmp_path):
    r = Registry(tmp_path / "registry",
                 auth={"htpasswd": {"realm": "test", "path": str(htpasswd(tmp_path / "htpasswd", {USER: PASSWORD}))}})
    yield r
    r.stop()


class Helper:
    """docker-credential-test (tests/credhelper): its credential store and the log of its calls."""

    def __init__(self, directory: Path):
        self.store_path = directory / "helper-store.json"
        self.log_path = directory / "helper-log.jsonl"
        self.env = {"PATH": f"{HELPER_BIN}{os.pathsep}{os.environ['PATH']}",
                    "CRED_TEST_STORE": str(self.store_path), "CRED_TEST_LOG": str(self.log_path)}

    def holds(self, host, username, secret):
        store = self.store()
        store[host] = {"Username": username, "Secret": secret}
        write_json(self.store_path, store)

    def store(self):
        return json.loads(self.store_path.read_text()) if self.store_path.exists() else {}

    def calls(self):
        if not self.log_path.exists():
            return []
        return [(c["action"], c["input"]) for c in map(json.loads, self.log_path.read_text().splitlines())]


@pytest.fixture
def helper(tmp_path):
    return Helper(tmp_path)


def test_dockers_config_is_used_when_helms_has_no_entry(helm_oci, htpasswd_registry, chart, tmp_path):
    docker = tmp_path / "docker"
    write_json(docker / "config.json", {"auths": {htpasswd_registry.host: GOOD}})
    env = {"DOCKER_CONFIG": str(docker)}
    helm_oci.run("push", chart, f"oci://{htpasswd_registry.host}/charts", "--plain-http", env=env)
    out = tmp_path / "out"
    helm_oci.run("pull", f"oci://{htpasswd_registry.host}/charts/mychart", "--version", "0.1.0", "-d", out,
                 "--plain-http", env=env)
    assert (out / "mychart-0.1.0.tgz").exists()


def test_dockers_default_config_in_home(helm_oci, htpasswd_registry, chart):
    write_json(helm_oci.home / ".docker" / "config.json",
               {"auths": {htpasswd_registry.host: {"username": USER, "password": PASSWORD}}})
    helm_oci.run("push", chart, f"oci://{htpasswd_registry.host}/charts", "--plain-http")


def test_helms_config_wins_over_dockers(helm_oci, htpasswd_registry, chart, tmp_path):
    docker = tmp_path / "docker"
    write_json(docker / "config.json", {"auths": {htpasswd_registry.host: WRONG}})
    write_json(helm_oci.registry_config, {"auths": {htpasswd_registry.host: GOOD}})
    env = {"DOCKER_CONFIG": str(docker)}
    helm_oci.run("push", chart, f"oci://{htpasswd_registry.host}/charts", "--plain-http", env=env)
    # And the other way round: Helm's wrong password is the one sent, though Docker's is right.
    write_json(docker / "config.json", {"auths": {htpasswd_registry.host: GOOD}})
    write_json(helm_oci.registry_config, {"auths": {htpasswd_registry.host: WRONG}})
    line = helm_oci.fails("push", chart, f"oci://{htpasswd_registry.host}/again", "--plain-http", env=env)
    assert "authentication required" in line


def test_cred_helper_in_dockers_config(helm_oci, htpasswd_registry, helper, chart, tmp_path):
    docker = tmp_path / "docker"
    write_json(docker / "config.json", {"credHelpers": {htpasswd_registry.host: "test"},
                                        "auths": {htpasswd_registry.host: WRONG}})
    helper.holds(htpasswd_registry.host, USER, PASSWORD)
    helm_oci.run("push", chart, f"oci://{htpasswd_registry.host}/charts", "--plain-http",
                 env={**helper.env, "DOCKER_CONFIG": str(docker)})
    assert ("get", htpasswd_registry.host) in [(a, i.strip()) for a, i in helper.calls()]


def test_creds_store_in_helms_config(helm_oci, htpasswd_registry, helper, chart):
    write_json(helm_oci.registry_config, {"credsStore": "test"})
    helper.holds(htpasswd_registry.host, USER, PASSWORD)
    helm_oci.run("push", chart, f"oci://{htpasswd_registry.host}/charts", "--plain-http", env=helper.env)
    assert ("get", htpasswd_registry.host) in [(a, i.strip()) for a, i in helper.calls()]


def test_a_named_helper_alone_holds_the_logins_as_in_helm(helm_oci, htpasswd_registry, helper, chart):
    """Where a file names a helper, Helm (oras) and Docker ask the helper alone: an `auths`
    entry left from before is no login, and logout leaves none behind."""
    host = htpasswd_registry.host
    write_json(helm_oci.registry_config, {"credsStore": "test", "auths": {host: GOOD}})
    helper.holds("elsewhere.example.com", USER, "not this one")
    line = helm_oci.fails("push", chart, f"oci://{host}/charts", "--plain-http", env=helper.env)
    assert "authentication required" in line
    assert ("get", host) in [(a, i.strip()) for a, i in helper.calls()]
    helm_oci.run("login", host, "-u", USER, "-p", PASSWORD, "--plain-http", env=helper.env)
    helm_oci.run("push", chart, f"oci://{host}/charts", "--plain-http", env=helper.env)
    p = helm_oci.run("logout", host, env=helper.env)
    assert p.stdout.strip() == f"Removing login credentials for {host}"
    assert host not in helper.store()
    assert host not in json.loads(helm_oci.registry_config.read_text())["auths"]
    line = helm_oci.fails("push", chart, f"oci://{host}/charts", "--plain-http", env=helper.env)
    assert "authentication required" in line


def test_login_and_logout_go_through_the_creds_store(helm_oci, htpasswd_registry, helper, chart):
    host = htpasswd_registry.host
    write_json(helm_oci.registry_config, {"credsStore": "test"})
    p = helm_oci.run("login", host, "-u", USER, "-p", PASSWORD, "--plain-http", env=helper.env)
    assert p.stdout.strip() == "Login Succeeded"
    stores = [json.loads(i) for a, i in helper.calls() if a == "store"]
    assert stores == [{"ServerURL": host, "Username": USER, "Secret": PASSWORD}]
    config = helm_oci.registry_config.read_text()
    assert PASSWORD not in config and auth(USER, PASSWORD) not in config
    assert json.loads(config)["credsStore"] == "test"

    helm_oci.run("push", chart, f"oci://{host}/charts", "--plain-http", env=helper.env)

    helm_oci.run("logout", host, env=helper.env)
    assert ("erase", host) in [(a, i.strip()) for a, i in helper.calls()]
    assert host not in helper.store()
    # A helper's "not found" is an error to oras-go's delete, and so to Helm's logout.
    line = helm_oci.fails("logout", host, env=helper.env)
    assert line == f"Error: not logged in to {host}: docker-credential-test holds no login for it"


@pytest.fixture
def token_server(tmp_path):
    with TokenServer(tmp_path / "token", users={USER: PASSWORD}) as ts:
        yield ts


def token_registry(tmp_path, ts, realm=None):
    token_auth = ts.registry_auth()
    if realm:
        token_auth["token"]["realm"] = realm
    return Registry(tmp_path / "token-registry", auth=token_auth)


def refresh_token_by_post(ts):
    """A refresh token, asked for as `docker login` does: OAuth2 password grant, offline."""
    form = urllib.parse.urlencode({"grant_type": "password", "access_type": "offline", "client_id": "tests",
                                   "service": ts.service, "username": USER, "password": PASSWORD}).encode()
    with urllib.request.urlopen(ts.realm, data=form) as r:
        return json.load(r)["refresh_token"]


def refresh_token_by_get(ts):
    """A refresh token from the GET endpoint (offline_token=true), for a server refusing POST."""
    query = urllib.parse.urlencode({"service": ts.service, "offline_token": "true"})
    req = urllib.request.Request(f"{ts.realm}?{query}",
                                 headers={"Authorization": "Basic " + auth(USER, PASSWORD)})
    with urllib.request.urlopen(req) as r:
        return json.load(r)["refresh_token"]


def refresh_grants(ts):
    return [r for r in ts.requests if r["method"] == "POST" and r["grant"] == "refresh_token"]


def test_identity_token_in_helms_config(helm_oci, token_server, chart, tmp_path):
    registry = token_registry(tmp_path, token_server)
    try:
        write_json(helm_oci.registry_config,
                   {"auths": {registry.host: {"identitytoken": refresh_token_by_post(token_server)}}})
        helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")
    finally:
        registry.stop()
    grants = refresh_grants(token_server)
    assert grants and all(g["user"] == USER for g in grants)
    assert "repository:charts/mychart:pull,push" in grants[-1]["granted"]


def test_identity_token_from_a_helper(helm_oci, token_server, helper, chart, tmp_path):
    registry = token_registry(tmp_path, token_server)
    try:
        write_json(helm_oci.registry_config, {"credsStore": "test"})
        helper.holds(registry.host, "<token>", refresh_token_by_post(token_server))
        helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http", env=helper.env)
    finally:
        registry.stop()
    assert ("get", registry.host) in [(a, i.strip()) for a, i in helper.calls()]
    grants = refresh_grants(token_server)
    assert grants and all(g["user"] == USER for g in grants)


def test_an_identity_token_is_not_sent_where_the_token_service_redirects_another_host(helm_oci, token_server,
                                                                                   chart, tmp_path):
    """The refresh token travels in the POST's form: a token service redirecting it to
    another host (a 307 keeps the method and body) gets it back to nowhere; the push fails
    saying so, and the other host sees no request."""
    elsewhere = Front(token_server.host)
    realm = Front(token_server.host, intercept=lambda method, path, headers:
                  (307, [("Location", f"http://{elsewhere.host}{path}")], b"") if method == "POST" else None)
    with elsewhere, realm:
        registry = token_registry(tmp_path, token_server, realm=f"http://{realm.host}/token")
        try:
            write_json(helm_oci.registry_config,
                       {"auths": {registry.host: {"identitytoken": refresh_token_by_post(token_server)}}})
            line = helm_oci.fails("push", chart, f"oci://{registry.host}/charts", "--plain-http")
        finally:
            registry.stop()
    assert "the token service redirected a request holding credentials" in line, line
    assert [m for m, _, _ in realm.seen] and elsewhere.seen == []


def test_identity_token_falls_back_to_get_when_post_is_not_found(helm_oci, chart, tmp_path):
    with TokenServer(tmp_path / "token", users={USER: PASSWORD}, post_404=True) as ts:
        refresh = refresh_token_by_get(ts)
        # This token server takes a refresh token by GET only as the password of `<token>`.
        ts.users["<token>"] = refresh
        # A front records the token requests in order, the refused POST included.
        with Front(ts.host) as front:
            registry = token_registry(tmp_path, ts, realm=f"http://{front.host}/token")
            try:
                write_json(helm_oci.registry_config, {"auths": {registry.host: {"identitytoken": refresh}}})
                helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")
            finally:
                registry.stop()
    methods = [method for method, path, headers in front.seen]
    assert methods[0] == "POST" and "GET" in methods
    gets = [{k.lower(): v for k, v in headers.items()} for method, path, headers in front.seen if method == "GET"]
    assert all(h.get("authorization") == "Basic " + auth("<token>", refresh) for h in gets)
    assert any(r["method"] == "GET" and r["user"] == "<token>" for r in ts.requests)


def helm4_with(env, *args):
    """The real Helm 4.3 library with an environment of our choosing; returns stdout."""
    p = subprocess.run([sys.executable, str(HELM4), *map(str, args)], capture_output=True, text=True,
                       timeout=120, env={**os.environ, **env})
    assert p.returncode == 0, f"helm4 {' '.join(map(str, args))} failed:\n{p.stderr}"
    return p.stdout


def test_helm_uses_the_login_we_wrote(helm_oci, htpasswd_registry, chart, tmp_path):
    host = htpasswd_registry.host
    helm_oci.run("login", host, "-u", USER, "-p", PASSWORD, "--plain-http")
    helm_oci.run("push", chart, f"oci://{host}/ours", "--plain-http")
    env = {"HELM_REGISTRY_CONFIG": str(helm_oci.registry_config), "DOCKER_CONFIG": str(tmp_path / "no-docker")}
    theirs = write_chart(tmp_path / "theirs", name="theirchart", version="2.0.0")
    packaged = helm4_with(env, "package", theirs, tmp_path / "pkg").strip()
    helm4_with(env, "push", packaged, f"oci://{host}/helm")
    shown = helm4_with(env, "show", f"oci://{host}/ours/mychart:0.1.0")
    assert "name: mychart" in shown and "version: 0.1.0" in shown
    helm_oci.run("pull", f"oci://{host}/helm/theirchart", "--version", "2.0.0", "-d", tmp_path / "out",
                 "--plain-http")
    assert (tmp_path / "out" / "theirchart-2.0.0.tgz").read_bytes() == Path(packaged).read_bytes()


def test_we_use_the_login_helm_writes(helm_oci, htpasswd_registry, chart, tmp_path):
    host = htpasswd_registry.host
    # What `helm registry login` writes (helm4.py has no login command): Docker's format, the
    # credentials only as base64 "user:password", indented with tabs.
    helm_oci.registry_config.parent.mkdir(parents=True)
    helm_oci.registry_config.write_text(json.dumps({"auths": {host: {"auth": auth(USER, PASSWORD)}}}, indent="\t"))
    helm_oci.run("push", chart, f"oci://{host}/charts", "--plain-http")
    helm_oci.run("pull", f"oci://{host}/charts/mychart", "--version", "0.1.0", "-d", tmp_path / "out", "--plain-http")
    assert (tmp_path / "out" / "mychart-0.1.0.tgz").exists()


def wrapped(text):
    """`text` as GNU base64 writes it: wrapped at 76 columns."""
    return "\n".join(text[i:i + 76] for i in range(0, len(text), 76))


LONG_TOKEN = "glpat-" + "x" * 90
EMPTY_ANSWER = 'cat >/dev/null\necho \'{"ServerURL":"","Username":"","Secret":""}\'\n'
LOWER_CASE_ANSWER = 'cat >/dev/null\necho \'{"username":"%s","secret":"%s"}\'\n' % (USER, PASSWORD)


WRONG_ANSWER = 'cat >/dev/null\necho \'{"Username":"nobody","Secret":"wrong"}\'\n'


@pytest.mark.parametrize("shape", ["wrapped-auth", "stale-scheme-key", "empty-helper-answer", "lower-case-answer",
                                   "empty-cred-helper", "trailing-text", "capitalised-fields",
                                   "helper-for-another-spelling"])
def test_config_shapes_users_have_are_read_as_helm_reads_them(helm_oci, tmp_path, shape):
    """Files as CI scripts and old Docker logins leave them, each read as Helm 4.3 reads it:
    the push goes through with the right login, and Helm's own pull with the same files too."""
    registry = Registry(tmp_path / "registry", auth={"htpasswd": {"realm": "test", "path": str(
        htpasswd(tmp_path / "htpasswd", {USER: PASSWORD, "ci": LONG_TOKEN}))}})
    # Named `localhost`, which sorts after `https://`, as most registries' names do.
    host, docker = f"localhost:{registry.port}", tmp_path / "docker" / "config.json"
    env = {"DOCKER_CONFIG": str(docker.parent)}
    helm_oci.registry_config.parent.mkdir(parents=True)
    if shape == "wrapped-auth":
        # `printf 'ci:%s' "$TOKEN" | base64` wraps a long token's encoding.
        write_json(helm_oci.registry_config, {"auths": {host: {"auth": wrapped(auth("ci", LONG_TOKEN))}}})
    elif shape == "stale-scheme-key":
        # An old `docker login https://HOST`, then a login after the password changed.
        write_json(helm_oci.registry_config, {"auths": {f"https://{host}": WRONG, host: GOOD}})
    elif shape == "empty-helper-answer":
        # A helper with nothing answers empty credentials: Docker's config is looked in next.
        env.update(script_helper(tmp_path / "bin", "empty", EMPTY_ANSWER))
        write_json(helm_oci.registry_config, {"credsStore": "empty"})
        write_json(docker, {"auths": {host: GOOD}})
    elif shape == "lower-case-answer":
        env.update(script_helper(tmp_path / "bin", "lower", LOWER_CASE_ANSWER))
        write_json(helm_oci.registry_config, {"credsStore": "lower"})
    elif shape == "empty-cred-helper":
        env.update(script_helper(tmp_path / "bin", "good", LOWER_CASE_ANSWER))
        write_json(helm_oci.registry_config, {"credHelpers": {host: ""}, "credsStore": "good", "auths": {host: WRONG}})
    elif shape == "capitalised-fields":
        # Go's decoder matches field names in any case.
        write_json(helm_oci.registry_config, {"auths": {host: {"Auth": auth(USER, PASSWORD)}}})
    elif shape == "helper-for-another-spelling":
        # A helper is named for the registry's own key alone; `auths` then holds the login.
        env.update(script_helper(tmp_path / "bin", "wrong", WRONG_ANSWER))
        write_json(helm_oci.registry_config, {"credHelpers": {f"https://{host}": "wrong"}, "auths": {host: GOOD}})
    else:
        helm_oci.registry_config.write_text(json.dumps({"auths": {host: GOOD}}) + "}\n")
    try:
        helm_oci.run("push", write_chart(tmp_path / "src", name="mychart", version="0.1.0"), f"oci://{host}/charts",
                     "--plain-http", env=env)
        shown = helm4_with({**env, "HELM_REGISTRY_CONFIG": str(helm_oci.registry_config)}, "show",
                           f"oci://{host}/charts/mychart:0.1.0")
        assert "name: mychart" in shown
    finally:
        registry.stop()


def native_store(directory: Path, helper: Helper, *stores: str, with_pass=False):
    """The env of a machine whose platform default stores are installed: tests/credhelper as
    docker-credential-STORE for each store, and the `pass` program if asked."""
    directory.mkdir(parents=True, exist_ok=True)
    for store in stores:
        (directory / f"docker-credential-{store}").symlink_to(HELPER_BIN / "docker-credential-test")
    if with_pass:
        (directory / "pass").write_text("#!/bin/sh\nexit 1\n")
        (directory / "pass").chmod(0o755)
    return {**helper.env, "PATH": f"{directory}{os.pathsep}{helper.env['PATH']}"}


def test_a_first_login_goes_to_the_detected_native_store_as_in_helm(helm_oci, htpasswd_registry, helper, chart,
                                                                    tmp_path):
    # Helm's registry client detects the platform's default store (oras-go's
    # DetectDefaultNativeStore) when its config names no store, helper or login.
    host = htpasswd_registry.host
    env = native_store(tmp_path / "native", helper, "secretservice")
    helm_oci.run("login", host, "-u", USER, "--password-stdin", "--plain-http", input=PASSWORD, env=env)
    assert [a for a, _ in helper.calls()] == ["store"]
    assert json.loads(helm_oci.registry_config.read_text()) == {"credsStore": "secretservice"}
    assert helper.store()[host] == {"Username": USER, "Secret": PASSWORD}

    helm_oci.run("push", chart, f"oci://{host}/charts", "--plain-http", env=env)
    assert ("get", host) in [(a, i.strip()) for a, i in helper.calls()]
    # Real Helm reads the login where we put it.
    shown = helm4_with({**env, "HELM_REGISTRY_CONFIG": str(helm_oci.registry_config),
                        "DOCKER_CONFIG": str(tmp_path / "no-docker")}, "show", f"oci://{host}/charts/mychart:0.1.0")
    assert "name: mychart" in shown

    assert helm_oci.run("logout", host, env=env).stdout == f"Removing login credentials for {host}\n"
    assert host not in helper.store()


def test_the_detected_store_is_pass_where_pass_is_installed(helm_oci, htpasswd_registry, helper, tmp_path):
    host = htpasswd_registry.host
    env = native_store(tmp_path / "native", helper, "secretservice", "pass", with_pass=True)
    helm_oci.run("login", host, "-u", USER, "--password-stdin", "--plain-http", input=PASSWORD, env=env)
    assert json.loads(helm_oci.registry_config.read_text()) == {"credsStore": "pass"}


def test_no_store_is_detected_when_its_helper_is_missing_or_the_config_has_logins(helm_oci, htpasswd_registry,
                                                                                 helper, tmp_path):
    host = htpasswd_registry.host
    # `pass` is installed but not docker-credential-pass: oras-go detects nothing.
    env = native_store(tmp_path / "native", helper, "secretservice", with_pass=True)
    helm_oci.run("login", host, "-u", USER, "--password-stdin", "--plain-http", input=PASSWORD, env=env)
    assert set(json.loads(helm_oci.registry_config.read_text())) == {"auths"}
    # A config that already holds a login is not given a store either.
    env = native_store(tmp_path / "native2", helper, "secretservice")
    helm_oci.run("login", host, "-u", USER, "--password-stdin", "--plain-http", input=PASSWORD, env=env)
    assert set(json.loads(helm_oci.registry_config.read_text())) == {"auths"}
    assert helper.calls() == []


def script_helper(directory: Path, name: str, script: str):
    """A docker-credential-NAME shell script in `directory`; returns the env that finds it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return {"PATH": f"{directory}{os.pathsep}{os.environ['PATH']}"}


def test_a_helper_that_fails_without_a_word_has_nothing(helm_oci, htpasswd_registry, chart, tmp_path):
    env = script_helper(tmp_path / "bin", "silent", "exit 1\n")
    write_json(helm_oci.registry_config, {"credsStore": "silent", "auths": {htpasswd_registry.host: GOOD}})
    line = helm_oci.fails("push", chart, f"oci://{htpasswd_registry.host}/charts", "--plain-http", env=env)
    assert "authentication required" in line


def test_a_helper_that_cannot_erase_says_why(helm_oci, htpasswd_registry, tmp_path):
    env = script_helper(tmp_path / "bin", "locked", "cat >/dev/null\necho 'the keyring is locked' >&2\nexit 1\n")
    write_json(helm_oci.registry_config, {"credsStore": "locked"})
    line = helm_oci.fails("logout", htpasswd_registry.host, env=env)
    assert line == "Error: docker-credential-locked erase failed: the keyring is locked"


def test_a_hanging_helper_is_given_up_at_the_commands_timeout(helm_oci, htpasswd_registry, chart, tmp_path):
    """A helper stuck on a keychain prompt is waited on no longer than --timeout (30 s
    without one), for a command that reads the login and for a login that stores one."""
    env = script_helper(tmp_path / "bin", "stuck", "exec sleep 60\n")
    write_json(helm_oci.registry_config, {"credsStore": "stuck"})
    line = helm_oci.fails("push", chart, f"oci://{htpasswd_registry.host}/charts", "--plain-http",
                          "--timeout", "2s", env=env)
    assert line.endswith("authentication required: the stored credentials could not be read: the credential "
                         "helper docker-credential-stuck: did not answer within the command's --timeout (2s)"), line
    line = helm_oci.fails("login", htpasswd_registry.host, "-u", USER, "--password-stdin", "--plain-http",
                          "--timeout", "1s", env=env, input=PASSWORD)
    assert line == ("Error: the credential helper docker-credential-stuck: did not answer within the command's "
                    "--timeout (1s)"), line


@pytest.mark.parametrize("to_group", [False, True], ids=["to-helm-oci", "to-its-group"])
@pytest.mark.parametrize("command", ["pull", "login", "logout"])
def test_a_signal_stops_the_run_and_its_helper_at_once(helm_oci, htpasswd_registry, tmp_path, command, to_group):
    """A signal while a credential helper runs (a pull's lookup, a login's store, a logout's
    erase) ends the run within moments, with its error line and 128 + the signal, and the
    helper with it: not once the helper's 30 s are up. Sent to helm-oci alone (a `kill`), the
    helper is stopped by helm-oci; sent to the process group (Ctrl-C at a terminal), the
    helper dies of it first, which is no answer of the helper's."""
    pid_file = tmp_path / "helper.pid"
    env = script_helper(tmp_path / "bin", "stuck", f"echo $$ > {pid_file}\nexec sleep 60\n")
    write_json(helm_oci.registry_config, {"credsStore": "stuck", "auths": {htpasswd_registry.host: {}}})
    args = {"pull": ["pull", f"oci://{htpasswd_registry.host}/charts/mychart:0.1.0", "-d", tmp_path / "out",
                     "--plain-http"],
            "login": ["login", htpasswd_registry.host, "-u", USER, "--password-stdin", "--plain-http"],
            "logout": ["logout", htpasswd_registry.host]}[command]
    p = subprocess.Popen([str(BIN), *map(str, args)], env={**helm_oci.env, **env}, start_new_session=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdin.write(PASSWORD)
    p.stdin.close()
    p.stdin = None  # told all it will be
    deadline = time.monotonic() + 20
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline and p.poll() is None, "the helper never ran"
        time.sleep(0.02)
    helper_pid = int(pid_file.read_text())
    sig = signal.SIGINT if to_group else signal.SIGTERM
    if to_group:
        os.killpg(p.pid, sig)
    else:
        p.send_signal(sig)
    stopped = time.monotonic()
    stdout, stderr = p.communicate(timeout=60)
    assert (p.returncode, stdout, stderr) == (128 + sig, "", f"Error: interrupted by {sig.name}\n")
    assert time.monotonic() - stopped < 5
    with pytest.raises(ProcessLookupError):
        os.kill(helper_pid, 0)
    # The logout stopped before it changed the file.
    assert json.loads(helm_oci.registry_config.read_text())["auths"] == {htpasswd_registry.host: {}}


def test_the_commands_timeout_bounds_all_its_helper_runs_together(helm_oci, htpasswd_registry, tmp_path):
    """A pull through a mirror looks up two logins. Behind a stuck helper, the first takes
    the whole --timeout, and the second helper is not even started: each used to get a
    whole --timeout of its own, and the component's call another."""
    calls = tmp_path / "calls"
    env = script_helper(tmp_path / "bin", "stuck", f"echo \"$1\" >> {calls}\nexec sleep 60\n")
    write_json(helm_oci.registry_config, {"credsStore": "stuck"})
    mirror = Registry(tmp_path / "mirror")
    try:
        configure(helm_oci, f"{htpasswd_registry.host}/charts", (f"{mirror.host}/copies", True))
        helm_oci.fails("pull", f"oci://{htpasswd_registry.host}/charts/mychart:0.1.0", "-d", tmp_path / "out",
                       "--plain-http", "--timeout", "2s", env=env)
    finally:
        mirror.stop()
    assert calls.read_text() == "get\n"


def test_a_helpers_stdout_never_reaches_an_error(helm_oci, htpasswd_registry, chart, tmp_path):
    env = script_helper(tmp_path / "bin", "leaky", "cat >/dev/null\necho 'Secret: hunter2'\necho 'keychain locked' >&2\nexit 2\n")
    write_json(helm_oci.registry_config, {"credsStore": "leaky"})
    line = helm_oci.fails("push", chart, f"oci://{htpasswd_registry.host}/charts", "--plain-http", env=env)
    assert line.endswith(": authentication required: the stored credentials could not be read: "
                         "docker-credential-leaky get failed: keychain locked") and "hunter2" not in line


def test_login_writes_through_a_symlinked_config(helm_oci, htpasswd_registry, tmp_path):
    real = tmp_path / "dotfiles" / "helm-registry.json"
    real.parent.mkdir()
    link = helm_oci.registry_config
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(real)
    helm_oci.run("login", htpasswd_registry.host, "-u", USER, "-p", PASSWORD, "--plain-http")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert json.loads(real.read_text())["auths"][htpasswd_registry.host] == GOOD


class AnyLogin(http.server.BaseHTTPRequestHandler):
    """A registry's `/v2/` that takes any Basic credentials."""

    def do_GET(self):
        if "Authorization" not in self.headers:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="any"')
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_logins_at_once_all_land_and_a_killed_ones_copy_goes(helm_oci, tmp_path):
    """A CI job logging in to several registries in parallel: each login that succeeds is
    stored. A temp copy a killed login left beside the config (it holds secrets) goes at
    the next write."""
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), AnyLogin) for _ in range(12)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    config = helm_oci.registry_config
    config.parent.mkdir(parents=True, exist_ok=True)
    left = config.parent / f".{config.name}.4242.tmp"
    left.write_text(json.dumps({"auths": {"gone.example": GOOD}}))
    try:
        hosts = [f"127.0.0.1:{server.server_address[1]}" for server in servers]
        runs = [subprocess.Popen([str(BIN), "login", host, "-u", f"user{i}", "-p", "pw", "--plain-http"],
                                 env=helm_oci.env, cwd=helm_oci.home, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for i, host in enumerate(hosts)]
        for run in runs:
            assert run.wait(timeout=60) == 0, run.stderr.read()
    finally:
        for server in servers:
            server.shutdown()
    auths = json.loads(config.read_text())["auths"]
    assert {host: auths[host] for host in hosts} == {host: {"auth": auth(f"user{i}", "pw")} for i, host in
                                                        enumerate(hosts)}
    assert not left.exists()


def test_empty_or_lone_username_and_password_fall_back_to_the_login(helm_oci, htpasswd_registry, chart, tmp_path):
    """Helm's registry client takes --username/--password only when both are non-empty (CI
    passes unset secrets as ""); otherwise the stored login, for every command."""
    host = htpasswd_registry.host
    helm_oci.run("login", host, "-u", USER, "-p", PASSWORD, "--plain-http")
    ref = f"oci://{host}/charts/mychart"
    for given in (["--username", "", "--password", ""], ["--username", USER], ["--password", "wrong"],
                  ["--username", "nobody", "--password", ""]):
        helm_oci.run("push", chart, f"oci://{host}/charts", "--plain-http", *given)
        helm_oci.run("pull", ref, "--version", "0.1.0", "-d", tmp_path / "out", "--plain-http", *given)
        helm_oci.run("tags", ref, "--plain-http", *given)
        helm_oci.run("tag", f"{ref}:0.1.0", "stable", "--plain-http", *given)
        helm_oci.run("copy", f"{ref}:0.1.0", f"oci://{host}/copies/mychart", "--plain-http", *given)
    # Both given, they are what is sent.
    line = helm_oci.fails("tags", ref, "--plain-http", "--username", USER, "--password", "wrong")
    assert "authentication required" in line


def test_an_unusable_docker_config_gives_no_credential(helm_oci, registry, chart, tmp_path):
    """A Docker config naming a helper that is not installed (Docker Desktop's `desktop`), one
    whose entry does not decode, or one that is not JSON, stops nothing: Helm's registry
    client asks its stores only when a registry wants credentials."""
    docker = helm_oci.home / ".docker" / "config.json"
    for config, said in (('{"auths": {}, "credsStore": "desktop"}', "is not on PATH"), ('{bad', "passing over"),
                         ('{"auths": {"%s": {"auth": "!!"}}}' % registry.host, "is not base64 of user:password")):
        docker.parent.mkdir(parents=True, exist_ok=True)
        docker.write_text(config)
        helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")
        p = helm_oci.run("tags", f"oci://{registry.host}/charts/mychart", "--plain-http", "--debug")
        assert said in "".join(l for l in p.stderr.splitlines() if "Docker's config" in l or "no credential" in l)
    p = helm_oci.run("tags", f"oci://{registry.host}/charts/mychart", "--plain-http", "--debug",
                     env={"DOCKER_CONFIG": str(write_json(tmp_path / "docker" / "config.json",
                                                          {"credsStore": "desktop"}).parent)})
    assert "docker-credential-desktop (named by credHelpers or credsStore in a Docker-format config) is not on PATH" \
        in p.stderr


@pytest.mark.parametrize("where", ["helm", "docker"])
def test_a_failing_helper_stops_only_what_needs_credentials(helm_oci, registry, htpasswd_registry, chart, tmp_path,
                                                           where):
    """A helper that fails (a locked keychain, secretservice with no D-Bus in CI) in either
    config: an anonymous registry still works, and one that wants credentials says why
    there were none."""
    env = script_helper(tmp_path / "bin", "locked", "cat >/dev/null\necho 'keychain locked' >&2\nexit 2\n")
    write_json(helm_oci.registry_config if where == "helm" else helm_oci.home / ".docker" / "config.json",
               {"credsStore": "locked"})
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http", env=env)
    line = helm_oci.fails("push", chart, f"oci://{htpasswd_registry.host}/charts", "--plain-http", env=env)
    assert line.endswith(": authentication required: the stored credentials could not be read: "
                         "docker-credential-locked get failed: keychain locked"), line


def test_an_unusable_helm_registry_config_still_fails(helm_oci, registry, chart):
    """Helm's registry client cannot be made from a registry config that is not JSON."""
    helm_oci.registry_config.parent.mkdir(parents=True)
    helm_oci.registry_config.write_text('{bad')
    line = helm_oci.fails("push", chart, f"oci://{registry.host}/charts", "--plain-http")
    assert str(helm_oci.registry_config) in line


def test_a_logout_of_nothing_succeeds_as_in_helm_and_says_so(helm_oci, htpasswd_registry):
    """A logout of nothing succeeds as Helm's does (a pipeline's clean-up must not fail on
    it), with Helm's line on stdout and the truth on stderr."""
    host = htpasswd_registry.host
    p = helm_oci.run("logout", host)
    assert p.stdout == f"Removing login credentials for {host}\n"
    assert p.stderr == f"WARNING: no login for {host} was stored\n"
    assert not helm_oci.registry_config.parent.exists(), "a logout of nothing makes nothing (no lock file)"
    helm_oci.run("login", host, "-u", USER, "-p", PASSWORD, "--plain-http")
    assert helm_oci.run("logout", host).stdout == f"Removing login credentials for {host}\n"
