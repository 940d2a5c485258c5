// Exports: probeBackends() -> Promise<Array<{ name, available, reason, device, memoryBandwidth }>>,
// cudaLibraries() -> Promise<Array<{ name, loaded, path, reason }>> and buildInfo() (sync): what
// this binary was compiled with.
#include <napi.h>

#include <memory>
#include <vector>

#include "../dispatch.h"
#include "args.h"
#include "exports.h"
#include "promise_worker.h"

namespace enkg {
namespace napi {
namespace {

Napi::Value ProbeBackends(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto result = std::make_shared<std::vector<BackendInfo>>();
    // The first CUDA probe initialises the driver (up to a second or so), so
    // it runs off the main thread.
    return runTask(
        info.Env(), "enkg.probeBackends", [=]() { *result = probeBackends(); },
        [=](Napi::Env env) -> Napi::Value {
          Napi::Array array = Napi::Array::New(env, result->size());
          for (size_t i = 0; i < result->size(); ++i) {
            const BackendInfo& b = (*result)[i];
            Napi::Object o = Napi::Object::New(env);
            o.Set("name", backendName(b.name));
            o.Set("available", b.available);
            if (!b.reason.empty()) o.Set("reason", b.reason);
            if (!b.device.empty()) o.Set("device", b.device);
            if (b.memoryBandwidth > 0) o.Set("memoryBandwidth", b.memoryBandwidth);
            array.Set(static_cast<uint32_t>(i), o);
          }
          return array;
        });
  });
}

Napi::Value CudaLibraries(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto result = std::make_shared<std::vector<LibraryInfo>>();
    // dlopen of cuBLASLt maps half a gigabyte: off the main thread.
    return runTask(
        info.Env(), "enkg.cudaLibraries", [=]() { *result = cudaLibraries(); },
        [=](Napi::Env env) -> Napi::Value {
          Napi::Array array = Napi::Array::New(env, result->size());
          for (size_t i = 0; i < result->size(); ++i) {
            const LibraryInfo& lib = (*result)[i];
            Napi::Object o = Napi::Object::New(env);
            o.Set("name", lib.name);
            o.Set("loaded", lib.loaded);
            if (!lib.path.empty()) o.Set("path", lib.path);
            if (!lib.reason.empty()) o.Set("reason", lib.reason);
            array.Set(static_cast<uint32_t>(i), o);
          }
          return array;
        });
  });
}

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("cuda", builtWithCuda());
  // The CUDA Navier-Stokes kernels (cuda/navier_stokes.cu) have not yet run
  // on a GPU: until the CUDA suite has passed there, backend 'auto' keeps
  // these kernels on the CPU and only an explicit 'cuda' selects them.
  o.Set("navierStokesCuda", false);
#ifdef ENKG_CUDA_ARCHITECTURES
  o.Set("cudaArchitectures", ENKG_CUDA_ARCHITECTURES);
#endif
#ifdef _OPENMP
  o.Set("openmp", true);
#else
  o.Set("openmp", false);
#endif
  return o;
}

}  // namespace

void registerBackendOps(Napi::Env env, Napi::Object exports) {
  exports.Set("probeBackends", Napi::Function::New(env, ProbeBackends, "probeBackends"));
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo, "buildInfo"));
  exports.Set("cudaLibraries", Napi::Function::New(env, CudaLibraries, "cudaLibraries"));
}

}  // namespace napi
}  // namespace enkg
