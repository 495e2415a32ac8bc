#!/usr/bin/env bash
# Installs what building and testing helm-oci need on a fresh Debian machine with rustup:
# Debian's docker-registry (CNCF distribution), the wasm32-wasip2 target, pytest, and the
# Helm 4.3 library used for interop tests. Safe to run again; it skips what is there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v docker-registry >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker-registry openssl >/dev/null
fi
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
python3 -c 'import pytest' 2>/dev/null || python3 -m pip install -q pytest
helm4="$here/../../shared/tools/helm4/fetch.sh"
if [ -x "$helm4" ] || [ -f "$helm4" ]; then bash "$helm4" >/dev/null; fi
