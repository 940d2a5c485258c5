#!/usr/bin/env bash
# Run on the GPU machine from the repository root, with .device/ carried
# (scripts/device/pack.sh): builds the addon for the local GPU, then runs the
# CUDA test suite, the ensemble and Navier-Stokes benchmarks on the cuda
# backend, the prior on ONNX Runtime's WebGPU provider (through the GPU's
# Vulkan driver) and, where that works, EnKG and EKI with the prior on the GPU;
# last the PyTorch reference EnKG. Each step is time-boxed, most important
# first. What it reports lands in $OUT (default .device/out): steps.log, and
# every step's output in results.tar.gz, refreshed as each step starts (the
# device tool brings back at most 8 files, and what is there when a run is
# cut off at its limit).
set -uo pipefail
root=$(pwd)
dev="$root/.device"
OUT=${OUT:-$dev/out}
work=${ENKG_DEVICE_WORK:-/tmp/enkg-device}
mkdir -p "$OUT" "$work/bin" "$work/sysroot" "$work/gomp"
res="$work/results"
mkdir -p "$res"
save() { tar -czf "$OUT/results.tar.gz.part" -C "$res" . && mv "$OUT/results.tar.gz.part" "$OUT/results.tar.gz"; }
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/steps.log"; save; }

xz -dc "$dev/node.xz" > "$work/bin/node" && chmod +x "$work/bin/node"
export PATH="$work/bin:$PATH"
[ -d node_modules ] || tar -xJf "$dev/node_modules.tar.xz"
tar -C "$work/sysroot" -xJf "$dev/sysroot.tar.xz"
arch_dir=$(uname -m)-linux-gnu
export ENKG_BLAS_ROOT="$work/sysroot"
libpath="$work/sysroot/usr/lib/$arch_dir:$work/sysroot/usr/lib/$arch_dir/openblas-openmp"
if ! ldconfig -p | grep -q 'libgomp.so.1'; then
  dpkg -x "$dev"/libgomp1*.deb "$work/gomp" && libpath="$libpath:$work/gomp/usr/lib/$arch_dir"
fi
export LD_LIBRARY_PATH="$libpath:${LD_LIBRARY_PATH:-}"
# Vulkan for the WebGPU provider: the loader comes in the sysroot; the NVIDIA
# driver's manifest is where the container runtime put it.
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
if ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1 \
   && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
nv=$(python3 -c "import nvidia, os; print(os.path.dirname(list(nvidia.__path__)[0] + '/x'))" 2>/dev/null || true)
# Every wheel folder holding cuBLAS, cuBLASLt or cuFFT (cu12 wheels keep
# them apart, cu13 wheels together in cu13/lib).
dirs=""
for sub in cu13/lib cublas/lib cufft/lib; do
  if [ -n "$nv" ] && ls "$nv/$sub"/libcublas.so* "$nv/$sub"/libcufft.so* 2>/dev/null | grep -q .; then dirs="${dirs:+$dirs:}$nv/$sub"; fi
done
[ -n "$dirs" ] && export ENKG_CUDA_LIB_DIR="$dirs" ENKG_TEST_CUDA_LIB_DIR="$dirs"
log "node $(node --version); ENKG_CUDA_LIB_DIR=${ENKG_CUDA_LIB_DIR:-unset}"
nvidia-smi > "$res/nvidia-smi.txt" 2>&1

export ENKG_CUDA_ARCHITECTURES=${ENKG_CUDA_ARCHITECTURES:-90}
log "build (architectures $ENKG_CUDA_ARCHITECTURES)"
node node_modules/cmake-js/bin/cmake-js compile --out build --parallel "$(nproc)" > "$res/build.log" 2>&1 || { log "build failed"; tail -30 "$res/build.log"; exit 1; }
node node_modules/typescript/bin/tsc -p tsconfig.json > "$res/tsc.log" 2>&1 || { log "tsc failed"; exit 1; }
chmod 755 dist/cli/main.js  # as build:ts does: the tests start the bin directly
node dist/cli/main.js info | tee "$res/info.txt"

