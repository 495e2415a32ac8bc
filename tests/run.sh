#!/usr/bin/env bash
# The whole test suite: set up, build once, unit tests, then integration tests against a
# real registry and the real Helm 4.3 library.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
bash host/build.sh
cargo test --locked -p helm-oci-plugin
# The host's tests share the release build's dependencies, so wasmtime is not built again.
cargo test --release --locked -p helm-oci
python3 -m pytest -q tests "$@"
