#!/usr/bin/env bash
# Install the lab's pinned kind and kubectl into ./bin (the Makefile puts ./bin first on PATH).
#
#   scripts/install-tools.sh [--platform OS/ARCH] [--bin-dir DIR] [--from DIR]
#
# Versions and sha256 checksums come from lab/pins.py (TOOL_SHA256, read with
# `python3 -m lab.pins tools OS/ARCH`), one per tool, version and platform. Each binary is checked
# against that pinned checksum, never against a checksum served next to the download, before it
# is installed; a mismatch installs nothing. A version or platform whose checksum lab/pins.py does not know
# is refused with the variable to set (NETPOL_LAB_KIND_SHA256_LINUX_AMD64, say) to a sha256
# you verified yourself. An existing bin/kind or bin/kubectl is hashed, not asked for its version:
# a binary that is not the pinned one is replaced.
#
#   --platform OS/ARCH  install for another platform (default: this machine), e.g. for a bundle
#   --bin-dir DIR       where to put them (default ./bin, or $BIN_DIR)
#   --from DIR          take them from DIR/<os>-<arch>/ (an offline bundle's tools folder) instead
#                       of downloading; the same checks apply
#
# Downloads: NETPOL_LAB_KIND_BASE_URL (default https://github.com/kubernetes-sigs/kind/releases/download)
# and NETPOL_LAB_KUBECTL_BASE_URL (default https://dl.k8s.io/release), https:// only (file:// for
# a local mirror). NETPOL_LAB_KIND_VERSION / NETPOL_LAB_KUBECTL_VERSION choose other versions,
# which then need their checksums in those variables too.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fail() { echo "error: $*" >&2; exit 1; }

platform=""
bin_dir="${BIN_DIR:-$root/bin}"
from=""
while [ $# -gt 0 ]; do
  case "$1" in
    --platform) [ $# -ge 2 ] || fail "--platform needs OS/ARCH"; platform="$2"; shift 2 ;;
    --bin-dir) [ $# -ge 2 ] || fail "--bin-dir needs a folder"; bin_dir="$2"; shift 2 ;;
    --from) [ $# -ge 2 ] || fail "--from needs a folder"; from="$2"; shift 2 ;;
    -h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) fail "unknown option $1: usage: scripts/install-tools.sh [--platform OS/ARCH] [--bin-dir DIR] [--from DIR]" ;;
  esac
done

if [ -z "$platform" ]; then
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) fail "unsupported system $(uname -s): install kind and kubectl by hand (versions in lab/pins.py)" ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) fail "unsupported machine $(uname -m): install kind and kubectl by hand (versions in lab/pins.py)" ;;
  esac
  platform="$os/$arch"
fi
os="${platform%%/*}"
arch="${platform#*/}"

python="${PYTHON:-python3}"
command -v "$python" >/dev/null 2>&1 || fail "$python is not installed: the pinned versions and checksums are read from lab/pins.py with it"
pins="$(cd "$root" && "$python" -m lab.pins tools "$platform")" || exit 1
kind_version="" kind_sha256="" kind_variable="" kubectl_version="" kubectl_sha256="" kubectl_variable=""
while IFS='=' read -r key value; do
  case "$key" in
    KIND_VERSION) kind_version="$value" ;;
    KIND_SHA256) kind_sha256="$value" ;;
    KIND_SHA256_VARIABLE) kind_variable="$value" ;;
    KUBECTL_VERSION) kubectl_version="$value" ;;
    KUBECTL_SHA256) kubectl_sha256="$value" ;;
    KUBECTL_SHA256_VARIABLE) kubectl_variable="$value" ;;
  esac
done <<EOF
$pins
EOF
[ -n "$kind_version" ] && [ -n "$kubectl_version" ] || fail "could not read the tool pins from lab/pins.py"

# Both checksums must be known before anything is fetched or installed.
require() {
  [ -n "$3" ] || fail "no sha256 pinned for $1 $2 ($platform) in lab/pins.py (TOOL_SHA256): set $4 to the sha256 of that release binary, verified by you, and rerun"
}
require kind "$kind_version" "$kind_sha256" "$kind_variable"
require kubectl "$kubectl_version" "$kubectl_sha256" "$kubectl_variable"

kind_base="${NETPOL_LAB_KIND_BASE_URL:-https://github.com/kubernetes-sigs/kind/releases/download}"
kubectl_base="${NETPOL_LAB_KUBECTL_BASE_URL:-https://dl.k8s.io/release}"
for base in "$kind_base" "$kubectl_base"; do
  case "$base" in
    https://* | file://*) ;;
    *) fail "refusing the download URL $base: only https:// (or file:// for a local mirror) is accepted" ;;
  esac
done

if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$1" | awk '{print $1}'; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 "$1" | awk '{print $1}'; }
else
  fail "neither sha256sum nor shasum is installed: cannot verify the binaries"
fi
fetch() {
  case "$1" in
    file://*) echo "\$ cp ${1#file://} $2"; cp "${1#file://}" "$2" ;;
    *)
      if command -v curl >/dev/null 2>&1; then
        echo "\$ curl -fsSL --proto =https --proto-redir =https --retry 3 -o $2 $1"
        curl -fsSL --proto =https --proto-redir =https --retry 3 -o "$2" "$1"
      elif command -v wget >/dev/null 2>&1; then
        echo "\$ wget -q --https-only -O $2 $1"
        wget -q --https-only -O "$2" "$1"
      else
        fail "neither curl nor wget is installed: install one of them and rerun make tools"
      fi
      ;;
  esac
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$bin_dir"

# install NAME VERSION SHA256 URL
install_tool() {
  local name="$1" version="$2" expected="$3" url="$4" target="$bin_dir/$1" actual
  if [ -f "$target" ]; then
    actual="$(sha256 "$target")"
    if [ "$actual" = "$expected" ]; then
      echo "$name $version ($platform) is already in $bin_dir (sha256 $actual)"
      return
    fi
    echo "replacing $target: its sha256 $actual is not the pinned $name $version ($platform)"
  fi
  if [ -n "$from" ]; then
    local source="$from/$os-$arch/$name"
    [ -f "$source" ] || fail "no $source: the bundle has no $platform tools; make it with \`netpol-lab bundle save DIR --platform $platform\`"
    echo "\$ cp $source $work/$name"
    cp "$source" "$work/$name"
  else
    fetch "$url" "$work/$name" || fail "could not download $url"
  fi
  actual="$(sha256 "$work/$name")"
  if [ "$actual" != "$expected" ]; then
    rm -f "$work/$name"
    fail "$name $version ($platform): sha256 $actual is not the pinned $expected: nothing installed"
  fi
  chmod 0755 "$work/$name"
  mv "$work/$name" "$target"
  echo "installed $name $version ($platform, sha256 $actual) into $bin_dir"
}

install_tool kind "$kind_version" "$kind_sha256" "$kind_base/$kind_version/kind-$os-$arch"
install_tool kubectl "$kubectl_version" "$kubectl_sha256" "$kubectl_base/$kubectl_version/bin/$os/$arch/kubectl"
echo "done: the Makefile puts $bin_dir first on PATH; in a shell: export PATH=\"$bin_dir:\$PATH\""
