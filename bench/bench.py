#!/usr/bin/env python3
"""Times helm-oci against Helm 4.3 (the real library through helm4.py) in the same run,
against the same throwaway registry, and prints medians and ratios. Not a test: nothing
here fails on a timing.

Usage: python3 bench/bench.py [--runs N]   (after host/build.sh and tests/setup.sh)
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from conftest import BIN, HELM4, Registry, htpasswd, write_chart  # noqa: E402
from pki import CA  # noqa: E402

USER, PASSWORD = "bench", "bench-password"


def secure_registry(work):
    """A registry as real ones are: TLS (a CA made here) and a password."""
    ca = CA(work / "ca")
    cert, key = ca.issue("registry")
    auth = {"htpasswd": {"realm": "bench", "path": str(htpasswd(work / "htpasswd", {USER: PASSWORD}))}}
    return ca, Registry(work / "secure-registry", tls={"certificate": str(cert), "key": str(key)}, auth=auth)


def median_ms(cmd, runs, env, before=None):
    times = []
    for _ in range(runs):
        if before:
            before()
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def peak_rss_mb(cmd, env):
    """Peak resident memory of one command, measured by a fresh watcher process."""
    watcher = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL);"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", watcher, *cmd], env=env, check=True, capture_output=True, text=True)
    return int(out.stdout) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    runs = ap.parse_args().runs
    work = Path(tempfile.mkdtemp(prefix="helm-oci-bench-"))
    reg = Registry(work / "registry")
    ca, secure = secure_registry(work)
    env = {**os.environ, "HELM_CACHE_HOME": str(work / "cache"), "HOME": str(work),
           "HELM_REGISTRY_CONFIG": str(work / "registry-config.json")}
    try:
        chart = write_chart(work / "src")
        pkg = subprocess.run([sys.executable, HELM4, "package", chart, work / "pkg"], check=True,
                             capture_output=True, text=True).stdout.strip()
        ours = [str(BIN)]
        helm = [sys.executable, str(HELM4)]
        out = work / "out"
        clear_out = lambda: shutil.rmtree(out, ignore_errors=True)

        first = median_ms(ours + ["version"], 5, env, before=lambda: shutil.rmtree(work / "cache", ignore_errors=True))
        version = median_ms(ours + ["version"], runs, env)
        push_ours = median_ms(ours + ["push", str(chart), f"oci://{reg.host}/ours", "--plain-http"], runs, env)
        push_helm = median_ms(helm + ["push", pkg, f"oci://{reg.host}/helm"], runs, env)
        pull_ours = median_ms(ours + ["pull", f"oci://{reg.host}/ours/mychart", "--version", "0.1.0", "-d", str(out), "--plain-http"],
                              runs, env, before=clear_out)
        pull_helm = median_ms(helm + ["show", f"oci://{reg.host}/helm/mychart:0.1.0"], runs, env)

        # Authenticated over TLS, both verifying the certificate: helm-oci logs in once and
        # is given the CA with --ca-file; helm4.py has no CA option, so Go is given it with
        # SSL_CERT_FILE, and the credentials with --auth.
        subprocess.run(ours + ["login", secure.host, "-u", USER, "-p", PASSWORD, "--ca-file", str(ca.cert)],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        tls_ours = ["--ca-file", str(ca.cert)]
        tls_helm = ["--tls", "--auth", secure.host, USER, PASSWORD]
        helm_env = {**env, "SSL_CERT_FILE": str(ca.cert)}
        auth_push_ours = median_ms(ours + ["push", str(chart), f"oci://{secure.host}/ours"] + tls_ours, runs, env)
        auth_push_helm = median_ms(helm + tls_helm + ["push", pkg, f"oci://{secure.host}/helm"], runs, helm_env)
        auth_pull_ours = median_ms(ours + ["pull", f"oci://{secure.host}/ours/mychart", "--version", "0.1.0", "-d", str(out)]
                                   + tls_ours, runs, env, before=clear_out)
        auth_pull_helm = median_ms(helm + tls_helm + ["show", f"oci://{secure.host}/helm/mychart:0.1.0"], runs, helm_env)

        big = write_chart(work / "big", name="big", extra={"files/blob.bin": os.urandom(50 << 20)})
        subprocess.run(ours + ["push", str(big), f"oci://{reg.host}/ours", "--plain-http"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        clear_out()
        start = time.perf_counter()
        big_rss = peak_rss_mb(ours + ["pull", f"oci://{reg.host}/ours/big:0.1.0", "-d", str(out), "--plain-http"], env)
        big_ms = (time.perf_counter() - start) * 1000
        big_size = (out / "big-0.1.0.tgz").stat().st_size / (1 << 20)

        print(f"helm-oci vs Helm 4.3 (helm4.py), median of {runs} runs, same registry, same machine")
        print(f"{'':34} {'helm-oci':>10} {'helm 4.3':>10} {'ratio':>7}")
        print(f"{'push small chart (warm)':34} {push_ours:8.1f}ms {push_helm:8.1f}ms {push_ours / push_helm:7.2f}")
        print(f"{'pull small chart (warm)':34} {pull_ours:8.1f}ms {pull_helm:8.1f}ms {pull_ours / pull_helm:7.2f}")
        print(f"{'push, TLS + password':34} {auth_push_ours:8.1f}ms {auth_push_helm:8.1f}ms {auth_push_ours / auth_push_helm:7.2f}")
        print(f"{'pull, TLS + password':34} {auth_pull_ours:8.1f}ms {auth_pull_helm:8.1f}ms {auth_pull_ours / auth_pull_helm:7.2f}")
        print(f"{'version, warm (target < 20 ms)':34} {version:8.1f}ms")
        print(f"{'first run, no .cwasm (compiles)':34} {first:8.1f}ms")
        print(f"{'pull %.0f MB chart, peak RSS' % big_size:34} {big_rss:8.1f}MB  (target < 64 MB; took {big_ms:.0f} ms)")
    finally:
        reg.stop()
        secure.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
