#!/usr/bin/env bash
# Run here, before a GPU check: fills .device/ (git-ignored) with what the
# device machine lacks and cannot download: Node.js, node_modules (with
# onnxruntime-node's Linux x64 binaries only), a sysroot of OpenBLAS and FFTW
# (Debian's packages without their static libraries), and the Vulkan loader
# for ONNX Runtime's WebGPU provider. Pass the folder as `carry` to the device
# tool; the whole folder, with the repository, stays under its 64 MiB limit.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/.device"
mkdir -p "$out"
cd "$root"
[ -f "$out/node.xz" ] || xz -T2 -6 -c "$(command -v node)" > "$out/node.xz"
ort=node_modules/onnxruntime-node/bin/napi-v6
tar -cf - --exclude="$ort/darwin" --exclude="$ort/win32" --exclude="$ort/linux/arm64" node_modules \
  | xz -T2 -6 > "$out/node_modules.tar.xz"
rm -f "$out"/*.deb "$out/sysroot.tar.xz"
debs=$(mktemp -d)
trap 'rm -rf "$debs"' EXIT
(cd "$debs" && apt-get download -qq libopenblas0-openmp libopenblas-openmp-dev libgfortran5 libgomp1 \
  libfftw3-dev libfftw3-single3 libfftw3-double3 libvulkan1 2>/dev/null)
# libgomp1 only where the machine lacks it (check.sh decides); the rest as one
# sysroot, less what neither the build nor the run reads.
mv "$debs"/libgomp1_*.deb "$out/"
mkdir "$debs/root"
for deb in "$debs"/*.deb; do dpkg -x "$deb" "$debs/root"; done
find "$debs/root" \( -name '*.a' -o -name 'liblapack*' -o -path '*/usr/share/*' \) -prune -exec rm -rf {} +
tar -C "$debs/root" -cf - . | xz -T2 -6 > "$out/sysroot.tar.xz"
# The PyTorch reference solver for bench/navier-stokes.ts (Python files only),
# when ENKG_PYTORCH_DIR points at a checkout of it.
if [ -n "${ENKG_PYTORCH_DIR:-}" ] && [ -d "$ENKG_PYTORCH_DIR/inverse_problems" ]; then
  tar -C "$ENKG_PYTORCH_DIR" -cf - --exclude='*.png' --exclude='*.jpg' --exclude='*.pdf' --exclude=.git . \
    | xz -T2 -6 > "$out/enkg-pytorch.tar.xz"
fi
# The benchmark's initial fields (GRF evolved to t = 5), 32 per resolution:
# the first 32 of bench/data's 256-field files, which are the fields a
# 32-field generation draws (field n comes from Philox stream n and 'sample'
# steps do not depend on the batch; they agree to 1e-4, the rounding of the
# solver version that wrote the files). Generating them on the device would
# spend a minute of its time on the CPU.
mkdir -p "$out/bench-data"
for R in 64 128; do
  src="$root/bench/data/ns-$R-t5-256.npy"
  if [ -f "$src" ]; then
    /usr/bin/python3 -c "import numpy as np, sys; np.save(sys.argv[2], np.load(sys.argv[1])[:32])" \
      "$src" "$out/bench-data/ns-$R-t5-32.npy"
  fi
done
du -ch "$out"/* | tail -n 1
