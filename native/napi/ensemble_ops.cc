#include "ensemble_ops.h"

#include <memory>

#include "../core/kalman.h"
#include "../dispatch.h"
#include "args.h"
#include "exports.h"
#include "promise_worker.h"

namespace enkg {
namespace napi {

int64_t rowLength(size_t length, int64_t N, const std::string& name, const std::string& shape) {
  if (length == 0 || length % static_cast<size_t>(N) != 0) {
    throw rangeError("a length that is a positive multiple of ensembleSize = " + std::to_string(N) + " (" + shape + ")",
                     name + ".length", std::to_string(length));
  }
  return static_cast<int64_t>(length / static_cast<size_t>(N));
}

int orderingChoice(const Napi::Value& value) {
  if (value.IsUndefined() || value.IsNull()) return -1;
  if (value.IsString()) {
    const std::string s = value.As<Napi::String>().Utf8Value();
    if (s == "auto") return -1;
    if (s == "coefficient") return static_cast<int>(Ordering::Coefficient);
    if (s == "cross-covariance") return static_cast<int>(Ordering::CrossCovariance);
  }
  throw typeError("'auto', 'coefficient' or 'cross-covariance'", "ordering",
                  value.IsString() ? "'" + value.As<Napi::String>().Utf8Value() + "'" : "a non-string");
}

Napi::Object outcomeObject(Napi::Env env, const KalmanOutcome& outcome) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("coefNorm", Napi::Number::New(env, outcome.coefNorm));
  result.Set("ordering", Napi::String::New(env, orderingName(outcome.ordering)));
  return result;
}

std::string overflowMessage(double stepScale, const std::string& where) {
  return "The Kalman step with stepScale = " + formatNumber(stepScale) +
         " produced non-finite particles (a step scale too large for these inputs) in " + where;
}

int64_t ensembleSize(const Napi::Value& value) {
  const int64_t N = positiveInteger(value, "ensembleSize");
  if (N < 2) throw rangeError("an ensembleSize of at least 2", "ensembleSize", std::to_string(N));
  return N;
}

double stepScaleValue(const Napi::Value& value) {
  const double w = finiteNumber(value, "stepScale");
  if (w < 0) throw rangeError("a finite, non-negative number", "stepScale", formatNumber(w));
  return w;
}

namespace {

// kalmanStep(backend, particles, measurements, residuals, ensembleSize,
//            stepScale, out, ordering?) -> Promise<{ coefNorm, ordering }>
Napi::Value KalmanStep(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const Backend backend = backendName(info[0], "backend");
    auto X = std::make_shared<FloatView>(floatArray(info[1], "particles"));
    auto Y = std::make_shared<FloatView>(floatArray(info[2], "measurements"));
    auto R = std::make_shared<FloatView>(floatArray(info[3], "residuals"));
    const int64_t N = ensembleSize(info[4]);
    const double stepScale = stepScaleValue(info[5]);
    auto out = std::make_shared<FloatView>(floatArray(info[6], "out"));
    const int choice = orderingChoice(info[7]);
    const int64_t d = rowLength(X->length, N, "particles", "N x d");
    const int64_t m = rowLength(Y->length, N, "measurements", "N x m");
    if (R->length != Y->length) {
      throw rangeError("N x m = " + std::to_string(Y->length) + " floats (the length of measurements)",
                       "residuals.length", std::to_string(R->length));
    }
    if (out->length != X->length) {
      throw rangeError(std::to_string(X->length) + " floats (the length of particles)", "out.length",
                       std::to_string(out->length));
    }
    auto outcome = std::make_shared<KalmanOutcome>();
    return runTask(
        info.Env(), "enkg.kalmanStep",
        [=]() {
          requireFinite(X->data, X->length, d, "particles");
          requireFinite(Y->data, Y->length, m, "measurements");
          requireFinite(R->data, R->length, m, "residuals");
          Device& device = deviceFor(backend);
          std::lock_guard<std::mutex> lock(device.mutex());
          const Ordering ordering = choice < 0 ? chooseOrdering(N, d, m) : static_cast<Ordering>(choice);
          if (device.isHost()) {
            *outcome = kalmanStep(device, X->data, out->data, Y->data, R->data, N, d, m, stepScale, ordering);
          } else {
            StagedInput x(device, X->data, X->length), y(device, Y->data, Y->length), r(device, R->data, R->length);
            DeviceBuffer next(device, X->length);
            *outcome = kalmanStep(device, x.get(), next.get(), y.get(), r.get(), N, d, m, stepScale, ordering);
            device.download(out->data, next.get(), X->length);
          }
          requireFiniteOutput(out->data, out->length, d, overflowMessage(stepScale, "out"));
        },
        [=](Napi::Env env) -> Napi::Value { return outcomeObject(env, *outcome); });
  });
}

