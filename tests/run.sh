#!/usr/bin/env bash
# The whole test suite: set up, check formatting, build once, lint, unit tests, then
# integration tests against a real registry and the real Helm 4.3 library.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo fmt --all --check
bash host/build.sh
# Lints with warnings as errors, for the host (sharing the release build's dependencies)
# and for the component as it is built, on wasm32-wasip2.
cargo clippy --release --locked -p helm-oci --tests -- -D warnings
cargo clippy --release --locked -p helm-oci-plugin -p helm-oci-headers --target wasm32-wasip2 -- -D warnings
cargo clippy --release --locked -p helm-oci-plugin -p helm-oci-headers --tests -- -D warnings
cargo test --locked -p helm-oci-plugin -p helm-oci-headers
# The host's tests share the release build's dependencies, so wasmtime is not built again.
cargo test --release --locked -p helm-oci
python3 -m pytest -q tests "$@"
