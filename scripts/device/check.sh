#!/usr/bin/env bash
# Run on the GPU machine from the repository root, with .device/ carried
# (scripts/device/pack.sh): builds the addon for the local GPU, then runs the
# CUDA test suite and the ensemble benchmark on the cuda backend. Everything
# it reports lands in $OUT (default .device/out).
set -uo pipefail
root=$(pwd)
dev="$root/.device"
OUT=${OUT:-$dev/out}
work=${ENKG_DEVICE_WORK:-/tmp/enkg-device}
mkdir -p "$OUT" "$work/bin" "$work/sysroot" "$work/gomp"
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/steps.log"; }

xz -dc "$dev/node.xz" > "$work/bin/node" && chmod +x "$work/bin/node"
export PATH="$work/bin:$PATH"
[ -d node_modules ] || tar -xJf "$dev/node_modules.tar.xz"
for deb in "$dev"/libopenblas*.deb "$dev"/libgfortran5*.deb "$dev"/libfftw3*.deb; do dpkg -x "$deb" "$work/sysroot"; done
arch_dir=$(uname -m)-linux-gnu
export ENKG_BLAS_ROOT="$work/sysroot"
libpath="$work/sysroot/usr/lib/$arch_dir:$work/sysroot/usr/lib/$arch_dir/openblas-openmp"
if ! ldconfig -p | grep -q 'libgomp.so.1'; then
  dpkg -x "$dev"/libgomp1*.deb "$work/gomp" && libpath="$libpath:$work/gomp/usr/lib/$arch_dir"
fi
export LD_LIBRARY_PATH="$libpath:${LD_LIBRARY_PATH:-}"
nv=$(python3 -c "import nvidia, os; print(os.path.dirname(list(nvidia.__path__)[0] + '/x'))" 2>/dev/null || true)
# Every wheel folder holding cuBLAS, cuBLASLt or cuFFT (cu12 wheels keep
# them apart, cu13 wheels together in cu13/lib).
dirs=""
for sub in cu13/lib cublas/lib cufft/lib; do
  if [ -n "$nv" ] && ls "$nv/$sub"/libcublas.so* "$nv/$sub"/libcufft.so* 2>/dev/null | grep -q .; then dirs="${dirs:+$dirs:}$nv/$sub"; fi
done
[ -n "$dirs" ] && export ENKG_CUDA_LIB_DIR="$dirs" ENKG_TEST_CUDA_LIB_DIR="$dirs"
log "node $(node --version); ENKG_CUDA_LIB_DIR=${ENKG_CUDA_LIB_DIR:-unset}"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1

export ENKG_CUDA_ARCHITECTURES=${ENKG_CUDA_ARCHITECTURES:-90}
log "build (architectures $ENKG_CUDA_ARCHITECTURES)"
node node_modules/cmake-js/bin/cmake-js compile --out build --parallel "$(nproc)" > "$OUT/build.log" 2>&1 || { log "build failed"; tail -30 "$OUT/build.log"; exit 1; }
node node_modules/typescript/bin/tsc -p tsconfig.json > "$OUT/tsc.log" 2>&1 || { log "tsc failed"; exit 1; }
chmod 755 dist/cli/main.js  # as build:ts does: the tests start the bin directly
node dist/cli/main.js info | tee "$OUT/info.txt"

log "CUDA test suite"
# Every step is time-boxed: a kernel that hangs must not take the later
# steps (and their reports) down with it when the run's own limit strikes.
timeout 200 node node_modules/jest/bin/jest.js test/cuda test/backends.test.ts --json --outputFile="$OUT/jest-cuda.json" > "$OUT/jest-cuda.log" 2>&1
tail -25 "$OUT/jest-cuda.log"

log "ensemble benchmark (cuda)"
timeout 90 node -r ts-node/register/transpile-only bench/ensemble.ts --backend cuda --repeats 7 --out "$OUT/bench-cuda.json" \
  > "$OUT/bench-cuda.txt" 2>&1
cat "$OUT/bench-cuda.txt"

if [ -f "$dev/enkg-pytorch.tar.xz" ]; then
  mkdir -p "$work/enkg-pytorch" && tar -C "$work/enkg-pytorch" -xJf "$dev/enkg-pytorch.tar.xz"
  export ENKG_PYTORCH_DIR="$work/enkg-pytorch" ENKG_PYTHON=${ENKG_PYTHON:-python3}
fi
log "Navier-Stokes benchmark (cuda); ENKG_PYTORCH_DIR=${ENKG_PYTORCH_DIR:-unset, no reference}"
# 32 distinct initial fields per resolution (pack.sh brings them; larger
# batches repeat them), so the device does not spend time generating them.
mkdir -p bench/data && cp "$dev"/bench-data/*.npy bench/data/ 2>/dev/null
timeout 150 node -r ts-node/register/transpile-only bench/navier-stokes.ts --backend cuda --kernels fused,library \
  --batches 16,256,2048 --fields 32 --reference-device cuda --budget 120 --out "$OUT/bench-ns-cuda.json" > "$OUT/bench-ns-cuda.txt" 2>&1
cat "$OUT/bench-ns-cuda.txt"
if [ -n "${ENKG_PYTORCH_DIR:-}" ]; then
  # The reference EnKG on the GPU with the shipped prior's PyTorch weights:
  # what EnKG reaches with this prior at a larger budget and at the paper's
  # sizes (bench/RESULTS.md, accuracy section). Each run is time-boxed.
  log "reference EnKG on cuda: N = 512, K = 40, U = 2"
  timeout 150 python3 bench/enkg_reference.py --device cuda --ensemble 512 --steps 40 --updates 2 --batch-size 512 \
    --field 0 > "$OUT/enkg-reference-512.json" 2> "$OUT/enkg-reference-512.err"; cat "$OUT/enkg-reference-512.json"
  log "reference EnKG on cuda: N = 2048, K = 80, U = 2 (the paper's)"
  timeout 420 python3 bench/enkg_reference.py --device cuda --ensemble 2048 --steps 80 --updates 2 --batch-size 512 \
    --field 0 > "$OUT/enkg-reference-2048.json" 2> "$OUT/enkg-reference-2048.err"; cat "$OUT/enkg-reference-2048.json"
fi
log "done"
