#!/usr/bin/env python3
"""Times helm-oci against Helm 4.3 (the real library, timed in-process by helm4.py) in the
same run, against the same throwaway registries, and prints medians and ratios. Not a
test: nothing here fails on a timing.

  * push (the chart already there) and pull of a small chart, over plain HTTP and over
    TLS with a password, on loopback and through a relay adding 20 ms of round trip;
  * helm-oci's whole process against Helm's library in-process, with its registry
    client kept alive across runs, with a fresh client per operation, and as the one
    operation of a new process (timed in-process, so without Python's start-up);
  * round trips per command, (time through a 100 ms relay - time through a 0 ms relay)
    / 100 ms, and TCP connections opened per command;
  * a push of a 6 MB chart directory against Helm's package + push in-process;
  * start-up, first run (compiling the component), and peak memory of a 50 MB pull.

Usage: python3 bench/bench.py [--runs N]   (after host/build.sh and tests/setup.sh)
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent.parent / "shared" / "tools"))
from conftest import BIN, HELM4, Registry, htpasswd, write_chart  # noqa: E402
from latency_relay import LatencyRelay  # noqa: E402
from pki import CA  # noqa: E402

USER, PASSWORD = "bench", "bench-password"


class Setup:
    """A registry and the flags both clients need to reach it."""

    def __init__(self, name, registry, ours, helm, helm_env):
        self.name, self.registry, self.ours, self.helm, self.helm_env = name, registry, ours, helm, helm_env

    def stop(self):
        self.registry.stop()


def workspace(prefix):
    """A throwaway directory, and an environment whose Helm homes and credentials are in it."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    return work, {**os.environ, "HELM_CACHE_HOME": str(work / "cache"), "HOME": str(work),
                  "HELM_REGISTRY_CONFIG": str(work / "registry-config.json")}


def plain_setup(work, env):
    return Setup("plain HTTP", Registry(work / "plain"), ["--plain-http"], [], env)


def tls_setup(work, env):
    """A registry as real ones are: TLS (a CA made here) and a password. helm4.py has no CA
    option, so Go is given the CA with SSL_CERT_FILE; both clients verify the certificate."""
    ca = CA(work / "ca")
    cert, key = ca.issue("registry")
    auth = {"htpasswd": {"realm": "bench", "path": str(htpasswd(work / "htpasswd", {USER: PASSWORD}))}}
    registry = Registry(work / "tls", tls={"certificate": str(cert), "key": str(key)}, auth=auth)
    ours = ["--ca-file", str(ca.cert), "--username", USER, "--password", PASSWORD]
    return Setup("TLS + password", registry, ours, ["--tls", "--auth", None, USER, PASSWORD],
                 {**env, "SSL_CERT_FILE": str(ca.cert)})


def median_ms(cmd, runs, env, before=None):
    times = []
    for _ in range(runs):
        if before:
            before()
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def uncached(env, *more):
    """A `before` for median_ms: moves the chart cache (and `more`) aside, so that each run
    reads everything from the registry again, as a first run does. Moved, not deleted: on a
    file system without a journal (this machine's), each file made soon after thousands were
    deleted costs a scan for inodes safe to reuse, which a first run does not pay."""
    aside = Path(env["HELM_CACHE_HOME"]).parent / "moved-aside"

    def empty():
        for path in (Path(env["HELM_CACHE_HOME"]) / "oci", *more):
            if path.exists():
                aside.mkdir(exist_ok=True)
                path.rename(aside / str(time.monotonic_ns()))
    return empty


def first_run_ms(work, env):
    """helm-oci's first run, with no compiled code: `version` from a copy of the installation
    whose .cwasm (kept beside the binary) is removed before each of 5 runs."""
    install = work / "install"
    install.mkdir()
    for name in ("helm-oci", "helm-oci.wasm"):
        shutil.copy2(BIN.parent / name, install / name)

    def uncompiled():
        for compiled in install.glob("*.cwasm"):
            compiled.unlink()
    return median_ms([str(install / "helm-oci"), "version"], 5, env, before=uncompiled)


def helm_time_ms(op, args, runs, fresh=False, flags=(), env=None):
    """Helm's library timing one operation in-process (`helm4.py [FLAGS] time`): the median
    of `runs`, in ms."""
    cmd = [sys.executable, str(HELM4), *flags, "time", op, *args, str(runs), *(["--fresh"] if fresh else [])]
    return float(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout) * 1000


