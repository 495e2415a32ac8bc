"""Bad input and hostile registries: one `Error:` line, exit 1, and no partial file."""
import gzip
import io
import json
import os
import subprocess
import tarfile

import pytest

from conftest import BIN, Registry, files_left, free_port, helm4, htpasswd, write_chart
from fronts import Front
from pki import CA


@pytest.mark.parametrize("ref,why", [
    ("oci://", "empty"),
    ("https://example.com/charts/x", "oci://"),
    ("oci://localhost:5000", "repository path"),
    ("oci://localhost:99999/charts/x", "port"),
    ("oci://localhost:5000/Charts/x", "lowercase"),
    ("oci://localhost:5000/charts/x@sha256:1234", "digest"),
    # Read as Docker reads it, this is Docker Hub's library/127.0.0.1 at tag 5000.
    ("127.0.0.1:5000", "it names a registry alone; write oci://127.0.0.1:5000/PATH/CHART"),
])
def test_malformed_references(helm_oci, tmp_path, ref, why):
    line = helm_oci.fails("pull", ref, "-d", tmp_path / "out")
    assert why in line and "invalid reference" in line
    assert files_left(tmp_path / "out") == []


def test_missing_chart_yaml(helm_oci, registry, tmp_path):
    (tmp_path / "empty").mkdir()
    line = helm_oci.fails("push", tmp_path / "empty", f"oci://{registry.host}/charts", "--plain-http")
    assert "Chart.yaml file is missing" in line


def test_missing_chart_path(helm_oci, registry, tmp_path):
    line = helm_oci.fails("push", tmp_path / "nope", f"oci://{registry.host}/charts", "--plain-http")
    assert "nope" in line


def test_a_path_with_a_newline_is_named_on_the_one_error_line(helm_oci, registry, tmp_path):
    line = helm_oci.fails("push", tmp_path / "no\nsuch", f"oci://{registry.host}/charts", "--plain-http")
    assert line.endswith("no\\nsuch: no such file or directory"), line


def test_a_file_name_with_a_backslash_is_refused_by_name_unless_ignored(helm_oci, registry, tmp_path):
    chart = write_chart(tmp_path, extra={"files/win\\dir/x.txt": "x\n"})
    line = helm_oci.fails("push", chart, f"oci://{registry.host}/charts", "--plain-http")
    assert line.endswith("files/win\\dir/x.txt: its name holds a backslash, which Helm reads as a directory "
                         "separator: rename it, or name it in .helmignore"), line
    (chart / ".helmignore").write_text("files/\n")
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")


def test_version_helm_cannot_read(helm_oci, registry, tmp_path):
    c = write_chart(tmp_path, version="1.0.0.0")
    line = helm_oci.fails("push", c, f"oci://{registry.host}/charts", "--plain-http")
    assert 'chart.metadata.version "1.0.0.0" is invalid' in line
    assert registry_is_empty(registry)


def registry_is_empty(registry):
    return not (registry.root / "data").exists()


def test_unreachable_registry(helm_oci, chart, tmp_path):
    port = free_port()
    line = helm_oci.fails("push", chart, f"oci://127.0.0.1:{port}/charts", "--plain-http")
    assert f"127.0.0.1:{port}" in line and "connection refused" in line
    line = helm_oci.fails("pull", f"oci://127.0.0.1:{port}/charts/mychart:1.0.0", "-d", tmp_path / "out", "--plain-http")
    assert "connection refused" in line
    assert files_left(tmp_path / "out") == []


def test_https_is_the_default(helm_oci, registry, chart):
    line = helm_oci.fails("push", chart, f"oci://{registry.host}/charts")
    assert "TLS" in line and "--plain-http" in line


