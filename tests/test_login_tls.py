"""Login, logout and TLS against a real registry with htpasswd auth over HTTPS (a CA of our
own): what login writes and keeps, how push and pull use it with --ca-file alone, what the
TLS flags do, client certificates, and that no secret reaches --debug output."""
import base64
import json
import os
import pty
import subprocess
import termios
import time

import pytest

from conftest import BIN, Registry, free_port, htpasswd
from pki import CA, openssl

USER = "alice"
PASSWORD = "Tr0ub4dor-and-3"
AUTH = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@pytest.fixture
def ca(tmp_path):
    return CA(tmp_path / "pki")


@pytest.fixture
def tls_registry(tmp_path, ca):
    cert, key = ca.issue("registry")
    r = Registry(tmp_path / "registry", tls={"certificate": str(cert), "key": str(key)},
                 auth={"htpasswd": {"realm": "test", "path": str(htpasswd(tmp_path / "htpasswd", {USER: PASSWORD}))}})
    yield r
    r.stop()


def login(helm_oci, registry, *flags, password=PASSWORD, env=None):
    return helm_oci.run("login", registry.host, "-u", USER, "-p", password, *flags, env=env)


def pushed_repositories(registry):
    """The repositories in the registry's storage (empty if nothing was ever stored)."""
    repos = registry.root / "data" / "docker" / "registry" / "v2" / "repositories"
    return sorted(p.name for p in repos.iterdir()) if repos.exists() else []


def test_login_then_push_and_pull_with_only_the_ca_file(helm_oci, tls_registry, ca, chart, tmp_path):
    p = login(helm_oci, tls_registry, "--ca-file", ca.cert)
    assert p.stdout.strip() == "Login Succeeded"
    config = helm_oci.registry_config
    assert config.stat().st_mode & 0o777 == 0o600
    assert json.loads(config.read_text()) == {"auths": {tls_registry.host: {"auth": AUTH}}}

    p = helm_oci.run("push", chart, f"oci://{tls_registry.host}/charts", "--ca-file", ca.cert)
    assert f"Pushed: {tls_registry.host}/charts/mychart:0.1.0" in p.stdout
    out = tmp_path / "out"
    helm_oci.run("pull", f"oci://{tls_registry.host}/charts/mychart", "--version", "0.1.0", "-d", out,
                 "--ca-file", ca.cert)
    assert (out / "mychart-0.1.0.tgz").stat().st_size > 0


def test_push_without_the_ca_file_fails_on_an_unknown_authority(helm_oci, tls_registry, ca, chart, tmp_path):
    login(helm_oci, tls_registry, "--ca-file", ca.cert)
    line = helm_oci.fails("push", chart, f"oci://{tls_registry.host}/charts")
    assert tls_registry.host in line and "TLS" in line and "unknown authority" in line
    assert "--ca-file" in line
    assert pushed_repositories(tls_registry) == []
    line = helm_oci.fails("pull", f"oci://{tls_registry.host}/charts/mychart", "--version", "0.1.0",
                          "-d", tmp_path / "out", "--ca-file", ca.cert)
    assert "not found" in line


def test_the_system_ca_store_is_trusted(helm_oci, tls_registry, ca, chart):
    """A CA installed in the system's store needs no flag. SSL_CERT_FILE names the store's
    bundle here, as OpenSSL (and Go, so Helm) read it, since the test may not touch /etc."""
    env = {"SSL_CERT_FILE": str(ca.cert)}
    login(helm_oci, tls_registry, env=env)
    helm_oci.run("push", chart, f"oci://{tls_registry.host}/charts", env=env)
    assert pushed_repositories(tls_registry) == ["charts"]


def test_insecure_skip_tls_verify_for_login_push_and_pull(helm_oci, tls_registry, chart, tmp_path):
    login(helm_oci, tls_registry, "--insecure-skip-tls-verify")
    helm_oci.run("push", chart, f"oci://{tls_registry.host}/charts", "--insecure-skip-tls-verify")
    out = tmp_path / "out"
    helm_oci.run("pull", f"oci://{tls_registry.host}/charts/mychart", "--version", "0.1.0", "-d", out,
                 "--insecure-skip-tls-verify")
    assert (out / "mychart-0.1.0.tgz").exists()


