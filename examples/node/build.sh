#!/usr/bin/env bash
# Transpiles the built component (bin/helm-oci.wasm, from host/build.sh) with jco into gen/:
# core Wasm modules and the JS that instantiates them with the imports the caller hands it
# (`--instantiation async`), so that helm-oci.js can give each instance its own grants.
# Installs the pinned packages first (npm ci) if npm has not; does nothing more when gen/ is
# newer than the component.
set -euo pipefail
cd "$(dirname "$0")"
wasm=../../bin/helm-oci.wasm
[ -f "$wasm" ] || { echo "Error: $wasm is missing: run host/build.sh first" >&2; exit 1; }
[ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --silent --no-audit --no-fund
if [ gen/helm-oci.js -nt "$wasm" ]; then exit 0; fi
rm -rf gen.tmp
node_modules/.bin/jco transpile "$wasm" --out-dir gen.tmp --name helm-oci --instantiation async --quiet
rm -rf gen
mv gen.tmp gen
