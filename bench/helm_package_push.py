#!/usr/bin/env python3
"""Times Helm 4.3's `helm package` followed by `helm push`, in-process through the real
library (helm4.py's loader), with one registry client kept alive across runs. Prints the
median seconds of the runs after the first, as `helm4.py time` does.

Usage: helm_package_push.py CHART_DIR DEST_DIR oci://HOST/NAMESPACE RUNS   (plain HTTP)
"""
import ctypes
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "shared" / "tools" / "helm4"))
import helm4  # noqa: E402


def main(chart, dest, remote, runs):
    lib = helm4.load()
    options = json.dumps({"plain_http": True}).encode()
    client = helm4.H()
    if lib.helm_sdkpy_config_create(b"default", None, None, options, ctypes.byref(client)):
        sys.exit("helm: cannot create a client")
    devnull, saved = os.open(os.devnull, os.O_WRONLY), os.dup(1)
    times = []
    for _ in range(int(runs) + 1):
        packaged = ctypes.c_char_p()
        os.dup2(devnull, 1)  # the library prints its own Pushed: lines
        start = time.perf_counter()
        failed = lib.helm_sdkpy_package(client, chart.encode(), dest.encode(), ctypes.byref(packaged))
        failed = failed or lib.helm_sdkpy_push(client, packaged.value, remote.encode(), options)
        times.append(time.perf_counter() - start)
        os.dup2(saved, 1)
        if failed:
            sys.exit("helm: package or push failed")
    print(f"{statistics.median(times[1:]):.6f}")


if __name__ == "__main__":
    main(*sys.argv[1:5])
