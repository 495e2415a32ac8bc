#!/usr/bin/env bash
# Builds the component and the host once, into bin/helm-oci.wasm and bin/helm-oci.
# Used by the README, CI, release.sh and the plugin's install hook; a build that is already
# there is reused. A release (no plugin/ or host/src/) ships its build and needs no cargo:
# the component is only compiled for this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# Compile the component now, beside the binary, so the first command starts warm (this
# also checks that the host and the component belong together).
compile() { bin/helm-oci version >/dev/null; }
if [ ! -d plugin ] || [ ! -d host/src ] || ! command -v cargo >/dev/null 2>&1; then
  if [ -x bin/helm-oci ] && [ -f bin/helm-oci.wasm ]; then
    compile
    exit 0
  fi
  if [ -d plugin ] && [ -d host/src ]; then
    echo "Error: cargo is needed to build helm-oci (https://rustup.rs)" >&2
  else
    echo "Error: bin/helm-oci and bin/helm-oci.wasm are missing and there are no sources to build them from" >&2
  fi
  exit 1
fi
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo build --release --locked -p helm-oci-plugin --target wasm32-wasip2
cargo build --release --locked -p helm-oci
mkdir -p bin
cp target/wasm32-wasip2/release/helm_oci_plugin.wasm bin/helm-oci.wasm.tmp && mv bin/helm-oci.wasm.tmp bin/helm-oci.wasm
cp target/release/helm-oci bin/helm-oci.tmp && mv bin/helm-oci.tmp bin/helm-oci
# Earlier builds' compiled code goes.
rm -f bin/helm-oci-*.cwasm
compile
