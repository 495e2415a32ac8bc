#!/usr/bin/env python3
"""Times `helm oci search` over a registry of many charts, in one run, against:

  * a floor: the same HTTP requests (catalog pages, then per repository its tag list, the
    newest version's manifest and its config blob) issued by a minimal concurrent client
    written here, at the same concurrency, over kept-alive connections;
  * the sequential baseline a script would use: `helm oci tags` for each repository, one
    after the other;
  * Helm 4.3 for scale only: it has no search over OCI, so the closest it comes is reading
    each chart it is told about; `show` of one chart, timed in-process with a kept client,
    times the number of repositories (an extrapolation, labelled as one).

on loopback and through a relay adding 20 ms of round trip; and helm-oci's peak memory.
The registry is seeded through the API, in parallel. Not a test: nothing fails on a timing.

Usage: python3 bench/search.py [--repos 500] [--versions 10] [--runs 3]
       (after host/build.sh and tests/setup.sh)
"""
import argparse
import hashlib
import http.client
import json
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent.parent / "shared" / "tools"))

from bench import helm_time_ms  # noqa: E402
from conftest import BIN, Registry, tgz  # noqa: E402
from latency_relay import LatencyRelay  # noqa: E402

CONFIG_TYPE = "application/vnd.cncf.helm.config.v1+json"
LAYER_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONCURRENCY = 8


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Connection:
    """One kept-alive HTTP/1.1 connection to a host:port."""

    def __init__(self, host):
        self.conn = http.client.HTTPConnection(host, timeout=60)

    def request(self, method, path, body=None, headers=None):
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        data = response.read()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:200]!r}")
        return response, data


def seed(host, repos, versions):
    """Pushes `repos` charts of `versions` versions each, in parallel, through the API."""
    local = threading.local()

    def put_blob(conn, repo, data):
        response, _ = conn.request("POST", f"/v2/{repo}/blobs/uploads/", b"")
        location = response.getheader("Location")
        path = location.split(host, 1)[-1] if "://" in location else location
        sep = "&" if "?" in path else "?"
        conn.request("PUT", f"{path}{sep}digest={digest(data)}", data, {"Content-Type": "application/octet-stream"})
        return {"digest": digest(data), "size": len(data)}

    def one(i):
        conn = getattr(local, "conn", None) or Connection(host)
        local.conn = conn
        name = f"chart{i:04d}"
        repo = f"charts/{name}"
        # Search reads manifests and configs only, so the versions of a repository share one
        # archive (that of its first version): a third of the uploads, the same registry for it.
        chart_yaml = f"apiVersion: v2\nname: {name}\nversion: 1.0.0\nappVersion: '2.0'\n"
        layer = put_blob(conn, repo, tgz({f"{name}/Chart.yaml": chart_yaml.encode()}))
        for v in range(versions):
            version = f"1.0.{v}"
            config = json.dumps({"name": name, "version": version, "appVersion": f"2.{v}", "apiVersion": "v2",
                                 "description": f"Chart number {i}"}).encode()
            manifest = {"schemaVersion": 2, "config": {"mediaType": CONFIG_TYPE, **put_blob(conn, repo, config)},
                        "layers": [{"mediaType": LAYER_TYPE, **layer}]}
            conn.request("PUT", f"/v2/{repo}/manifests/{version}", json.dumps(manifest).encode(),
                         {"Content-Type": MANIFEST_TYPE})

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(repos)))


def floor(host, concurrency):
    """The minimal client: catalog pages in turn, then `concurrency` workers, each taking the
    next repository and asking for its tags, the newest version's manifest and its config.
    Returns (seconds, requests)."""
    start = time.perf_counter()
    conn = Connection(host)
    repos, path, requests = [], "/v2/_catalog", 0
    while path:
        response, data = conn.request("GET", path)
        requests += 1
        repos += json.loads(data)["repositories"]
        link = response.getheader("Link")
        path = link.split(">")[0].lstrip("<") if link else None
    work = queue.Queue()
    for repo in repos:
        work.put(repo)
    counts = []

    def worker():
        c, n = Connection(host), 0
        while True:
            try:
                repo = work.get_nowait()
            except queue.Empty:
                counts.append(n)
                return
            tags = json.loads(c.request("GET", f"/v2/{repo}/tags/list")[1])["tags"]
            newest = max(tags, key=lambda t: tuple(int(x) for x in t.split(".")))
            _, manifest = c.request("GET", f"/v2/{repo}/manifests/{newest}", headers={"Accept": MANIFEST_TYPE})
            config = json.loads(manifest)["config"]["digest"]
            c.request("GET", f"/v2/{repo}/blobs/{config}")
            n += 3

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, requests + sum(counts)


