#!/usr/bin/env bash
# Install the lab's pinned kind and kubectl into ./bin (the Makefile puts ./bin first on PATH).
#
# Each binary is checked against the checksum its release publishes next to it before
# it is installed: kind publishes kind-<os>-<arch>.sha256sum ("<sha256>  <file>", see
# kind's hack/release/build/cross.sh), Kubernetes publishes kubectl.sha256 (the bare
# sha256). A mismatch installs nothing. Versions come from lab/pins.py (KIND_VERSION,
# KUBERNETES_VERSION); KIND_VERSION / KUBECTL_VERSION in the environment override them.
# Rerunning is cheap: a binary already at the pinned version is left alone.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pins="$root/lab/pins.py"

pin() { sed -n "s/^$1 = \"\(.*\)\"\$/\1/p" "$pins"; }
fail() { echo "error: $*" >&2; exit 1; }

KIND_VERSION="${KIND_VERSION:-$(pin KIND_VERSION)}"
KUBECTL_VERSION="${KUBECTL_VERSION:-$(pin KUBERNETES_VERSION)}"
KIND_BASE_URL="${KIND_BASE_URL:-https://github.com/kubernetes-sigs/kind/releases/download}"
KUBECTL_BASE_URL="${KUBECTL_BASE_URL:-https://dl.k8s.io/release}"
BIN_DIR="${BIN_DIR:-$root/bin}"
[ -n "$KIND_VERSION" ] || fail "could not read KIND_VERSION from $pins"
[ -n "$KUBECTL_VERSION" ] || fail "could not read KUBERNETES_VERSION from $pins"

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) fail "unsupported system $(uname -s): install kind $KIND_VERSION and kubectl $KUBECTL_VERSION by hand" ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) fail "unsupported machine $(uname -m): install kind $KIND_VERSION and kubectl $KUBECTL_VERSION by hand" ;;
esac

if command -v curl >/dev/null 2>&1; then
  fetch() { echo "\$ curl -fsSL --retry 3 -o $2 $1"; curl -fsSL --retry 3 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  fetch() { echo "\$ wget -q -O $2 $1"; wget -q -O "$2" "$1"; }
else
  fail "neither curl nor wget is installed: install one of them and rerun make tools"
fi
if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$1" | awk '{print $1}'; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 "$1" | awk '{print $1}'; }
else
  fail "neither sha256sum nor shasum is installed: cannot verify downloads"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$BIN_DIR"

# install NAME VERSION URL CHECKSUM_URL VERSION_COMMAND...
install_tool() {
  local name="$1" version="$2" url="$3" sum_url="$4"
  shift 4
  if [ -x "$BIN_DIR/$name" ] && "$BIN_DIR/$name" "$@" 2>/dev/null | grep -qwF -- "$version"; then
    echo "$name $version is already in $BIN_DIR"
    return
  fi
  fetch "$url" "$work/$name" || fail "could not download $url"
  fetch "$sum_url" "$work/$name.sum" || fail "could not download $sum_url"
  local expected actual
  expected="$(awk 'NR == 1 {print $1}' "$work/$name.sum")"
  actual="$(sha256 "$work/$name")"
  if [ -z "$expected" ] || [ "$expected" != "$actual" ]; then
    fail "$name $version: sha256 $actual does not match the published ${expected:-(empty)} from $sum_url: nothing installed"
  fi
  chmod 0755 "$work/$name"
  mv "$work/$name" "$BIN_DIR/$name"
  echo "installed $name $version ($os/$arch, sha256 $actual) into $BIN_DIR"
}

kind_url="$KIND_BASE_URL/$KIND_VERSION/kind-$os-$arch"
install_tool kind "$KIND_VERSION" "$kind_url" "$kind_url.sha256sum" version
kubectl_url="$KUBECTL_BASE_URL/$KUBECTL_VERSION/bin/$os/$arch/kubectl"
install_tool kubectl "$KUBECTL_VERSION" "$kubectl_url" "$kubectl_url.sha256" version --client
echo "done: the Makefile puts $BIN_DIR first on PATH; in a shell: export PATH=\"$BIN_DIR:\$PATH\""
