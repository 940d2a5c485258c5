// Errors that cross the native boundary. Kernels throw these; the N-API layer
// turns them into JavaScript TypeError / RangeError / Error objects with the
// same message, so a bad input never aborts the process.
#pragma once

#include <cmath>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>

namespace enkg {

enum class ErrorKind { Type, Range, Runtime };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// "Expected <what> for <name> but received <value>": the one wording used by
// every argument check, in TypeScript and here.
inline std::string expected(const std::string& what, const std::string& name, const std::string& received) {
  return "Expected " + what + " for " + name + " but received " + received;
}

// A number as JavaScript would print it in a message ("-1", "0.5", "inf").
// The shortest form that reads back as v, as JavaScript prints (1e+300, not
// 1.0000000000000001e+300).
inline std::string formatNumber(double v) {
  // Integers print in full, as JavaScript prints them below 1e21 (%g would give 1e+01 for 10).
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e21) {
    std::ostringstream s;
    s.precision(0);
    s << std::fixed << v;
    return s.str() == "-0" ? "0" : s.str();
  }
  std::string text;
  for (int precision = 1; precision <= 17; ++precision) {
    std::ostringstream s;
    s.precision(precision);
    s << v;
    text = s.str();
    if (!std::isfinite(v) || std::strtod(text.c_str(), nullptr) == v) break;
  }
  return text;
}

inline Error typeError(const std::string& what, const std::string& name, const std::string& received) {
  return Error(ErrorKind::Type, expected(what, name, received));
}

inline Error rangeError(const std::string& what, const std::string& name, const std::string& received) {
  return Error(ErrorKind::Range, expected(what, name, received));
}

inline Error runtimeError(const std::string& message) { return Error(ErrorKind::Runtime, message); }

}  // namespace enkg
