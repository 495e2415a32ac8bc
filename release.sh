#!/usr/bin/env bash
# Packs the release archive dist/helm-oci-<version>-<os>-<arch>.tgz: the built host and
# component with plugin.yaml, its install hook (host/build.sh), the ocirepo downloader
# plugin (ocirepo/), README.md and LICENSE; no
# sources and no compiled code (the install hook compiles the component on each machine).
# bin/ is built with host/build.sh first unless it is newer than every source.
set -euo pipefail
cd "$(dirname "$0")"
version=$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
[ -n "$version" ] || { echo "Error: no [workspace.package] version in Cargo.toml" >&2; exit 1; }
case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) os=$(uname -s | tr A-Z a-z) ;; esac
case "$(uname -m)" in x86_64 | amd64) arch=amd64 ;; aarch64 | arm64) arch=arm64 ;; *) arch=$(uname -m) ;; esac

# Whether bin/ was built after every change to its inputs (the host also uses plugin/headers).
current() {
  [ -x bin/helm-oci ] && [ -f bin/helm-oci.wasm ] || return 1
  [ -z "$(find Cargo.toml Cargo.lock wit plugin -newer bin/helm-oci.wasm -type f -print -quit)" ] &&
    [ -z "$(find Cargo.toml Cargo.lock wit host/Cargo.toml host/build.rs host/src plugin/headers -newer bin/helm-oci -type f -print -quit)" ]
}
current || bash host/build.sh
# The archive's name says which version it holds: the host and the component must agree.
got=$(bin/helm-oci version)
[ "$got" = "helm-oci $version (component $version)" ] || {
  echo "Error: bin/ holds \"$got\", not helm-oci $version: run host/build.sh" >&2
  exit 1
}

name="helm-oci-$version-$os-$arch"
# Helm 4 installs a local archive from the directory its name gives, less the version
# (stripPluginName: helm-oci-0.1.0-linux-amd64.tgz -> helm-oci/), into
# $HELM_PLUGINS/helm-oci; from a URL it finds plugin.yaml at the top or one level down.
top=helm-oci
mkdir -p dist
stage=$(mktemp -d dist/.stage.XXXXXX)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$top/bin" "$stage/$top/host" "$stage/$top/ocirepo/bin"
install -m 0644 plugin.yaml README.md LICENSE "$stage/$top/"
# The ocirepo:// downloader, a plugin of its own (Helm 4 gives a plugin with downloaders no
# command), installed from inside this one.
install -m 0644 ocirepo/plugin.yaml "$stage/$top/ocirepo/"
install -m 0755 ocirepo/bin/helm-oci "$stage/$top/ocirepo/bin/"
install -m 0755 host/build.sh "$stage/$top/host/"
install -m 0755 bin/helm-oci "$stage/$top/bin/"
install -m 0644 bin/helm-oci.wasm "$stage/$top/bin/"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$(git log -1 --format=%ct 2>/dev/null || echo 0)" \
  -C "$stage" -czf "dist/$name.tgz.tmp" "$top"
mv "dist/$name.tgz.tmp" "dist/$name.tgz"
echo "dist/$name.tgz"
