#!/usr/bin/env bash
# The main job on a fresh machine: install what is needed, build helm-oci once, start a
# throwaway registry on a free loopback port, push the sample chart and pull it back.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
bash host/build.sh
work="$(mktemp -d)"
cleanup() { [ -n "${reg_pid:-}" ] && kill "$reg_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat > "$work/registry.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/data}}
http: {addr: 127.0.0.1:$port}
YAML
docker-registry serve "$work/registry.yml" 2>"$work/registry.log" &
reg_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
export HELM_CACHE_HOME="$work/cache"
set -x
bin/helm-oci version
bin/helm-oci push tests/fixtures/hello "oci://127.0.0.1:$port/charts" --plain-http
bin/helm-oci pull "oci://127.0.0.1:$port/charts/hello" --version 0.1.0 -d "$work/pulled" --plain-http
tar -tzvf "$work/pulled/hello-0.1.0.tgz"
{ set +x; } 2>/dev/null
echo "demo: pushed tests/fixtures/hello and pulled it back from a throwaway registry"
