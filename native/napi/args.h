// Argument handling shared by every exported function: typed-array views
// that honour byteOffset and stay referenced while a worker runs, backend
// names, and the translation of enkg::Error into JavaScript errors.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../core/device.h"
#include "../core/errors.h"

namespace enkg {
namespace napi {

// A Float32Array argument kept alive until the view is destroyed (on the
// main thread, after the worker finished).
struct FloatView {
  float* data = nullptr;
  size_t length = 0;
  Napi::ObjectReference ref;
};

FloatView floatArray(const Napi::Value& value, const std::string& name);

// The same for Float64Array and Int32Array arguments.
struct DoubleView {
  double* data = nullptr;
  size_t length = 0;
  Napi::ObjectReference ref;
};
struct Int32View {
  int32_t* data = nullptr;
  size_t length = 0;
  Napi::ObjectReference ref;
};
DoubleView doubleArray(const Napi::Value& value, const std::string& name);
Int32View int32Array(const Napi::Value& value, const std::string& name);
// a x b as a count of floats, or a RangeError naming `name` when the product
// would not fit (a wrapped-around product could match a small array and let
// a kernel write past it).
size_t floatCount(uint64_t a, uint64_t b, const std::string& name);
// A short description of a received value for error messages ('undefined', "'text'", 3, "an Array").
std::string describe(const Napi::Value& value);
int64_t positiveInteger(const Napi::Value& value, const std::string& name);
double finiteNumber(const Napi::Value& value, const std::string& name);
uint64_t seedValue(const Napi::Value& value, const std::string& name);
Backend backendName(const Napi::Value& value, const std::string& name);

// Throws a RangeError naming `name` and the first row of `rowLength` floats
// (a particle, or what `row` calls it) holding a NaN or an infinity.
void requireFinite(const float* data, size_t length, size_t rowLength, const std::string& name,
                   const char* row = "particle");

// After the work: throws an Error that starts with `what` and names the first
// row of `rowLength` floats holding a NaN or an infinity (work that produced
// non-finite values never reports success).
void requireFiniteOutput(const float* data, size_t length, size_t rowLength, const std::string& what,
                         const char* row = "particle");

// A JavaScript array of numbers.
Napi::Array numberArray(Napi::Env env, const std::vector<double>& values);

// Builds the JavaScript error matching an enkg::Error kind.
Napi::Error toJsError(Napi::Env env, ErrorKind kind, const std::string& message);

// Runs `body`, turning enkg::Error and std::exception into JS exceptions.
template <typename Body>
Napi::Value guarded(const Napi::CallbackInfo& info, Body body) {
  try {
    return body();
  } catch (const Error& e) {
    throw toJsError(info.Env(), e.kind(), e.what());
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw toJsError(info.Env(), ErrorKind::Runtime, e.what());
  }
}

}  // namespace napi
}  // namespace enkg
