#!/usr/bin/env python3
"""Times the Node.js host (examples/node: the component through jco) against the native host,
bin/helm-oci, in the same run against the same throwaway registries, and prints medians side
by side with their ratio. Not a test: nothing here fails on a timing.

  * push (the chart already there) and a cold pull of tests/fixtures/hello, a whole process
    each, over plain HTTP and over TLS with a password, on loopback;
  * start-up (`version`), and the first run of each: Node transpiles the component with jco
    (examples/node/build.sh) and then compiles its core modules, as it does in every process;
    the native host compiles the component into a .cwasm beside the binary (here a copy of
    the binary with none), which later runs load.

Usage: python3 bench/node.py [--runs N]   (after host/build.sh and tests/setup.sh)
"""
import argparse
import shutil
import subprocess
import time
from pathlib import Path

from bench import BIN, first_run_ms, median_ms, plain_setup, tls_setup, uncached, workspace

NODE = Path(__file__).resolve().parent.parent / "examples" / "node"
CLI = ["node", str(NODE / "cli.js")]
HELLO = NODE.parent.parent / "tests" / "fixtures" / "hello"


def node_flags(setup, env):
    """The native host's flags for a setup, as the Node CLI takes them: Node is given the CA
    with NODE_EXTRA_CA_CERTS (it has no --ca-file)."""
    flags, node_env = list(setup.ours), dict(env)
    if "--ca-file" in flags:
        i = flags.index("--ca-file")
        node_env["NODE_EXTRA_CA_CERTS"] = flags[i + 1]
        del flags[i:i + 2]
    return flags, node_env


def push_pull(setup, work, env, runs):
    """(push, pull) rows for one registry: native ms, Node ms."""
    host = setup.registry.host
    out = work / "out"
    flags, node_env = node_flags(setup, env)
    hosts = {
        "native": ([str(BIN)], setup.ours, env),
        "node": (CLI, flags, node_env),
    }

    times = {}
    for name, (cmd, extra, cmd_env) in hosts.items():
        push = [*cmd, "push", str(HELLO), f"oci://{host}/{name}", *extra]
        subprocess.run(push, env=cmd_env, check=True, stdout=subprocess.DEVNULL)  # the chart is there from now on
        pull = [*cmd, "pull", f"oci://{host}/{name}/hello", "--version", "0.1.0", "-d", str(out), *extra]
        times[name] = (median_ms(push, runs, cmd_env), median_ms(pull, runs, cmd_env, before=uncached(env, out)))
    return [(f"{op}, {setup.name}", times["native"][i], times["node"][i]) for i, op in enumerate(("push", "pull"))]


def first_runs(work, env, runs):
    """(native, Node) rows: start-up, and the first run with nothing compiled."""
    native_first = first_run_ms(work, env)
    transpile, node_first = [], []
    for _ in range(5):
        shutil.rmtree(NODE / "gen", ignore_errors=True)
        start = time.perf_counter()
        subprocess.run(["bash", str(NODE / "build.sh")], check=True, capture_output=True)
        built = time.perf_counter()
        subprocess.run([*CLI, "version"], env=env, check=True, stdout=subprocess.DEVNULL)
        transpile.append((built - start) * 1000)
        node_first.append((time.perf_counter() - built) * 1000)
    transpile, node_first = sorted(transpile)[2], sorted(node_first)[2]
    return [
        ("version (start-up)", median_ms([str(BIN), "version"], runs, env), median_ms([*CLI, "version"], runs, env)),
        ("first run: compile .cwasm | transpile + run", native_first, transpile + node_first),
    ], transpile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    runs = ap.parse_args().runs
    work, env = workspace("helm-oci-bench-node-")
    setups = []
    try:
        setups = [plain_setup(work, env), tls_setup(work, env)]
        rows = [row for setup in setups for row in push_pull(setup, work, env, runs)]
        more, transpile = first_runs(work, env, runs)
        node_version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        print(f"The Node.js host (examples/node, Node {node_version}) against the native host (bin/helm-oci),")
        print(f"whole processes, median of {runs} runs, same registries; tests/fixtures/hello")
        print(f"{'':44} {'native':>9} {'node':>9} {'node/native':>12}")
        for name, native, node in rows + more:
            print(f"{name:44} {native:7.1f}ms {node:7.1f}ms {node / native:12.2f}")
        print(f"{'  of which jco transpile (build.sh)':44} {'':9} {transpile:7.1f}ms")
    finally:
        for setup in setups:
            setup.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
