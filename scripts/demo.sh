#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Without arguments: shows `gpu-device-plugin list`, then runs `serve` against a test kubelet
# in a temporary directory (registration, advertised devices, one allocation).
# With arguments: runs build/gpu-device-plugin with them.
# On a machine without NVIDIA's driver the mock NVML from build/tests/mock-nvml is used; it
# describes an 8-GPU DGX A100 unless MOCK_NVML_NODE names another node file
# (tests/mock-nvml/nodes/).
set -euo pipefail
cd "$(dirname "$0")/.."
# awk reads the whole cache: `grep -q` would stop early and, under pipefail, a large cache's
# SIGPIPE would read as "no driver"
if ! /sbin/ldconfig -p 2>/dev/null | awk '$1 == "libnvidia-ml.so.1" { f = 1 } END { exit !f }'; then
    echo "demo: no NVIDIA driver found; using the mock NVML node (${MOCK_NVML_NODE:-8x A100, built in})" >&2
    export LD_LIBRARY_PATH="$PWD/build/tests/mock-nvml${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
if [ $# -gt 0 ]; then
    exec ./build/gpu-device-plugin "$@"
fi
echo "$ gpu-device-plugin list"
./build/gpu-device-plugin list
echo
exec /usr/bin/python3 scripts/demo_kubelet.py build
