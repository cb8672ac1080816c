#!/usr/bin/env bash
# Build kube-apiserver and kube-controller-manager 1.20.2 from Debian bookworm's `kubernetes` *source*
# package and cache the binaries outside the clone, under ${KPOSTURE_CACHE:-$HOME/.cache/kposture}.
#
# Idempotent: when both binaries are already cached it exits at once (a repeat run takes well under a
# second); a fresh machine installs the build dependencies, fetches the source and builds (about 6
# minutes on 2 cores). Needs root for apt-get (CI runs as root); never prompts.
#
# The upstream tree is built the way Debian's own debian/rules does: GOPATH mode (GO111MODULE=off, the
# vendored modules under vendor/), through upstream's `make WHAT=...`, offline. Plain `go build` fails.
#
# Environment:
#   KPOSTURE_CACHE        cache root (default ~/.cache/kposture)
#   KPOSTURE_BUILD_JOBS   Go compile parallelism (default 2; each job peaks around 0.6 GB)
#   KPOSTURE_KEEP_SOURCE  set to 1 to keep the unpacked source tree (about 1 GB) after a build
set -euo pipefail

K8S_VERSION=1.20.2
CACHE="${KPOSTURE_CACHE:-$HOME/.cache/kposture}"
DEST="$CACHE/k8s-$K8S_VERSION"
BIN_DIR="$DEST/bin"
WORK="$DEST/work"
LOG="$DEST/build.log"
JOBS="${KPOSTURE_BUILD_JOBS:-2}"
TARGETS=(kube-apiserver kube-controller-manager)

have_all() {
    local t
    for t in "${TARGETS[@]}"; do
        [ -x "$BIN_DIR/$t" ] || return 1
    done
}

if have_all && command -v etcd >/dev/null; then
    echo "test cluster binaries cached in $BIN_DIR"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo -n)
fi

# Debian packages: etcd-server runs the cluster; the rest builds it. openssl writes the certificates.
need=()
command -v etcd >/dev/null || need+=(etcd-server)
command -v openssl >/dev/null || need+=(openssl)
if ! have_all; then
    command -v go >/dev/null || need+=(golang-go)
    command -v rsync >/dev/null || need+=(rsync)
    command -v make >/dev/null || need+=(make)
    command -v dpkg-source >/dev/null || need+=(dpkg-dev)
    command -v git >/dev/null || need+=(git)
fi
apt_updated=0
if [ "${#need[@]}" -gt 0 ]; then
    echo "== apt-get install ${need[*]}"
    "${SUDO[@]}" apt-get update -qq
    apt_updated=1
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if have_all; then
    echo "test cluster binaries cached in $BIN_DIR"
    exit 0
fi

mkdir -p "$DEST" "$BIN_DIR"
: >"$LOG"
fail() {
    echo "build.sh: $1" >&2
    echo "build.sh: full build log: $LOG" >&2
    tail -n 40 "$LOG" >&2 || true
    exit 1
}

# `apt-get source` needs deb-src entries; the image ships only `Types: deb`. Mirror each deb822 stanza of
# the system sources as a deb-src stanza in a file of our own (rewritten only when it changes).
SRC_LIST=/etc/apt/sources.list.d/kposture-deb-src.sources
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    wanted="$(sed -e 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources)"
    if [ ! -f "$SRC_LIST" ] || [ "$(cat "$SRC_LIST")" != "$wanted" ]; then
        echo "== adding deb-src entries in $SRC_LIST"
        printf '%s\n' "$wanted" | "${SUDO[@]}" tee "$SRC_LIST" >/dev/null
        apt_updated=0
    fi
elif [ -f /etc/apt/sources.list ] && ! grep -qs '^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list; then
    # One-line style sources: the same lines as deb-src.
    SRC_LIST=/etc/apt/sources.list.d/kposture-deb-src.list
    if [ ! -f "$SRC_LIST" ]; then
        echo "== adding deb-src entries in $SRC_LIST"
        sed -n 's/^deb \(.*\)/deb-src \1/p' /etc/apt/sources.list | "${SUDO[@]}" tee "$SRC_LIST" >/dev/null
        apt_updated=0
    fi
fi

start=$(date +%s)
mkdir -p "$WORK"
cd "$WORK"
SRC_DIR="$(find "$WORK" -maxdepth 1 -type d -name "kubernetes-*" | head -n 1)"
if [ -z "$SRC_DIR" ] || [ ! -f "$SRC_DIR/debian/rules" ]; then
    echo "== fetching the kubernetes $K8S_VERSION source package into $WORK"
    if [ "$apt_updated" -eq 0 ]; then
        "${SUDO[@]}" apt-get update -qq >>"$LOG" 2>&1 || fail "apt-get update failed"
    fi
    rm -rf "$WORK"/kubernetes-*
    # As root, apt-get source warns that it cannot drop privileges to _apt; that is harmless.
    apt-get source -qq "kubernetes=$K8S_VERSION*" >>"$LOG" 2>&1 ||
        apt-get source -qq kubernetes >>"$LOG" 2>&1 || fail "apt-get source kubernetes failed"
    SRC_DIR="$(find "$WORK" -maxdepth 1 -type d -name "kubernetes-*" | head -n 1)"
    [ -n "$SRC_DIR" ] || fail "no kubernetes-* directory after apt-get source"
    rm -f "$WORK"/*.tar.* "$WORK"/*.dsc
fi
echo "== building ${TARGETS[*]} in $SRC_DIR (log: $LOG)"

# What debian/rules sets for the upstream make: GOPATH mode over vendor/, a private GOCACHE, the version
# stamped by hand (no .git), and no network. GOMAXPROCS bounds both `go build -p` and each compiler's
# concurrency (memory). Not GOFLAGS: upstream's hack/lib/golang.sh parses it for build tags.
export GO111MODULE=off
export CGO_ENABLED=0
export GOMAXPROCS="$JOBS"
unset GOFLAGS
export GOPROXY=off
export GOCACHE="$DEST/gocache"
export GOTOOLCHAIN=local
export KUBE_GIT_VERSION="v$K8S_VERSION"
export KUBE_GIT_MAJOR=1
export KUBE_GIT_MINOR=20
export KUBE_BUILD_PLATFORMS="linux/$(go env GOARCH)"
export KUBE_VERBOSE=1
export KUBE_FASTBUILD=true
unset GOPATH
(
    cd "$SRC_DIR"
    # -j1: upstream's make targets are not parallel-safe; Go parallelism comes from GOMAXPROCS.
    for t in "${TARGETS[@]}"; do
        echo "== make WHAT=cmd/$t"
        make -j1 WHAT="cmd/$t" GOLDFLAGS="-s -w"
    done
) >>"$LOG" 2>&1 || fail "make failed"

for t in "${TARGETS[@]}"; do
    built="$(find "$SRC_DIR/_output" -type f -name "$t" -perm -u+x | head -n 1)"
    [ -n "$built" ] || fail "$t was not produced under $SRC_DIR/_output"
    install -m 0755 "$built" "$BIN_DIR/$t.tmp"
    mv -f "$BIN_DIR/$t.tmp" "$BIN_DIR/$t"
done
"$BIN_DIR/kube-apiserver" --version >>"$LOG" 2>&1 || fail "the built kube-apiserver does not run"
if [ "${KPOSTURE_KEEP_SOURCE:-0}" != 1 ]; then
    rm -rf "$WORK" "$GOCACHE"
fi
echo "== built ${TARGETS[*]} in $(($(date +%s) - start)) s: $BIN_DIR"
