"""A registry that lies, pages forever, drips, floods or hands out monsters, and hostile
local input: each case ends with one `Error:` line, exit 1, no backtrace, nothing left
behind, and bounded memory."""
import json
import os
import subprocess
import sys
import time

import pytest

from conftest import HELM4, config_json, files_left, tgz, write_chart
from fronts import Garbled, Answering, Front, Slow

PLAIN = "--plain-http"
CHART_YAML = b"apiVersion: v2\nname: mychart\nversion: 1.0.0\n"


def pull(helm_oci, host, out, *flags, ref="mychart:1.0.0", measured=False):
    args = ("pull", f"oci://{host}/charts/{ref}", "-d", out, PLAIN, *flags)
    if measured:
        p, rss = helm_oci.run_measured(*args)
        return helm_oci.error_line(p), rss
    return helm_oci.fails(*args)


# 1. Tag paging without end.

@pytest.mark.parametrize("per_page,limit", [(1, "more than 1000 pages"), (2000, "more than 100000 tags")])
def test_endless_tag_paging_stops(helm_oci, registry, tmp_path, per_page, limit):
    pages = iter(range(10**9))

    def forever(method, path, headers):
        if "/tags/list" in path:
            n = next(pages)
            body = json.dumps({"name": "charts/mychart", "tags": [f"junk-{n}-{i}" for i in range(per_page)]})
            return 200, [("Link", f'</v2/charts/mychart/tags/list?page={n + 1}>; rel="next"')], body.encode()

    with Front(registry.host, intercept=forever) as front:
        line, rss = pull(helm_oci, front.host, tmp_path / "out", ref="mychart", measured=True)
    assert limit in line
    assert rss < 64, f"{rss:.0f} MB"
    assert files_left(tmp_path / "out") == []


def test_endless_catalog_is_bounded_by_the_timeout(helm_oci, registry):
    """A catalog that pages forever streams through in bounded memory until --timeout."""
    pages = iter(range(10**9))

    def forever(method, path, headers):
        if path.startswith("/v2/_catalog"):
            n = next(pages)
            body = json.dumps({"repositories": [f"junk/r{n}-{i}" for i in range(100)]})
            return 200, [("Link", f'</v2/_catalog?last=junk/r{n}>; rel="next"')], body.encode()
        if "/tags/list" in path:
            return 200, [], b'{"tags": []}'

    with Front(registry.host, intercept=forever) as front:
        p, rss = helm_oci.run_measured("search", front.host, PLAIN, "--timeout", "3s")
    assert "did not finish within 3s" in helm_oci.error_line(p)
    assert rss < 64, f"{rss:.0f} MB"


def test_a_catalog_that_loops_is_refused(helm_oci, registry):
    """Page A links to B and B back to A: caught, not walked again."""
    def loop(method, path, headers):
        if path.startswith("/v2/_catalog"):
            other = "/v2/_catalog?last=b" if "last=b" not in path else "/v2/_catalog?last=a"
            return 200, [("Link", f'<{other}>; rel="next"')], b'{"repositories": ["charts/a"]}'
        if "/tags/list" in path:
            return 200, [], b'{"tags": []}'

    with Front(registry.host, intercept=loop) as front:
        line = helm_oci.fails("search", front.host, PLAIN)
        assert "links back to a page it already gave" in line
        assert len([p for _, p, _ in front.seen if p.startswith("/v2/_catalog")]) == 3


def test_catalog_entries_that_are_not_repositories_are_left_out(helm_oci, registry):
    """Names no repository can have (paths out, upper case, floods) are never requested."""
    hand_made(registry, {"mychart/Chart.yaml": CHART_YAML})
    junk = ["../../etc", "Charts/UPPER", "a" * 100_000, "charts/mychart/../x", "", 5, None]

    def listing(method, path, headers):
        if path.startswith("/v2/_catalog"):
            return 200, [], json.dumps({"repositories": junk + ["charts/mychart"]}).encode()

    with Front(registry.host, intercept=listing) as front:
        p = helm_oci.run("search", front.host, PLAIN, "-o", "json")
        assert [h["name"] for h in json.loads(p.stdout)] == [f"{front.host}/charts/mychart"]
        assert [path for _, path, _ in front.seen if "tags/list" in path] == ["/v2/charts/mychart/tags/list"]


