# SPDX-License-Identifier: Apache-2.0
"""scripts/build-image.sh itself, on hosts unlike the developer's. Needs umoci and skopeo
(scripts/install-deps.sh); without them the test skips, unless GDP_IMAGE_REQUIRE_RUNC=1.
It reuses the CMake build in $GDP_BUILD_DIR (default build-image) and writes its image to a
temporary directory, so the image the smoke tests run is left alone.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("GDP_BUILD_DIR", str(ROOT / "build-image"))).resolve()
PIPE_BUFFER = 64 * 1024


def _require_tools():
    missing = [t for t in ("umoci", "skopeo") if shutil.which(t) is None]
    if missing:
        why = f"{', '.join(missing)} not installed (scripts/install-deps.sh)"
        if os.environ.get("GDP_IMAGE_REQUIRE_RUNC") == "1":
            pytest.fail(why)
        pytest.skip(why)


def test_build_survives_an_ld_cache_larger_than_a_pipe_buffer(tmp_path):
    """A host with many libraries has an `ldconfig -p` listing larger than a pipe buffer.
    The script must read it whole: a reader that stops at the first match leaves ldconfig
    to die of SIGPIPE, and under pipefail that failed the build with exit status 141."""
    _require_tools()
    shim = tmp_path / "bin"
    shim.mkdir()
    real = shutil.which("ldconfig") or "/sbin/ldconfig"
    # the real cache first (libcurl and libmicrohttpd are found early), then 4 pipe buffers
    pad = 4 * PIPE_BUFFER // 80 + 1
    (shim / "ldconfig").write_text(
        "#!/bin/sh\n"
        f'"{real}" "$@" || exit\n'
        '[ "$1" = -p ] || exit 0\n'
        f"i=0; while [ $i -lt {pad} ]; do i=$((i + 1)); "
        'printf "\\tlibpad%06d.so.1 (libc6,x86-64) => /usr/lib/pad/libpad%06d.so.1.0.0.0.0\\n" '
        "$i $i; done\n")
    (shim / "ldconfig").chmod(0o755)
    listing = subprocess.run([str(shim / "ldconfig"), "-p"], capture_output=True, check=True)
    assert len(listing.stdout) > 4 * PIPE_BUFFER
    out = tmp_path / "image"
    env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}",
           "GDP_IMAGE_BUILD": str(BUILD), "GDP_IMAGE_OUT": str(out)}
    r = subprocess.run([str(ROOT / "scripts" / "build-image.sh")], env=env, text=True,
                       capture_output=True, timeout=600)
    assert r.returncode == 0, f"build-image.sh exited {r.returncode}:\n{r.stderr[-3000:]}"
    libs = {p.name for p in (out / "rootfs" / "usr" / "lib").rglob("*.so*")}
    assert any(n.startswith("libcurl.so.4") for n in libs), sorted(libs)
    assert any(n.startswith("libmicrohttpd.so.12") for n in libs), sorted(libs)
    assert (out / "gpu-device-plugin.tar").stat().st_size > 0