log "CUDA test suite"
# Every step is time-boxed: a kernel that hangs must not take the later
# steps (and their reports) down with it when the run's own limit strikes.
timeout 200 node node_modules/jest/bin/jest.js test/cuda test/backends.test.ts --json --outputFile="$res/jest-cuda.json" > "$res/jest-cuda.log" 2>&1
tail -25 "$res/jest-cuda.log"

log "ensemble benchmark (cuda)"
timeout 90 node -r ts-node/register/transpile-only bench/ensemble.ts --backend cuda --repeats 7 --out "$res/bench-cuda.json" \
  > "$res/bench-cuda.txt" 2>&1
cat "$res/bench-cuda.txt"

if [ -f "$dev/enkg-pytorch.tar.xz" ]; then
  mkdir -p "$work/enkg-pytorch" && tar -C "$work/enkg-pytorch" -xJf "$dev/enkg-pytorch.tar.xz"
  export ENKG_PYTORCH_DIR="$work/enkg-pytorch" ENKG_PYTHON=${ENKG_PYTHON:-python3}
fi
log "Navier-Stokes benchmark (cuda); ENKG_PYTORCH_DIR=${ENKG_PYTORCH_DIR:-unset, no reference}"
# 32 distinct initial fields per resolution (pack.sh brings them; larger
# batches repeat them), so the device does not spend time generating them.
mkdir -p bench/data && cp "$dev"/bench-data/*.npy bench/data/ 2>/dev/null
timeout 150 node -r ts-node/register/transpile-only bench/navier-stokes.ts --backend cuda --kernels fused,library \
  --batches 16,256,2048 --fields 32 --reference-device cuda --budget 120 --out "$res/bench-ns-cuda.json" > "$res/bench-ns-cuda.txt" 2>&1
cat "$res/bench-ns-cuda.txt"

log "prior on the WebGPU provider (Vulkan manifests: $(ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null | tr '\n' ' ') VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset})"
timeout 90 node -r ts-node/register/transpile-only bench/prior.ts --models models/ns-vorticity-64.onnx --providers webgpu,cpu \
  --batches 64,512,2048 --repeats 3 --no-sample --out "$res/bench-prior.json" > "$res/bench-prior.txt" 2>&1
cat "$res/bench-prior.txt"
# On only if WebGPU loaded and timed every batch (a software Vulkan driver
# would not get through them in time).
if awk '/on webgpu, fields/ { on = 1 } on && /^ *2048 / { ok = 1 } /on cpu, fields/ { on = 0 } END { exit !ok }' "$res/bench-prior.txt"; then
  # EnKG and EKI with everything on the GPU, one field, N = 512, K = 40,
  # U = 2: what EnKG reaches with this prior past the CPU's budget.
  log "accuracy on cuda with the prior on webgpu: EnKG N = 512, K = 40, U = 2 and EKI at the same budget"
  timeout 150 node -r ts-node/register/transpile-only bench/accuracy.ts --backend cuda --prior-provider webgpu \
    --algos enkg,eki --noise 0 --fields 1 --ensemble 512 --steps 40 --updates 2 --out "$res/accuracy-gpu.json" \
    > "$res/accuracy-gpu.txt" 2>&1
  cat "$res/accuracy-gpu.txt"
fi
if [ -n "${ENKG_PYTORCH_DIR:-}" ]; then
  # The reference EnKG on the GPU with the shipped prior's PyTorch weights:
  # what EnKG reaches with this prior at a larger budget and at the paper's
  # sizes (bench/RESULTS.md, accuracy section). Each run is time-boxed.
  log "reference EnKG on cuda: N = 512, K = 40, U = 2"
  timeout 150 python3 bench/enkg_reference.py --device cuda --ensemble 512 --steps 40 --updates 2 --batch-size 512 \
    --field 0 > "$res/enkg-reference-512.json" 2> "$res/enkg-reference-512.err"; cat "$res/enkg-reference-512.json"
  log "reference EnKG on cuda: N = 2048, K = 80, U = 2 (the paper's)"
  timeout 420 python3 bench/enkg_reference.py --device cuda --ensemble 2048 --steps 80 --updates 2 --batch-size 512 \
    --field 0 > "$res/enkg-reference-2048.json" 2> "$res/enkg-reference-2048.err"; cat "$res/enkg-reference-2048.json"
fi
log "done"
