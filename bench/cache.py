#!/usr/bin/env python3
"""Times the chart cache, whole helm-oci processes, against a throwaway registry, and
prints medians beside Helm 4.3's library pulling the same chart in-process (Helm has no
cache it reads by tag: its pull always goes to the registry). Not a test.

  * a warm pull of a digest-pinned reference (no request at all);
  * a warm pull by tag (one HEAD), on loopback and through a relay adding 20 ms;
  * a pull of a chart the cache lacks, into a cache of a few blobs and of 20,000;
  * `list` of a cache holding 1,000 charts.

Usage: python3 bench/cache.py [--runs N] [--charts N] [--blobs N]   (after host/build.sh and tests/setup.sh)
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "shared" / "tools"))
from bench import helm_time_ms, median_ms  # noqa: E402
from conftest import BIN, Registry, write_chart  # noqa: E402
from latency_relay import LatencyRelay  # noqa: E402

TARGETS = {"pinned": 10.0, "tag": 15.0, "list": 50.0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--charts", type=int, default=1000)
    ap.add_argument("--blobs", type=int, default=20000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "HELM_CACHE_HOME": str(work / "cache"),
               "HELM_CONFIG_HOME": str(work / "config")}
        registry = Registry(work / "registry")
        try:
            chart = write_chart(work / "src")
            subprocess.run([str(BIN), "push", chart, f"oci://{registry.host}/charts", "--plain-http"], env=env,
                           check=True, capture_output=True)
            out = work / "out"

            def pull(ref):
                return median_ms([str(BIN), "pull", ref, "-d", str(out), "--plain-http"], args.runs, env,
                                 before=lambda: shutil.rmtree(out, ignore_errors=True))

            tag_ref = f"oci://{registry.host}/charts/mychart:0.1.0"
            first = subprocess.run([str(BIN), "pull", tag_ref, "-d", str(work / "warm"), "--plain-http"], env=env,
                                   check=True, capture_output=True, text=True).stdout
            digest = first.split("Digest: ")[1].strip()
            rows = [("warm pull, pinned by digest (no request)", "pinned",
                     pull(f"oci://{registry.host}/charts/mychart@{digest}"), None)]
            helm = helm_time_ms("show", [tag_ref], args.runs, True)
            rows.append(("warm pull by tag, loopback (one HEAD)", "tag", pull(tag_ref), helm))
            relay = LatencyRelay(registry.host, 20)
            far = f"oci://{relay.addr}/charts/mychart:0.1.0"
            subprocess.run([str(BIN), "pull", far, "-d", str(work / "warm2"), "--plain-http"], env=env,
                           check=True, capture_output=True)
            rows.append(("warm pull by tag, 20 ms away (one HEAD)", None, pull(far),
                         helm_time_ms("show", [far], args.runs, True)))

            # A pull of a chart the cache lacks writes its blobs; how long that takes should not
            # grow with the blobs the cache holds (an index of a large namespace keeps thousands).
            blob_dir = work / "cache" / "oci" / "blobs" / "sha256"
            manifest = json.loads((blob_dir / digest.split(":")[1]).read_bytes())
            own = [digest, manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]

            def uncached_pull():
                def forget():
                    shutil.rmtree(out, ignore_errors=True)
                    for d in own:
                        (blob_dir / d.split(":")[1]).unlink(missing_ok=True)
                return median_ms([str(BIN), "pull", tag_ref, "-d", str(out), "--plain-http"], args.runs, env,
                                 before=forget)
            few = len(list(blob_dir.iterdir()))
            rows.append((f"pull, chart not cached, cache of {few} blobs", None, uncached_pull(), None))
            for _ in range(args.blobs):
                (blob_dir / os.urandom(32).hex()).write_bytes(b"another chart's blob")
            rows.append((f"pull, chart not cached, cache of {args.blobs:,} blobs", None, uncached_pull(), None))

            for i in range(args.charts):
                subprocess.run([str(BIN), "save", chart, f"localhost:5000/many/mychart:0.1.{i}"], env=env,
                               check=True, capture_output=True)
            listed = json.loads(subprocess.run([str(BIN), "list", "-o", "json"], env=env, check=True,
                                               capture_output=True, text=True).stdout)
            rows.append((f"list of {len(listed)} cached charts", "list",
                         median_ms([str(BIN), "list"], args.runs, env), None))
        finally:
            registry.stop()
    print(f"{'':46} {'helm-oci':>9} {'target':>8} {'Helm 4.3 fresh':>15} {'ratio':>6}")
    for name, target, ours, helm in rows:
        goal = f"<{TARGETS[target]:.0f} ms" if target else ""
        versus = f"{helm:12.1f} ms {ours / helm:6.2f}" if helm else ""
        print(f"{name:46} {ours:6.1f} ms {goal:>8} {versus}")


if __name__ == "__main__":
    main()
