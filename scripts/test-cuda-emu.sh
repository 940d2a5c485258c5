#!/usr/bin/env bash
# The CUDA backend without a GPU: builds the addon with the CUDA sources
# compiled for the CPU emulator (native/cuda-emu) into build-emu/, then runs
# the CUDA suite (test/cuda) on it, with the emulator's own self-test.
# Where GCC's AddressSanitizer is installed the kernels and the host code
# around them are built with it (node then runs with libasan preloaded), so
# an index past a device array stops the run with a report.
# Extra arguments go to jest (e.g. --json --outputFile=FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(node -p 'require("os").cpus().length')
asan=$(${CXX:-g++} -print-file-name=libasan.so)
mode=1
if [ -f "$asan" ]; then
  mode=asan
else
  echo "test-cuda-emu: libasan.so not found; building the emulator without AddressSanitizer"
  asan=""
fi
# A build of the other mode is reconfigured from scratch.
if [ -f build-emu/.emu-mode ] && [ "$(cat build-emu/.emu-mode)" != "$mode" ]; then rm -rf build-emu; fi
ENKG_CUDA_EMULATOR=$mode npx cmake-js compile --out build-emu --parallel "$jobs"
echo "$mode" > build-emu/.emu-mode
export ENKG_ADDON_PATH="$root/build-emu/Release/enkg.node" ENKG_CUDA_LIB_DIR="$root/build-emu/Release"
if [ -n "$asan" ]; then
  export LD_PRELOAD="$asan" ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
fi
exec npx jest test/cuda test/cuda-emulator.test.ts "$@"
