// Shared by the CUDA sources: CUDA runtime errors as enkg::Error (never an
// abort), and typed device arrays released on scope exit.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "../core/device.h"
#include "../core/errors.h"

namespace enkg {

inline void checkCuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw runtimeError(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(status));
}
#define ENKG_CUDA(call) ::enkg::checkCuda((call), #call)

// Device memory for n elements of E (allocated through the Device, which
// pools it), released on scope exit.
template <typename E>
class DeviceArray {
 public:
  DeviceArray(Device& device, size_t n) : buffer_(device, (n * sizeof(E) + sizeof(float) - 1) / sizeof(float)) {}
  E* get() const { return reinterpret_cast<E*>(buffer_.get()); }

 private:
  DeviceBuffer buffer_;
};

}  // namespace enkg
