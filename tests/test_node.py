"""A second host: the component on Node.js through jco (examples/node), driven through its WIT
exports alone. Push, pull, tags, search and the cache's save and list against a real registry,
what it pushes read by the native host and by Helm 4.3 (and the other way), and the same
grants as the native host: the chart read-only, the destination and the cache read-write,
the registry's host and nothing else."""
import json
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from conftest import REPO, Registry, helm4, htpasswd, sha256, write_chart
from fronts import RESET, Broken, Front, Recorder, Slow, uploads_sent_to
from tokenserver import TokenServer

NODE = REPO / "examples" / "node"
HELLO = REPO / "tests" / "fixtures" / "hello"
USER, PASSWORD = "alice", "wonderland"
CREDENTIALS = ("--username", USER, "--password", PASSWORD)


@pytest.fixture(scope="session")
def transpiled():
    """examples/node/gen, transpiled from the built component (again only if it changed)."""
    p = subprocess.run(["bash", str(NODE / "build.sh")], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr


class NodeHost:
    """Runs examples/node/cli.js, whose commands print the component's result as JSON."""

    def __init__(self, env):
        self.env = env

    def run(self, *args, check=True):
        p = subprocess.run(["node", str(NODE / "cli.js"), *map(str, args)], capture_output=True, text=True,
                           cwd=self.env["HOME"], env=self.env, timeout=120)
        if check:
            assert p.returncode == 0, f"node cli.js {' '.join(map(str, args))} failed:\n{p.stderr}"
            return json.loads(p.stdout)
        return p

    def fails(self, *args):
        """Runs a command that must fail: exit 1 and one `Error:` line."""
        p = self.run(*args, check=False)
        lines = [line for line in p.stderr.splitlines() if line.strip()]
        assert p.returncode == 1 and len(lines) == 1 and lines[0].startswith("Error: "), (p.returncode, p.stderr)
        return lines[0]


@pytest.fixture
def node(transpiled, helm_oci):
    """The Node host, with the native host's Helm home and chart cache."""
    return NodeHost(helm_oci.env)


@pytest.fixture
def private_registry(tmp_path):
    """A registry that wants a password (htpasswd)."""
    auth = {"htpasswd": {"realm": "helm-oci-test", "path": str(htpasswd(tmp_path / "htpasswd", {USER: PASSWORD}))}}
    r = Registry(tmp_path / "private", auth=auth)
    yield r
    r.stop()


def members(tgz: Path):
    with tarfile.open(tgz) as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


HELLO_FILES = {f"hello/{p.relative_to(HELLO)}": p.read_bytes() for p in HELLO.rglob("*") if p.is_file()}
HELLO_SUMMARY = {"name": "hello", "version": "0.1.0", "appVersion": "1.0.0",
                 "description": "A sample chart for the helm-oci demo"}


def test_push_from_node_then_pull_from_node_the_native_host_and_helm(node, helm_oci, private_registry, tmp_path):
    host = private_registry.host
    # The credential goes to the component as the WIT `credential`; without one, the push is turned away.
    line = node.fails("push", HELLO, f"oci://{host}/charts", "--plain-http")
    # A pair with an empty side (an unset CI secret) is no credential, as natively.
    assert node.fails("push", HELLO, f"oci://{host}/charts", "--plain-http", "-u", USER, "-p", "") == line
    assert line.endswith("authentication required: no credentials were found for this registry "
                         "(give username and password)"), line
    pushed = node.run("push", HELLO, f"oci://{host}/charts", "--plain-http", *CREDENTIALS)
    assert pushed["reference"] == f"{host}/charts/hello:0.1.0"
    assert pushed["chart"] == HELLO_SUMMARY and pushed["warnings"] == []
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", pushed["digest"])

    pulled = node.run("pull", f"oci://{host}/charts/hello", "--version", "0.1.0", "-d", tmp_path / "node-out",
                      "--plain-http", *CREDENTIALS)
    assert pulled["digest"] == pushed["digest"] and pulled["chart"] == HELLO_SUMMARY
    tgz = tmp_path / "node-out" / "hello-0.1.0.tgz"
    assert pulled["path"] == str(tgz)
    assert members(tgz) == HELLO_FILES

    # A cache of its own, so that the native host downloads what Node pushed.
    native = helm_oci.run("pull", f"oci://{host}/charts/hello:0.1.0", "-d", tmp_path / "native-out", "--plain-http",
                          *CREDENTIALS, env={"HELM_CACHE_HOME": str(tmp_path / "native-cache")})
    assert f"Digest: {pushed['digest']}" in native.stdout
    assert (tmp_path / "native-out" / "hello-0.1.0.tgz").read_bytes() == tgz.read_bytes()

    # Helm pulls it too (printing `Pulled:` and `Digest:`, then the Chart.yaml it loaded).
    shown = helm4("--auth", host, USER, PASSWORD, "show", f"oci://{host}/charts/hello:0.1.0").splitlines()
    assert shown[:2] == [f"Pulled: {host}/charts/hello:0.1.0", f"Digest: {pushed['digest']}"]
    assert yaml.safe_load("\n".join(shown[2:])) == yaml.safe_load(HELLO_FILES["hello/Chart.yaml"])


def test_node_pulls_and_unpacks_what_helm_pushed_and_pushes_a_tgz_as_it_is(node, registry, tmp_path):
    chart = write_chart(tmp_path / "src", name="fromhelm", version="1.2.3", extra={"files/data.txt": "data\n"})
    packaged = Path(helm4("package", chart, tmp_path / "pkg").strip())
    helm4("push", packaged, f"oci://{registry.host}/charts")
    pulled = node.run("pull", f"oci://{registry.host}/charts/fromhelm", "--untar", "-d", tmp_path / "out",
                      "--plain-http")
    out = tmp_path / "out" / "fromhelm"
    assert pulled["path"] == str(out) and pulled["chart"]["version"] == "1.2.3"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "Chart.yaml", "files/data.txt", "templates/cm.yaml", "values.yaml"]
    assert (out / "files" / "data.txt").read_text() == "data\n"
    assert (out / "values.yaml").read_bytes() == (chart / "values.yaml").read_bytes()

    pushed = node.run("push", packaged, f"oci://{registry.host}/again", "--plain-http")
    manifest = json.loads(registry.manifest("again/fromhelm", "1.2.3"))
    assert sha256(registry.manifest("again/fromhelm", "1.2.3")) == pushed["digest"]
    assert manifest["layers"][0]["digest"] == sha256(packaged.read_bytes())


