"""The network core, seen from the wire: connections are kept alive and shared (never more
open than requests in flight at once, far fewer than requests made), over plain HTTP and
TLS; pull has its config and chart layer in flight together; and bearer tokens are fetched
once per scope set, each for one repository."""
import shutil
import threading
from pathlib import Path

import pytest

from conftest import Registry, write_chart
from fronts import Front
from pki import CA
from tokenserver import TokenServer

PLAIN = "--plain-http"
# Long enough that requests a client makes at once are all held by the front together.
HOLD = 0.15


def overlapping(a, b):
    """Whether two (method, path, start, end) requests were in the front at the same time."""
    return a[2] < b[3] and b[2] < a[3]


def push_and_pull(chart, host, out, *flags):
    """A first push, the same push again, then pulls by version and of the newest version."""
    return [("push", chart, f"oci://{host}/charts", *flags),
            ("push", chart, f"oci://{host}/charts", *flags),
            ("pull", f"oci://{host}/charts/mychart", "--version", "0.1.0", "-d", out, *flags),
            ("pull", f"oci://{host}/charts/mychart", "-d", out / "again", *flags)]


def measure(helm_oci, front, command):
    """Runs a command through the front; returns (requests, connections, most in flight)."""
    before = (len(front.seen), front.connections)
    front.max_in_flight = 0
    helm_oci.run(*command)
    return len(front.seen) - before[0], front.connections - before[1], front.max_in_flight


@pytest.fixture
def ca(tmp_path):
    return CA(tmp_path / "ca")


@pytest.mark.parametrize("scheme", ["plain", "tls"])
def test_connections_are_kept_alive_and_shared(helm_oci, registry, chart, tmp_path, ca, scheme):
    """Each command opens at most as many connections (TLS handshakes) as it had requests in
    flight at once, and a command with several steps far fewer than the requests it made."""
    tls = ca.issue("front") if scheme == "tls" else None
    flags = ("--ca-file", ca.cert) if tls else (PLAIN,)
    seen = []
    with Front(registry.host, tls=tls, delay=HOLD) as front:
        for command in push_and_pull(chart, front.host, tmp_path / "out", *flags):
            # Each pull starts cold: this is about the network, not the chart cache.
            shutil.rmtree(Path(helm_oci.env["HELM_CACHE_HOME"]) / "oci", ignore_errors=True)
            seen.append(measure(helm_oci, front, command))
    assert all(1 <= connections <= in_flight for _, connections, in_flight in seen), seen
    first_push, again, pull, newest = seen
    # Three checks at once (the tag, the config, the chart layer), then two uploads of two
    # steps each, then the manifest: eight requests on three connections.
    assert first_push == (8, 3, 3)
    # The same push again ends with the three checks.
    assert again == (3, 3, 3)
    # The manifest, then the config and the chart layer at once; with no version, the tag
    # list before them.
    assert pull == (3, 2, 2) and newest == (4, 2, 2)
    assert (tmp_path / "out" / "mychart-0.1.0.tgz").exists()


def test_pull_fetches_the_config_and_the_chart_layer_at_once(helm_oci, registry, chart, tmp_path):
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", PLAIN)
    with Front(registry.host, delay=HOLD) as front:
        helm_oci.run("pull", f"oci://{front.host}/charts/mychart:0.1.0", "-d", tmp_path / "out", PLAIN)
    blobs = [r for r in front.timeline if r[0] == "GET" and "/blobs/" in r[1]]
    assert len(blobs) == 2 and overlapping(*blobs)
    manifest = next(r for r in front.timeline if "/manifests/" in r[1])
    assert all(manifest[3] <= b[2] for b in blobs), "the blobs are fetched once the manifest is read"


def test_push_checks_its_blobs_at_once(helm_oci, registry, chart):
    with Front(registry.host, delay=HOLD) as front:
        helm_oci.run("push", chart, f"oci://{front.host}/charts", PLAIN)
    heads = [r for r in front.timeline if r[0] == "HEAD"]
    # What the tag points at, the config and the chart layer.
    assert len(heads) == 3
    assert all(overlapping(a, b) for a in heads for b in heads)


def test_a_push_already_there_ends_without_its_blob_checks(helm_oci, registry, chart):
    """Once the tag is known to name this very manifest, the registry has its blobs: the push
    ends then, without waiting for blob checks still in flight (as oras-go's copy stops once
    the destination has the root)."""
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", PLAIN)
    released = threading.Event()

    def held_blob_checks(method, path, headers):
        if method == "HEAD" and "/blobs/" in path:
            released.wait(60)

    with Front(registry.host, intercept=held_blob_checks) as front:
        try:
            p = helm_oci.run("push", chart, f"oci://{front.host}/charts", PLAIN, "--timeout", "20s")
        finally:
            released.set()
    assert p.stdout.startswith(f"Pushed: {front.host}/charts/mychart:0.1.0\n")
    assert not [m for m, _, _ in front.seen if m in ("PUT", "POST", "PATCH")]


@pytest.fixture
def token_registry(tmp_path):
    ts = TokenServer(tmp_path / "ts", users={"alice": "pw"})
    reg = Registry(tmp_path / "token-registry", auth=ts.registry_auth())
    yield ts, reg
    reg.stop()
    ts.stop()


CREDENTIALS = ("--username", "alice", "--password", "pw")


def test_each_scope_set_is_asked_for_once(helm_oci, token_registry, tmp_path):
    """Requests in flight together that need the same token wait for one fetch of it; each
    token is asked for one repository's scope."""
    ts, reg = token_registry
    chart = write_chart(tmp_path / "src")
    other = write_chart(tmp_path / "other", name="otherchart")
    for c in (chart, other, chart):
        ts.requests.clear()
        helm_oci.run("push", c, f"oci://{reg.host}/charts", PLAIN, *CREDENTIALS)
        asked = [" ".join(r["scopes"]) for r in ts.requests]
        assert len(asked) == len(set(asked)), asked
        name = c.name
        assert set(asked) <= {f"repository:charts/{name}:pull", f"repository:charts/{name}:pull,push"}
    ts.requests.clear()
    helm_oci.run("pull", f"oci://{reg.host}/charts/mychart", "-d", tmp_path / "out", PLAIN, *CREDENTIALS)
    assert [r["scopes"] for r in ts.requests] == [["repository:charts/mychart:pull"]]
