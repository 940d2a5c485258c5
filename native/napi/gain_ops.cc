// Exports of the regularized gain (CPU; cpu/gain_cpu.h):
//   regularizedResiduals(measurements, residuals, ensembleSize, alpha, rho, sizes, out) -> Promise<{ alpha }>
//     alpha: a number > 0, or 'adaptive' (then rho in (0, 1) and sizes, a
//     Float64Array of the N particles' squared residual norms, decide it);
//     out: N x m floats, the transformed residuals.
#include <napi.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "../cpu/gain_cpu.h"
#include "../dispatch.h"
#include "args.h"
#include "ensemble_ops.h"
#include "exports.h"
#include "promise_worker.h"

namespace enkg {
namespace napi {
namespace {

bool overlaps(const float* a, size_t na, const float* b, size_t nb) { return a < b + nb && b < a + na; }

Napi::Value RegularizedResiduals(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto Y = std::make_shared<FloatView>(floatArray(info[0], "measurements"));
    auto R = std::make_shared<FloatView>(floatArray(info[1], "residuals"));
    const int64_t N = ensembleSize(info[2]);
    if (N > kGainMaxEnsemble) {
      throw rangeError("an ensembleSize of at most " + std::to_string(kGainMaxEnsemble) +
                           " (the regularized gain's eigensolver counts its workspace in 32-bit integers)",
                       "ensembleSize", std::to_string(N));
    }
    const int64_t m = rowLength(Y->length, N, "measurements", "N x m");
    if (R->length != Y->length) {
      throw rangeError("N x m = " + std::to_string(Y->length) + " floats (the length of measurements)",
                       "residuals.length", std::to_string(R->length));
    }

    GainArgs args{};
    args.N = N;
    args.m = m;
    const Napi::Value alpha = info[3];
    if (alpha.IsString() && alpha.As<Napi::String>().Utf8Value() == "adaptive") {
      args.adaptive = true;
    } else if (alpha.IsNumber()) {
      args.alpha = alpha.As<Napi::Number>().DoubleValue();
      if (!(std::isfinite(args.alpha) && args.alpha > 0)) {
        throw rangeError("a finite number > 0 or 'adaptive'", "alpha", describe(alpha));
      }
    } else {
      throw typeError("a finite number > 0 or 'adaptive'", "alpha", describe(alpha));
    }
    args.rho = finiteNumber(info[4], "rho");
    if (!(args.rho > 0 && args.rho < 1)) throw rangeError("a fraction in (0, 1)", "rho", describe(info[4]));

    std::shared_ptr<DoubleView> sizes;
    if (!info[5].IsNull() && !info[5].IsUndefined()) {
      sizes = std::make_shared<DoubleView>(doubleArray(info[5], "sizes"));
      if (sizes->length != static_cast<size_t>(N)) {
        throw rangeError("ensembleSize = " + std::to_string(N) + " squared residual norms", "sizes.length",
                         std::to_string(sizes->length));
      }
      args.sizes = sizes->data;
    } else if (args.adaptive) {
      throw typeError("a Float64Array of the particles' squared residual norms (the adaptive gain needs them)", "sizes",
                      describe(info[5]));
    }

    auto out = std::make_shared<FloatView>(floatArray(info[6], "out"));
    if (out->length != Y->length) {
      throw rangeError("N x m = " + std::to_string(Y->length) + " floats (the length of measurements)", "out.length",
                       std::to_string(out->length));
    }
    for (const auto& [view, name] : {std::make_pair(Y.get(), "measurements"), std::make_pair(R.get(), "residuals")}) {
      if (overlaps(out->data, out->length, view->data, view->length)) {
        throw rangeError(std::string("an array that does not share memory with ") + name, "out", "one that does");
      }
    }
    args.Y = Y->data;
    args.R = R->data;
    args.out = out->data;

    auto used = std::make_shared<double>(0.0);
    Device& device = deviceFor(Backend::Cpu);
    return runTask(
        info.Env(), "enkg.regularizedResiduals",
        [=, &device]() {
          requireFinite(Y->data, Y->length, m, "measurements");
          requireFinite(R->data, R->length, m, "residuals");
          if (sizes) {
            for (size_t n = 0; n < sizes->length; ++n) {
              const double v = sizes->data[n];
              if (!(std::isfinite(v) && v >= 0)) {
                // Squared norms: a negative one would pick the largest alpha without a word.
                char value[32];
                if (std::isfinite(v)) std::snprintf(value, sizeof value, "%.17g", v);
                throw rangeError("finite values >= 0 (squared residual norms)", "sizes",
                                 std::string(std::isfinite(v) ? value : std::isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity") +
                                     " at particle " + std::to_string(n));
              }
            }
          }
          std::lock_guard<std::mutex> lock(device.mutex());
          *used = regularizedResidualsCpu(args);
          requireFiniteOutput(out->data, out->length, m,
                              "The regularized gain with alpha = " + formatNumber(*used) +
                                  " produced residuals beyond float32's range");
        },
        [=](Napi::Env env) {
          Napi::Object result = Napi::Object::New(env);
          result.Set("alpha", Napi::Number::New(env, *used));
          return result;
        });
  });
}

}  // namespace

void registerGainOps(Napi::Env env, Napi::Object exports) {
  exports.Set("regularizedResiduals", Napi::Function::New(env, RegularizedResiduals, "regularizedResiduals"));
}

}  // namespace napi
}  // namespace enkg