def helm_ms(setup, host, op, args, runs, fresh):
    """helm_time_ms against one setup's registry (or a relay to it) at `host`."""
    flags = [host if a is None else a for a in setup.helm]
    return helm_time_ms(op, args, runs, fresh, flags, setup.helm_env)


def helm_new_ms(setup, host, op, args, runs):
    """What a new `helm` process has: each run is a new helm4.py whose one operation is timed
    in-process (Python's and the library's start-up are not counted), so it opens its
    connections and does its handshakes cold, as helm-oci's whole process does."""
    return statistics.median(helm_ms(setup, host, op, args, 1, True) for _ in range(runs))


class Ours:
    """helm-oci's push and pull of the small chart against one host (the registry or a relay)."""

    def __init__(self, setup, host, pkg, out, env):
        self.setup, self.host, self.pkg, self.out, self.env = setup, host, pkg, out, env

    def push(self, runs):
        cmd = [str(BIN), "push", self.pkg, f"oci://{self.host}/ours", *self.setup.ours]
        return median_ms(cmd, runs, self.env)

    def pull(self, runs):
        """A cold pull: Helm caches nothing by tag, so neither may we here (bench/cache.py
        measures warm pulls)."""
        cmd = [str(BIN), "pull", f"oci://{self.host}/ours/mychart", "--version", "0.1.0", "-d", str(self.out),
               *self.setup.ours]
        return median_ms(cmd, runs, self.env, before=uncached(self.env, self.out))


def network(setup, pkg, work, env, runs):
    """Rows for one registry: loopback, 20 ms, round trips and connections."""
    host = setup.registry.host
    Ours(setup, host, pkg, work / "out", env).push(1)  # the chart is there from now on
    helm_ms(setup, host, "push", [pkg, f"oci://{host}/helm"], 2, False)
    rows, relays = [], {}
    for rtt in (0, 20, 100):
        relays[rtt] = LatencyRelay(host, rtt)
    try:
        for label, target in (("loopback", host), ("20 ms", relays[20].addr)):
            ours = Ours(setup, target, pkg, work / "out", env)
            before = relays[20].connections
            push, pull = ours.push(runs), ours.pull(runs)
            per_command = (relays[20].connections - before) / (2 * runs) if target != host else None
            for op, mine, args in (("push", push, [pkg, f"oci://{target}/helm"]),
                                   ("pull", pull, [f"oci://{target}/helm/mychart:0.1.0"])):
                helm_op = "push" if op == "push" else "show"
                kept = helm_ms(setup, target, helm_op, args, runs, False)
                fresh = helm_ms(setup, target, helm_op, args, runs, True)
                new = helm_new_ms(setup, target, helm_op, args, runs)
                rows.append((f"{op}, {setup.name}, {label}", mine, kept, fresh, new))
            if per_command is not None:
                rows.append((f"connections per command, {setup.name}", per_command, None, None, None))
        trips = {}
        for rtt in (0, 100):
            ours = Ours(setup, relays[rtt].addr, pkg, work / "out", env)
            trips[rtt] = (ours.push(max(3, runs // 3)), ours.pull(max(3, runs // 3)))
        for i, op in enumerate(("push", "pull")):
            rows.append((f"round trips, {op}, {setup.name}", (trips[100][i] - trips[0][i]) / 100, None, None, None))
    finally:
        for relay in relays.values():
            relay.stop()
    return rows


def big_chart(root):
    """A 6 MB chart directory shaped like kube-prometheus: many dashboard templates."""
    rnd = random.Random(7)
    words = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(3, 10))) for _ in range(1500)]
    extra, total, i = {}, 0, 0
    while total < 6 << 20:
        lines = ["{{- if .Values.enabled }}", "apiVersion: v1", "kind: ConfigMap", "metadata:",
                 f"  name: {{{{ .Release.Name }}}}-{i}", "data:"]
        for j in range(400):
            a, b, c = rnd.choice(words), rnd.choice(words), rnd.choice(words)
            lines.append(f'  {a}-{j}.json: |-\n    {{"panel": "{b}", "expr": "sum(rate({c}_total[5m])) by (ns)"}}')
        text = "\n".join(lines + ["{{- end }}"]) + "\n"
        extra[f"templates/dashboard-{i:03d}.yaml"] = text
        total, i = total + len(text), i + 1
    return write_chart(root, name="bigchart", extra=extra), total


