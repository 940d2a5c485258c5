#!/usr/bin/env bash
# Run here, before a GPU check: fills .device/ (git-ignored) with what the
# device machine lacks and cannot download: Node.js, node_modules (without
# onnxruntime-node, which the native checks do not use) and the Debian
# packages of OpenBLAS and FFTW. Pass the folder as `carry` to the device tool; the
# whole folder stays under its 64 MiB limit.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/.device"
mkdir -p "$out"
cd "$root"
[ -f "$out/node.xz" ] || xz -T2 -6 -c "$(command -v node)" > "$out/node.xz"
tar -cf - --exclude=node_modules/onnxruntime-node node_modules | xz -T2 -6 > "$out/node_modules.tar.xz"
rm -f "$out"/*.deb
(cd "$out" && apt-get download -qq libopenblas0-openmp libopenblas-openmp-dev libgfortran5 libgomp1 \
  libfftw3-dev libfftw3-single3 libfftw3-double3 2>/dev/null)
# The PyTorch reference solver for bench/navier-stokes.ts (Python files only),
# when ENKG_PYTORCH_DIR points at a checkout of it.
if [ -n "${ENKG_PYTORCH_DIR:-}" ] && [ -d "$ENKG_PYTORCH_DIR/inverse_problems" ]; then
  tar -C "$ENKG_PYTORCH_DIR" -cf - --exclude='*.png' --exclude='*.jpg' --exclude='*.pdf' --exclude=.git . \
    | xz -T2 -6 > "$out/enkg-pytorch.tar.xz"
fi
du -ch "$out"/* | tail -n 1