def test_insecure_is_an_alias_on_login(helm_oci, tls_registry):
    assert login(helm_oci, tls_registry, "--insecure").stdout.strip() == "Login Succeeded"


def test_wrong_password_stores_nothing(helm_oci, tls_registry, ca):
    line = helm_oci.fails("login", tls_registry.host, "-u", USER, "--password-stdin", "--ca-file", ca.cert, input="wrong")
    assert line == f"Error: {tls_registry.host}: the registry rejected the username or password"
    assert not helm_oci.registry_config.exists()


def test_wrong_password_leaves_an_existing_config_untouched(helm_oci, tls_registry, ca):
    config = helm_oci.registry_config
    config.parent.mkdir(parents=True)
    before = b'{"auths": {"other.example.com": {"auth": "b3RoZXI6cHc="}},\n "HttpHeaders": {"X-A": "1"}}\n'
    config.write_bytes(before)
    helm_oci.fails("login", tls_registry.host, "-u", USER, "--password-stdin", "--ca-file", ca.cert, input="wrong")
    assert config.read_bytes() == before


def test_login_keeps_other_entries_and_logout_removes_only_its_own(helm_oci, tls_registry, ca):
    config = helm_oci.registry_config
    config.parent.mkdir(parents=True)
    other = {"other.example.com": {"auth": "b3RoZXI6cHc="}}
    unknown = {"HttpHeaders": {"X-A": "1"}, "detachKeys": "ctrl-e,e"}
    config.write_text(json.dumps({"auths": other, **unknown}))

    login(helm_oci, tls_registry, "--ca-file", ca.cert)
    assert json.loads(config.read_text()) == {"auths": {**other, tls_registry.host: {"auth": AUTH}}, **unknown}

    p = helm_oci.run("logout", tls_registry.host)
    assert f"Removing login credentials for {tls_registry.host}" in p.stdout + p.stderr
    assert json.loads(config.read_text()) == {"auths": other, **unknown}

    p = helm_oci.run("logout", tls_registry.host)
    assert p.stderr == f"WARNING: no login for {tls_registry.host} was stored\n"
    assert json.loads(config.read_text()) == {"auths": other, **unknown}