def test_plain_http_to_an_https_registry_says_so(helm_oci, chart, tmp_path):
    """Go's HTTPS server answers plain HTTP with a bare 400: a push's first requests are
    HEADs, whose answers carry no words; a pull's GET has Go's."""
    cert, key = CA(tmp_path / "pki").issue("registry")
    tls = Registry(tmp_path / "tls", tls={"certificate": str(cert), "key": str(key)})
    try:
        line = helm_oci.fails("push", chart, f"oci://{tls.host}/charts", "--plain-http")
        assert line.endswith("the registry refused a plain HTTP request (does it speak HTTPS only?) (HTTP 400)"), line
        line = helm_oci.fails("pull", f"oci://{tls.host}/charts/mychart:0.1.0", "-d", tmp_path / "out", "--plain-http")
        assert line.endswith("Client sent an HTTP request to an HTTPS server. (HTTP 400)"), line
    finally:
        tls.stop()


def test_unknown_tag(helm_oci, registry, chart, tmp_path):
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")
    line = helm_oci.fails("pull", f"oci://{registry.host}/charts/mychart", "--version", "9.9.9", "-d", tmp_path / "out", "--plain-http")
    assert line == f"Error: {registry.host}/charts/mychart:9.9.9: not found"
    assert files_left(tmp_path / "out") == []


def test_version_and_tag_must_agree(helm_oci, registry, tmp_path):
    line = helm_oci.fails("pull", f"oci://{registry.host}/charts/mychart:1.0.0", "--version", "2.0.0", "-d", tmp_path)
    assert "mismatch" in line


