// Exports of the Philox4x32-10 generator: randomNormal / randomUniform (async,
// any backend) and the raw block function philox4x32 (sync; for tests).
#include <napi.h>

#include <memory>

#include "../core/philox.h"
#include "../dispatch.h"
#include "args.h"
#include "exports.h"
#include "promise_worker.h"

namespace enkg {
namespace napi {
namespace {

// random(kind)(backend, out, count, streams, seed, firstStream) -> Promise<void>
template <bool kNormal>
Napi::Value Random(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const Backend backend = backendName(info[0], "backend");
    auto out = std::make_shared<FloatView>(floatArray(info[1], "out"));
    const uint64_t count = static_cast<uint64_t>(positiveInteger(info[2], "count"));
    const uint64_t streams = static_cast<uint64_t>(positiveInteger(info[3], "streams"));
    const uint64_t seed = seedValue(info[4], "seed");
    const uint64_t first = seedValue(info[5], "stream");
    const size_t total = floatCount(count, streams, "count x streams");
    if (out->length != total) {
      throw rangeError("count x streams = " + std::to_string(total) + " floats", "out.length",
                       std::to_string(out->length));
    }
    return runTask(info.Env(), kNormal ? "enkg.randomNormal" : "enkg.randomUniform", [=]() {
      Device& device = deviceFor(backend);
      std::lock_guard<std::mutex> lock(device.mutex());
      DeviceBuffer staging;
      float* target = out->data;
      if (!device.isHost()) {
        staging = DeviceBuffer(device, out->length);
        target = staging.get();
      }
      if (kNormal) {
        device.randomNormal(target, count, streams, seed, first);
      } else {
        device.randomUniform(target, count, streams, seed, first);
      }
      if (!device.isHost()) device.download(out->data, target, out->length);
    });
  });
}

// philox4x32(counter: Uint32Array(4), key: Uint32Array(2)) -> Uint32Array(4)
Napi::Value Philox(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto words = [&](const Napi::Value& v, size_t n, const char* name) {
      if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
          v.As<Napi::Uint32Array>().ElementLength() != n) {
        throw typeError("a Uint32Array of length " + std::to_string(n), name, "another value");
      }
      return v.As<Napi::Uint32Array>();
    };
    Napi::Uint32Array counter = words(info[0], 4, "counter"), key = words(info[1], 2, "key");
    Philox4x32 c;
    for (int i = 0; i < 4; ++i) c.v[i] = counter[i];
    const Philox4x32 r = philox4x32_10(c, key[0], key[1]);
    Napi::Uint32Array out = Napi::Uint32Array::New(info.Env(), 4);
    for (int i = 0; i < 4; ++i) out[i] = r.v[i];
    return out;
  });
}

}  // namespace

void registerRandomOps(Napi::Env env, Napi::Object exports) {
  exports.Set("randomNormal", Napi::Function::New(env, Random<true>, "randomNormal"));
  exports.Set("randomUniform", Napi::Function::New(env, Random<false>, "randomUniform"));
  exports.Set("philox4x32", Napi::Function::New(env, Philox, "philox4x32"));
}

}  // namespace napi
}  // namespace enkg
