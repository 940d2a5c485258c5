// Exports of the spectral kernels on the torus:
//   navierStokesSolve(backend, w0, batch, options, out) -> Promise<{ failures, steps, kernel }>
//   gaussianRandomField(backend, out, count, options) -> Promise<void>
//   spectralFilter(x, batch, resolution, gains, out) -> Promise<void>
//   flowTraceBack(snapshots, count, resolution, time, points, substeps, out) -> Promise<void>
#include <napi.h>

#include <cmath>
#include <memory>

#include "../cpu/flow_trace.h"
#include "../cpu/navier_stokes_cpu.h"
#include "../cpu/spectral_filter.h"
#include "../dispatch.h"
#ifdef ENKG_WITH_CUDA
#include "../cuda/navier_stokes_cuda.h"
#endif
#include "args.h"
#include "exports.h"
#include "promise_worker.h"

namespace enkg {
namespace napi {
namespace {

int resolutionValue(const Napi::Value& value) {
  const int64_t R = positiveInteger(value, "resolution");
  if (R % 2 != 0 || R < 4 || R > 4096) {
    throw rangeError("an even resolution between 4 and 4096", "resolution", std::to_string(R));
  }
  return static_cast<int>(R);
}

std::string stringOption(const Napi::Object& o, const char* key, const std::string& fallback) {
  const Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsString()) throw typeError("a string", key, "a non-string");
  return v.As<Napi::String>().Utf8Value();
}

double numberOption(const Napi::Object& o, const char* key, double fallback) {
  const Napi::Value v = o.Get(key);
  return v.IsUndefined() ? fallback : finiteNumber(v, key);
}

NavierStokesOptions parseOptions(const Napi::Value& value) {
  if (!value.IsObject()) throw typeError("an options object", "options", "another value");
  const Napi::Object o = value.As<Napi::Object>();
  NavierStokesOptions opts;
  opts.resolution = resolutionValue(o.Get("resolution"));
  opts.reynolds = numberOption(o, "reynolds", 200.0);
  if (!(opts.reynolds > 0)) throw rangeError("a positive number", "reynolds", formatNumber(opts.reynolds));
  opts.time = numberOption(o, "time", 1.0);
  if (opts.time < 0) throw rangeError("a non-negative number", "time", formatNumber(opts.time));
  const Napi::Value adaptive = o.Get("adaptive");
  opts.adaptive = adaptive.IsUndefined() ? true : adaptive.ToBoolean().Value();
  opts.dt = numberOption(o, "dt", 1e-3);
  if (!(opts.dt > 0)) throw rangeError("a positive number", "dt", formatNumber(opts.dt));
  const std::string mode = stringOption(o, "dtMode", "sample");
  if (mode != "sample" && mode != "batch") throw typeError("'sample' or 'batch'", "dtMode", "'" + mode + "'");
  opts.perSampleDt = mode == "sample";
  const std::string forcing = stringOption(o, "forcing", "kolmogorov");
  if (forcing != "kolmogorov" && forcing != "none") {
    throw typeError("'kolmogorov' or 'none'", "forcing", "'" + forcing + "'");
  }
  opts.forcing = forcing == "kolmogorov";
  const std::string precision = stringOption(o, "precision", "float32");
  if (precision != "float32" && precision != "float64") {
    throw typeError("'float32' or 'float64'", "precision", "'" + precision + "'");
  }
  opts.doublePrecision = precision == "float64";
  const double maxSteps = numberOption(o, "maxSteps", 0.0);
  if (maxSteps < 0 || maxSteps != std::floor(maxSteps) || maxSteps > 9007199254740991.0) {
    throw rangeError("an integer >= 0 (0: no limit)", "maxSteps", formatNumber(maxSteps));
  }
  opts.maxSteps = static_cast<int64_t>(maxSteps);
  const std::string kernel = stringOption(o, "kernel", "auto");
  if (kernel != "auto" && kernel != "library" && kernel != "fused") {
    throw typeError("'auto', 'library' or 'fused'", "kernel", "'" + kernel + "'");
  }
  opts.kernel = kernel == "fused" ? SolverKernel::Fused : kernel == "library" ? SolverKernel::Library : SolverKernel::Auto;
  // Test-only: the order in which the CPU run of the fused kernel walks a phase's items.
  const std::string order = stringOption(o, "itemOrder", "forward");
  if (order != "forward" && order != "reverse") throw typeError("'forward' or 'reverse'", "itemOrder", "'" + order + "'");
  opts.reverseItems = order == "reverse";
  return opts;
}


Napi::Value NavierStokesSolve(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const Backend backend = backendName(info[0], "backend");
    const int64_t batch = positiveInteger(info[2], "batch");
    // Options first: reading them can run JavaScript (getters), which must
    // not see the arrays after their pointers were taken.
    NavierStokesOptions opts = parseOptions(info[3]);
    // An Int32Array whose first element JavaScript sets to stop the solve.
    auto cancel = std::make_shared<Napi::ObjectReference>();
    const Napi::Value flag = info[3].As<Napi::Object>().Get("cancel");
    if (!flag.IsUndefined()) {
      if (!flag.IsTypedArray() || flag.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
          flag.As<Napi::TypedArray>().ElementLength() < 1) {
        throw typeError("an Int32Array of length >= 1", "cancel", describe(flag));
      }
      opts.cancel = flag.As<Napi::Int32Array>().Data();
      *cancel = Napi::Persistent(flag.As<Napi::Object>());
    }
    auto w0 = std::make_shared<FloatView>(floatArray(info[1], "w0"));
    auto out = std::make_shared<FloatView>(floatArray(info[4], "out"));
    const size_t field = static_cast<size_t>(opts.resolution) * opts.resolution;
    if (w0->length != floatCount(field, batch, "batch x resolution^2")) {
      throw rangeError("batch x resolution^2 = " + std::to_string(batch) + " x " + std::to_string(field) + " floats",
                       "w0.length", std::to_string(w0->length));
    }
    if (out->length != w0->length) {
      throw rangeError(std::to_string(w0->length) + " floats (the length of w0)", "out.length",
                       std::to_string(out->length));
    }
    Device& device = deviceFor(backend);
    auto report = std::make_shared<NavierStokesReport>();
    return runTask(
        info.Env(), "enkg.navierStokesSolve",
        [=, &device]() {
          requireFinite(w0->data, w0->length, field, "w0", "field");
          std::lock_guard<std::mutex> lock(device.mutex());
#ifdef ENKG_WITH_CUDA
          if (!device.isHost()) {
            *report = solveNavierStokesCuda(device, w0->data, out->data, batch, opts);
            return;
          }
#endif
          *report = solveNavierStokesCpu(w0->data, out->data, batch, opts);
        },
        [=](Napi::Env env) -> Napi::Value {
          const std::vector<SampleFailure>& failures = report->failures;
          Napi::Array list = Napi::Array::New(env, failures.size());
          for (size_t i = 0; i < failures.size(); ++i) {
            Napi::Object f = Napi::Object::New(env);
            f.Set("index", static_cast<double>(failures[i].index));
            f.Set("time", failures[i].time);
            f.Set("stepLimit", failures[i].stepLimit);
            list.Set(static_cast<uint32_t>(i), f);
          }
          Napi::Object result = Napi::Object::New(env);
          result.Set("failures", list);
          result.Set("steps", static_cast<double>(report->steps));
          result.Set("kernel", report->fused ? "fused" : "library");
          result.Set("cancelled", report->cancelled);
          (void)cancel;  // keeps the flag's array alive until here
          return result;
        });
  });
}

