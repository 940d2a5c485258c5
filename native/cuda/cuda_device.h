// The CUDA backend: cuBLAS (loaded at run time) for matrix products and
// fused element-wise / reduction kernels, all on one stream.
#pragma once

#include <string>
#include <vector>

#include "../core/device.h"

namespace enkg {

struct CudaProbe {
  bool available = false;
  std::string reason;  // why not, when unavailable
  std::string device;  // "NVIDIA H200 (compute capability 9.0, 139.8 GiB)"
  // Peak memory bandwidth from the memory clock and bus width (double data
  // rate), in bytes per second; 0 when the device does not say.
  double memoryBandwidth = 0;
};

// Probes once: device count, compute capability, a kernel image for the
// device, and whether cuBLAS loads.
const CudaProbe& cudaProbe();

struct CudaLibrary {
  std::string name;  // "cublas", "cufft"
  bool loaded = false;
  std::string path;    // what opened
  std::string reason;  // why not (every name tried)
};

// Loads cuBLAS and cuFFT (once per process; no device needed) and reports
// where each came from.
std::vector<CudaLibrary> cudaLibraryReport();

// The device, created on first use. Throws enkg::Error with the probe's
// reason when CUDA is unavailable.
Device& cudaDevice();

}  // namespace enkg
