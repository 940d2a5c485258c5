// Export for bench/: benchKalman(backend, N, d, m, repeats, ordering?) times
// the Kalman step on device-resident data next to a plain sgemm with the same
// multiply-add count, in the same process, so the two can be compared as a
// ratio. Returns { stepSeconds: number[], sgemmSeconds: number[], sgemmSize,
// ordering, multiplyAdds }. benchSgemm times the baseline alone.
#include <napi.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <vector>

#include "../core/kalman.h"
#include "../dispatch.h"
#include "args.h"
#include "exports.h"
#include "ensemble_ops.h"
#include "promise_worker.h"

namespace enkg {
namespace napi {
namespace {

struct BenchResult {
  std::vector<double> step, sgemm;
  int64_t sgemmSize = 0;
  Ordering ordering = Ordering::Coefficient;
  double multiplyAdds = 0;
};

template <typename F>
double seconds(Device& device, F f) {
  device.synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  f();
  device.synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Napi::Value BenchKalman(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const Backend backend = backendName(info[0], "backend");
    const int64_t N = positiveInteger(info[1], "N"), d = positiveInteger(info[2], "d"),
                  m = positiveInteger(info[3], "m"), repeats = positiveInteger(info[4], "repeats");
    const int choice = orderingChoice(info[5]);
    const size_t Nd = floatCount(N, d, "N x d"), Nm = floatCount(N, m, "N x m");
    auto result = std::make_shared<BenchResult>();
    return runTask(
        info.Env(), "enkg.benchKalman",
        [=]() {
          Device& device = deviceFor(backend);
          std::lock_guard<std::mutex> lock(device.mutex());
          const Ordering ordering = choice < 0 ? chooseOrdering(N, d, m) : static_cast<Ordering>(choice);
          result->ordering = ordering;
          result->multiplyAdds = orderingCost(ordering, N, d, m);
          DeviceBuffer X(device, Nd), Xout(device, Nd), Y(device, Nm), R(device, Nm);
          device.randomNormal(X.get(), d, N, 1, 0);
          device.randomNormal(Y.get(), m, N, 2, 0);
          device.randomNormal(R.get(), m, N, 3, 0);
          // Square sgemm with the same multiply-add count: s^3 = cost.
          const int64_t s = std::max<int64_t>(1, std::llround(std::cbrt(result->multiplyAdds)));
          result->sgemmSize = s;
          const size_t square = floatCount(s, s, "sgemm size x size");
          DeviceBuffer A(device, square), B(device, square), C(device, square);
          device.randomNormal(A.get(), s, s, 4, 0);
          device.randomNormal(B.get(), s, s, 5, 0);
          for (int64_t rep = -1; rep < repeats; ++rep) {  // rep -1 is the warm-up
            const double tStep = seconds(device, [&] {
              kalmanStep(device, X.get(), Xout.get(), Y.get(), R.get(), N, d, m, 1.0, ordering);
            });
            const double tGemm = seconds(device, [&] {
              device.gemm(false, false, s, s, s, 1.0f, A.get(), s, B.get(), s, 0.0f, C.get(), s);
            });
            if (rep >= 0) {
              result->step.push_back(tStep);
              result->sgemm.push_back(tGemm);
            }
          }
        },
        [=](Napi::Env env) -> Napi::Value {
          Napi::Object o = Napi::Object::New(env);
          o.Set("stepSeconds", numberArray(env, result->step));
          o.Set("sgemmSeconds", numberArray(env, result->sgemm));
          o.Set("sgemmSize", static_cast<double>(result->sgemmSize));
          o.Set("ordering", orderingName(result->ordering));
          o.Set("multiplyAdds", result->multiplyAdds);
          return o;
        });
  });
}

// benchSgemm(backend, size, repeats) -> Promise<number[]>: seconds of each
// square size^3 sgemm on device-resident data (after one warm-up), so a
// benchmark can interleave the baseline with calls timed from JavaScript.
Napi::Value BenchSgemm(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const Backend backend = backendName(info[0], "backend");
    const int64_t s = positiveInteger(info[1], "size"), repeats = positiveInteger(info[2], "repeats");
    const size_t square = floatCount(s, s, "size x size");
    auto times = std::make_shared<std::vector<double>>();
    return runTask(
        info.Env(), "enkg.benchSgemm",
        [=]() {
          Device& device = deviceFor(backend);
          std::lock_guard<std::mutex> lock(device.mutex());
          DeviceBuffer A(device, square), B(device, square), C(device, square);
          device.randomNormal(A.get(), s, s, 4, 0);
          device.randomNormal(B.get(), s, s, 5, 0);
          for (int64_t rep = -1; rep < repeats; ++rep) {
            const double t = seconds(device, [&] {
              device.gemm(false, false, s, s, s, 1.0f, A.get(), s, B.get(), s, 0.0f, C.get(), s);
            });
            if (rep >= 0) times->push_back(t);
          }
        },
        [=](Napi::Env env) -> Napi::Value { return numberArray(env, *times); });
  });
}

}  // namespace

void registerBenchOps(Napi::Env env, Napi::Object exports) {
  exports.Set("benchKalman", Napi::Function::New(env, BenchKalman, "benchKalman"));
  exports.Set("benchSgemm", Napi::Function::New(env, BenchSgemm, "benchSgemm"));
}

}  // namespace napi
}  // namespace enkg
