#include "ensemble_handle.h"

#include <cmath>
#include <memory>

#include "../core/kalman.h"
#include "../dispatch.h"
#include "args.h"
#include "ensemble_ops.h"
#include "promise_worker.h"

namespace enkg {
namespace napi {

void EnsembleHandle::Register(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "NativeEnsemble",
                                   {
                                       InstanceMethod("load", &EnsembleHandle::Load),
                                       InstanceMethod("read", &EnsembleHandle::Read),
                                       InstanceMethod("step", &EnsembleHandle::Step),
                                       InstanceMethod("mean", &EnsembleHandle::Mean),
                                       InstanceMethod("covarianceTrace", &EnsembleHandle::CovarianceTrace),
                                       InstanceMethod("fillNormal", &EnsembleHandle::FillNormal),
                                       InstanceMethod("dispose", &EnsembleHandle::Dispose),
                                   });
  exports.Set("NativeEnsemble", cls);
}

// new NativeEnsemble(backend, ensembleSize, particleSize)
EnsembleHandle::EnsembleHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EnsembleHandle>(info) {
  guarded(info, [&]() -> Napi::Value {
    backend_ = backendName(info[0], "backend");
    N_ = positiveInteger(info[1], "ensembleSize");
    if (N_ < 2) throw rangeError("an ensembleSize of at least 2", "ensembleSize", std::to_string(N_));
    d_ = positiveInteger(info[2], "particleSize");
    device_ = &deviceFor(backend_);
    std::lock_guard<std::mutex> lock(device_->mutex());
    data_ = DeviceBuffer(*device_, floatCount(N_, d_, "ensembleSize x particleSize"));
    return info.Env().Undefined();
  });
}

void EnsembleHandle::begin(const char* what) {
  if (device_ == nullptr || data_.get() == nullptr) {
    throw runtimeError(std::string("Cannot ") + what + ": the ensemble has been disposed");
  }
}

// Workers reach the particles through `self->data_` under the device lock
// (never a pointer taken when the call was made), because a GPU step swaps
// data_ and spare_.
std::shared_ptr<Napi::ObjectReference> EnsembleHandle::pin() {
  ++inFlight_;
  EnsembleHandle* self = this;
  // The deleter runs on the main thread when the worker is destroyed.
  return std::shared_ptr<Napi::ObjectReference>(new Napi::ObjectReference(Napi::Persistent(Value())),
                                                [self](Napi::ObjectReference* ref) {
                                                  --self->inFlight_;
                                                  delete ref;
                                                });
}

// load(particles: Float32Array) -> Promise<void>
Napi::Value EnsembleHandle::Load(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    begin("load particles");
    auto X = std::make_shared<FloatView>(floatArray(info[0], "particles"));
    if (X->length != data_.size()) {
      throw rangeError("N x d = " + std::to_string(data_.size()) + " floats", "particles.length",
                       std::to_string(X->length));
    }
    auto keep = pin();
    Device* device = device_;
    EnsembleHandle* self = this;
    const int64_t d = d_;
    return runTask(info.Env(), "enkg.Ensemble.load", [=]() {
      (void)keep;
      requireFinite(X->data, X->length, d, "particles");
      std::lock_guard<std::mutex> lock(device->mutex());
      device->upload(self->data_.get(), X->data, X->length);
      device->synchronize();
    });
  });
}

// read(out: Float32Array) -> Promise<void>
Napi::Value EnsembleHandle::Read(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    begin("read particles");
    auto out = std::make_shared<FloatView>(floatArray(info[0], "out"));
    if (out->length != data_.size()) {
      throw rangeError("N x d = " + std::to_string(data_.size()) + " floats", "out.length",
                       std::to_string(out->length));
    }
    auto keep = pin();
    Device* device = device_;
    EnsembleHandle* self = this;
    return runTask(info.Env(), "enkg.Ensemble.read", [=]() {
      (void)keep;
      std::lock_guard<std::mutex> lock(device->mutex());
      device->download(out->data, self->data_.get(), out->length);
    });
  });
}

