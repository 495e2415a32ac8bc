#!/usr/bin/env python3
"""Times the chart repository index the ocirepo:// downloader makes of a registry namespace
(charts x versions), in one run, against Helm 4.3 adding an ordinary chart repository: a
static directory on loopback whose index.yaml lists the same charts (made from ours, as
YAML, with http:// URLs). Both are Helm's `repo add` timed in-process by Helm's library, so
the only difference is where the index comes from; the downloader's own process is also
timed alone, cold (an empty chart cache: every manifest and config is read) and warm (the
configs and manifests the chart cache kept from the run before: only tag lists are read,
and a HEAD of each manifest).
Ratios are against the static repository at the same distance (on loopback, or through a
relay adding 20 ms of round trip).
Helm's own runs through the downloader share one chart cache, so all but the first are warm.
Then the same with the index published in the registry (`helm oci index`): the downloader
reads it instead, cold (the index blob fetched) and warm (from the chart cache), and Helm's
`repo add` through it, cold (the chart cache emptied before each run) and warm. Also through a relay adding 20 ms of round trip, and, for one loopback run each, the CPU
time of the downloader against the registry's. Not a test: nothing fails on a timing.

Usage: python3 bench/index.py [--repos 200] [--versions 10] [--runs 5]
       (after host/build.sh and tests/setup.sh)
"""
import argparse
import functools
import http.server
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent.parent / "shared" / "tools"))

from bench import median_ms, uncached, workspace  # noqa: E402
from conftest import BIN, HELM4, REPO, Registry  # noqa: E402
from latency_relay import LatencyRelay  # noqa: E402
from search import seed  # noqa: E402

# Helm's `repo add` timed in-process, through the same library helm4.py drives: each run adds
# a repository of a new name, so each one downloads and reads the index.
REPO_ADD_TIMER = """
import ctypes, json, shutil, statistics, sys, time
sys.path.insert(0, sys.argv[1])
import helm4
lib = helm4.load()
h = helm4.H()
lib.helm_sdkpy_config_create(b"default", None, None, json.dumps({"plain_http": True}).encode(), ctypes.byref(h))
url, runs, times = sys.argv[2].encode(), int(sys.argv[3]), []
emptied = sys.argv[4:]  # a chart cache emptied before each run: each one cold
for i in range(runs):
    for directory in emptied:
        shutil.rmtree(directory, ignore_errors=True)
    start = time.perf_counter()
    rc = lib.helm_sdkpy_repo_add(h, f"r{i}".encode(), url, None, None, b"")
    times.append(time.perf_counter() - start)
    if rc:
        sys.exit(ctypes.string_at(lib.helm_sdkpy_last_error()).decode())
print(statistics.median(times) * 1000)
"""


def helm_repo_add_ms(url, runs, env, home, cold=False):
    """Helm's `repo add` of `url`, timed in-process, with repository files of its own in `home`;
    `cold` empties the chart cache (where the downloader keeps what it read) before each run."""
    home.mkdir()
    (home / "repositories.yaml").write_text("apiVersion: v1\nrepositories: []\n")
    env = {**env, "HELM_REPOSITORY_CONFIG": str(home / "repositories.yaml"),
           "HELM_REPOSITORY_CACHE": str(home / "cache"), "HELM_CACHE_HOME": str(home / "helm-cache")}
    cmd = [sys.executable, "-c", REPO_ADD_TIMER, str(HELM4.parent), url, str(runs)]
    if cold:
        cmd.append(str(home / "helm-cache" / "oci"))
    return float(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout)