def test_tag_entries_that_are_not_tags_are_left_out(helm_oci, registry, tmp_path):
    """A listed "tag" that could not be fetched by (a path, a flood of characters) is not one."""
    hand_made(registry, {"mychart/Chart.yaml": CHART_YAML})
    junk = ["../../../v2/other/manifests/9.9.9", "9" * 100_000, "-1", "2.0.0/x", "3.0.0?x"]

    def list_junk(method, path, headers):
        if "/tags/list" in path:
            return 200, [], json.dumps({"name": "charts/mychart", "tags": junk + ["1.0.0"]}).encode()

    with Front(registry.host, intercept=list_junk) as front:
        p = helm_oci.run("pull", f"oci://{front.host}/charts/mychart", "-d", tmp_path / "out", PLAIN)
    assert "Pulled: " in p.stdout and p.stdout.split("Pulled: ")[1].startswith(f"{front.host}/charts/mychart:1.0.0")
    assert [path for m, path, _ in front.seen if "/manifests/" in path] == ["/v2/charts/mychart/manifests/1.0.0"]


# 2. What an archive unpacks to.

def hand_made(registry, files, tag="1.0.0", name="mychart", version="1.0.0"):
    registry.put_chart(f"charts/{name}", tag, config_json(name, version), tgz(files))


@pytest.mark.parametrize("untar", [True, False], ids=["untar", "archive"])
def test_unpacked_size_is_capped_as_helm_caps_it(helm_oci, registry, tmp_path, untar):
    flags = ("--untar",) if untar else ()
    hand_made(registry, {"mychart/Chart.yaml": CHART_YAML, "mychart/big.bin": bytes(6 << 20)})
    line, rss = pull(helm_oci, registry.host, tmp_path / "out", *flags, measured=True)
    assert "more than the 5242880 allowed for one file (--max-file-size raises it)" in line and rss < 64
    hand_made(registry, {"mychart/Chart.yaml": CHART_YAML, **{f"mychart/f{i}": bytes(4 << 20) for i in range(30)}}, "2.0.0",
              version="2.0.0")
    line, rss = pull(helm_oci, registry.host, tmp_path / "out", *flags, ref="mychart:2.0.0", measured=True)
    assert "more than the 104857600 bytes allowed unpacked (--max-chart-size raises it)" in line and rss < 64
    assert files_left(tmp_path / "out") == []
    # Raised limits let them through.
    helm_oci.run("pull", f"oci://{registry.host}/charts/mychart:1.0.0", "-d", tmp_path / "out", PLAIN, *flags,
                 "--max-file-size", "7Mi")


def test_deeply_nested_yaml_is_refused_at_once_as_go_yaml_refuses_it(helm_oci, registry, tmp_path):
    """libyaml spends time on every open flow collection at every token: `[[[[…` 400 KB long
    would keep a pull busy for its whole timeout. go-yaml (Helm) stops at depth 10,000."""
    bomb = b"a: " + b"[" * 200_000 + b"]" * 200_000 + b"\n"
    hand_made(registry, {"mychart/Chart.yaml": CHART_YAML, "mychart/values.yaml": bomb})
    start = time.monotonic()
    line = pull(helm_oci, registry.host, tmp_path / "out")
    assert "exceeded max depth of 10000" in line, line
    assert time.monotonic() - start < 10
    assert files_left(tmp_path / "out") == []