def peak_rss_mb(cmd, env):
    """Peak resident memory of one command, measured by a fresh watcher process."""
    watcher = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL);"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", watcher, *cmd], env=env, check=True, capture_output=True, text=True)
    return int(out.stdout) / 1024


def print_rows(title, rows):
    print(f"\n{title}")
    print(f"{'':44} {'helm-oci':>9} {'helm kept':>10} {'ratio':>6} {'helm fresh':>11} {'ratio':>6}"
          f" {'helm new':>9} {'ratio':>6}")
    for name, mine, kept, fresh, new in rows:
        if kept is None:
            print(f"{name:44} {mine:9.2f}")
        else:
            print(f"{name:44} {mine:7.1f}ms {kept:8.1f}ms {mine / kept:6.2f} {fresh:9.1f}ms {mine / fresh:6.2f}"
                  f" {new:7.1f}ms {mine / new:6.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    runs = ap.parse_args().runs
    work, env = workspace("helm-oci-bench-")
    setups = []
    try:
        chart = write_chart(work / "src")
        pkg = subprocess.run([sys.executable, HELM4, "package", chart, work / "pkg"], check=True,
                             capture_output=True, text=True).stdout.strip()
        setups = [plain_setup(work, env), tls_setup(work, env)]
        print(f"helm-oci against Helm 4.3's library (helm4.py, in-process), median of {runs} runs, same registries")
        print("helm-oci is a whole process; 'kept' keeps one Helm registry client alive across runs, 'fresh'")
        print("makes one per run (over TLS it still reuses Go's warm connection: no new TCP or TLS handshake),")
        print("'new' times the one operation of a new helm4.py process in-process (cold connections, as a new")
        print("`helm` process has; Python's and the library's start-up not counted).")
        for setup in setups:
            print_rows(f"small chart ({setup.name}): push of the same chart again, pull", network(setup, pkg, work, env, runs))

        plain = setups[0].registry.host
        big, size = big_chart(work / "big")
        subprocess.run([str(BIN), "push", str(big), f"oci://{plain}/ours", "--plain-http"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        big_ours = median_ms([str(BIN), "push", str(big), f"oci://{plain}/ours", "--plain-http"], runs, env)
        dest = work / "helm-packages"
        dest.mkdir()
        helm_out = subprocess.run([sys.executable, str(HERE / "helm_package_push.py"), str(big), str(dest),
                                   f"oci://{plain}/helm", str(runs)], env=env, check=True, capture_output=True, text=True)
        big_helm = float(helm_out.stdout) * 1000
        archive = next(dest.iterdir()).stat().st_size
        print(f"\n{size / (1 << 20):.1f} MB chart directory ({archive >> 10} KB archive): package + push")
        print(f"{'helm-oci push DIR (whole process)':44} {big_ours:7.1f}ms")
        print(f"{'Helm package + push (in-process, kept)':44} {big_helm:7.1f}ms   ratio {big_ours / big_helm:.2f}")

        first = first_run_ms(work, env)
        version = median_ms([str(BIN), "version"], runs, env)
        # 50 MB in files of 5 MiB, the most Helm takes in one file.
        fifty = write_chart(work / "fifty", name="fifty", extra={f"files/blob{i}.bin": os.urandom(5 << 20) for i in range(10)})
        subprocess.run([str(BIN), "push", str(fifty), f"oci://{plain}/ours", "--plain-http"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        out = work / "out"
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        rss = peak_rss_mb([str(BIN), "pull", f"oci://{plain}/ours/fifty:0.1.0", "-d", str(out), "--plain-http"], env)
        fifty_ms = (time.perf_counter() - start) * 1000
        print(f"\n{'version, warm':44} {version:7.1f}ms")
        print(f"{'first run, no .cwasm (compiles)':44} {first:7.1f}ms")
        print(f"{'pull of a 50 MB chart, peak RSS':44} {rss:7.1f}MB  ({fifty_ms:.0f} ms)")
    finally:
        for setup in setups:
            setup.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
