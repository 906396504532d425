#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the container image offline, FROM scratch, from this tree and Debian's packages (no
# registry, no network): a stripped release build of the binary with NVIDIA's program names as
# symlinks in /usr/bin, its shared libraries, busybox-static's applets in /busybox (on PATH,
# and /bin/sh), NVIDIA's environment, USER 0:0 and ENTRYPOINT ["nvidia-device-plugin"].
# Writes an OCI layout to build/image/oci (tag v<version>) and a `docker load`-able archive
# to build/image/gpu-device-plugin.tar, then prints the sizes. Needs umoci, skopeo and
# busybox-static (scripts/install-deps.sh). Environment:
#   GDP_IMAGE_NAME   the name in the docker archive (default gpu-device-plugin)
#   GDP_IMAGE_BUILD  the CMake build directory (default build-image)
#   GDP_IMAGE_OUT    the output directory (default build/image)
#   SOURCE_DATE_EPOCH  the date of every file and of the image (default: the last commit's)
set -euo pipefail
# No early `exit` in awk or `head` after a producer anywhere here: with pipefail, a producer
# killed by SIGPIPE (ldconfig's cache is larger than a pipe buffer on some hosts) fails the build.
cd "$(dirname "$0")/.."

name=${GDP_IMAGE_NAME:-gpu-device-plugin}
build=${GDP_IMAGE_BUILD:-build-image}
out=${GDP_IMAGE_OUT:-build/image}
arch=$(dpkg --print-architecture)
programs=(nvidia-device-plugin gpu-feature-discovery config-manager mps-control-daemon)
path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/busybox

die() {
    echo "build-image: $*" >&2
    exit 1
}

for tool in umoci skopeo cmake strip; do
    command -v "$tool" >/dev/null || die "$tool is missing (run scripts/install-deps.sh)"
done
[ -x /bin/busybox ] || die "busybox-static is missing (run scripts/install-deps.sh)"

echo "build-image: building the binary in $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGDP_WERROR=ON -DGDP_TESTS=ON >/dev/null
cmake --build "$build" --target gpu-device-plugin -j"$(nproc)" >/dev/null
bin="$build/gpu-device-plugin"
version=$("$bin" version | awk 'NR == 1 { print $3 }')
revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
tag="v$version"

rootfs="$out/rootfs"
rm -rf "$out"
mkdir -p "$rootfs"/{usr/bin,usr/lib,usr/sbin,etc,tmp,licenses,busybox}
chmod 1777 "$rootfs/tmp"
# Debian 12's merged-/usr layout, so that the NVIDIA container toolkit finds a Debian root
for d in bin lib sbin; do ln -s "usr/$d" "$rootfs/$d"; done

install -m 0755 "$bin" "$rootfs/usr/bin/gpu-device-plugin"
strip --strip-unneeded "$rootfs/usr/bin/gpu-device-plugin"
for p in "${programs[@]}"; do ln -s gpu-device-plugin "$rootfs/usr/bin/$p"; done