def test_tags_and_search(node, registry, tmp_path):
    host = registry.host
    digests = {}
    for name, version in (("alpha", "1.0.0"), ("alpha", "1.2.0"), ("alpha", "2.0.0-rc.1"), ("beta", "0.3.0")):
        chart = write_chart(tmp_path / f"{name}-{version}", name=name, version=version,
                            description=f"The {name} chart", appVersion=version[:3])
        digests[name, version] = node.run("push", chart, f"oci://{host}/charts", "--plain-http")["digest"]
    # A tag of its own is pushed with a warning: Helm resolves only versions.
    latest = node.run("push", tmp_path / "alpha-1.2.0" / "alpha", f"oci://{host}/charts/alpha:latest", "--plain-http")
    assert latest["reference"] == f"{host}/charts/alpha:latest" and latest["warnings"]

    def tags(*flags):
        return node.run("tags", f"oci://{host}/charts/alpha", "--plain-http", *flags)

    assert tags() == [{"tag": "1.2.0", "version": "1.2.0"}, {"tag": "1.0.0", "version": "1.0.0"}]
    assert [t["tag"] for t in tags("--devel")] == ["2.0.0-rc.1", "1.2.0", "1.0.0"]
    assert [t["tag"] for t in tags("--version", "<1.1")] == ["1.0.0"]
    assert tags("--all")[-1] == {"tag": "latest", "version": "1.2.0", "digest": digests["alpha", "1.2.0"]}

    found = node.run("search", f"{host}/charts", "ALP", "--plain-http")
    assert found == {"hits": [{"name": f"{host}/charts/alpha", "version": "1.2.0", "appVersion": "1.2",
                               "description": "The alpha chart", "digest": digests["alpha", "1.2.0"]}],
                     "skipped": [], "warnings": []}
    every = node.run("search", host, "--plain-http", "-l", "--devel")
    assert [(h["name"].rsplit("/", 1)[1], h["version"]) for h in every["hits"]] == [
        ("alpha", "2.0.0-rc.1"), ("alpha", "1.2.0"), ("alpha", "1.0.0"), ("beta", "0.3.0")]
    assert all(h["digest"] == digests[h["name"].rsplit("/", 1)[1], h["version"]] for h in every["hits"])


def test_save_then_list(node, helm_oci, tmp_path):
    saved = node.run("save", HELLO, "localhost:5000/charts")
    assert saved["entry"]["reference"] == "localhost:5000/charts/hello:0.1.0"
    packaged = Path(helm4("package", write_chart(tmp_path / "src", version="0.2.0"), tmp_path / "pkg").strip())
    saved_tgz = node.run("save", packaged, "oci://localhost:5000/other/mychart:stable")
    # A packaged chart is kept as it is.
    assert saved_tgz["entry"]["size"] == packaged.stat().st_size
    assert saved_tgz["contentDigest"] == sha256(packaged.read_bytes())

    listed = node.run("list")
    assert [(e["reference"], e["chart"]["name"], e["chart"]["version"], e["digest"]) for e in listed] == [
        ("localhost:5000/charts/hello:0.1.0", "hello", "0.1.0", saved["entry"]["digest"]),
        ("localhost:5000/other/mychart:stable", "mychart", "0.2.0", saved_tgz["entry"]["digest"])]
    # One cache, whichever host wrote it: the native host lists the same entries.
    native = json.loads(helm_oci.run("list", "-o", "json").stdout)
    assert [(r["ref"], r["digest"], r["size"]) for r in native] == [
        (e["reference"], e["digest"], e["size"]) for e in listed]