// ensembleMean(backend, particles, ensembleSize, out) -> Promise<void>
Napi::Value EnsembleMean(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const Backend backend = backendName(info[0], "backend");
    auto X = std::make_shared<FloatView>(floatArray(info[1], "particles"));
    const int64_t N = ensembleSize(info[2]);
    auto out = std::make_shared<FloatView>(floatArray(info[3], "out"));
    const int64_t d = rowLength(X->length, N, "particles", "N x d");
    if (out->length != static_cast<size_t>(d)) {
      throw rangeError(std::to_string(d) + " floats (one particle)", "out.length", std::to_string(out->length));
    }
    return runTask(info.Env(), "enkg.ensembleMean", [=]() {
      requireFinite(X->data, X->length, d, "particles");
      Device& device = deviceFor(backend);
      std::lock_guard<std::mutex> lock(device.mutex());
      StagedInput x(device, X->data, X->length);
      if (device.isHost()) {
        ensembleMean(device, x.get(), N, d, out->data);
      } else {
        DeviceBuffer mean(device, d);
        ensembleMean(device, x.get(), N, d, mean.get());
        device.download(out->data, mean.get(), d);
      }
    });
  });
}

// ensembleCovarianceTrace(backend, particles, ensembleSize) -> Promise<number>
Napi::Value EnsembleCovarianceTrace(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const Backend backend = backendName(info[0], "backend");
    auto X = std::make_shared<FloatView>(floatArray(info[1], "particles"));
    const int64_t N = ensembleSize(info[2]);
    const int64_t d = rowLength(X->length, N, "particles", "N x d");
    auto trace = std::make_shared<double>(0.0);
    return runTask(
        info.Env(), "enkg.ensembleCovarianceTrace",
        [=]() {
          requireFinite(X->data, X->length, d, "particles");
          Device& device = deviceFor(backend);
          std::lock_guard<std::mutex> lock(device.mutex());
          StagedInput x(device, X->data, X->length);
          *trace = ensembleCovarianceTrace(device, x.get(), N, d);
        },
        [=](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, *trace); });
  });
}

// chooseOrdering(N, d, m) -> 'coefficient' | 'cross-covariance' (sync, cheap)
Napi::Value ChooseOrdering(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const int64_t N = positiveInteger(info[0], "N"), d = positiveInteger(info[1], "d"),
                  m = positiveInteger(info[2], "m");
    return Napi::String::New(info.Env(), orderingName(chooseOrdering(N, d, m)));
  });
}

}  // namespace

void registerEnsembleOps(Napi::Env env, Napi::Object exports) {
  exports.Set("kalmanStep", Napi::Function::New(env, KalmanStep, "kalmanStep"));
  exports.Set("ensembleMean", Napi::Function::New(env, EnsembleMean, "ensembleMean"));
  exports.Set("ensembleCovarianceTrace", Napi::Function::New(env, EnsembleCovarianceTrace, "ensembleCovarianceTrace"));
  exports.Set("chooseOrdering", Napi::Function::New(env, ChooseOrdering, "chooseOrdering"));
}

}  // namespace napi
}  // namespace enkg