def on_a_terminal(argv, env, answers, secret=()):
    """Runs argv with a pseudo-terminal as its controlling terminal, answering each prompt
    in `answers` {prompt: reply} when it appears; returns everything it wrote and its exit code.
    For a `secret` prompt the reply waits, as a person would, until the program has turned
    echo off: the prompt is printed a moment before that."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(argv[0], argv, env)
    seen, pending = b"", dict(answers)
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the terminal closes when the child exits
            break
        if not chunk:
            break
        seen += chunk
        for prompt in [p for p in pending if seen.endswith(p.encode())]:
            # If echo never goes off, the reply goes out anyway and shows in the output.
            deadline = time.monotonic() + 5
            while prompt in secret and termios.tcgetattr(fd)[3] & termios.ECHO and time.monotonic() < deadline:
                time.sleep(0.01)
            os.write(fd, (pending.pop(prompt) + "\n").encode())
    _, status = os.waitpid(pid, 0)
    return seen.decode(errors="replace"), os.waitstatus_to_exitcode(status)


def test_login_prompts_on_a_terminal(helm_oci, tls_registry, ca):
    argv = [str(BIN), "login", tls_registry.host, "--ca-file", str(ca.cert)]
    out, code = on_a_terminal(argv, helm_oci.env, {"Username: ": USER, "Password: ": PASSWORD},
                             secret=("Password: ",))
    assert code == 0, out
    assert "Login Succeeded" in out
    # The password is read with echo off; the username is echoed as typed.
    assert PASSWORD not in out and USER in out
    assert json.loads(helm_oci.registry_config.read_text()) == {"auths": {tls_registry.host: {"auth": AUTH}}}


def test_password_stdin(helm_oci, tls_registry, ca, chart):
    p = helm_oci.run("login", tls_registry.host, "-u", USER, "--password-stdin", "--ca-file", ca.cert,
                     input=PASSWORD + "\n")
    assert p.stdout.strip() == "Login Succeeded"
    assert json.loads(helm_oci.registry_config.read_text())["auths"][tls_registry.host] == {"auth": AUTH}
    helm_oci.run("push", chart, f"oci://{tls_registry.host}/charts", "--ca-file", ca.cert)


def test_stdin_wins_over_the_password_flag_which_is_warned_of_as_in_helm(helm_oci, tls_registry, ca):
    flags = ("login", tls_registry.host, "-u", USER, "--ca-file", ca.cert)
    p = helm_oci.run(*flags, "-p", "wrong", "--password-stdin", input=PASSWORD)
    assert p.stdout.strip() == "Login Succeeded" and p.stderr == ""
    p = helm_oci.run(*flags, "-p", PASSWORD)
    assert p.stdout.strip() == "Login Succeeded"
    assert p.stderr == "WARNING: using --password via the CLI is insecure. Use --password-stdin\n"
    # The directories made for the config are private, as oras-go (Helm's) makes them.
    assert helm_oci.registry_config.parent.stat().st_mode & 0o777 == 0o700


def test_an_empty_username_asks_for_a_token_as_in_helm(helm_oci, tmp_path, ca):
    """Helm logs in with an empty username and the password as a token when no username is
    given (its terminal prompt then says `Token: `)."""
    cert, key = ca.issue("registry")
    registry = Registry(tmp_path / "token-only", tls={"certificate": str(cert), "key": str(key)},
                        auth={"htpasswd": {"realm": "test", "path": str(htpasswd(tmp_path / "tokens", {"": "t0ken"}))}})
    try:
        argv = [str(BIN), "login", registry.host, "--ca-file", str(ca.cert)]
        out, code = on_a_terminal(argv, helm_oci.env, {"Username: ": "", "Token: ": "t0ken"}, secret=("Token: ",))
        assert code == 0 and "Login Succeeded" in out, out
        auth = base64.b64encode(b":t0ken").decode()
        assert json.loads(helm_oci.registry_config.read_text()) == {"auths": {registry.host: {"auth": auth}}}
        helm_oci.registry_config.unlink()
        p = helm_oci.run("login", registry.host, "--password-stdin", "--ca-file", ca.cert, input="t0ken\n")
        assert p.stdout.strip() == "Login Succeeded"
    finally:
        registry.stop()


def test_password_stdin_loses_one_line_ending_as_in_helm(helm_oci, tls_registry, ca):
    login = ("login", tls_registry.host, "-u", USER, "--password-stdin", "--ca-file", ca.cert)
    assert helm_oci.run(*login, input=PASSWORD + "\r\n").stdout.strip() == "Login Succeeded"
    helm_oci.registry_config.unlink()
    # Only the last line ending goes: a blank line more is part of the password, a wrong one.
    line = helm_oci.fails(*login, input=PASSWORD + "\n\n")
    assert line.endswith("the registry rejected the username or password"), line
    assert not helm_oci.registry_config.exists()


def test_username_and_password_flags_override_without_login(helm_oci, tls_registry, ca, chart, tmp_path):
    helm_oci.run("push", chart, f"oci://{tls_registry.host}/charts", "--ca-file", ca.cert,
                 "--username", USER, "--password", PASSWORD)
    assert not helm_oci.registry_config.exists()
    # A stored login with a wrong password loses to the flags.
    helm_oci.registry_config.parent.mkdir(parents=True)
    wrong = base64.b64encode(f"{USER}:wrong".encode()).decode()
    helm_oci.registry_config.write_text(json.dumps({"auths": {tls_registry.host: {"auth": wrong}}}))
    out = tmp_path / "out"
    helm_oci.run("pull", f"oci://{tls_registry.host}/charts/mychart", "--version", "0.1.0", "-d", out,
                 "--ca-file", ca.cert, "--username", USER, "--password", PASSWORD)
    assert (out / "mychart-0.1.0.tgz").exists()


def test_push_without_credentials_needs_authentication(helm_oci, tls_registry, ca, chart):
    line = helm_oci.fails("push", chart, f"oci://{tls_registry.host}/charts", "--ca-file", ca.cert)
    assert "authentication required" in line
    assert pushed_repositories(tls_registry) == []


@pytest.fixture
def mtls_registry(tmp_path, ca):
    cert, key = ca.issue("registry")
    r = Registry(tmp_path / "mtls-registry",
                 tls={"certificate": str(cert), "key": str(key), "clientcas": [str(ca.cert)]})
    yield r
    r.stop()


def test_client_certificate_push_and_pull(helm_oci, mtls_registry, ca, chart, tmp_path):
    cert, key = ca.issue("client", client=True)
    tls = ["--ca-file", ca.cert, "--cert-file", cert, "--key-file", key]
    helm_oci.run("push", chart, f"oci://{mtls_registry.host}/charts", *tls)
    out = tmp_path / "out"
    helm_oci.run("pull", f"oci://{mtls_registry.host}/charts/mychart", "--version", "0.1.0", "-d", out, *tls)
    assert (out / "mychart-0.1.0.tgz").exists()


def test_a_version_1_client_certificate_is_presented_as_go_presents_it(helm_oci, mtls_registry, ca, chart, tmp_path):
    """`openssl x509 -req` without extensions signs a version 1 certificate, which webpki
    will not read; Go (so Helm) and the registry take it. Its key must still be its own."""
    key, csr, cert = tmp_path / "v1.key", tmp_path / "v1.csr", tmp_path / "v1.pem"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    openssl("req", "-new", "-key", key, "-subj", "/CN=v1 client", "-out", csr)
    openssl("x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-days", "30", "-set_serial", "0x1234",
             "-out", cert)
    text = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-text"], capture_output=True, text=True).stdout
    assert "Version: 1 (0x0)" in text
    tls = ["--ca-file", ca.cert, "--cert-file", cert, "--key-file", key]
    helm_oci.run("push", chart, f"oci://{mtls_registry.host}/charts", *tls)
    assert pushed_repositories(mtls_registry) == ["charts"]
    _, other_key = ca.issue("other", client=True)
    line = helm_oci.fails("push", chart, f"oci://{mtls_registry.host}/charts", "--ca-file", ca.cert,
                          "--cert-file", cert, "--key-file", other_key)
    assert line == "Error: --cert-file and --key-file do not form a client certificate: the private key is not the " \
                   "certificate's", line


def test_without_the_client_certificate_the_push_fails(helm_oci, mtls_registry, ca, chart):
    line = helm_oci.fails("push", chart, f"oci://{mtls_registry.host}/charts", "--ca-file", ca.cert)
    # Under TLS 1.3 the refusal arrives with the first response, not during the handshake;
    # either way it is reported as TLS, with the flags that fix it.
    assert "TLS: refused by the server" in line and "--cert-file and --key-file" in line, line
    assert pushed_repositories(mtls_registry) == []


def test_unusable_tls_files_are_said_in_words(helm_oci, ca, tmp_path):
    """Each TLS file fails before any request, in one line that names the flag and the
    file and says what is wrong in words (no Rust error names, no `os error N`)."""
    cert, key = ca.issue("client", client=True)
    _, other_key = ca.issue("other", client=True)
    junk, cut = tmp_path / "junk.pem", tmp_path / "cut.pem"
    junk.write_text("not PEM\n")
    cut.write_text(cert.read_text().splitlines()[0] + "\nMIIB\n")
    missing = tmp_path / "missing.pem"
    cases = [
        (["--cert-file", missing, "--key-file", key], f"reading --cert-file {missing}: no such file or directory"),
        (["--cert-file", cert, "--key-file", tmp_path], f"reading --key-file {tmp_path}: is a directory"),
        (["--cert-file", cert, "--key-file", other_key],
         "--cert-file and --key-file do not form a client certificate: the private key is not the certificate's"),
        (["--cert-file", key, "--key-file", key], f"--cert-file {key} holds no PEM certificate"),
        (["--cert-file", cert, "--key-file", cert], f"--key-file {cert} holds no PEM private key"),
        (["--cert-file", cert, "--key-file", junk], f"--key-file {junk} holds no PEM private key"),
        (["--ca-file", cut], f"reading --ca-file {cut}: a PEM section has no -----END CERTIFICATE----- line"),
        (["--ca-file", missing], f"reading --ca-file {missing}: no such file or directory"),
        # Over plain HTTP too, as Helm refuses them whatever it reaches.
        (["--plain-http", "--ca-file", missing], f"reading --ca-file {missing}: no such file or directory"),
    ]
    for flags, said in cases:
        line = helm_oci.fails("pull", f"oci://127.0.0.1:{free_port()}/charts/app:1.0.0", "-d", tmp_path, *flags)
        assert line == f"Error: {said}", line


def self_signed_as_a_ca(cert, key, *extensions):
    """distribution's and Docker's recipe (`openssl req -x509 -newkey … -addext
    subjectAltName=…`, under a stock openssl.cnf): a certificate that says it is a CA."""
    more = [arg for extension in extensions for arg in ("-addext", extension)]
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-x509",
                    "-days", "30", "-subj", "/CN=localhost", "-keyout", key, "-out", cert,
                    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "subjectAltName=IP:127.0.0.1", *more],
                   check=True, capture_output=True)


def test_such_a_certificate_for_clients_only_is_refused_as_go_refuses_it(helm_oci, tmp_path, chart):
    """Go checks a trusted server certificate's extended key usage even when it is itself a
    root: one that allows clients only serves no TLS server."""
    cert, key = tmp_path / "client-only.crt", tmp_path / "client-only.key"
    self_signed_as_a_ca(cert, key, "extendedKeyUsage=clientAuth")
    r = Registry(tmp_path / "registry", tls={"certificate": str(cert), "key": str(key)})
    try:
        line = helm_oci.fails("push", chart, f"oci://{r.host}/charts", "--ca-file", cert)
        assert line == (f"Error: cannot reach {r.host}: TLS: certificate specifies an incompatible key usage: "
                        "its extended key usage does not allow a server"), line
    finally:
        r.stop()


def test_a_self_signed_certificate_made_as_the_registry_docs_make_one_is_trusted_as_the_ca(
        helm_oci, tmp_path, chart):
    """Helm trusts such a certificate as a server's own when it is itself a root, given
    with --ca-file or installed in the system store, and so does helm-oci, for the host it
    names only."""
    cert, key = tmp_path / "domain.crt", tmp_path / "domain.key"
    self_signed_as_a_ca(cert, key)
    r = Registry(tmp_path / "registry", tls={"certificate": str(cert), "key": str(key)})
    try:
        helm_oci.run("push", chart, f"oci://{r.host}/charts", "--ca-file", cert)
        line = helm_oci.fails("push", chart, f"oci://localhost:{r.port}/charts", "--ca-file", cert)
        assert line == f"Error: cannot reach localhost:{r.port}: TLS: certificate is not valid for localhost", line
        # Installed in the system store (SSL_CERT_FILE names its bundle, as in
        # test_the_system_ca_store_is_trusted), with no flag.
        store = {"SSL_CERT_FILE": str(cert)}
        out = tmp_path / "out"
        helm_oci.run("pull", f"oci://{r.host}/charts/mychart", "--version", "0.1.0", "-d", out, env=store)
        assert (out / "mychart-0.1.0.tgz").is_file()
        # Another certificate that says it is a CA, given as the CA file or in the store,
        # does not vouch for it.
        other = tmp_path / "other.crt"
        self_signed_as_a_ca(other, tmp_path / "other.key")
        refused = (f"Error: cannot reach {r.host}: TLS: the server's certificate says it is a CA, which is "
                   "trusted only if it is itself the CA file given or in the system's store")
        assert helm_oci.fails("push", chart, f"oci://{r.host}/charts", "--ca-file", other) == refused
        assert helm_oci.fails("push", chart, f"oci://{r.host}/charts", env={"SSL_CERT_FILE": str(other)}) == refused
    finally:
        r.stop()


def test_a_ca_bundle_block_that_is_no_certificate_or_not_base64_is_passed_over_as_helm_passes_it(
        helm_oci, tls_registry, ca, chart, tmp_path):
    bundle = tmp_path / "bundle.pem"
    junk = base64.b64encode(b"not a certificate at all").decode()
    not_base64 = "-----BEGIN CERTIFICATE-----\nthis is !!! not base64\n-----END CERTIFICATE-----\n"
    bundle.write_text(f"-----BEGIN CERTIFICATE-----\n{junk}\n-----END CERTIFICATE-----\n" + not_base64
                      + ca.cert.read_text())
    login(helm_oci, tls_registry, "--ca-file", bundle)
    only_junk = tmp_path / "junk-only.pem"
    only_junk.write_text(f"-----BEGIN CERTIFICATE-----\n{junk}\n-----END CERTIFICATE-----\n")
    line = helm_oci.fails("pull", f"oci://{tls_registry.host}/charts/x:1.0.0", "-d", tmp_path, "--ca-file", only_junk)
    assert line == f"Error: --ca-file {only_junk} holds no usable certificate", line


def test_an_encrypted_client_key_is_said_to_be_encrypted(helm_oci, ca, tmp_path):
    cert, key = ca.issue("client", client=True)
    pkcs8, legacy = tmp_path / "pkcs8.key", tmp_path / "legacy.key"
    subprocess.run(["openssl", "pkey", "-in", key, "-out", pkcs8, "-aes256", "-passout", "pass:secret"], check=True)
    subprocess.run(["openssl", "ec", "-in", key, "-out", legacy, "-aes256", "-passout", "pass:secret"], check=True,
                   capture_output=True)
    for encrypted in (pkcs8, legacy):
        line = helm_oci.fails("pull", f"oci://127.0.0.1:{free_port()}/charts/app:1.0.0", "-d", tmp_path,
                              "--cert-file", cert, "--key-file", encrypted)
        assert line.startswith(f"Error: --key-file {encrypted} is encrypted (protected by a passphrase)"), line


def test_debug_output_holds_no_secret(helm_oci, tls_registry, ca, chart):
    login(helm_oci, tls_registry, "--ca-file", ca.cert)
    p = helm_oci.run("push", chart, f"oci://{tls_registry.host}/charts", "--ca-file", ca.cert, "--debug")
    output = p.stdout + p.stderr
    assert f"[debug] PUT https://{tls_registry.host}/v2/charts/mychart/manifests/0.1.0 -> 201" in output
    assert PASSWORD not in output
    assert AUTH not in output


def test_helm_registry_config_is_honoured(helm_oci, tls_registry, ca, chart, tmp_path):
    elsewhere = tmp_path / "elsewhere" / "logins.json"
    env = {"HELM_REGISTRY_CONFIG": str(elsewhere)}
    login(helm_oci, tls_registry, "--ca-file", ca.cert, env=env)
    assert json.loads(elsewhere.read_text()) == {"auths": {tls_registry.host: {"auth": AUTH}}}
    assert not helm_oci.registry_config.exists()
    helm_oci.run("push", chart, f"oci://{tls_registry.host}/charts", "--ca-file", ca.cert, env=env)
    # Without the variable the push finds no login.
    line = helm_oci.fails("push", chart, f"oci://{tls_registry.host}/other", "--ca-file", ca.cert)
    assert "authentication required" in line
