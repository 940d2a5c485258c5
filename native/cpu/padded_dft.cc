#include "padded_dft.h"

#include <cmath>
#include <complex>
#include <cstring>
#include <vector>

#include "fftw_plans.h"

namespace enkg {
namespace {

// The padded frame of one field: zeros outside the window (written once
// per thread; FFTW's out-of-place r2c leaves its input as it was).
void fillWindow(const float* image, double* frame, const PaddedFrame& f) {
  for (int i = 0; i < f.height; ++i) {
    double* row = frame + static_cast<size_t>(f.top + i) * f.cols + f.left;
    const float* src = image + static_cast<size_t>(i) * f.width;
    for (int j = 0; j < f.width; ++j) row[j] = src[j];
  }
}

// |u| without hypot's overflow guard (slow in libm; the sums of float32
// pixels stay far from overflow).
inline double magnitude(const std::complex<double>& u) { return std::sqrt(u.real() * u.real() + u.imag() * u.imag()); }

}  // namespace

void paddedDftMagnitudeCpu(const float* x, float* out, int64_t batch, const PaddedFrame& f) {
  const int P = f.rows, Q = f.cols, Qh = Q / 2 + 1;
  const size_t image = static_cast<size_t>(f.height) * f.width, real = static_cast<size_t>(P) * Q;
  const size_t half = static_cast<size_t>(P) * Qh;
  const int64_t fields = batch * f.channels;
  const Fftw<double>::Plans plans = Fftw<double>::plans(P, Q);
  const double scale = 1.0 / std::sqrt(static_cast<double>(real));
#pragma omp parallel
  {
    FftwArray<double, double> frame(real);
    FftwArray<std::complex<double>, double> spec(half);
    std::vector<float> mag(half);
    std::memset(frame.data(), 0, real * sizeof(double));
#pragma omp for schedule(static)
    for (int64_t n = 0; n < fields; ++n) {
      fillWindow(x + n * image, frame.data(), f);
      Fftw<double>::execute(plans.forward, frame.data(), spec.data());
      for (size_t p = 0; p < half; ++p) mag[p] = static_cast<float>(magnitude(spec[p]) * scale);
      float* y = out + n * real;
      for (int k1 = 0; k1 < P; ++k1) {
        std::memcpy(y + static_cast<size_t>(k1) * Q, mag.data() + static_cast<size_t>(k1) * Qh, Qh * sizeof(float));
        // The rest of the row from the conjugate mirror: |u(k1, k2)| = |u(-k1, -k2)| for a real image.
        const float* mirror = mag.data() + static_cast<size_t>((P - k1) % P) * Qh;
        for (int k2 = Qh; k2 < Q; ++k2) y[static_cast<size_t>(k1) * Q + k2] = mirror[Q - k2];
      }
    }
  }
}

// With v = r u / |u|, Re(F^H v) = F^H h for the Hermitian h(k) = (v(k) +
// conj(v(-k))) / 2 = (r(k) + r(-k)) / 2 * u(k) / |u(k)| (u is Hermitian, as
// the spectrum of a real image), so one c2r of h's stored half gives it.
void paddedDftMagnitudeAdjointCpu(const float* x, const float* r, float* out, int64_t batch, const PaddedFrame& f) {
  const int P = f.rows, Q = f.cols, Qh = Q / 2 + 1;
  const size_t image = static_cast<size_t>(f.height) * f.width, real = static_cast<size_t>(P) * Q;
  const size_t half = static_cast<size_t>(P) * Qh;
  const int64_t fields = batch * f.channels;
  const Fftw<double>::Plans plans = Fftw<double>::plans(P, Q);
  const double scale = 1.0 / std::sqrt(static_cast<double>(real));
#pragma omp parallel
  {
    FftwArray<double, double> frame(real), back(real);
    FftwArray<std::complex<double>, double> spec(half);
    std::memset(frame.data(), 0, real * sizeof(double));
#pragma omp for schedule(static)
    for (int64_t n = 0; n < fields; ++n) {
      fillWindow(x + n * image, frame.data(), f);
      Fftw<double>::execute(plans.forward, frame.data(), spec.data());
      const float* rn = r + n * real;
      for (int k1 = 0; k1 < P; ++k1) {
        const int m1 = (P - k1) % P;
        for (int k2 = 0; k2 < Qh; ++k2) {
          std::complex<double>& u = spec[k1 * Qh + k2];
          const double mag = magnitude(u);
          const double rs = 0.5 * (static_cast<double>(rn[k1 * Q + k2]) + rn[m1 * Q + (Q - k2) % Q]);
          u = mag > 0 ? u * (rs / mag) : std::complex<double>(0.0, 0.0);
        }
      }
      Fftw<double>::execute(plans.inverse, spec.data(), back.data());  // destroys spec
      float* g = out + n * image;
      for (int i = 0; i < f.height; ++i) {
        const double* row = back.data() + static_cast<size_t>(f.top + i) * Q + f.left;
        for (int j = 0; j < f.width; ++j) g[i * f.width + j] = static_cast<float>(row[j] * scale);
      }
    }
  }
}

}  // namespace enkg
