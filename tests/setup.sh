#!/usr/bin/env bash
# Installs what building and testing helm-oci need on a fresh Debian machine with rustup:
# Debian's docker-registry (CNCF distribution), openssl (test certificates and token
# signing), htpasswd (bcrypt password files), the wasm32-wasip2 target, rustfmt and
# clippy, pytest and PyYAML, and the Helm 4.3 library used for interop tests. Safe to run again; it
# skips what is there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
missing=""
command -v docker-registry >/dev/null 2>&1 || missing="$missing docker-registry"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
command -v htpasswd >/dev/null 2>&1 || missing="$missing apache2-utils"
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq $missing >/dev/null
fi
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
for component in rustfmt clippy; do
  rustup component list --installed | grep -q "^$component" || rustup component add "$component"
done
python3 -c 'import pytest' 2>/dev/null || python3 -m pip install -q pytest
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install -q pyyaml
helm4="$here/../../shared/tools/helm4/fetch.sh"
if [ -x "$helm4" ] || [ -f "$helm4" ]; then bash "$helm4" >/dev/null; fi
