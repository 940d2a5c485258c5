#include "spectral_filter.h"

#include <cmath>
#include <complex>
#include <vector>

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

int shellCount(int R) { return static_cast<int>(std::lround(std::sqrt(2.0) * (R / 2))) + 1; }

void shellSpectrumCpu(const float* x, int64_t batch, int R, double* out) {
  const int Rc = R / 2 + 1, shells = shellCount(R);
  const size_t half = static_cast<size_t>(R) * Rc, real = static_cast<size_t>(R) * R;
  const Fftw<double>::Plans plans = Fftw<double>::plans(R);
  // Shell and multiplicity of each stored mode: columns 0 < j < R/2 stand
  // for two modes of the full plane (k and its conjugate -k).
  std::vector<int> shell(half);
  std::vector<double> weight(half), modes(shells, 0.0);
  for (int i = 0; i < R; ++i) {
    const int k1 = i <= R / 2 ? i : i - R;
    for (int j = 0; j < Rc; ++j) {
      const size_t p = static_cast<size_t>(i) * Rc + j;
      shell[p] = static_cast<int>(std::lround(std::sqrt(static_cast<double>(k1) * k1 + static_cast<double>(j) * j)));
      weight[p] = (j == 0 || j == R / 2) ? 1.0 : 2.0;
      modes[shell[p]] += weight[p];
    }
  }
  std::vector<double> total(shells, 0.0);
#pragma omp parallel
  {
    FftwArray<double, double> field(real);
    FftwArray<std::complex<double>, double> spec(half);
    std::vector<double> local(shells, 0.0);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < batch; ++b) {
      for (size_t i = 0; i < real; ++i) field[i] = x[b * real + i];
      Fftw<double>::execute(plans.forward, field.data(), spec.data());
      for (size_t p = 0; p < half; ++p) local[shell[p]] += weight[p] * std::norm(spec[p]);
    }
#pragma omp critical
    for (int s = 0; s < shells; ++s) total[s] += local[s];
  }
  const double norm = static_cast<double>(real) * static_cast<double>(real) * static_cast<double>(batch);
  for (int s = 0; s < shells; ++s) out[s] = modes[s] > 0 ? total[s] / (modes[s] * norm) : 0.0;
}

}  // namespace enkg
