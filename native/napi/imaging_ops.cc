// Exports of the imaging kernels (CPU, FFTW):
//   paddedDftMagnitude(x, batch, frame, out) -> Promise<void>
//   paddedDftMagnitudeAdjoint(x, residuals, batch, frame, out) -> Promise<void>
// with frame = { shape: [C, H, W], frame: [P, Q], offset: [top, left] }.
#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../cpu/padded_dft.h"
#include "../dispatch.h"
#include "args.h"
#include "exports.h"
#include "promise_worker.h"

namespace enkg {
namespace napi {
namespace {

// Frame sides up to 2^15 and frames up to 2^26 pixels keep every index of
// the kernels inside an int.
constexpr int64_t kMaxSide = 1 << 15;
constexpr int64_t kMaxPixels = int64_t{1} << 26;

std::string listText(const std::vector<double>& values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + formatNumber(values[i]);
  return s + "]";
}

// An Array of `count` integers >= `min`, or a TypeError / RangeError in the
// house wording.
std::vector<int> integerList(const Napi::Value& value, size_t count, int64_t min, const std::string& what,
                             const std::string& name) {
  if (!value.IsArray() || value.As<Napi::Array>().Length() != count) throw typeError(what, name, describe(value));
  const Napi::Array array = value.As<Napi::Array>();
  std::vector<double> raw(count);
  for (uint32_t i = 0; i < count; ++i) {
    const Napi::Value v = array.Get(i);
    if (!v.IsNumber()) throw typeError(what, name, "an Array holding " + describe(v));
    raw[i] = v.As<Napi::Number>().DoubleValue();
  }
  std::vector<int> out(count);
  for (size_t i = 0; i < count; ++i) {
    if (!(raw[i] >= static_cast<double>(min)) || raw[i] != static_cast<double>(static_cast<int64_t>(raw[i])) ||
        raw[i] > static_cast<double>(kMaxSide)) {
      throw rangeError(what, name, listText(raw));
    }
    out[i] = static_cast<int>(raw[i]);
  }
  return out;
}

PaddedFrame parseFrame(const Napi::Value& value) {
  if (!value.IsObject() || value.IsArray() || value.IsTypedArray()) {
    throw typeError("a frame object { shape, frame, offset }", "frame", describe(value));
  }
  const Napi::Object o = value.As<Napi::Object>();
  const std::string side = std::to_string(kMaxSide);
  const std::vector<int> shape = integerList(o.Get("shape"), 3, 1, "[C, H, W], three integers in [1, " + side + "]", "shape");
  const std::vector<int> pq = integerList(o.Get("frame"), 2, 1, "[P, Q], two integers in [1, " + side + "]", "frame");
  const std::vector<int> offset =
      integerList(o.Get("offset"), 2, 0, "[top, left], two integers in [0, " + side + "]", "offset");
  PaddedFrame f{shape[0], shape[1], shape[2], pq[0], pq[1], offset[0], offset[1]};
  if (f.rows < f.height || f.cols < f.width) {
    throw rangeError("a frame [P, Q] with P >= H = " + std::to_string(f.height) + " and Q >= W = " +
                         std::to_string(f.width),
                     "frame", listText({static_cast<double>(f.rows), static_cast<double>(f.cols)}));
  }
  if (static_cast<int64_t>(f.rows) * f.cols > kMaxPixels) {
    throw rangeError("a frame of at most 2^26 pixels", "frame",
                     listText({static_cast<double>(f.rows), static_cast<double>(f.cols)}));
  }
  if (f.top + f.height > f.rows || f.left + f.width > f.cols) {
    throw rangeError("an offset [top, left] with top <= P - H = " + std::to_string(f.rows - f.height) +
                         " and left <= Q - W = " + std::to_string(f.cols - f.width),
                     "offset", listText({static_cast<double>(f.top), static_cast<double>(f.left)}));
  }
  return f;
}

void requireLength(const FloatView& view, size_t length, const std::string& what, const std::string& name) {
  if (view.length != length) throw rangeError(what + " = " + std::to_string(length) + " floats", name, std::to_string(view.length));
}

// The kernels read one array while writing another in parallel: they must not share memory.
void requireDisjoint(const FloatView& out, const FloatView& in, const std::string& inName) {
  const float *a = out.data, *b = in.data;
  if (a < b + in.length && b < a + out.length) {
    throw rangeError("an array that does not share memory with " + inName, "out", "one that does");
  }
}

Napi::Value PaddedDftMagnitude(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const int64_t batch = positiveInteger(info[1], "batch");
    const PaddedFrame f = parseFrame(info[2]);  // before the arrays: reading it can run JavaScript
    auto x = std::make_shared<FloatView>(floatArray(info[0], "x"));
    auto out = std::make_shared<FloatView>(floatArray(info[3], "out"));
    const size_t image = static_cast<size_t>(f.channels) * f.height * f.width;
    const size_t spectrum = static_cast<size_t>(f.channels) * f.rows * f.cols;
    requireLength(*x, floatCount(image, batch, "batch x C x H x W"), "batch x C x H x W", "x.length");
    requireLength(*out, floatCount(spectrum, batch, "batch x C x P x Q"), "batch x C x P x Q", "out.length");
    requireDisjoint(*out, *x, "x");
    Device& device = deviceFor(Backend::Cpu);
    return runTask(info.Env(), "enkg.paddedDftMagnitude", [=, &device]() {
      requireFinite(x->data, x->length, image, "x", "image");
      std::lock_guard<std::mutex> lock(device.mutex());
      paddedDftMagnitudeCpu(x->data, out->data, batch, f);
    });
  });
}

Napi::Value PaddedDftMagnitudeAdjoint(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const int64_t batch = positiveInteger(info[2], "batch");
    const PaddedFrame f = parseFrame(info[3]);
    auto x = std::make_shared<FloatView>(floatArray(info[0], "x"));
    auto r = std::make_shared<FloatView>(floatArray(info[1], "residuals"));
    auto out = std::make_shared<FloatView>(floatArray(info[4], "out"));
    const size_t image = static_cast<size_t>(f.channels) * f.height * f.width;
    const size_t spectrum = static_cast<size_t>(f.channels) * f.rows * f.cols;
    requireLength(*x, floatCount(image, batch, "batch x C x H x W"), "batch x C x H x W", "x.length");
    requireLength(*r, floatCount(spectrum, batch, "batch x C x P x Q"), "batch x C x P x Q", "residuals.length");
    requireLength(*out, x->length, "batch x C x H x W", "out.length");
    requireDisjoint(*out, *x, "x");
    requireDisjoint(*out, *r, "residuals");
    Device& device = deviceFor(Backend::Cpu);
    return runTask(info.Env(), "enkg.paddedDftMagnitudeAdjoint", [=, &device]() {
      requireFinite(x->data, x->length, image, "x", "image");
      requireFinite(r->data, r->length, spectrum, "residuals", "image");
      std::lock_guard<std::mutex> lock(device.mutex());
      paddedDftMagnitudeAdjointCpu(x->data, r->data, out->data, batch, f);
    });
  });
}

}  // namespace

void registerImagingOps(Napi::Env env, Napi::Object exports) {
  exports.Set("paddedDftMagnitude", Napi::Function::New(env, PaddedDftMagnitude, "paddedDftMagnitude"));
  exports.Set("paddedDftMagnitudeAdjoint",
              Napi::Function::New(env, PaddedDftMagnitudeAdjoint, "paddedDftMagnitudeAdjoint"));
}

}  // namespace napi
}  // namespace enkg
