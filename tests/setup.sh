#!/usr/bin/env bash
# Installs what building and testing helm-oci need on a fresh Debian machine with rustup:
# Debian's docker-registry (CNCF distribution), openssl (test certificates and token
# signing), htpasswd (bcrypt password files), faketime (a run with its clock off), the
# wasm32-wasip2 target, rustfmt and clippy, pytest and PyYAML, the Helm 4.3 library used for
# interop tests, and the Node.js host's
# packages (examples/node: jco and preview2-shim, as its package-lock.json pins them; Node.js 20
# or later and npm must be there). Safe to run again; it skips what is there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
missing=""
command -v docker-registry >/dev/null 2>&1 || missing="$missing docker-registry"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
command -v htpasswd >/dev/null 2>&1 || missing="$missing apache2-utils"
command -v faketime >/dev/null 2>&1 || missing="$missing faketime"
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
# npm ci again only when the lock file is newer than what npm last installed. (Later jco and
# preview2-shim releases depend on platform packages the npm registry lacks: npm install
# leaves them out of the lock file, and npm ci then refuses it.)
node_host="$here/../examples/node"
if [ ! "$node_host/node_modules/.package-lock.json" -nt "$node_host/package-lock.json" ]; then
  command -v npm >/dev/null 2>&1 || { echo "Error: Node.js 20 or later and npm are needed for examples/node" >&2; exit 1; }
  (cd "$node_host" && npm ci --silent --no-audit --no-fund)
fi
