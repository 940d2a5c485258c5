#include "spectral_filter.h"

#include <complex>

#include "fftw_plans.h"

namespace enkg {

void spectralFilterCpu(const float* x, float* out, int64_t batch, int R, const double* gains, bool perField) {
  const size_t half = static_cast<size_t>(R) * (R / 2 + 1), real = static_cast<size_t>(R) * R;
  const Fftw<double>::Plans plans = Fftw<double>::plans(R);
  const double scale = 1.0 / static_cast<double>(real);
#pragma omp parallel
  {
    FftwArray<double, double> field(real);
    FftwArray<std::complex<double>, double> spec(half);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < batch; ++b) {
      for (size_t i = 0; i < real; ++i) field[i] = x[b * real + i];
      Fftw<double>::execute(plans.forward, field.data(), spec.data());
      const double* g = gains + (perField ? b * half : 0);
      for (size_t p = 0; p < half; ++p) spec[p] *= g[p];
      Fftw<double>::execute(plans.inverse, spec.data(), field.data());
      for (size_t i = 0; i < real; ++i) out[b * real + i] = static_cast<float>(field[i] * scale);
    }
  }
}

}  // namespace enkg
