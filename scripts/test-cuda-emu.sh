#!/usr/bin/env bash
# The CUDA backend without a GPU: builds the addon with the CUDA sources
# compiled for the CPU emulator (native/cuda-emu) into build-emu/, then runs
# the CUDA suite (test/cuda) on it, with the emulator's own self-test.
# Extra arguments go to jest (e.g. --json --outputFile=FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(node -p 'require("os").cpus().length')
ENKG_CUDA_EMULATOR=1 npx cmake-js compile --out build-emu --parallel "$jobs"
export ENKG_ADDON_PATH="$root/build-emu/Release/enkg.node" ENKG_CUDA_LIB_DIR="$root/build-emu/Release"
exec npx jest test/cuda test/cuda-emulator.test.ts "$@"