// step(measurements, residuals, stepScale, ordering?) -> Promise<{ coefNorm, ordering }>
Napi::Value EnsembleHandle::Step(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    begin("take a Kalman step");
    auto Y = std::make_shared<FloatView>(floatArray(info[0], "measurements"));
    auto R = std::make_shared<FloatView>(floatArray(info[1], "residuals"));
    const double stepScale = finiteNumber(info[2], "stepScale");
    if (stepScale < 0) throw rangeError("a finite, non-negative number", "stepScale", formatNumber(stepScale));
    const int choice = orderingChoice(info[3]);
    const int64_t N = N_, d = d_;
    const int64_t m = rowLength(Y->length, N, "measurements", "N x m");
    if (R->length != Y->length) {
      throw rangeError("N x m = " + std::to_string(Y->length) + " floats (the length of measurements)",
                       "residuals.length", std::to_string(R->length));
    }
    auto keep = pin();
    Device* device = device_;
    EnsembleHandle* self = this;  // alive while `keep` pins it
    auto outcome = std::make_shared<KalmanOutcome>();
    return runTask(
        info.Env(), "enkg.Ensemble.step",
        [=]() {
          (void)keep;
          requireFinite(Y->data, Y->length, m, "measurements");
          requireFinite(R->data, R->length, m, "residuals");
          std::lock_guard<std::mutex> lock(device->mutex());
          StagedInput y(*device, Y->data, Y->length), r(*device, R->data, R->length);
          const Ordering ordering = choice < 0 ? chooseOrdering(N, d, m) : static_cast<Ordering>(choice);
          float* X = self->data_.get();
          if (device->isHost()) {
            // In place, block by block: a failed step leaves the particles it produced.
            *outcome = kalmanStep(*device, X, X, y.get(), r.get(), N, d, m, stepScale, ordering);
            requireFiniteOutput(X, self->data_.size(), d, overflowMessage(stepScale, "the ensemble"));
          } else {
            if (self->spare_.get() == nullptr) self->spare_ = DeviceBuffer(*device, self->data_.size());
            *outcome = kalmanStep(*device, X, self->spare_.get(), y.get(), r.get(), N, d, m, stepScale, ordering);
            // Out of place: a step whose particles are not all finite (their
            // covariance trace is not) is dropped and the ensemble kept.
            if (!std::isfinite(ensembleCovarianceTrace(*device, self->spare_.get(), N, d))) {
              throw runtimeError(overflowMessage(stepScale, "the ensemble") + "; the ensemble was left as it was");
            }
            std::swap(self->data_, self->spare_);
          }
          device->synchronize();
        },
        [=](Napi::Env env) -> Napi::Value { return outcomeObject(env, *outcome); });
  });
}

// mean(out: Float32Array of d) -> Promise<void>
Napi::Value EnsembleHandle::Mean(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    begin("compute the mean");
    auto out = std::make_shared<FloatView>(floatArray(info[0], "out"));
    if (out->length != static_cast<size_t>(d_)) {
      throw rangeError(std::to_string(d_) + " floats (one particle)", "out.length", std::to_string(out->length));
    }
    auto keep = pin();
    Device* device = device_;
    EnsembleHandle* self = this;
    const int64_t N = N_, d = d_;
    return runTask(info.Env(), "enkg.Ensemble.mean", [=]() {
      (void)keep;
      std::lock_guard<std::mutex> lock(device->mutex());
      DeviceBuffer mean(*device, d);
      ensembleMean(*device, self->data_.get(), N, d, mean.get());
      device->download(out->data, mean.get(), d);
    });
  });
}

// covarianceTrace() -> Promise<number>
Napi::Value EnsembleHandle::CovarianceTrace(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    begin("compute the covariance trace");
    auto keep = pin();
    Device* device = device_;
    EnsembleHandle* self = this;
    const int64_t N = N_, d = d_;
    auto trace = std::make_shared<double>(0.0);
    return runTask(
        info.Env(), "enkg.Ensemble.covarianceTrace",
        [=]() {
          (void)keep;
          std::lock_guard<std::mutex> lock(device->mutex());
          *trace = ensembleCovarianceTrace(*device, self->data_.get(), N, d);
        },
        [=](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, *trace); });
  });
}

// fillNormal(seed, firstStream) -> Promise<void>: particle n is Philox stream
// firstStream + n, as randomNormal() draws it.
Napi::Value EnsembleHandle::FillNormal(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    begin("draw particles");
    const uint64_t seed = seedValue(info[0], "seed");
    const uint64_t first = info[1].IsUndefined() ? 0 : seedValue(info[1], "stream");
    auto keep = pin();
    Device* device = device_;
    EnsembleHandle* self = this;
    const int64_t N = N_, d = d_;
    return runTask(info.Env(), "enkg.Ensemble.fillNormal", [=]() {
      (void)keep;
      std::lock_guard<std::mutex> lock(device->mutex());
      device->randomNormal(self->data_.get(), static_cast<size_t>(d), static_cast<uint64_t>(N), seed, first);
      device->synchronize();
    });
  });
}

// dispose(): frees the particles now rather than at garbage collection.
Napi::Value EnsembleHandle::Dispose(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    if (inFlight_.load() > 0) {
      throw runtimeError("Cannot dispose the ensemble while " + std::to_string(inFlight_.load()) +
                         " operation(s) on it are running; await them first");
    }
    if (device_ != nullptr) {
      std::lock_guard<std::mutex> lock(device_->mutex());
      data_.reset();
      spare_.reset();
    }
    return info.Env().Undefined();
  });
}

}  // namespace napi
}  // namespace enkg
