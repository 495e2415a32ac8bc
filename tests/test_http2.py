"""HTTP/2 over TLS, offered by ALPN: a registry that chooses it (distribution does, as Go's
server) gets connections whose requests are all in flight at once, and from the next run on
only one connection is opened ahead for them; a registry that keeps to HTTP/1.1 gets one
connection per request in flight, as before; a large upload goes over HTTP/1.1."""
import json
import os
import re

import pytest

from conftest import Registry, write_chart
from pki import CA


@pytest.fixture
def serve(tmp_path):
    """Starts a TLS registry (HTTP/2 unless told otherwise); returns it and the flags that
    trust its CA."""
    started = []

    def start(http2=True):
        ca = CA(tmp_path / f"ca{len(started)}")
        cert, key = ca.issue("registry")
        reg = Registry(tmp_path / f"registry{len(started)}", tls={"certificate": str(cert), "key": str(key)},
                       http={} if http2 else {"http2": {"disabled": True}})
        started.append(reg)
        return reg, ("--ca-file", str(ca.cert), "--debug")

    yield start
    for reg in started:
        reg.stop()


def opened(p):
    """The protocol of each connection a run opened, from its --debug trace."""
    return re.findall(r"^\[debug\] opened connection \d+ to \S+ \((HTTP/[\d.]+)\)$", p.stderr, re.M)


def endpoints(helm_oci):
    path = helm_oci.home.parent / "helm-cache" / "helm-oci" / "endpoints.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_a_registry_that_chooses_http2_shares_one_connection_from_the_next_run_on(helm_oci, serve, chart, tmp_path):
    reg, flags = serve()
    first = helm_oci.run("push", chart, f"oci://{reg.host}/charts", *flags)
    # Not known yet: a connection is opened ahead for each request push has in flight at once.
    assert opened(first) and set(opened(first)) == {"HTTP/2"}
    assert endpoints(helm_oci) == {f"https://{reg.host}": {"http2": True}}

    again = helm_oci.run("push", chart, f"oci://{reg.host}/charts", *flags)
    assert opened(again) == ["HTTP/2"], again.stderr
    pulled = helm_oci.run("pull", f"oci://{reg.host}/charts/mychart", "--version", "0.1.0", "-d", tmp_path / "out",
                          *flags)
    assert opened(pulled) == ["HTTP/2"], pulled.stderr
    # The manifest, then the config and the chart layer together, all on that one connection.
    assert len(re.findall(r"^\[debug\] GET ", pulled.stderr, re.M)) == 3
    assert (tmp_path / "out" / "mychart-0.1.0.tgz").is_file()


def test_a_registry_that_keeps_to_http11_gets_a_connection_per_request_in_flight(
        helm_oci, serve, chart, tmp_path):
    reg, flags = serve(http2=False)
    helm_oci.run("push", chart, f"oci://{reg.host}/charts", *flags)
    pulled = helm_oci.run("pull", f"oci://{reg.host}/charts/mychart", "--version", "0.1.0", "-d", tmp_path / "out",
                          *flags)
    assert opened(pulled) == ["HTTP/1.1", "HTTP/1.1"], pulled.stderr
    assert endpoints(helm_oci) == {}
    assert (tmp_path / "out" / "mychart-0.1.0.tgz").is_file()


def test_a_registry_that_stopped_offering_http2_is_met_with_http11(helm_oci, serve, chart, tmp_path):
    reg, flags = serve(http2=False)
    path = helm_oci.home.parent / "helm-cache" / "helm-oci" / "endpoints.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({f"https://{reg.host}": {"http2": True}}))
    pushed = helm_oci.run("push", chart, f"oci://{reg.host}/charts", *flags)
    # One connection is opened ahead as for HTTP/2; finding HTTP/1.1, push opens one for each
    # other request it has in flight (it checks the tag and both blobs at once).
    assert opened(pushed) == ["HTTP/1.1"] * 3, pushed.stderr
    assert endpoints(helm_oci) == {}
    assert pushed.stdout.startswith(f"Pushed: {reg.host}/charts/mychart:0.1.0")


def test_a_large_upload_goes_over_http11_beside_the_shared_connection(helm_oci, serve, tmp_path):
    """HTTP/2 would hold an upload to the registry's window a round trip (distribution's is
    1 MiB); a body larger than that goes on an HTTP/1.1 connection of its own."""
    reg, flags = serve()
    big = write_chart(tmp_path / "big", extra={"files/random.bin": os.urandom(3 << 20)})
    pushed = helm_oci.run("push", big, f"oci://{reg.host}/charts", *flags)
    assert "HTTP/2" in opened(pushed) and "HTTP/1.1" in opened(pushed), pushed.stderr
    # The HTTP/1.1 connection is not taken for the registry's own choice.
    assert endpoints(helm_oci) == {f"https://{reg.host}": {"http2": True}}
    small = write_chart(tmp_path / "small", name="small")
    assert opened(helm_oci.run("push", small, f"oci://{reg.host}/charts", *flags)) == ["HTTP/2"]
    pulled = helm_oci.run("pull", f"oci://{reg.host}/charts/mychart", "--version", "0.1.0", "-d", tmp_path / "out",
                          *flags)
    assert opened(pulled) == ["HTTP/2"], pulled.stderr
    assert (tmp_path / "out" / "mychart-0.1.0.tgz").stat().st_size > 3 << 20


def test_dependencies_from_many_repositories_of_an_http2_registry_share_one_connection(
        helm_oci, serve, chart, tmp_path):
    """Each dependency's repository is granted on its own, and each grant opens connections
    ahead; once the registry is known to choose HTTP/2, all of them want the one."""
    reg, flags = serve()
    names = ("db", "web", "queue", "cache")
    for name in names:
        helm_oci.run("push", write_chart(tmp_path / name, name=name, version="1.0.0"), f"oci://{reg.host}/charts",
                     *flags)
    deps = [{"name": n, "version": "^1", "repository": f"oci://{reg.host}/charts"} for n in names]
    app = write_chart(tmp_path / "src", name="app", version="1.0.0", dependencies=deps)
    p = helm_oci.run("dependency", "update", app, *flags)
    assert opened(p) == ["HTTP/2"], p.stderr
    assert sorted(f.name for f in (app / "charts").iterdir()) == [f"{n}-1.0.0.tgz" for n in sorted(names)]
