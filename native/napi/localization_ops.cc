// Exports of the localized Kalman step (CPU; cpu/localization_cpu.h):
//   localizedKalmanStep(particles, measurements, residuals, ensembleSize, stepScale, normalize, rho, out)
//     -> Promise<{ coefNorm }>                   (the dense taper, d x m)
//   localizedKalmanStepGrid(particles, measurements, residuals, ensembleSize, stepScale, normalize,
//     resolution, kernel, measurementIndex, out) -> Promise<{ coefNorm }>   (a stationary taper, by FFT)
//   gaspariCohnTaper(fieldPoints, measurementPoints, halfWidth, out) -> Promise<void>
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>

#include "../cpu/localization_cpu.h"
#include "../dispatch.h"
#include "args.h"
#include "ensemble_ops.h"
#include "exports.h"
#include "promise_worker.h"

namespace enkg {
namespace napi {
namespace {

StepNormalization normalization(const Napi::Value& value) {
  if (value.IsString()) {
    const std::string s = value.As<Napi::String>().Utf8Value();
    if (s == "unlocalized") return StepNormalization::Unlocalized;
    if (s == "coefficient") return StepNormalization::Coefficient;
  }
  throw typeError("'unlocalized' or 'coefficient'", "normalize", describe(value));
}

// The arguments both forms of the step share (0-5 and the last), checked on
// the main thread; the typed arrays stay referenced by the views.
struct StepInputs {
  std::shared_ptr<FloatView> X, Y, R, out;
  int64_t N = 0, d = 0, m = 0;
  double stepScale = 0;
  StepNormalization normalize = StepNormalization::Unlocalized;

  LocalizedStepArgs args() const { return {X->data, Y->data, R->data, out->data, N, d, m, stepScale, normalize}; }

  // In the worker, before any work: non-finite inputs are refused.
  void requireFiniteInputs() const {
    requireFinite(X->data, X->length, d, "particles");
    requireFinite(Y->data, Y->length, m, "measurements");
    requireFinite(R->data, R->length, m, "residuals");
  }
};

StepInputs stepInputs(const Napi::CallbackInfo& info, size_t outIndex) {
  StepInputs s;
  s.X = std::make_shared<FloatView>(floatArray(info[0], "particles"));
  s.Y = std::make_shared<FloatView>(floatArray(info[1], "measurements"));
  s.R = std::make_shared<FloatView>(floatArray(info[2], "residuals"));
  s.N = ensembleSize(info[3]);
  s.stepScale = stepScaleValue(info[4]);
  s.normalize = normalization(info[5]);
  s.out = std::make_shared<FloatView>(floatArray(info[outIndex], "out"));
  s.d = rowLength(s.X->length, s.N, "particles", "N x d");
  s.m = rowLength(s.Y->length, s.N, "measurements", "N x m");
  if (s.R->length != s.Y->length) {
    throw rangeError("N x m = " + std::to_string(s.Y->length) + " floats (the length of measurements)",
                     "residuals.length", std::to_string(s.R->length));
  }
  if (s.out->length != s.X->length) {
    throw rangeError(std::to_string(s.X->length) + " floats (the length of particles)", "out.length",
                     std::to_string(s.out->length));
  }
  return s;
}

Napi::Value coefNormObject(Napi::Env env, double coefNorm) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("coefNorm", Napi::Number::New(env, coefNorm));
  return result;
}

Napi::Value LocalizedKalmanStep(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const StepInputs s = stepInputs(info, 7);
    auto rho = std::make_shared<FloatView>(floatArray(info[6], "rho"));
    if (rho->length != floatCount(s.d, s.m, "rho")) {
      throw rangeError("d x m = " + std::to_string(s.d) + " x " + std::to_string(s.m) + " floats", "rho.length",
                       std::to_string(rho->length));
    }
    auto coefNorm = std::make_shared<double>(0.0);
    Device& device = deviceFor(Backend::Cpu);
    return runTask(
        info.Env(), "enkg.localizedKalmanStep",
        [=, &device]() {
          s.requireFiniteInputs();
          requireFinite(rho->data, rho->length, s.m, "rho", "row");
          std::lock_guard<std::mutex> lock(device.mutex());
          *coefNorm = localizedKalmanStepDense(device, s.args(), rho->data);
          requireFiniteOutput(s.out->data, s.out->length, s.d, overflowMessage(s.stepScale, "out"));
        },
        [=](Napi::Env env) { return coefNormObject(env, *coefNorm); });
  });
}