def test_corrupt_tgz(helm_oci, registry, chart, tmp_path):
    good = tmp_path / "good.tgz"
    with tarfile.open(good, "w:gz") as t:
        t.add(chart, arcname="mychart")
    data = good.read_bytes()
    cases = {
        "garbage.tgz": b"this is not gzip",
        "truncated.tgz": data[: len(data) // 2],
        "nochart.tgz": gzip.compress(tar_of({"mychart/values.yaml": b"a: 1\n"})),
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        line = helm_oci.fails("push", tmp_path / name, f"oci://{registry.host}/charts", "--plain-http")
        assert name in line and "not a valid chart archive" in line
    assert registry_is_empty(registry)
    # The well-formed archive itself is accepted.
    helm_oci.run("push", good, f"oci://{registry.host}/charts", "--plain-http")


def test_what_follows_the_archives_end_is_not_read_as_helm_does_not_read_it(helm_oci, registry, chart, tmp_path):
    """Helm's tar reader stops at the end-of-archive blocks: a damaged or missing gzip
    trailer, or bytes after the stream, never reach it. Such archives load in Helm and push."""
    good = tmp_path / "good.tgz"
    with tarfile.open(good, "w:gz") as t:
        t.add(chart, arcname="mychart")
    data = good.read_bytes()
    crc = bytearray(data)
    crc[-6] ^= 0xFF
    for name, content in {"crc.tgz": bytes(crc), "no-trailer.tgz": data[:-8], "padded.tgz": data + bytes(512),
                          "trailing.tgz": data + b"trailing bytes\n"}.items():
        (tmp_path / name).write_bytes(content)
        assert "name: mychart" in helm4("show", tmp_path / name), name
        p = helm_oci.run("push", tmp_path / name, f"oci://{registry.host}/{name[:-4]}", "--plain-http")
        assert p.stdout.startswith(f"Pushed: {registry.host}/{name[:-4]}/mychart:0.1.0"), name


def tar_of(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def pull_through_hostile_front(helm_oci, registry, tamper, out):
    """Pulls mychart:0.1.0 through a front that tampers with answers: it must fail and keep nothing."""
    with Front(registry.host, tamper) as front:
        line = helm_oci.fails("pull", f"oci://{front.host}/charts/mychart:0.1.0", "-d", out, "--plain-http")
    assert files_left(out) == []
    return line


def test_blob_with_wrong_digest_is_not_kept(helm_oci, registry, chart, tmp_path):
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")
    manifest = json.loads(registry.manifest("charts/mychart", "0.1.0"))
    layer = manifest["layers"][0]["digest"]

    def flip_chart_bytes(method, path, status, headers, body):
        if method == "GET" and path.endswith(layer):
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        return status, headers, body

    line = pull_through_hostile_front(helm_oci, registry, flip_chart_bytes, tmp_path / "out")
    assert "digest mismatch" in line and layer in line


def test_manifest_that_does_not_match_its_digest(helm_oci, registry, chart, tmp_path):
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")

    def rewrite_manifest(method, path, status, headers, body):
        if "/manifests/" in path and method == "GET":
            body = body.replace(b'"schemaVersion":2', b'"schemaVersion": 2')
        return status, headers, body

    line = pull_through_hostile_front(helm_oci, registry, rewrite_manifest, tmp_path / "out")
    assert "manifest" in line and "digest mismatch" in line


def test_every_error_the_registry_gives_is_said(helm_oci, registry, chart):
    """As Helm shows them: a refusal whose second error says what is wrong is not cut short
    at the first."""
    body = json.dumps({"errors": [
        {"code": "DIGEST_INVALID", "message": "provided digest did not match uploaded content"},
        {"code": "MANIFEST_BLOB_UNKNOWN", "message": "blob unknown to registry", "detail": "sha256:00"}]}).encode()

    def refuse(method, path, headers):
        if method == "PUT" and "/manifests/" in path:
            return 400, [("Content-Type", "application/json")], body

    with Front(registry.host, intercept=refuse) as front:
        line = helm_oci.fails("push", chart, f"oci://{front.host}/charts", "--plain-http")
    assert line.endswith(": provided digest did not match uploaded content; blob unknown to registry "
                         "(DIGEST_INVALID, HTTP 400)"), line


def test_not_a_helm_chart(helm_oci, registry, chart, tmp_path):
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")

    def image_config(method, path, status, headers, body):
        if "/manifests/" in path and method == "GET":
            body = body.replace(b"application/vnd.cncf.helm.config.v1+json", b"application/vnd.oci.image.config.v1+json")
            headers = [(k, v) for k, v in headers if k.lower() != "docker-content-digest"]
        return status, headers, body

    line = pull_through_hostile_front(helm_oci, registry, image_config, tmp_path / "out")
    assert "is not a Helm chart" in line


def test_an_image_index_is_said_to_be_one_not_missing(helm_oci, registry, chart, tmp_path):
    """A registry refuses an index (404) to an `Accept` without index types; the pull asks
    with them, so the user hears what the tag holds, as Helm says it is no chart it can load."""
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": []}).encode()
    registry.put_manifest("charts/mychart", "2.0.0", index, media_type="application/vnd.oci.image.index.v1+json")
    line = helm_oci.fails("pull", f"oci://{registry.host}/charts/mychart:2.0.0", "-d", tmp_path / "out",
                          "--plain-http")
    assert line == (f"Error: {registry.host}/charts/mychart:2.0.0 is not a Helm chart: it is an image index, "
                    "and no manifest under it is a chart's")


def test_a_reader_gone_takes_no_more_output_and_the_work_goes_on(helm_oci, registry, tmp_path):
    """`helm oci pull A B | head -1`: once nobody reads stdout, the rest of the output is
    dropped, quietly (no panic), and the command still does all its work, whose outcome is
    its exit code; results a full disk keeps from the user fail the command, in one line."""
    for name in ("first", "second"):
        helm_oci.run("push", write_chart(tmp_path / "src", name, "1.0.0"), f"oci://{registry.host}/charts",
                     "--plain-http")
    read, write = os.pipe()
    os.close(read)
    with os.fdopen(write, "wb") as gone:
        p = subprocess.run([str(BIN), "pull", f"oci://{registry.host}/charts/first:1.0.0",
                            f"oci://{registry.host}/charts/second:1.0.0", "-d", tmp_path / "out", "--plain-http"],
                           stdout=gone, stderr=subprocess.PIPE, env=helm_oci.env, timeout=60)
    assert p.returncode == 0 and p.stderr == b"", p.stderr.decode()
    assert sorted(f.name for f in (tmp_path / "out").iterdir()) == ["first-1.0.0.tgz", "second-1.0.0.tgz"]
    with open("/dev/full", "wb") as full:
        p = subprocess.run([str(BIN), "version"], stdout=full, stderr=subprocess.PIPE, text=True,
                           env=helm_oci.env, timeout=60)
    assert helm_oci.error_line(p) == "Error: cannot write the output: no space left on device"


@pytest.mark.parametrize("args,line", [
    (["pull", "oci://localhost:5000/charts/x", "--foo"], "Error: unexpected argument '--foo' found"),
    (["pull"], "Error: the following required arguments were not provided: <CHART_REF>..."),
    (["tags", "oci://localhost:5000/charts/x", "-o", "xml"],
     "Error: invalid value 'xml' for '--output <OUTPUT>' [possible values: table, json, yaml]"),
    (["push", "chart", "oci://localhost:5000/charts", "--cert-file", "c.pem"],
     "Error: the following required arguments were not provided: --key-file <FILE>"),
    (["pull", "oci://localhost:5000/charts/x", "--timeout", "soon"],
     "Error: invalid value 'soon' for '--timeout <DURATION>': \"soon\" is not a duration like 30s, 5m or 1h30m"),
    (["frobnicate"], "Error: unrecognized subcommand 'frobnicate'"),
])
def test_usage_errors_are_one_line_and_exit_1(helm_oci, args, line):
    """As Helm's cobra (SilenceUsage) reports them: one `Error:` line, no usage, exit 1."""
    assert helm_oci.fails(*args) == line


def test_help_and_version_still_print_on_stdout(helm_oci):
    for args in (["--help"], ["pull", "-h"], ["chart"], ["version"]):
        p = helm_oci.run(*args)
        assert p.stdout and p.stderr == "", args
    # As Helm runs it, whatever the binary is called.
    assert "Usage: helm oci pull [OPTIONS] <CHART_REF>" in helm_oci.run("pull", "--help").stdout


def test_boolean_flags_take_a_value_as_go_does(helm_oci, registry, chart, tmp_path):
    """Helm's flags (Go's pflag) take `--flag`, `--flag=true` and `--flag=false`, not `--flag true`."""
    ref = f"oci://{registry.host}/charts/mychart"
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http=true",
                 "--insecure-skip-tls-verify=false")
    helm_oci.run("pull", ref, "--version", "0.1.0", "-d", tmp_path / "tgz", "--plain-http=true", "--untar=false")
    assert files_left(tmp_path / "tgz") == ["mychart-0.1.0.tgz"]
    helm_oci.run("pull", ref, "--version", "0.1.0", "-d", tmp_path / "dir", "--plain-http", "--untar=true",
                 "--devel=false")
    assert files_left(tmp_path / "dir") == ["mychart"]
    # The last one given holds; false means false.
    line = helm_oci.fails("pull", ref, "--version", "0.1.0", "-d", tmp_path / "tls", "--plain-http",
                          "--plain-http=false")
    assert "TLS" in line and "--plain-http" in line
    # (pull, which takes several charts as Helm's does, would read `true` as one.)
    line = helm_oci.fails("tags", ref, "--plain-http", "true")
    assert line == "Error: unexpected argument 'true' found"
    line = helm_oci.fails("pull", ref, "--plain-http=maybe")
    assert line.startswith("Error: invalid value 'maybe' for '--plain-http")
    p = helm_oci.run("login", registry.host, "-u", "u", "-p", "p", "--plain-http=true", "--insecure=true")
    assert p.stdout == "Login Succeeded\n"


def test_value_flags_take_the_next_word_and_the_last_one_holds_as_go_does(helm_oci, tmp_path):
    """pflag gives a flag with a value the next word, whatever it is, so a password that
    begins with '-' is a password (and is never echoed back as an unknown flag); a flag
    given twice keeps the last value, so CI can append overrides to its defaults."""
    registry = Registry(tmp_path / "reg", auth={"htpasswd": {"realm": "r", "path": str(
        htpasswd(tmp_path / "htpasswd", {"ci": "--Sup3r-s3cret"}))}})
    try:
        chart = write_chart(tmp_path / "src")
        for version in ("0.1.0", "0.2.0"):
            chart.joinpath("Chart.yaml").write_text(chart.joinpath("Chart.yaml").read_text().replace(
                "0.1.0", version))
            helm_oci.run("push", chart, f"oci://{registry.host}/charts", "--plain-http",
                         "--username", "ci", "--password", "--Sup3r-s3cret")
        # An empty one, as an unset CI secret leaves it, gives no credentials, and is said to.
        line = helm_oci.fails("pull", f"oci://{registry.host}/charts/mychart:0.1.0", "-d", tmp_path / "none",
                              "--plain-http", "--username", "ci", "--password", "")
        assert line.endswith("authentication required: no credentials were found for this registry (--username or "
                             "--password was given empty, which gives no credentials, as in Helm)"), line
        line = helm_oci.fails("pull", f"oci://{registry.host}/charts/mychart:0.1.0", "-d", tmp_path / "none",
                              "--plain-http", "--username", "ci")
        assert line.endswith("(--username and --password give credentials only together)"), line
        p = helm_oci.run("login", registry.host, "-u", "ci", "-p", "--Sup3r-s3cret", "--plain-http")
        assert p.stdout == "Login Succeeded\n"
        helm_oci.run("pull", f"oci://{registry.host}/charts/mychart", "--version", "0.1.0", "--version", "0.2.0",
                     "-d", tmp_path / "first", "-d", tmp_path / "out", "--plain-http")
        assert files_left(tmp_path / "out") == ["mychart-0.2.0.tgz"] and not (tmp_path / "first").exists()
        line = helm_oci.fails("pull", f"oci://{registry.host}/charts/mychart:0.1.0", "-d", tmp_path / "out",
                              "--plain-http", "--username", "ci", "--password", "-wrong-secret")
        assert "-wrong-secret" not in line and "rejected" in line, line
    finally:
        registry.stop()


def test_a_chart_pushed_without_a_remote_is_told_the_remote_is_missing(helm_oci, chart):
    line = helm_oci.fails("push", chart)
    assert line == 'Error: "helm oci push" requires 2 arguments for a chart directory or archive: CHART and ' \
        'REMOTE (oci://host/namespace)'


def test_a_login_to_a_repository_path_is_a_login_to_its_registry(helm_oci, registry):
    """Helm warns of a repository path in `helm registry login`; a login is for a whole
    registry, so it is stored (and removed) under the host alone."""
    warning = f"WARNING: a login is for a registry host, not a repository path: {registry.host} is used"
    for written in (f"{registry.host}/charts/app", f"https://{registry.host}/charts", f"oci://{registry.host}/x/"):
        p = helm_oci.run("login", written, "-u", "u", "--password-stdin", "--plain-http", input="p")
        assert p.stdout == "Login Succeeded\n" and p.stderr.splitlines() == [warning], p.stderr
        assert list(json.loads(helm_oci.registry_config.read_text())["auths"]) == [registry.host]
        p = helm_oci.run("logout", written)
        assert p.stdout == f"Removing login credentials for {registry.host}\n"
        assert json.loads(helm_oci.registry_config.read_text())["auths"] == {}
    # Credentials before the host are refused, and no part of them is repeated (a '/' in
    # the password would otherwise read as the start of a path).
    p = helm_oci.run("login", f"ci:s3cr/et@{registry.host}", "-u", "u", "--password-stdin", "--plain-http",
                     input="p", check=False)
    assert p.returncode == 1 and "s3cr" not in p.stderr and "credentials before the host" in p.stderr, p.stderr


def test_a_file_name_that_is_not_utf8_is_named_as_the_trouble(helm_oci, tmp_path):
    """WASI names files in UTF-8: a chart directory holding another name cannot be listed
    by the component, and the error says so (it said "illegal byte sequence")."""
    chart = write_chart(tmp_path / "src")
    (chart / ".helmignore").write_text("*.skip\n")
    open(bytes(chart) + b"/bad\xff.skip", "wb").close()
    line = helm_oci.fails("push", chart, "oci://127.0.0.1:1/charts", "--plain-http")
    assert line == f"Error: {chart}/: a file name in it is not UTF-8, which helm-oci cannot read (rename that file)", line
