// NativeEnsemble: particles resident on a device between calls (GPU memory
// on the CUDA backend), so an algorithm's loop moves only measurements and
// residuals across the bus.
#pragma once

#include <napi.h>

#include <atomic>

#include "../core/device.h"

namespace enkg {
namespace napi {

class EnsembleHandle : public Napi::ObjectWrap<EnsembleHandle> {
 public:
  static void Register(Napi::Env env, Napi::Object exports);
  explicit EnsembleHandle(const Napi::CallbackInfo& info);

 private:
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value Mean(const Napi::CallbackInfo& info);
  Napi::Value CovarianceTrace(const Napi::CallbackInfo& info);
  Napi::Value FillNormal(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  // Checks the handle is usable and marks one operation in flight.
  void begin(const char* what);
  // A reference that keeps this object alive while a worker uses it and
  // marks the operation finished when the worker is destroyed.
  std::shared_ptr<Napi::ObjectReference> pin();

  Device* device_ = nullptr;
  Backend backend_ = Backend::Cpu;
  int64_t N_ = 0, d_ = 0;
  DeviceBuffer data_;
  // On a GPU a step writes into this second buffer and the two swap (an
  // out-of-place product); the CPU steps in place, block by block.
  DeviceBuffer spare_;
  std::atomic<int> inFlight_{0};
};

}  // namespace napi
}  // namespace enkg