// gaussianRandomField(backend, out, count, { resolution, alpha, tau, seed, stream })
Napi::Value GaussianRandomField(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const Backend backend = backendName(info[0], "backend");
    const int64_t count = positiveInteger(info[2], "count");
    if (!info[3].IsObject()) throw typeError("an options object", "options", "another value");
    const Napi::Object o = info[3].As<Napi::Object>();
    GrfOptions opts;
    opts.resolution = resolutionValue(o.Get("resolution"));
    opts.alpha = finiteNumber(o.Get("alpha"), "alpha");
    opts.tau = finiteNumber(o.Get("tau"), "tau");
    if (!(opts.alpha > 0)) throw rangeError("a positive number", "alpha", formatNumber(opts.alpha));
    if (!(opts.tau > 0)) throw rangeError("a positive number", "tau", formatNumber(opts.tau));
    opts.seed = seedValue(o.Get("seed"), "seed");
    opts.firstStream = o.Get("stream").IsUndefined() ? 0 : seedValue(o.Get("stream"), "stream");
    auto out = std::make_shared<FloatView>(floatArray(info[1], "out"));  // after the options (see NavierStokesSolve)
    const size_t field = static_cast<size_t>(opts.resolution) * opts.resolution;
    if (out->length != floatCount(field, count, "count x resolution^2")) {
      throw rangeError("count x resolution^2 = " + std::to_string(count * field) + " floats", "out.length",
                       std::to_string(out->length));
    }
    Device& device = deviceFor(backend);
    return runTask(info.Env(), "enkg.gaussianRandomField", [=, &device]() {
      std::lock_guard<std::mutex> lock(device.mutex());
#ifdef ENKG_WITH_CUDA
      if (!device.isHost()) {
        gaussianRandomFieldCuda(device, out->data, count, opts);
        requireFiniteOutput(out->data, out->length, field, "The random fields in out are not all finite", "field");
        return;
      }
#endif
      gaussianRandomFieldCpu(out->data, count, opts);
      requireFiniteOutput(out->data, out->length, field, "The random fields in out are not all finite", "field");
    });
  });
}