ALIASED_LIST = "a: &a\n" + "- 1\n" * 1_000 + "b:\n" + "- *a\n" * 20_000
MERGED_MAP = "a: &a\n" + "".join(f"  k{i}: {i}\n" for i in range(10_000)) + "b:\n" + "  - <<: *a\n" * 10_000
FLOW_KEYS = "a: &a [" + "1, " * 1_000 + "]\nb: {" + "".join(f'"k{i}":*a,' for i in range(20_000)) + "}\n"
BLOCKS_ON_ONE_LINE = "a:\n  " + "- " * 2_000_000 + "x\n"


@pytest.mark.parametrize("values,refusal", [
    (ALIASED_LIST, "document contains excessive aliasing"),
    (MERGED_MAP, "document contains excessive aliasing"),
    (FLOW_KEYS, "document contains excessive aliasing"),
    (BLOCKS_ON_ONE_LINE, "exceeded max depth of 10000"),
], ids=["aliased list", "merged map", "aliases after flow keys", "blocks on one line"])
def test_yaml_that_would_expand_without_end_is_refused_at_once_as_go_yaml_refuses_it(
        helm_oci, registry, tmp_path, values, refusal):
    """A few kilobytes of aliases (or merge keys) decode to millions of nodes, and block
    sequences nested on one line to millions of events: the pull spent its whole timeout, or
    the component's memory, on them. go-yaml (Helm) refuses both at once."""
    chart = write_chart(tmp_path / "src", extra={"values.yaml": values})
    p = subprocess.run([sys.executable, str(HELM4), "show", chart], capture_output=True, text=True)
    assert p.returncode == 1 and refusal in p.stderr, "Helm refuses it so"
    hand_made(registry, {"mychart/Chart.yaml": CHART_YAML, "mychart/values.yaml": values.encode()})
    start = time.monotonic()
    line, rss = pull(helm_oci, registry.host, tmp_path / "out", measured=True)
    assert refusal in line, line
    assert time.monotonic() - start < 10 and rss < 200
    assert files_left(tmp_path / "out") == []


# 3. Terminal escapes in what a registry or a token service says.

HOSTILE_TEXT = "\x1b[2J\x1b]0;pwned\x07\r\nERROR fake log line" + "A" * 60_000


def assert_defused(line):
    assert not any(c in line for c in "\x1b\x07\r\x9b")
    assert len(line) < 1200


def test_a_registrys_words_are_data(helm_oci, registry, tmp_path):
    body = json.dumps({"errors": [{"code": "DENIED", "message": HOSTILE_TEXT}]}).encode()
    with Front(registry.host, intercept=lambda m, p, h: (400, [], body)) as front:
        line = pull(helm_oci, front.host, tmp_path / "out")
    assert_defused(line)
    assert "fake log line" in line


def challenge_to(token_service):
    """An intercept that demands a bearer token from `token_service` for every request."""
    def intercept(method, path, headers):
        if not (headers.get("Authorization") or "").startswith("Bearer "):
            realm = f"http://{token_service.host}/token"
            return 401, [("WWW-Authenticate", f'Bearer realm="{realm}",service="x"')], b""
    return intercept


def test_a_token_services_words_are_data(helm_oci, registry, tmp_path):
    with Answering(lambda m, p: (500, [], HOSTILE_TEXT.encode())) as tokens, \
            Front(registry.host, intercept=challenge_to(tokens)) as front:
        line = pull(helm_oci, front.host, tmp_path / "out")
    assert_defused(line)
    assert f"the token service {tokens.host} failed (HTTP 500)" in line


# 4. A monster token.

def test_a_huge_token_is_refused(helm_oci, registry, tmp_path):
    token = json.dumps({"token": "t" * (200 << 10)}).encode()
    with Answering(lambda m, p: (200, [], token)) as tokens, Front(registry.host, intercept=challenge_to(tokens)) as front:
        line = pull(helm_oci, front.host, tmp_path / "out")
    assert "more than allowed" in line


# 7. Pull checks the chart, not only the bytes.

