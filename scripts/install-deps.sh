#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what building and testing gpu-device-plugin needs on Debian 12 (all from Debian's
# own packages). Safe to run again: apt skips what is already installed.
set -euo pipefail

packages=(
    build-essential cmake pkg-config git
    clang clang-format clang-tidy libclang-rt-14-dev
    libyaml-dev libjansson-dev libcmocka-dev
    libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
    python3 python3-pytest python3-yaml python3-grpcio python3-protobuf
    golang-go golang-google-grpc-dev golang-google-protobuf-dev
    valgrind
    busybox-static umoci skopeo runc
    yamllint golang-github-masterminds-sprig-dev golang-github-ghodss-yaml-dev
    libcurl4-openssl-dev openssl nghttp2-server
    libmicrohttpd-dev python3-prometheus-client
)
# Deployment checks validate with npm packages; a Node.js from elsewhere (with its npm) will do.
command -v npm >/dev/null || packages+=(nodejs npm)

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi

# promtool checks the /metrics exposition in the tests. It comes out of Debian's prometheus
# package, extracted into the git-ignored .tools/ without installing the package, so that no
# Prometheus service is ever set up or started.
install_promtool() {
    local root tmp
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    if command -v promtool >/dev/null || [ -x "$root/.tools/bin/promtool" ]; then
        return 0
    fi
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1) || {
        "${sudo[@]}" apt-get update -qq
        (cd "$tmp" && apt-get download prometheus >/dev/null)
    }
    dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
    mkdir -p "$root/.tools/bin"
    cp "$tmp/root/usr/bin/promtool" "$root/.tools/bin/promtool"
    rm -rf "$tmp"
    echo "install-deps: promtool extracted to .tools/bin/promtool"
}
install_promtool

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