// spectralFilter(x, batch, resolution, gains: Float64Array, out) -> Promise<void>
// (CPU): out = irfft2(rfft2(x) * gains), gains of R (R/2 + 1) per field or shared.
Napi::Value SpectralFilter(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto x = std::make_shared<FloatView>(floatArray(info[0], "x"));
    const int64_t batch = positiveInteger(info[1], "batch");
    const int R = resolutionValue(info[2]);
    if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      throw typeError("a Float64Array", "gains", "another value");
    }
    Napi::Float64Array gainArray = info[3].As<Napi::Float64Array>();
    auto gains = std::make_shared<Napi::ObjectReference>(Napi::Persistent(gainArray.As<Napi::Object>()));
    const double* g = gainArray.Data();
    const size_t half = static_cast<size_t>(R) * (R / 2 + 1), field = static_cast<size_t>(R) * R;
    const bool perField = gainArray.ElementLength() == floatCount(half, batch, "batch x spectrum size") && batch > 1;
    if (gainArray.ElementLength() != half && !perField) {
      throw rangeError(std::to_string(half) + " or batch x " + std::to_string(half) + " gains", "gains.length",
                       std::to_string(gainArray.ElementLength()));
    }
    auto out = std::make_shared<FloatView>(floatArray(info[4], "out"));
    if (x->length != floatCount(field, batch, "batch x resolution^2") || out->length != x->length) {
      throw rangeError("batch x resolution^2 = " + std::to_string(field * batch) + " floats", "x.length and out.length",
                       std::to_string(x->length) + " and " + std::to_string(out->length));
    }
    Device& device = deviceFor(Backend::Cpu);
    return runTask(info.Env(), "enkg.spectralFilter", [=, &device]() {
      (void)gains;
      requireFinite(x->data, x->length, field, "x", "field");
      std::lock_guard<std::mutex> lock(device.mutex());
      spectralFilterCpu(x->data, out->data, batch, R, g, perField);
    });
  });
}

// shellSpectrum(x, batch, resolution) -> Promise<Float64Array>: mean power per
// wavenumber shell round(|k|), normalised by R^4 (CPU).
Napi::Value ShellSpectrum(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto x = std::make_shared<FloatView>(floatArray(info[0], "x"));
    const int64_t batch = positiveInteger(info[1], "batch");
    const int R = resolutionValue(info[2]);
    const size_t field = static_cast<size_t>(R) * R;
    if (x->length != floatCount(field, batch, "batch x resolution^2")) {
      throw rangeError("batch x resolution^2 = " + std::to_string(field * batch) + " floats", "x.length",
                       std::to_string(x->length));
    }
    auto spectrum = std::make_shared<std::vector<double>>(static_cast<size_t>(shellCount(R)));
    Device& device = deviceFor(Backend::Cpu);
    return runTask(
        info.Env(), "enkg.shellSpectrum",
        [=, &device]() {
          requireFinite(x->data, x->length, field, "x", "field");
          std::lock_guard<std::mutex> lock(device.mutex());
          shellSpectrumCpu(x->data, batch, R, spectrum->data());
        },
        [=](Napi::Env env) -> Napi::Value {
          Napi::Float64Array out = Napi::Float64Array::New(env, spectrum->size());
          for (size_t i = 0; i < spectrum->size(); ++i) out[i] = (*spectrum)[i];
          return out;
        });
  });
}

