// The one place that maps a backend name to a Device.
#pragma once

#include <string>
#include <vector>

#include "core/device.h"

namespace enkg {

struct BackendInfo {
  Backend name;
  bool available;
  std::string reason;  // why unavailable (empty when available)
  std::string device;  // what it runs on
  double memoryBandwidth = 0;  // peak bytes per second, where known (CUDA)
};

// Probes every backend once (later calls return the cached answer).
std::vector<BackendInfo> probeBackends();

// The device for a backend; throws enkg::Error carrying the probe's reason
// when the backend is unavailable.
Device& deviceFor(Backend backend);

// Whether the CUDA sources were compiled into this build.
bool builtWithCuda();

// NVIDIA's run-time libraries enkg loads with dlopen, and whether each
// loaded: `path` is what opened, else `reason` lists every name tried.
// Loads them when first asked, with or without a GPU.
struct LibraryInfo {
  std::string name;  // "cublas", "cufft"
  bool loaded = false;
  std::string path;
  std::string reason;
};
std::vector<LibraryInfo> cudaLibraries();

}  // namespace enkg