def search_once(host, env, debug=False, term=None):
    cmd = [str(BIN), "search", host, *([term] if term else []), "--plain-http", "-o", "json",
           "--concurrency", str(CONCURRENCY), *(["--debug"] if debug else [])]
    start = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, p


def peak_rss_mb(host, env):
    watcher = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL);"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    cmd = [str(BIN), "search", host, "--plain-http", "-o", "json"]
    out = subprocess.run([sys.executable, "-c", watcher, *cmd], env=env, check=True, capture_output=True, text=True)
    return int(out.stdout) / 1024


def sequential(host, repos, env):
    start = time.perf_counter()
    for i in range(repos):
        subprocess.run([str(BIN), "tags", f"oci://{host}/charts/chart{i:04d}", "--plain-http"], env=env,
                       check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repos", type=int, default=500)
    ap.add_argument("--versions", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "HELM_CACHE_HOME": str(work / "cache"),
               "HELM_CONFIG_HOME": str(work / "config")}
        registry = Registry(work / "registry")
        relay = LatencyRelay(registry.host, 20)
        try:
            start = time.perf_counter()
            seed(registry.host, args.repos, args.versions)
            print(f"seeded {args.repos} charts x {args.versions} versions through the API "
                  f"in {time.perf_counter() - start:.1f} s")
            _, p = search_once(registry.host, env, debug=True)
            hits = json.loads(p.stdout)
            ours_requests = sum(" -> " in line for line in p.stderr.splitlines())
            assert len(hits) == args.repos and all(h["version"] == f"1.0.{args.versions - 1}" for h in hits)
            print(f"search finds {len(hits)} charts, each at its newest version; "
                  f"requests: helm-oci {ours_requests}, floor {floor(registry.host, CONCURRENCY)[1]}")
            print(f"peak memory of helm oci search: {peak_rss_mb(registry.host, env):.1f} MB")
            print(f"\n{'':14} {'search':>9} {'floor':>9} {'ratio':>6} {'sequential tags':>16} {'speed-up':>9} "
                  f"{'Helm show x' + str(args.repos) + ' (extrapolated)':>32}")
            rows = []
            for label, host in (("loopback", registry.host), ("20 ms", relay.addr)):
                ours = statistics.median(search_once(host, env)[0] for _ in range(args.runs))
                least = statistics.median(floor(host, CONCURRENCY)[0] for _ in range(args.runs))
                one_by_one = sequential(host, args.repos, env)
                helm = helm_time_ms("show", [f"oci://{host}/charts/chart0000:1.0.0"], 10) * args.repos / 1000
                print(f"{label:14} {ours:8.2f}s {least:8.2f}s {ours / least:6.2f} {one_by_one:15.2f}s "
                      f"{one_by_one / ours:8.1f}x {helm:31.2f}s")
                # Cost per repository: a fifth of them (TERM chart00 matches chart0000-0099 of
                # 500), the catalog still walked whole.
                fifth = statistics.median(search_once(host, env, term="chart00")[0] for _ in range(args.runs))
                rows.append(f"{label:14} {fifth:8.2f}s for 100 charts, {ours:.2f}s for {args.repos}: "
                            f"x{ours / fifth:.1f} the time for x{args.repos / 100:.0f} the charts")
            print("\nscaling with the number of charts searched:")
            for row in rows:
                print(row)
        finally:
            relay.stop()
            registry.stop()


if __name__ == "__main__":
    main()
