#!/usr/bin/env bash
# Builds, once per machine, the Kubernetes control plane the `kubernetes`-marked tests run against:
# kube-apiserver, kube-controller-manager and kube-scheduler v1.20.2 from Debian's own `kubernetes`
# source package (the newest Kubernetes Debian carries), plus Debian's etcd, plus a PKI.
# Everything lands in a cache outside the repository keyed by version, so later runs reuse it:
#   ${CONTROLPANEL_KUBE_CACHE:-${XDG_CACHE_HOME:-~/.cache}/controlpanel-kube}/v1.20.2/{bin,pki}
# Exit 0: binaries + PKI ready. Non-zero: a one-line reason on stderr (the tests are then skipped).
# Env: KUBE_TESTBED_KEEP_BUILD=1 keeps the source tree and Go cache (faster rebuilds, ~3 GB).
set -euo pipefail

VERSION=1.20.2
DEB_ORIG=kubernetes_1.20.5+really1.20.2.orig.tar.gz # Debian's upstream tarball (complete vendor/)
ROOT=${CONTROLPANEL_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/controlpanel-kube}
CACHE=$ROOT/v$VERSION
BIN=$CACHE/bin
WORK=$CACHE/build
HERE=$(cd "$(dirname "$0")" && pwd)
COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler)
# Bumped when the way the binaries are built changes, so cached ones are rebuilt once.
# 2: vendored reflect2 patched for Go 1.18+ (patch_reflect2.py; custom resources crashed the API server).
BUILD_REV=2

# The reason is also kept for pytest, which shows it when it skips the Kubernetes tests.
fail() {
  echo "Kubernetes test bed: $*" >&2
  echo "$*" >"$CACHE/last-build-error" 2>/dev/null || true
  exit 1
}
have_binaries() {
  for c in "${COMMANDS[@]}"; do [ -x "$BIN/$c" ] || return 1; done
  [ "$(cat "$BIN/.build-rev" 2>/dev/null)" = "$BUILD_REV" ]
}

mkdir -p "$CACHE" || { echo "Kubernetes test bed: cannot create $CACHE" >&2; exit 1; }
# One build at a time per machine: a second `make test` waits for the first instead of racing it.
exec 9>"$CACHE/.lock"
flock 9

# etcd comes from Debian's etcd-server package; everything else the tests need is built here.
need_pkgs=()
command -v etcd >/dev/null || need_pkgs+=(etcd-server)
command -v openssl >/dev/null || need_pkgs+=(openssl)
if ! have_binaries; then
  command -v go >/dev/null || need_pkgs+=(golang-go)
  command -v rsync >/dev/null || need_pkgs+=(rsync)
  command -v make >/dev/null || need_pkgs+=(make)
  command -v dpkg-source >/dev/null || need_pkgs+=(dpkg-dev)
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || fail "missing ${need_pkgs[*]} and no apt-get to install them"
  [ "$(id -u)" = 0 ] || fail "missing ${need_pkgs[*]}; install them with apt-get as root"
  echo "Kubernetes test bed: installing ${need_pkgs[*]} with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

"$HERE/gen-pki.sh" "$CACHE/pki"

if have_binaries; then
  rm -f "$CACHE/last-build-error"
  echo "Kubernetes test bed: reusing Kubernetes v$VERSION control plane from $BIN"
  exit 0
fi

echo "Kubernetes test bed: building kube-apiserver, kube-controller-manager and kube-scheduler v$VERSION"
echo "  from Debian's kubernetes source package into $BIN, so the kubernetes-marked tests run against a"
echo "  real API server. Only the first run on this machine pays this (~6 minutes on 2 cores)."
started=$(date +%s)

# 1. Source: Debian's orig tarball, fetched with apt-get source (needs a deb-src entry).
SRC=$WORK/src/kubernetes-$VERSION
if [ ! -f "$SRC/.unpacked" ]; then
  mkdir -p "$WORK/src"
  if ! (cd "$WORK/src" && apt-get source --download-only -qq kubernetes >/dev/null 2>&1); then
    [ "$(id -u)" = 0 ] || fail "no deb-src entry for Debian's kubernetes source package; add one as root"
    cat >/etc/apt/sources.list.d/controlpanel-kube-debsrc.sources <<'EOT'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
    apt-get update -qq
    (cd "$WORK/src" && apt-get source --download-only -qq kubernetes >"$WORK/source.log" 2>&1) ||
      fail "apt-get source kubernetes failed (no network to Debian's archive?); see $WORK/source.log"
  fi
  [ -f "$WORK/src/$DEB_ORIG" ] || fail "expected $DEB_ORIG from apt-get source; Debian's package changed"
  rm -rf "$SRC" && mkdir -p "$SRC"
  tar xzf "$WORK/src/$DEB_ORIG" -C "$SRC" --strip-components=1
  touch "$SRC/.unpacked"
fi

# 2. Kubernetes 1.20 builds in GOPATH mode: `go build -mod=vendor` fails on Go 1.19 ("updates to go.mod needed").
export GOPATH=$WORK/gopath GOCACHE=$WORK/gocache GO111MODULE=off GOFLAGS= GOPROXY=off CGO_ENABLED=0
mkdir -p "$GOPATH/src/k8s.io"
ln -sfn "$SRC" "$GOPATH/src/k8s.io/kubernetes"
cd "$GOPATH/src/k8s.io/kubernetes"

# 3. Go 1.18+ and the vendored reflect2 v1.0.1 disagree on reflect.mapiterinit: without reflect2
# v1.0.2's fix the API server segfaults on the first custom resource it is sent.
python3 "$HERE/patch_reflect2.py" vendor/github.com/modern-go/reflect2 || fail "patching reflect2 failed"

# 4. Generated code (OpenAPI definitions etc.) is not in the tarball: upstream's own make target, offline.
if [ ! -f pkg/generated/openapi/zz_generated.openapi.go ]; then
  echo "  generating code (make generated_files, ~1 minute)"
  rm -rf _output
  make generated_files >"$WORK/generate.log" 2>&1 || fail "make generated_files failed; see $WORK/generate.log"
fi

# 5. Build, stamping the version the API server reports (/version), into a temporary dir first so
# an interrupted build never leaves a half-written binary that looks usable.
ld=""
for p in k8s.io/kubernetes/vendor/k8s.io/component-base/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
  ld="$ld -X $p.gitVersion=v$VERSION -X $p.gitMajor=1 -X $p.gitMinor=20 -X $p.gitTreeState=archive"
  ld="$ld -X $p.gitCommit=debian-orig-$VERSION -X $p.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
done
mkdir -p "$WORK/out" "$BIN"
for c in "${COMMANDS[@]}"; do
  s=$(date +%s)
  go build -tags selinux,notest -trimpath -ldflags "-s -w $ld" -o "$WORK/out/$c" "./cmd/$c" \
    >"$WORK/build-$c.log" 2>&1 || fail "go build $c failed; see $WORK/build-$c.log"
  echo "  built $c in $(($(date +%s) - s))s"
done
for c in "${COMMANDS[@]}"; do mv "$WORK/out/$c" "$BIN/$c"; done
echo "$BUILD_REV" >"$BIN/.build-rev"

if [ "${KUBE_TESTBED_KEEP_BUILD:-0}" != 1 ]; then
  chmod -R u+w "$WORK" 2>/dev/null || true # Go's module cache is read-only
  rm -rf "$WORK"
fi
rm -f "$CACHE/last-build-error"
echo "Kubernetes test bed: built in $(($(date +%s) - started))s; cached in $BIN"
