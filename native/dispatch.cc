#include "dispatch.h"

#include <thread>

#include "core/errors.h"
#include "cpu/cpu_device.h"
#ifdef ENKG_WITH_CUDA
#include "cuda/cuda_device.h"
#endif

namespace enkg {

bool builtWithCuda() {
#ifdef ENKG_WITH_CUDA
  return true;
#else
  return false;
#endif
}

std::vector<BackendInfo> probeBackends() {
  std::vector<BackendInfo> out;
  const unsigned threads = std::thread::hardware_concurrency();
  out.push_back({Backend::Cpu, true, "", "host CPU, " + std::to_string(threads) + " hardware threads, OpenBLAS"});
#ifdef ENKG_WITH_CUDA
  const CudaProbe& probe = cudaProbe();
  out.push_back({Backend::Cuda, probe.available, probe.reason, probe.device, probe.memoryBandwidth});
#else
  out.push_back({Backend::Cuda, false,
                 "this build of enkg has no CUDA support (nvcc was not found when the addon was compiled); "
                 "reinstall with the CUDA toolkit on PATH",
                 ""});
#endif
  return out;
}

std::vector<LibraryInfo> cudaLibraries() {
  std::vector<LibraryInfo> out;
#ifdef ENKG_WITH_CUDA
  for (const CudaLibrary& lib : cudaLibraryReport()) out.push_back({lib.name, lib.loaded, lib.path, lib.reason});
#else
  for (const char* name : {"cublas", "cufft"}) {
    out.push_back({name, false, "", "this build of enkg has no CUDA support, so it does not load " + std::string(name)});
  }
#endif
  return out;
}

Device& deviceFor(Backend backend) {
  if (backend == Backend::Cpu) return cpuDevice();
#ifdef ENKG_WITH_CUDA
  return cudaDevice();
#else
  throw runtimeError("The CUDA backend is unavailable: " + probeBackends()[1].reason);
#endif
}

}  // namespace enkg