@pytest.mark.parametrize("files,why", [
    ({"mychart/values.yaml": b"a: 1\n"}, "Chart.yaml file is missing"),
    ({"mychart/Chart.yaml": b"apiVersion: v2\nname: other\nversion: 1.0.0\n"}, "holds other 1.0.0"),
], ids=["no Chart.yaml", "another chart"])
def test_untar_refuses_what_is_not_the_chart(helm_oci, registry, tmp_path, files, why):
    hand_made(registry, files)
    line = pull(helm_oci, registry.host, tmp_path / "out", "--untar")
    assert why in line
    assert files_left(tmp_path / "out") == []


def test_a_layer_that_is_not_an_archive(helm_oci, registry, tmp_path):
    registry.put_chart("charts/mychart", "1.0.0", config_json(version="1.0.0"), b"not gzip at all")
    line = pull(helm_oci, registry.host, tmp_path / "out")
    assert "is not a chart Helm can load" in line
    assert files_left(tmp_path / "out") == []


def test_a_tag_serving_another_version(helm_oci, registry, tmp_path):
    hand_made(registry, {"mychart/Chart.yaml": CHART_YAML}, tag="2.0.0")
    line = pull(helm_oci, registry.host, tmp_path / "out", ref="mychart:2.0.0")
    assert "the registry served version 1.0.0 where the tag says 2.0.0" in line
    assert files_left(tmp_path / "out") == []


# 8. Nothing unchecked goes into a URL.

@pytest.mark.parametrize("version", ["1.0.0/../../../../v2/_catalog", "x?n=1", "1.0.0#frag", "1.0.0\r\nX-Evil: 1"])
def test_versions_are_checked_before_they_reach_a_url(helm_oci, registry, tmp_path, version):
    with Front(registry.host) as front:
        line = helm_oci.fails("pull", f"oci://{front.host}/charts/mychart", "--version", version, "-d",
                              tmp_path / "out", PLAIN)
    assert line.startswith("Error: --version: invalid version constraint") and "is not a version" in line
    assert front.seen == []


def test_a_manifests_digests_are_checked_before_they_reach_a_url(helm_oci, registry, tmp_path):
    manifest = {"schemaVersion": 2,
                "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": "sha256:../../../x",
                           "size": 10},
                "layers": []}

    def lie(method, path, headers):
        if "/manifests/" in path:
            return 200, [("Content-Type", "application/vnd.oci.image.manifest.v1+json")], json.dumps(manifest).encode()

    with Front(registry.host, intercept=lie) as front:
        line = pull(helm_oci, front.host, tmp_path / "out")
    assert "the manifest" in line
    assert not [p for _, p, _ in front.seen if "/blobs/" in p]


# 11. Deadlines and sizes.

def dripping_blobs(chunk, pause):
    """A front tamper that sends every blob `chunk` bytes at a time, `pause` seconds apart."""
    def drip(method, path, status, headers, body):
        return (status, headers, Slow(body, chunk, pause)) if "/blobs/" in path else (status, headers, body)
    return drip


def test_a_dripping_registry_meets_the_deadline(helm_oci, registry, chart, tmp_path):
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", PLAIN)
    with Front(registry.host, dripping_blobs(1, 1.0)) as front:
        start = time.monotonic()
        line = helm_oci.fails("pull", f"oci://{front.host}/charts/mychart:0.1.0", "-d", tmp_path / "out", PLAIN,
                              "--timeout", "2s")
    assert "did not finish within 2s" in line
    assert time.monotonic() - start < 10
    assert files_left(tmp_path / "out") == []


def test_a_zero_timeout_waits_without_limit_as_in_go(helm_oci, registry, chart, tmp_path):
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", PLAIN)
    with Front(registry.host, dripping_blobs(160, 1.5)) as front:
        start = time.monotonic()
        helm_oci.run("pull", f"oci://{front.host}/charts/mychart:0.1.0", "-d", tmp_path / "out", PLAIN,
                     "--timeout", "0")
        assert time.monotonic() - start > 1
    assert files_left(tmp_path / "out") == ["mychart-0.1.0.tgz"]