def test_a_symlink_out_of_the_chart_is_refused_by_the_component(node, registry, tmp_path):
    """preview2-shim resolves paths with the host's own file calls, which follow any symlink;
    the component checks each link itself, so nothing outside the chart is read."""
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    chart = write_chart(tmp_path / "src")
    leak = chart / "templates" / "leak.yaml"
    for target in (secret, "../../../secret.txt"):
        leak.unlink(missing_ok=True)
        leak.symlink_to(target)
        line = node.fails("push", chart, f"oci://{registry.host}/charts", "--plain-http")
        assert f"symlink templates/leak.yaml -> {target}" in line and "outside the chart directory" in line
    assert not (registry.root / "data").exists()
    # A link that stays inside is followed.
    leak.unlink()
    leak.symlink_to("../values.yaml")
    node.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")


def test_a_download_broken_off_is_resumed_as_natively(node, registry, tmp_path):
    """The shim hands back a broken-off body's failure as Node's own Error, which is no
    wasi:http error-code: helm-oci.js words it as one, so the component resumes the download
    (before, jco failed the call with a TypeError and left the cache's temp file)."""
    chart = write_chart(tmp_path / "src", name="big", extra={"files/noise.bin": os.urandom(256 << 10)})
    node.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")
    broken = []

    def break_the_first_layer_download(method, path, status, headers, body):
        if method == "GET" and "/blobs/" in path and len(body) > 4096 and not broken:
            broken.append(path)
            return status, headers, Broken(body, len(body) // 2)
        return status, headers, body

    cache = tmp_path / "cache"
    with Front(registry.host, tamper=break_the_first_layer_download) as front:
        pulled = node.run("pull", f"oci://{front.host}/charts/big:0.1.0", "-d", tmp_path / "out", "--cache", cache,
                          "--plain-http")
    assert broken and pulled["chart"]["name"] == "big"
    assert (tmp_path / "out" / "big-0.1.0.tgz").exists()
    assert not any((cache / "incoming").iterdir())


def test_a_connection_reset_before_the_answer_is_tried_again(node, registry, tmp_path):
    """The shim says a reset before the answer's head as HTTP-protocol-error: helm-oci.js says
    it as the connection ending, which the component tries again (it was said as a malformed
    answer and the call failed)."""
    chart = write_chart(tmp_path / "src", name="reset")
    node.run("push", chart, f"oci://{registry.host}/charts", "--plain-http")
    resets = []

    def reset_the_first_tag_list(method, path, headers):
        if "/tags/list" in path and not resets:
            resets.append(path)
            return RESET
        return None

    with Front(registry.host, intercept=reset_the_first_tag_list) as front:
        listed = node.run("tags", f"oci://{front.host}/charts/reset", "--plain-http")
    assert resets and [entry["version"] for entry in listed] == ["0.1.0"]


def test_a_stalled_body_is_cut_off_at_the_calls_deadline(transpiled, registry, tmp_path):
    """A body that stops coming: the shim says a stream with nothing to read is ready, so a
    read-then-wait loop that trusted `ready()` spun without the executor and its deadline,
    and the call (and Node's whole event loop) waited for the server."""
    chart = write_chart(tmp_path / "src", name="stalled")
    subprocess.run(["node", str(NODE / "cli.js"), "push", str(chart), f"oci://{registry.host}/charts", "--plain-http"],
                   check=True, capture_output=True, timeout=120)

    def stall_the_tag_list(method, path, status, headers, body):
        return (status, headers, Slow(body, 5, 60)) if "/tags/list" in path else (status, headers, body)

    script = """
import { tags, HelmOciError } from './helm-oci.js';
const started = Date.now();
try {
  await tags(process.argv[1], { plainHttp: true, timeoutMs: 2000 });
  console.log(JSON.stringify({ outcome: 'listed' }));
} catch (e) {
  console.log(JSON.stringify({ outcome: e instanceof HelmOciError ? e.kind : String(e), ms: Date.now() - started }));
}
"""
    with Front(registry.host, tamper=stall_the_tag_list) as front:
        p = subprocess.run(["node", "--input-type=module", "-e", script, f"oci://{front.host}/charts/stalled"],
                           capture_output=True, text=True, cwd=NODE, timeout=50)
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)
    assert result["outcome"] == "timed-out" and result["ms"] < 15000, result