Napi::Value LocalizedKalmanStepGrid(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const StepInputs s = stepInputs(info, 9);
    const int64_t R = positiveInteger(info[6], "resolution");
    if (R * R != s.d || R % 2 != 0) {
      throw rangeError("an even resolution R with R^2 = d = " + std::to_string(s.d), "resolution", std::to_string(R));
    }
    auto kernel = std::make_shared<FloatView>(floatArray(info[7], "kernel"));
    if (kernel->length != static_cast<size_t>(s.d)) {
      throw rangeError("R^2 = " + std::to_string(s.d) + " floats", "kernel.length", std::to_string(kernel->length));
    }
    auto index = std::make_shared<Int32View>(int32Array(info[8], "measurementIndex"));
    if (index->length != static_cast<size_t>(s.m)) {
      throw rangeError("m = " + std::to_string(s.m) + " grid indices", "measurementIndex.length",
                       std::to_string(index->length));
    }
    auto coefNorm = std::make_shared<double>(0.0);
    Device& device = deviceFor(Backend::Cpu);
    return runTask(
        info.Env(), "enkg.localizedKalmanStepGrid",
        [=, &device]() {
          s.requireFiniteInputs();
          requireFinite(kernel->data, kernel->length, s.d, "kernel", "grid");
          for (int64_t l = 0; l < s.m; ++l) {
            const int32_t i = index->data[l];
            if (i < 0 || i >= s.d) {
              throw rangeError("grid indices in [0, " + std::to_string(s.d) + ")", "measurementIndex",
                               std::to_string(i) + " at measurement " + std::to_string(l));
            }
          }
          std::lock_guard<std::mutex> lock(device.mutex());
          *coefNorm = localizedKalmanStepGrid(device, s.args(),
                                              GridTaper{static_cast<int>(R), kernel->data, index->data});
          requireFiniteOutput(s.out->data, s.out->length, s.d, overflowMessage(s.stepScale, "out"));
        },
        [=](Napi::Env env) { return coefNormObject(env, *coefNorm); });
  });
}

Napi::Value GaspariCohnTaper(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto p = std::make_shared<DoubleView>(doubleArray(info[0], "fieldPoints"));
    auto q = std::make_shared<DoubleView>(doubleArray(info[1], "measurementPoints"));
    const double c = finiteNumber(info[2], "halfWidth");
    if (!(c > 0)) throw rangeError("a positive half-width", "halfWidth", formatNumber(c));
    auto out = std::make_shared<FloatView>(floatArray(info[3], "out"));
    if (p->length == 0 || p->length % 2 != 0) {
      throw rangeError("2 d coordinates (d >= 1)", "fieldPoints.length", std::to_string(p->length));
    }
    if (q->length == 0 || q->length % 2 != 0) {
      throw rangeError("2 m coordinates (m >= 1)", "measurementPoints.length", std::to_string(q->length));
    }
    const int64_t d = static_cast<int64_t>(p->length / 2), m = static_cast<int64_t>(q->length / 2);
    if (out->length != floatCount(d, m, "out")) {
      throw rangeError("d x m = " + std::to_string(d) + " x " + std::to_string(m) + " floats", "out.length",
                       std::to_string(out->length));
    }
    Device& device = deviceFor(Backend::Cpu);
    return runTask(info.Env(), "enkg.gaspariCohnTaper", [=, &device]() {
      for (const auto& [view, name] : {std::make_pair(p.get(), "fieldPoints"), std::make_pair(q.get(), "measurementPoints")}) {
        for (size_t i = 0; i < view->length; ++i) {
          if (!std::isfinite(view->data[i])) {
            throw rangeError("finite coordinates", name, formatNumber(view->data[i]) + " at element " + std::to_string(i));
          }
        }
      }
      std::lock_guard<std::mutex> lock(device.mutex());
      gaspariCohnTaperCpu(p->data, d, q->data, m, c, out->data);
    });
  });
}

}  // namespace

void registerLocalizationOps(Napi::Env env, Napi::Object exports) {
  exports.Set("localizedKalmanStep", Napi::Function::New(env, LocalizedKalmanStep, "localizedKalmanStep"));
  exports.Set("localizedKalmanStepGrid", Napi::Function::New(env, LocalizedKalmanStepGrid, "localizedKalmanStepGrid"));
  exports.Set("gaspariCohnTaper", Napi::Function::New(env, GaspariCohnTaper, "gaspariCohnTaper"));
}

}  // namespace napi
}  // namespace enkg
