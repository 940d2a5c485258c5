// FFTW plans for real 2D transforms (rows x cols; square on the torus) and
// square complex ones,
// created once per (shape, precision) and shared by every thread through FFTW's new-array execute
// functions (thread-safe; only planning is serialised here). Measured plans
// are kept as FFTW wisdom on disk so that every process uses the same
// algorithm (see fftw_plans.cc and ENKG_FFTW_WISDOM in the README).
#pragma once

#include <fftw3.h>

#include <complex>
#include <cstddef>

namespace enkg {

template <typename T>
struct Fftw;

// The rows x cols real transforms: forward = rfft2 (unnormalised, rows x
// (cols/2 + 1) outputs), inverse = irfft2 without the 1/(rows cols) and
// destroying its input (FFTW's c2r). plans(R) is the R x R square.
template <>
struct Fftw<float> {
  using Complex = fftwf_complex;
  struct Plans {
    fftwf_plan forward, inverse;
  };
  static Plans plans(int rows, int cols);  // created on first use, then cached
  static Plans plans(int R) { return plans(R, R); }
  // The R x R complex transforms, in place: forward (sign -1) and inverse
  // (sign +1, without the 1/R^2).
  static Plans complexPlans(int R);
  static void execute(fftwf_plan p, std::complex<float>* data) {
    fftwf_execute_dft(p, reinterpret_cast<fftwf_complex*>(data), reinterpret_cast<fftwf_complex*>(data));
  }
  static void execute(fftwf_plan p, float* in, std::complex<float>* out) {
    fftwf_execute_dft_r2c(p, in, reinterpret_cast<fftwf_complex*>(out));
  }
  static void execute(fftwf_plan p, std::complex<float>* in, float* out) {
    fftwf_execute_dft_c2r(p, reinterpret_cast<fftwf_complex*>(in), out);
  }
  static void* allocate(size_t bytes) { return fftwf_malloc(bytes); }
  static void release(void* p) { fftwf_free(p); }
  static constexpr const char* tag = "f32";
  static int importWisdom(const char* path) { return fftwf_import_wisdom_from_filename(path); }
  static int exportWisdom(const char* path) { return fftwf_export_wisdom_to_filename(path); }
};

template <>
struct Fftw<double> {
  using Complex = fftw_complex;
  struct Plans {
    fftw_plan forward, inverse;
  };
  static Plans plans(int rows, int cols);
  static Plans plans(int R) { return plans(R, R); }
  // The R x R complex transforms, in place: forward (sign -1) and inverse
  // (sign +1, without the 1/R^2).
  static Plans complexPlans(int R);
  static void execute(fftw_plan p, std::complex<double>* data) {
    fftw_execute_dft(p, reinterpret_cast<fftw_complex*>(data), reinterpret_cast<fftw_complex*>(data));
  }
  static void execute(fftw_plan p, double* in, std::complex<double>* out) {
    fftw_execute_dft_r2c(p, in, reinterpret_cast<fftw_complex*>(out));
  }
  static void execute(fftw_plan p, std::complex<double>* in, double* out) {
    fftw_execute_dft_c2r(p, reinterpret_cast<fftw_complex*>(in), out);
  }
  static void* allocate(size_t bytes) { return fftw_malloc(bytes); }
  static void release(void* p) { fftw_free(p); }
  static constexpr const char* tag = "f64";
  static int importWisdom(const char* path) { return fftw_import_wisdom_from_filename(path); }
  static int exportWisdom(const char* path) { return fftw_export_wisdom_to_filename(path); }
};

// An FFTW-aligned array of n elements (FFTW's SIMD plans need the same
// alignment at execution as at planning).
template <typename E, typename T>
class FftwArray {
 public:
  explicit FftwArray(size_t n = 0) { resize(n); }
  FftwArray(const FftwArray&) = delete;
  FftwArray& operator=(const FftwArray&) = delete;
  ~FftwArray() { Fftw<T>::release(data_); }
  void resize(size_t n) {
    Fftw<T>::release(data_);
    data_ = n ? static_cast<E*>(Fftw<T>::allocate(n * sizeof(E))) : nullptr;
    size_ = n;
  }
  E* data() { return data_; }
  E& operator[](size_t i) { return data_[i]; }
  const E& operator[](size_t i) const { return data_[i]; }
  size_t size() const { return size_; }

 private:
  E* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace enkg