def test_node_cli_refuses_arguments_it_would_not_use(node):
    assert node.fails("pull", "oci://r.example/a/b", "oci://r.example/a/c") == \
        "Error: expected `node cli.js pull REF`, got 2 arguments"
    assert node.fails("push") == "Error: expected `node cli.js push CHART oci://HOST/NAMESPACE`, got 0 arguments"
    assert node.fails("tags", "oci://r.example/a/b", "-u", "alice") == \
        "Error: username and password give credentials only together"


def test_a_token_service_not_granted_is_refused_before_it_is_reached(node, tmp_path):
    ts = TokenServer(tmp_path / "ts", users={USER: PASSWORD})
    reg = Registry(tmp_path / "registry", auth=ts.registry_auth())
    try:
        line = node.fails("push", HELLO, f"oci://{reg.host}/charts", "--plain-http", *CREDENTIALS)
        assert f"request to {ts.host} was refused by the sandbox" in line
        assert ts.requests == []
        # Granted by the caller, the same token service is used.
        pushed = node.run("push", HELLO, f"oci://{reg.host}/charts", "--plain-http", *CREDENTIALS,
                          "--allow-host", ts.host)
        assert pushed["reference"] == f"{reg.host}/charts/hello:0.1.0"
        assert ts.requests and all(r["user"] == USER for r in ts.requests)
    finally:
        reg.stop()
        ts.stop()


def test_an_upload_location_on_another_host_is_refused(node, registry):
    elsewhere = Recorder()
    with Front(registry.host, uploads_sent_to(elsewhere.host)) as front, elsewhere:
        line = node.fails("push", HELLO, f"oci://{front.host}/charts", "--plain-http")
        assert f"request to {elsewhere.host} was refused by the sandbox" in line
        assert elsewhere.seen == []


def test_read_only_grants_refuse_every_change(transpiled, tmp_path):
    """preview2-shim preopens directories read-write; read-only.js makes a grant read-only,
    and what is opened through it too."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("hello")
    script = """
import { WASIShim } from '@bytecodealliance/preview2-shim/instantiation';
import { markReadOnly } from './read-only.js';
const dir = process.argv[1];
const imports = new WASIShim({ sandbox: { preopens: { [dir]: dir } } }).getImportObject();
const [[root]] = imports['wasi:filesystem/preopens'].getDirectories();
markReadOnly(root);
const attempt = (f) => { try { return String(f()); } catch (e) { return `refused: ${e}`; } };
const file = root.openAt({}, 'a.txt', {}, { read: true });
const sub = root.openAt({}, 'sub', { directory: true }, { read: true });
console.log(JSON.stringify({
  read: new TextDecoder().decode(file.read(5n, 0n)[0]),
  create: attempt(() => root.openAt({}, 'b.txt', { create: true }, { write: true })),
  openToWrite: attempt(() => root.openAt({}, 'a.txt', {}, { read: true, write: true })),
  truncate: attempt(() => root.openAt({}, 'a.txt', { truncate: true }, { read: true })),
  write: attempt(() => file.write(new Uint8Array([33]), 0n)),
  mkdir: attempt(() => root.createDirectoryAt('c')),
  unlink: attempt(() => root.unlinkFileAt('a.txt')),
  rename: attempt(() => root.renameAt('a.txt', root, 'z.txt')),
  createBelow: attempt(() => sub.openAt({}, 'x', { create: true }, { write: true })),
}));
"""
    p = subprocess.run(["node", "--input-type=module", "-e", script, str(tmp_path)], capture_output=True, text=True,
                       cwd=NODE, timeout=60)
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)
    assert result.pop("read") == "hello"
    assert result == {k: "refused: read-only" for k in result}
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.txt", "sub"] and not any((tmp_path / "sub").iterdir())
    assert (tmp_path / "a.txt").read_text() == "hello"


def test_the_readme_shows_the_example_and_it_runs(node, registry, tmp_path):
    example = (NODE / "example.js").read_text()
    readme = (REPO / "README.md").read_text()
    assert f"```js\n{example}```" in readme
    p = subprocess.run(["node", str(NODE / "example.js"), str(HELLO), registry.host], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == f"Pushed: {registry.host}/charts/hello:0.1.0"
    digest = lines[1].removeprefix("Digest: ")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    tgz = tmp_path / "charts" / "hello-0.1.0.tgz"
    assert lines[2] == f"Pulled: {tgz} (hello 0.1.0, {digest})"
    assert members(tgz) == HELLO_FILES
    assert (tmp_path / "cache" / "blobs" / "sha256" / digest.removeprefix("sha256:")).exists()