// grfModeAmplitudes(resolution, alpha, tau) -> Float64Array of R (R/2 + 1):
// a_k of each real-FFT mode (0 for the mean and Nyquist modes the sampler
// leaves empty), the one definition the GRF sampler and prior share.
Napi::Value GrfModeAmplitudes(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const int R = resolutionValue(info[0]);
    const double alpha = finiteNumber(info[1], "alpha"), tau = finiteNumber(info[2], "tau");
    const std::vector<double> amp = grfModeAmplitudes(R, alpha, tau);
    Napi::Float64Array out = Napi::Float64Array::New(info.Env(), amp.size());
    for (size_t p = 0; p < amp.size(); ++p) out[p] = amp[p];
    return out;
  });
}

// flowTraceBack(snapshots, count, resolution, time, points: Float64Array, substeps, out: Float64Array)
// -> Promise<void> (CPU): points carried back from T to 0 along the flow of
// count vorticity snapshots (cpu/flow_trace.h).
Napi::Value FlowTraceBack(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto w = std::make_shared<FloatView>(floatArray(info[0], "snapshots"));
    const int64_t count = positiveInteger(info[1], "count");
    if (count < 2) throw rangeError("at least 2 snapshots (times 0 and T)", "count", std::to_string(count));
    const int R = resolutionValue(info[2]);
    const double time = finiteNumber(info[3], "time");
    if (!(time >= 0)) throw rangeError("a non-negative time", "time", formatNumber(time));
    auto points = std::make_shared<DoubleView>(doubleArray(info[4], "points"));
    const int64_t substeps = positiveInteger(info[5], "substeps");
    if (substeps > 1000) throw rangeError("at most 1000 substeps", "substeps", std::to_string(substeps));
    auto out = std::make_shared<DoubleView>(doubleArray(info[6], "out"));
    const size_t field = static_cast<size_t>(R) * R;
    if (w->length != floatCount(field, count, "count x resolution^2")) {
      throw rangeError("count x resolution^2 = " + std::to_string(count * field) + " floats", "snapshots.length",
                       std::to_string(w->length));
    }
    if (points->length == 0 || points->length % 2 != 0) {
      throw rangeError("2 m coordinates (m >= 1)", "points.length", std::to_string(points->length));
    }
    if (out->length != points->length) {
      throw rangeError(std::to_string(points->length) + " coordinates (the length of points)", "out.length",
                       std::to_string(out->length));
    }
    const int64_t m = static_cast<int64_t>(points->length / 2);
    return runTask(info.Env(), "enkg.flowTraceBack", [=]() {
      requireFinite(w->data, w->length, field, "snapshots", "snapshot");
      for (size_t i = 0; i < points->length; ++i) {
        if (!std::isfinite(points->data[i])) {
          throw rangeError("finite coordinates", "points", formatNumber(points->data[i]) + " at element " + std::to_string(i));
        }
      }
      traceBackCpu(w->data, count, R, time, points->data, m, static_cast<int>(substeps), out->data);
    });
  });
}

}  // namespace

void registerSpectralOps(Napi::Env env, Napi::Object exports) {
  exports.Set("navierStokesSolve", Napi::Function::New(env, NavierStokesSolve, "navierStokesSolve"));
  exports.Set("gaussianRandomField", Napi::Function::New(env, GaussianRandomField, "gaussianRandomField"));
  exports.Set("spectralFilter", Napi::Function::New(env, SpectralFilter, "spectralFilter"));
  exports.Set("grfModeAmplitudes", Napi::Function::New(env, GrfModeAmplitudes, "grfModeAmplitudes"));
  exports.Set("shellSpectrum", Napi::Function::New(env, ShellSpectrum, "shellSpectrum"));
  exports.Set("flowTraceBack", Napi::Function::New(env, FlowTraceBack, "flowTraceBack"));
}

}  // namespace napi
}  // namespace enkg