def test_retry_after_is_not_waited_past_the_deadline(helm_oci, registry, tmp_path):
    always = (503, [("Retry-After", "60")], b"")
    with Front(registry.host, intercept=lambda *r: always) as front:
        start = time.monotonic()
        line = pull(helm_oci, front.host, tmp_path / "out", "--timeout", "3s")
    assert "HTTP 503" in line or "did not finish within 3s" in line
    assert time.monotonic() - start < 10


def test_a_layer_announced_too_large_is_not_fetched(helm_oci, registry, chart, tmp_path):
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", PLAIN)

    def inflate(method, path, status, headers, body):
        if "/manifests/" in path and method == "GET":
            manifest = json.loads(body)
            manifest["layers"][0]["size"] = 10 << 30
            body = json.dumps(manifest).encode()
            headers = [(k, v) for k, v in headers if k.lower() != "docker-content-digest"]
        return status, headers, body

    with Front(registry.host, inflate) as front:
        line = helm_oci.fails("pull", f"oci://{front.host}/charts/mychart:0.1.0", "-d", tmp_path / "out", PLAIN)
    assert "10737418240 bytes, more than a chart" in line
    assert not [p for m, p, _ in front.seen if "/blobs/" in p]


def test_a_huge_error_answer_still_says_its_status(helm_oci, registry, chart, tmp_path):
    """An error page larger than any manifest is not read whole: its start is enough to say
    what the registry answered, which is what matters."""
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", PLAIN)
    page = b'{"errors":[{"code":"UNSUPPORTED","message":"no manifests today"}]}' + b" " * (6 << 20)

    def refuse(m, path, headers):
        if "/manifests/" in path:
            return 400, [("Content-Type", "application/json")], page

    with Front(registry.host, intercept=refuse) as front:
        line = helm_oci.fails("pull", f"oci://{front.host}/charts/mychart:0.1.0", "-d", tmp_path / "out", PLAIN)
    assert "no manifests today" in line and "larger than" not in line, line
    assert files_left(tmp_path / "out") == []


# 12. Numbers a registry chooses.

def test_a_huge_chunk_minimum_is_refused(helm_oci, registry, tmp_path):
    blobs = {f"files/b{i}.bin": os.urandom(4 << 20) for i in range(3)}  # above the single-PUT limit
    chart = write_chart(tmp_path / "src", extra=blobs)

    def demand(method, path, status, headers, body):
        if method == "POST":
            headers = headers + [("OCI-Chunk-Min-Length", str(2**62))]
        return status, headers, body

    with Front(registry.host, demand) as front:
        line = helm_oci.fails("push", chart, f"oci://{front.host}/charts", PLAIN)
    assert "chunks of at least 4611686018427387904 bytes" in line


def test_a_token_that_never_expires(helm_oci, registry, chart, tmp_path):
    token = json.dumps({"token": "t", "expires_in": 2**64 - 1}).encode()
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", PLAIN)
    with Answering(lambda m, p: (200, [], token)) as tokens, Front(registry.host, intercept=challenge_to(tokens)) as front:
        helm_oci.run("pull", f"oci://{front.host}/charts/mychart:0.1.0", "-d", tmp_path / "out", PLAIN)
    assert files_left(tmp_path / "out") == ["mychart-0.1.0.tgz"]


# 13. Answers that are not HTTP.

@pytest.mark.parametrize("reply", [
    b"SSH-2.0-OpenSSH_9.6\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\n" + b"X-Filler: x\r\n" * 100_000 + b"\r\n",
])
def test_an_answer_that_is_not_http_is_said_so_at_once(helm_oci, tmp_path, reply):
    """Something that is not a registry answering (an SSH server on the port, say) is no
    passing trouble: it is said as such, with no retries."""
    server = Garbled(reply)
    try:
        line = pull(helm_oci, server.host, tmp_path / "out")
    finally:
        server.stop()
    assert line.startswith(f"Error: invalid HTTP response from {server.host}: "), line
    assert ("headers are too large" in line) == (len(reply) > 100_000), line
    assert len(server.seen) == 1, server.seen
