#!/usr/bin/env bash
# Builds the component and the host once, into bin/helm-oci.wasm and bin/helm-oci.
# Used by the README, CI and the plugin's install hook; a build that is already there is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
  [ -x bin/helm-oci ] && [ -f bin/helm-oci.wasm ] && exit 0
  echo "Error: cargo is needed to build helm-oci (https://rustup.rs)" >&2
  exit 1
fi
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo build --release --locked -p helm-oci-plugin --target wasm32-wasip2
cargo build --release --locked -p helm-oci
mkdir -p bin
cp target/wasm32-wasip2/release/helm_oci_plugin.wasm bin/helm-oci.wasm.tmp && mv bin/helm-oci.wasm.tmp bin/helm-oci.wasm
cp target/release/helm-oci bin/helm-oci.tmp && mv bin/helm-oci.tmp bin/helm-oci
# Compile the component now, beside the binary, so the first command starts warm; earlier
# builds' compiled code goes.
rm -f bin/helm-oci-*.cwasm
bin/helm-oci version >/dev/null