# The binary's shared libraries (glibc included: NVML is dlopen'd and needs the real one),
# each at its loader path with the Debian package's copyright file next to the license.
copy_lib() {
    local src=$1 dst
    dst="$rootfs$(realpath -s "$src" | sed 's,^/lib,/usr/lib,')"
    mkdir -p "$(dirname "$dst")"
    cp -L "$src" "$dst"
    local pkg
    # dpkg knows a library by the path its package shipped it under, before or after usrmerge
    pkg=$({ dpkg -S "$src" || dpkg -S "$(realpath "$src")"; } 2>/dev/null | awk -F: 'NR == 1 { print $1 }') ||
        true
    if [ -n "$pkg" ] && [ -f "/usr/share/doc/$pkg/copyright" ]; then
        cp "/usr/share/doc/$pkg/copyright" "$rootfs/licenses/$pkg.copyright"
    fi
}
libs=$(ldd "$bin" | awk '$3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
[ -n "$libs" ] || die "ldd found no libraries for $bin"
# libcurl (the Kubernetes API client) and libmicrohttpd (the metrics endpoint) are not linked but
# loaded at run time: they and the libraries they need go in too
for soname in libcurl.so.4:libcurl4 libmicrohttpd.so.12:libmicrohttpd12; do
    so=$(ldconfig -p | awk -v n="${soname%%:*}" '$1 == n && !found { print $NF; found = 1 }')
    [ -n "$so" ] || die "${soname%%:*} not found (Debian package ${soname#*:})"
    libs="$libs $so $(ldd "$so" | awk '$3 ~ /^\// { print $3 }')"
done
libs=$(printf '%s\n' $libs | sort -u)
case $(readelf -l "$bin" | sed -n 's/.*program interpreter: \(.*\)]/\1/p') in
/lib64/*) ln -s usr/lib64 "$rootfs/lib64" ;; # amd64's loader path
esac
for lib in $libs; do copy_lib "$lib"; done
for lib in $(cd "$rootfs" && find usr/lib -name '*.so*' -type f); do strip --strip-unneeded "$rootfs/$lib"; done

# busybox-static: every applet in /busybox, as NVIDIA's image has it; /bin/sh for sh -c
install -m 0755 /bin/busybox "$rootfs/busybox/busybox"
/bin/busybox --list | while read -r applet; do
    [ "$applet" = busybox ] || ln -s busybox "$rootfs/busybox/$applet"
done
ln -s /busybox/sh "$rootfs/usr/bin/sh"
cp /usr/share/doc/busybox-static/copyright "$rootfs/licenses/busybox-static.copyright"

cp /usr/share/common-licenses/Apache-2.0 "$rootfs/licenses/LICENSE"
cp /etc/debian_version "$rootfs/etc/debian_version"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
# every file dated like the last commit rather than the build
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
find "$rootfs" -exec touch -h -d "@$epoch" {} +

echo "build-image: assembling $out/oci:$tag"
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
layout="$out/oci"
umoci init --layout "$layout"
umoci new --image "$layout:$tag"
# one layer, every entry owned by root and in name order, whoever builds it
(cd "$rootfs" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | LC_ALL=C sort) >"$out/top"
tar --sort=name --owner=0 --group=0 --numeric-owner --format=gnu -C "$rootfs" \
    -cf "$out/layer.tar" -T "$out/top"
umoci raw add-layer --image "$layout:$tag" --history.created_by "scripts/build-image.sh" \
    --history.created "$created" \
    "$out/layer.tar"
rm -f "$out/layer.tar" "$out/top"
labels=(
    "org.opencontainers.image.title=gpu-device-plugin"
    "org.opencontainers.image.description=Kubernetes device plugin for NVIDIA GPUs, a drop-in for NVIDIA's k8s-device-plugin"
    "org.opencontainers.image.version=$version"
    "org.opencontainers.image.revision=$revision"
    "org.opencontainers.image.licenses=Apache-2.0"
    "org.opencontainers.image.created=$created"
)
# shellcheck disable=SC2054 # compute,utility is one value
config=(
    --config.entrypoint nvidia-device-plugin --clear config.cmd
    --config.user 0:0 --config.workingdir /
    --config.env "PATH=$path"
    --config.env NVIDIA_VISIBLE_DEVICES=all
    --config.env NVIDIA_DRIVER_CAPABILITIES=compute,utility
    --config.env NVIDIA_DISABLE_REQUIRE=true
    --os linux --architecture "$arch" --created "$created"
)
for l in "${labels[@]}"; do config+=(--config.label "$l" --manifest.annotation "$l"); done
umoci config --image "$layout:$tag" --no-history "${config[@]}"
# umoci compresses for speed; the layer is stored again at gzip's best level (about 6% smaller)
python3 - "$layout" "$tag" <<'EOF'
import gzip, hashlib, json, sys
layout, tag = sys.argv[1:]
def blob(digest):
    return f"{layout}/blobs/{digest.replace(':', '/')}"
def put(data, desc):
    desc["digest"] = "sha256:" + hashlib.sha256(data).hexdigest()
    desc["size"] = len(data)
    with open(blob(desc["digest"]), "wb") as f:
        f.write(data)
with open(f"{layout}/index.json") as f:
    index = json.load(f)
for ref in index["manifests"]:
    if ref.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag:
        continue
    with open(blob(ref["digest"]), "rb") as f:
        manifest = json.load(f)
    for layer in manifest["layers"]:
        with open(blob(layer["digest"]), "rb") as f:
            put(gzip.compress(gzip.decompress(f.read()), 9, mtime=0), layer)
    put(json.dumps(manifest, separators=(",", ":")).encode(), ref)
with open(f"{layout}/index.json", "w") as f:
    json.dump(index, f, separators=(",", ":"))
EOF
umoci gc --layout "$layout"

echo "build-image: writing $out/gpu-device-plugin.tar ($name:$tag)"
skopeo --insecure-policy copy -q "oci:$layout:$tag" \
    "docker-archive:$out/gpu-device-plugin.tar:$name:$tag"

layer_bytes=$(find "$layout/blobs" -type f -size +100k -printf '%s\n' | sort -n | tail -n1)
root_bytes=$(du -sb "$rootfs" | cut -f1)
tar_bytes=$(stat -c %s "$out/gpu-device-plugin.tar")
printf 'build-image: %s:%s (%s): layer %s bytes compressed, rootfs %s bytes, archive %s bytes\n' \
    "$name" "$tag" "$arch" "$layer_bytes" "$root_bytes" "$tar_bytes"
