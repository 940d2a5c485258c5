#include "args.h"

#include <cmath>
#include <sstream>

#include "../core/checks.h"

namespace enkg {
namespace napi {

std::string describe(const Napi::Value& value) {
  if (value.IsUndefined()) return "undefined";
  if (value.IsNull()) return "null";
  if (value.IsNumber()) {
    return formatNumber(value.As<Napi::Number>().DoubleValue());
  }
  if (value.IsString()) return "'" + value.As<Napi::String>().Utf8Value() + "'";
  if (value.IsTypedArray()) return "a typed array of another element type";
  if (value.IsArray()) return "an Array";
  return "a value of type " + std::string(value.IsObject() ? "object" : "other");
}

namespace {
std::string describeFloat(float v) {
  if (std::isnan(v)) return "NaN";
  return v > 0 ? "Infinity" : "-Infinity";
}
}  // namespace

size_t floatCount(uint64_t a, uint64_t b, const std::string& name) {
  constexpr uint64_t kMax = (uint64_t{1} << 53);  // beyond any typed array
  if (a != 0 && b > kMax / a) {
    throw rangeError("a size below 2^53 floats", name, std::to_string(a) + " x " + std::to_string(b));
  }
  return static_cast<size_t>(a * b);
}

namespace {

// A typed array of element type `type` (named `what` in messages) over a
// fixed-length buffer, referenced until the view is destroyed.
template <typename View, typename Element, typename Array>
View typedView(const Napi::Value& value, const std::string& name, napi_typedarray_type type, const char* what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != type) {
    throw typeError(what, name, describe(value));
  }
  Array array = value.As<Array>();
  // A resizable buffer could shrink under a running worker.
  const Napi::Value buffer = array.Get("buffer");
  if (buffer.IsObject() && buffer.As<Napi::Object>().Get("resizable").ToBoolean().Value()) {
    throw typeError(std::string(what) + " over a fixed-length buffer", name, "one over a resizable ArrayBuffer");
  }
  View view;
  view.data = reinterpret_cast<Element*>(array.Data());  // already includes byteOffset
  view.length = array.ElementLength();
  view.ref = Napi::Persistent(array.template As<Napi::Object>());
  return view;
}

}  // namespace

FloatView floatArray(const Napi::Value& value, const std::string& name) {
  return typedView<FloatView, float, Napi::Float32Array>(value, name, napi_float32_array, "a Float32Array");
}

DoubleView doubleArray(const Napi::Value& value, const std::string& name) {
  return typedView<DoubleView, double, Napi::Float64Array>(value, name, napi_float64_array, "a Float64Array");
}

Int32View int32Array(const Napi::Value& value, const std::string& name) {
  return typedView<Int32View, int32_t, Napi::Int32Array>(value, name, napi_int32_array, "an Int32Array");
}

int64_t positiveInteger(const Napi::Value& value, const std::string& name) {
  if (!value.IsNumber()) throw typeError("a positive integer", name, describe(value));
  const double v = value.As<Napi::Number>().DoubleValue();
  if (!(v >= 1) || v != std::floor(v) || v > 9007199254740991.0) {
    throw rangeError("a positive integer", name, describe(value));
  }
  return static_cast<int64_t>(v);
}

double finiteNumber(const Napi::Value& value, const std::string& name) {
  if (!value.IsNumber()) throw typeError("a finite number", name, describe(value));
  const double v = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(v)) throw rangeError("a finite number", name, describe(value));
  return v;
}

uint64_t seedValue(const Napi::Value& value, const std::string& name) {
  if (!value.IsNumber()) throw typeError("a non-negative integer", name, describe(value));
  const double v = value.As<Napi::Number>().DoubleValue();
  if (!(v >= 0) || v != std::floor(v) || v > 9007199254740991.0) {
    throw rangeError("a non-negative integer below 2^53", name, describe(value));
  }
  return static_cast<uint64_t>(v);
}

Backend backendName(const Napi::Value& value, const std::string& name) {
  if (value.IsString()) {
    const std::string s = value.As<Napi::String>().Utf8Value();
    if (s == "cpu") return Backend::Cpu;
    if (s == "cuda") return Backend::Cuda;
  }
  throw typeError("'cpu' or 'cuda'", name, describe(value));
}

void requireFinite(const float* data, size_t length, size_t rowLength, const std::string& name, const char* row) {
  const size_t bad = firstNonFinite(data, length);
  if (bad == length) return;
  const size_t index = bad / rowLength, column = bad % rowLength;
  throw rangeError("finite values", name,
                   describeFloat(data[bad]) + " at " + row + " " + std::to_string(index) + " (element " +
                       std::to_string(column) + " of that " + row + ")");
}

void requireFiniteOutput(const float* data, size_t length, size_t rowLength, const std::string& what, const char* row) {
  const size_t bad = firstNonFinite(data, length);
  if (bad == length) return;
  const size_t index = bad / rowLength, column = bad % rowLength;
  throw runtimeError(what + ": " + describeFloat(data[bad]) + " at " + row + " " + std::to_string(index) + " (element " +
                     std::to_string(column) + " of that " + row + ")");
}

Napi::Array numberArray(Napi::Env env, const std::vector<double>& values) {
  Napi::Array array = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); ++i) array.Set(static_cast<uint32_t>(i), values[i]);
  return array;
}

Napi::Error toJsError(Napi::Env env, ErrorKind kind, const std::string& message) {
  switch (kind) {
    case ErrorKind::Type: return Napi::TypeError::New(env, message);
    case ErrorKind::Range: return Napi::RangeError::New(env, message);
    default: return Napi::Error::New(env, message);
  }
}

}  // namespace napi
}  // namespace enkg