def cpu_seconds(pid):
    """The CPU time (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def where_the_time_goes(url, env, registry, cold):
    """One run of the downloader: its wall time, its own CPU time and the registry's, in ms.
    Two cores serve both, so the registry's CPU shows how much of the wall time is its."""
    if cold:
        uncached(env)()
    ours, theirs = resource.getrusage(resource.RUSAGE_CHILDREN), cpu_seconds(registry.proc.pid)
    started = time.perf_counter()
    subprocess.run([str(BIN), "downloader", "", "", "", url], env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = (after.ru_utime - ours.ru_utime) + (after.ru_stime - ours.ru_stime)
    return wall * 1000, ours * 1000, (cpu_seconds(registry.proc.pid) - theirs) * 1000


def downloader_ms(url, runs, env, cold):
    """The downloader's process making the index; `cold` empties the chart cache before each run."""
    cmd = [str(BIN), "downloader", "", "", "", url]
    if cold:
        return median_ms(cmd, runs, env, before=uncached(env))
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return median_ms(cmd, runs, env)


class Static:
    """A static chart repository on loopback: one directory, served by a threaded server."""

    def __init__(self, directory):
        handler = functools.partial(Quiet, directory=str(directory))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.host = f"127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Quiet(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass


def static_copy(index, directory, host):
    """The same index as an ordinary repository has it: YAML, with the charts' URLs under it."""
    for entries in index["entries"].values():
        for e in entries:
            e["urls"] = [f"http://{host}/{e['name']}-{e['version']}.tgz"]
    (directory / "index.yaml").write_text(yaml.safe_dump(index))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repos", type=int, default=200)
    ap.add_argument("--versions", type=int, default=10)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    work, env = workspace("helm-oci-bench-index-")
    plugins = work / "plugins"
    plugins.mkdir()
    (plugins / "oci").symlink_to(REPO)
    (plugins / "ocirepo").symlink_to(REPO / "ocirepo")
    env = {**env, "HELM_PLUGINS": str(plugins), "HELM_CONFIG_HOME": str(work / "config"),
           "HELM_DATA_HOME": str(work / "data")}
    registry = Registry(work / "registry")
    relay = LatencyRelay(registry.host, 20)
    try:
        started = time.perf_counter()
        seed(registry.host, args.repos, args.versions)
        print(f"seeded {args.repos} charts x {args.versions} versions in {time.perf_counter() - started:.1f} s")
        ours_url = f"ocirepo+http://{registry.host}/charts"
        p = subprocess.run([str(BIN), "downloader", "", "", "", f"{ours_url}/index.yaml"], env=env, check=True,
                           capture_output=True)
        index = json.loads(p.stdout)
        listed = sum(len(v) for v in index["entries"].values())
        print(f"index: {len(index['entries'])} charts, {listed} versions, {len(p.stdout) / 1e6:.2f} MB as JSON")
        static_dir = work / "static"
        static_dir.mkdir()
        static = Static(static_dir)
        static_copy(index, static_dir, static.host)
        print(f"static index.yaml: {(static_dir / 'index.yaml').stat().st_size / 1e6:.2f} MB\n")

        rows = []
        for label, host in (("loopback", registry.host), ("20 ms", relay.addr)):
            url = f"ocirepo+http://{host}/charts"
            rows.append((f"downloader process, cold, {label}", downloader_ms(f"{url}/index.yaml", args.runs, env, True)))
            rows.append((f"downloader process, warm, {label}", downloader_ms(f"{url}/index.yaml", args.runs, env, False)))
            rows.append((f"Helm repo add via ocirepo, warm, {label}",
                         helm_repo_add_ms(url, args.runs, env, work / f"helm via ocirepo, {label}")))
        # Before the index is published, so that the downloader makes it from the charts.
        spent = {cold: where_the_time_goes(f"ocirepo+http://{registry.host}/charts/index.yaml", env, registry, cold)
                 for cold in (True, False)}
        started = time.perf_counter()
        subprocess.run([str(BIN), "index", f"oci://{registry.host}/charts", "--plain-http"], env=env, check=True,
                       capture_output=True)
        print(f"helm oci index (publishing it) took {(time.perf_counter() - started) * 1000:.0f} ms, warm\n")
        for label, host in (("loopback", registry.host), ("20 ms", relay.addr)):
            url = f"ocirepo+http://{host}/charts"
            for cold in (True, False):
                state = "cold" if cold else "warm"
                rows.append((f"published: downloader process, {state}, {label}",
                             downloader_ms(f"{url}/index.yaml", args.runs, env, cold)))
                rows.append((f"published: Helm repo add via ocirepo, {state}, {label}",
                             helm_repo_add_ms(url, args.runs, env, work / f"published, {state}, {label}", cold)))
        plain = helm_repo_add_ms(f"http://{static.host}", args.runs, env, work / "helm, static")
        static_relay = LatencyRelay(static.host, 20)
        try:
            far = helm_repo_add_ms(f"http://{static_relay.addr}", args.runs, env, work / "helm, static, 20 ms")
        finally:
            static_relay.stop()
        # Helm 4 reads an index that is JSON with encoding/json, and YAML (what `helm repo
        # index` writes) through its YAML parser; the same JSON from a static repository
        # shows how much of the difference that is.
        (static_dir / "json").mkdir()
        (static_dir / "json" / "index.yaml").write_text(json.dumps(index))
        as_json = helm_repo_add_ms(f"http://{static.host}/json", args.runs, env, work / "helm, static JSON")
        print(f"{'':56}{'median':>10}{'vs static repo':>16}")
        print(f"{'Helm repo add, static repository (YAML), loopback':56}{plain:8.0f}ms")
        print(f"{'Helm repo add, static repository (YAML), 20 ms':56}{far:8.0f}ms")
        print(f"{'Helm repo add, static repository serving JSON, loopback':56}{as_json:8.0f}ms{as_json / plain:15.2f}x")
        for label, ms in rows:
            base = far if label.endswith("20 ms") else plain
            print(f"{label:56}{ms:8.0f}ms{ms / base:15.2f}x")
        print("\none loopback run each, made from the charts: wall time, and the CPU time of the downloader and "
              "of the registry")
        for cold, (wall, ours, theirs) in spent.items():
            label = "cold" if cold else "warm"
            print(f"  {label}: {wall:6.0f} ms wall, downloader {ours:6.0f} ms CPU, registry {theirs:6.0f} ms CPU")
        cold = 1 + len(index["entries"]) + 2 * listed
        print(f"\nrequests per index made from the charts: about {cold} cold (catalog page(s), a tag list per chart, "
              f"a manifest and a config per version), {cold - listed} warm (a HEAD per version instead); published: "
              "2 cold (its manifest and blob), 1 warm (the blob is in the chart cache); the static repository: 1")
    finally:
        relay.stop()
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
