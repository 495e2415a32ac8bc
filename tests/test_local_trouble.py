"""Trouble on this machine rather than at the registry: a command interrupted or killed
mid-pull, a full disk, a read-only file system, symlinks that lead nowhere good, and
compiled code someone tampered with. Each ends with a clear error and leaves nothing
behind, or leaves what the next run cleans up."""
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BIN, files_left, pulled_by_digest, write_chart
from fronts import Front, Slow

PLAIN = "--plain-http"


@pytest.fixture
def slow_front(helm_oci, registry, tmp_path):
    """A front that sends the chart layer of a ~1 MB chart 16 KiB every 50 ms (and a small
    chart's, `quick`, at once)."""
    chart = write_chart(tmp_path / "src", extra={"files/noise.bin": os.urandom(1 << 20)})
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", PLAIN)
    helm_oci.run("push", write_chart(tmp_path / "src", name="quick"), f"oci://{registry.host}/charts", PLAIN)

    def throttle(method, path, status, headers, body):
        if method == "GET" and "/blobs/" in path and len(body) > 4096:
            return status, headers, Slow(body, 16 << 10, 0.05)
        return status, headers, body

    with Front(registry.host, throttle) as front:
        yield front


def start_pull(helm_oci, front, out):
    out.mkdir(exist_ok=True)
    return subprocess.Popen([str(BIN), "pull", f"oci://{front.host}/charts/mychart:0.1.0", "-d", str(out), PLAIN],
                            env=helm_oci.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def cache_incoming(helm_oci):
    """Where the chart cache writes its blobs' temp files (not among its blobs)."""
    return Path(helm_oci.env["HELM_CACHE_HOME"]) / "oci" / "incoming"


def wait_for_temp(out, deadline=20):
    """Waits for a temp file that stays: the slow layer's, not the manifest's, which is
    renamed into place as soon as it is written."""
    end = time.time() + deadline
    seen = set()
    while time.time() < end:
        now = {n for n in files_left(out) if n.startswith(".helm-oci-")}
        if now & seen:
            return
        seen = now
        time.sleep(0.1)
    raise AssertionError("no temp file appeared")


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_an_interrupted_pull_leaves_nothing(helm_oci, slow_front, tmp_path, sig, code):
    out = tmp_path / "out"
    p = start_pull(helm_oci, slow_front, out)
    # The chart layer is downloaded into the cache, then copied out.
    incoming = cache_incoming(helm_oci)
    wait_for_temp(incoming)
    p.send_signal(sig)
    _, stderr = p.communicate(timeout=30)
    assert p.returncode == code
    assert stderr.strip() == f"Error: interrupted by {sig.name}"
    assert files_left(out) == []
    assert not [n for n in files_left(incoming) if n.startswith(".helm-oci-")]


def test_a_killed_pull_is_cleaned_up_by_the_next_run(helm_oci, slow_front, registry, tmp_path):
    out = cache_incoming(helm_oci)
    p = start_pull(helm_oci, slow_front, tmp_path / "out")
    wait_for_temp(out)
    p.kill()
    p.wait(30)
    left = [n for n in files_left(out) if n.startswith(".helm-oci-")]
    assert left, "a killed run cannot clean up after itself"
    # Leftovers untouched for a while belong to no live run; the next run into the
    # directory removes them (and leaves a fresh one alone).
    old = time.time() - 3600
    for name in left:
        os.utime(out / name, (old, old))
    fresh = out / ".helm-oci-abc-0123456789abcdef.tmp"
    fresh.write_bytes(b"someone else's, in flight")
    helm_oci.run("pull", f"oci://{registry.host}/charts/mychart:0.1.0", "-d", tmp_path / "out", PLAIN)
    assert [n for n in files_left(out) if n.startswith(".helm-oci-")] == [fresh.name]
    assert files_left(tmp_path / "out") == ["mychart-0.1.0.tgz"]


def test_the_sweep_takes_only_names_a_run_makes(helm_oci, registry, chart, tmp_path):
    """A user's file or directory that merely begins like a temp name, however old, is not
    a leftover (nor is a chart named `.helm-oci-x`)."""
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", PLAIN)
    out = tmp_path / "out"
    (out / ".helm-oci-notes").mkdir(parents=True)
    (out / ".helm-oci-notes" / "important.txt").write_text("x\n")
    (out / ".helm-oci-config.yaml").write_text("k: v\n")
    (out / ".helm-oci-x-1.0.0.tgz").write_bytes(b"a chart named .helm-oci-x")
    left = out / ".helm-oci-00ff-0123456789abcdef.tmp"
    left.write_bytes(b"a killed run's")
    old = time.time() - 3600
    for p in out.iterdir():
        os.utime(p, (old, old))
    helm_oci.run("pull", f"oci://{registry.host}/charts/mychart:0.1.0", "-d", out, PLAIN)
    assert files_left(out) == [".helm-oci-config.yaml", ".helm-oci-notes", ".helm-oci-x-1.0.0.tgz",
                               "mychart-0.1.0.tgz"]
    assert (out / ".helm-oci-notes" / "important.txt").read_text() == "x\n"


def test_prune_removes_temp_files_left_among_the_blobs(helm_oci, registry, tmp_path):
    """Where runs before incoming/ wrote them; a run no longer lists the blobs to sweep them
    (too slow in a large cache), prune does."""
    for name in ("first", "second"):
        helm_oci.run("push", write_chart(tmp_path / name, name=name), f"oci://{registry.host}/charts", PLAIN,
                     env={"HELM_CACHE_HOME": str(tmp_path / "publisher-cache")})
    helm_oci.run("pull", f"oci://{registry.host}/charts/first:0.1.0", "-d", tmp_path / "out", PLAIN)
    blobs = Path(helm_oci.env["HELM_CACHE_HOME"]) / "oci" / "blobs" / "sha256"
    left = blobs / ".helm-oci-0123456789abcdef-0000000000000000.tmp"
    left.write_bytes(b"half a blob")
    old = time.time() - 3600
    os.utime(left, (old, old))
    # A chart the cache lacks: its blobs are written, and the directory they are written in swept.
    helm_oci.run("pull", f"oci://{registry.host}/charts/second:0.1.0", "-d", tmp_path / "out", PLAIN)
    assert left.exists(), "a pull does not list the blobs"
    helm_oci.run("prune")
    assert not left.exists()
    assert len([n for n in files_left(blobs) if not n.startswith(".")]) == 6


def mount(target: Path, *options):
    """Mounts a small tmpfs at `target`, or skips the test where mounting is not allowed."""
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(target)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    return target


@pytest.fixture
def small_disk(tmp_path):
    disk = mount(tmp_path / "disk", "size=256k")
    yield disk
    subprocess.run(["umount", str(disk)], check=False)


def test_a_full_disk_says_so(helm_oci, registry, tmp_path, small_disk):
    chart = write_chart(tmp_path / "src", extra={"files/noise.bin": os.urandom(1 << 20)})
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", PLAIN)
    line = helm_oci.fails("pull", f"oci://{registry.host}/charts/mychart:0.1.0", "-d", small_disk, PLAIN)
    assert "no space left on device" in line
    assert files_left(small_disk) == []
    shutil.rmtree(tmp_path / "src")


def test_a_full_disk_during_untar_is_not_blamed_on_the_chart(helm_oci, registry, tmp_path, small_disk):
    # Compresses well, so the archive fits where the unpacked chart does not.
    chart = write_chart(tmp_path / "src", extra={f"files/zeros{i}": bytes(100 << 10) for i in range(4)})
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", PLAIN)
    line = helm_oci.fails("pull", f"oci://{registry.host}/charts/mychart:0.1.0", "-d", small_disk, "--untar", PLAIN)
    assert "failed to untar" in line and "no space left on device" in line
    assert files_left(small_disk) == []


def test_a_read_only_file_system_says_so(helm_oci, registry, chart, tmp_path):
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", PLAIN)
    disk = mount(tmp_path / "ro", "size=256k", "ro")
    try:
        line = helm_oci.fails("pull", f"oci://{registry.host}/charts/mychart:0.1.0", "-d", disk, PLAIN)
    finally:
        subprocess.run(["umount", str(disk)], check=False)
    assert line == f"Error: cannot write into {disk}: read-only file system"


def test_a_file_where_the_destination_should_be_says_so(helm_oci, registry, chart, tmp_path):
    helm_oci.run("push", chart, f"oci://{registry.host}/charts", PLAIN)
    in_the_way = tmp_path / "out"
    in_the_way.write_text("kept")
    for dest in (in_the_way, in_the_way / "sub"):
        line = helm_oci.fails("pull", f"oci://{registry.host}/charts/mychart:0.1.0", "-d", dest, PLAIN)
        assert line == f"Error: creating {dest}: not a directory"
    assert in_the_way.read_text() == "kept"


@pytest.mark.parametrize("link,why", [
    ("bad.yaml", "symlink templates/bad.yaml -> bad.yaml: it is part of a symlink loop"),
    ("missing.yaml", "symlink templates/bad.yaml -> missing.yaml: its target does not exist"),
    ("../../missing.yaml", "symlink templates/bad.yaml -> ../../missing.yaml: it points outside the chart "
                           "directory, and its host resolved nothing there"),
], ids=["loop", "dangling", "dangling outside"])
def test_symlinks_that_lead_nowhere_are_named_for_what_they_are(helm_oci, registry, tmp_path, link, why):
    chart = write_chart(tmp_path / "src")
    os.symlink(link, chart / "templates" / "bad.yaml")
    line = helm_oci.fails("push", chart, f"oci://{registry.host}/charts", PLAIN)
    assert why in line


def test_a_dangling_linked_helmignore_is_named_for_what_it_is(helm_oci, registry, tmp_path):
    """A monorepo's shared .helmignore moved away: the link is refused as such, not as a
    file the command may not read."""
    chart = write_chart(tmp_path / "src")
    os.symlink("../shared/.helmignore", chart / ".helmignore")
    os.symlink("../../common/t.yaml", chart / "templates" / "t.yaml")
    line = helm_oci.fails("push", chart, f"oci://{registry.host}/charts", PLAIN)
    assert line.startswith(f"Error: {chart}: symlink .helmignore -> ../shared/.helmignore: it points outside the "
                           "chart directory, and its host resolved nothing there"), line


def test_a_directory_symlink_loop_is_refused(helm_oci, registry, tmp_path):
    chart = write_chart(tmp_path / "src")
    os.symlink("..", chart / "templates" / "again")
    line = helm_oci.fails("push", chart, f"oci://{registry.host}/charts", PLAIN)
    assert "templates/again/templates/again/" in line and line.endswith(
        "more than 16 symlinked directories deep (a symlink loop?)"), line


def test_a_corrupt_compiled_file_is_rebuilt(helm_oci, tmp_path):
    install = tmp_path / "plugin" / "bin"
    install.mkdir(parents=True)
    for name in ("helm-oci", "helm-oci.wasm"):
        shutil.copy2(BIN.parent / name, install / name)
    run = lambda: subprocess.run([str(install / "helm-oci"), "version"], env=helm_oci.env, capture_output=True,
                                 text=True, timeout=120)
    assert run().returncode == 0
    [compiled] = [p for p in install.iterdir() if p.suffix == ".cwasm"]
    compiled.write_bytes(b"garbage where compiled code was")
    p = run()
    assert p.returncode == 0 and p.stdout.startswith("helm-oci "), p.stderr
    assert compiled.read_bytes() != b"garbage where compiled code was", "the corrupt file was compiled anew"


def test_a_signal_between_two_pulls_stops_the_second(helm_oci, slow_front, tmp_path):
    """`pull A B` with a SIGTERM just after A is reported, while the host readies B's call
    into the component: the signal is kept for that call, which stops at once, so B is not
    pulled. Once a run has listened for signals they no longer end it by themselves, and a
    signal between two calls was lost: B was pulled, exit 0. (B comes slowly through the
    front, so the signal never comes after B is done.)"""
    out = tmp_path / "out"
    for _ in range(5):
        shutil.rmtree(out, ignore_errors=True)
        p = subprocess.Popen([str(BIN), "pull", f"oci://{slow_front.host}/charts/quick:0.1.0",
                              f"oci://{slow_front.host}/charts/mychart:0.1.0", "-d", str(out), PLAIN],
                             env=helm_oci.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = p.stdout.readline()
        p.send_signal(signal.SIGTERM)
        rest, stderr = p.communicate(timeout=30)
        assert first.startswith("Pulled: ") and "quick" in first, first + stderr
        assert (p.returncode, stderr) == (143, "Error: interrupted by SIGTERM\n"), rest
        assert files_left(out) == ["quick-0.1.0.tgz"]


def test_a_signal_while_the_host_is_busy_between_two_calls_stops_the_second(helm_oci, registry, tmp_path):
    """`pull A@DIGEST B@DIGEST`, both cached, so B's call never waits; SIGTERM while the host
    runs B's credential helper (it blocks the runtime, so no listener is handed the signal
    before B's call starts). The handler's own record stops B's call before it starts: it
    ran to its end, exit 0."""
    digests = {}
    for name in ("first", "second"):
        pushed = helm_oci.run("push", write_chart(tmp_path / "src", name=name), f"oci://{registry.host}/charts", PLAIN)
        digests[name] = pushed.stdout.split("Digest: ")[1].strip()
    refs = [f"oci://{registry.host}/charts/{name}@{digest}" for name, digest in digests.items()]
    helm_oci.run("pull", *refs, "-d", tmp_path / "warm", PLAIN)  # both cached from now on
    calls = tmp_path / "calls"
    helpers = tmp_path / "bin"
    helpers.mkdir()
    helper = helpers / "docker-credential-slow"
    helper.write_text(f"#!/bin/sh\ncat >/dev/null\necho get >> {calls}\nsleep 1\n"
                      "echo 'credentials not found in native keychain'\nexit 1\n")
    helper.chmod(0o755)
    helm_oci.registry_config.parent.mkdir(parents=True, exist_ok=True)
    helm_oci.registry_config.write_text('{"credsStore": "slow"}')
    out = tmp_path / "out"
    p = subprocess.Popen([str(BIN), "pull", *refs, "-d", str(out), PLAIN],
                         env={**helm_oci.env, "PATH": f"{helpers}{os.pathsep}{os.environ['PATH']}"},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    end = time.time() + 30
    while not (calls.exists() and len(calls.read_text().split()) >= 2) and time.time() < end:
        time.sleep(0.02)
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=30)
    assert (p.returncode, stderr) == (143, "Error: interrupted by SIGTERM\n"), stdout
    assert "first" in stdout and "second" not in stdout
    assert files_left(out) == [pulled_by_digest("first", digests["first"])]


def test_an_interrupted_dependency_update_leaves_nothing_in_charts(helm_oci, slow_front, tmp_path):
    """The dependencies are staged in charts/ while they download: a stopped run removes
    the staging too, not only the temp files in the directories it was granted."""
    parent = write_chart(tmp_path / "parent", name="parent", version="1.0.0",
                         dependencies=[{"name": "mychart", "version": "0.1.0",
                                        "repository": f"oci://{slow_front.host}/charts"}])
    charts = parent / "charts"
    charts.mkdir()
    (charts / "_README").write_text("ours\n")  # a name Helm's loader passes over in charts/
    p = subprocess.Popen([str(BIN), "dependency", "update", str(parent), PLAIN], env=helm_oci.env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_temp(cache_incoming(helm_oci))
    assert any(n.startswith(".helm-oci-") for n in files_left(charts)), "staging under way"
    p.send_signal(signal.SIGTERM)
    _, stderr = p.communicate(timeout=30)
    assert p.returncode == 143 and stderr.strip() == "Error: interrupted by SIGTERM"
    assert files_left(charts) == ["_README"]
    assert not (parent / "Chart.lock").exists()


def test_a_signal_as_the_component_starts_still_cleans_up(helm_oci, tmp_path):
    """SIGTERM at any moment of a dependency update of local charts: the component runs on
    the host's thread until it first waits, so the run listens for signals from before it
    starts. Each run finishes, or stops with its error line; none leaves its staging behind
    (one killed by the signal before the component starts has made nothing)."""
    deps = []
    for i in range(4):
        dep = write_chart(tmp_path / "deps", name=f"dep{i}", extra={"files/noise.bin": os.urandom(256 << 10)})
        deps.append({"name": f"dep{i}", "version": "0.1.0", "repository": f"file://{dep}"})
    chart = write_chart(tmp_path, name="app", dependencies=deps)
    for i in range(40):
        p = subprocess.Popen([str(BIN), "dependency", "update", str(chart)], env=helm_oci.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.002 + (i % 10) * 0.002)
        p.send_signal(signal.SIGTERM)
        _, stderr = p.communicate(timeout=60)
        assert p.returncode in (0, 143, -signal.SIGTERM), (p.returncode, stderr)
        if p.returncode == 143:
            assert stderr == "Error: interrupted by SIGTERM\n"
        left = [n for n in files_left(chart) + files_left(chart / "charts") if ".helm-oci-" in n]
        assert left == [], (i, p.returncode, left)
