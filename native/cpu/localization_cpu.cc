#include "localization_cpu.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>

#include "../core/errors.h"
#include "fftw_plans.h"

namespace enkg {
namespace {

// Gaspari and Cohn's (1999) fifth-order piecewise rational function at
// z = distance / halfWidth: 1 at 0, 0 from 2 on.
double gaspariCohn(double z) {
  const double a = std::fabs(z);
  if (a >= 2.0) return 0.0;
  const double a2 = a * a, a3 = a2 * a, a4 = a3 * a, a5 = a4 * a;
  if (a <= 1.0) return -0.25 * a5 + 0.5 * a4 + 0.625 * a3 - (5.0 / 3.0) * a2 + 1.0;
  return a5 / 12.0 - 0.5 * a4 + 0.625 * a3 + (5.0 / 3.0) * a2 - 5.0 * a + 4.0 - 2.0 / (3.0 * a);
}

// The distance between two coordinates on a circle of circumference 1
// (fmod only for offsets of a whole turn or more: it is slow).
double torusOffset(double t) {
  double a = std::fabs(t);
  if (a >= 1.0) a = std::fmod(a, 1.0);
  return std::min(a, 1.0 - a);
}

// a[p] *= b[p], written out: std::complex's operator* checks for NaN and
// infinite parts through a library call on every product.
void multiplySpectra(std::complex<float>* a, const std::complex<float>* b, size_t count) {
  float* x = reinterpret_cast<float*>(a);
  const float* y = reinterpret_cast<const float*>(b);
  for (size_t p = 0; p < count; ++p) {
    const float re = x[2 * p] * y[2 * p] - x[2 * p + 1] * y[2 * p + 1];
    const float im = x[2 * p] * y[2 * p + 1] + x[2 * p + 1] * y[2 * p];
    x[2 * p] = re;
    x[2 * p + 1] = im;
  }
}

bool overlaps(const float* a, size_t na, const float* b, size_t nb) { return a < b + nb && b < a + na; }

// The steps both forms share: centring, C and ||C||_F, the step length and
// the update. `direction(Xc, Yc, dX)` writes dX = (rho o K) R^T (d x N,
// column-major) from the centred ensembles.
template <typename Direction>
double localizedStep(Device& device, const LocalizedStepArgs& a, Direction direction) {
  const int64_t N = a.N, d = a.d, m = a.m;
  const size_t nd = static_cast<size_t>(N) * d, nm = static_cast<size_t>(N) * m;
  const float invN = 1.0f / static_cast<float>(N);

  // Centred in float around means accumulated in double: the rounding is
  // relative to |x - xbar|, as in the reference.
  DeviceBuffer xbar(device, d), ybar(device, m), Xc(device, nd), Yc(device, nm);
  device.columnMean(a.X, d, N, d, xbar.get());
  device.columnMean(a.Y, m, N, m, ybar.get());
  device.centerColumns(a.X, d, N, d, xbar.get(), Xc.get(), d);
  device.centerColumns(a.Y, m, N, m, ybar.get(), Yc.get(), m);

  // C (column-major N x N): C(n, k) = <r^n, yc^k> / N.
  DeviceBuffer C(device, static_cast<size_t>(N) * N);
  device.gemm(true, false, N, N, m, invN, a.R, m, Yc.get(), m, 0.0f, C.get(), N);
  const double coefNorm = std::sqrt(device.sumSquares(C.get(), static_cast<size_t>(N) * N));
  if (!std::isfinite(coefNorm)) {
    throw rangeError("residuals whose coefficient matrix is finite", "residuals", formatNumber(coefNorm));
  }
  if (coefNorm == 0.0) {
    // No information in the residuals: no step.
    if (a.out != a.X) std::memmove(a.out, a.X, nd * sizeof(float));
    return 0.0;
  }

  // dX goes straight into out unless out shares memory with an input that
  // is still read after dX is written (R by the products, X by the update).
  const bool aside = overlaps(a.out, nd, a.X, nd) || overlaps(a.out, nd, a.R, nm) || overlaps(a.out, nd, a.Y, nm);
  DeviceBuffer scratch;
  if (aside) scratch = DeviceBuffer(device, nd);
  float* dX = aside ? scratch.get() : a.out;
  direction(Xc.get(), Yc.get(), dX);

  double eta = a.stepScale / coefNorm;
  if (a.normalize == StepNormalization::Unlocalized) {
    const double localized = device.sumSquares(dX, nd);
    if (localized > 0) {
      // ||C Xc||_F^2 through P = Xc C^T (d x N), a block of rows at a time.
      const int64_t rows = std::min<int64_t>(d, std::max<int64_t>(256, device.scratchBudget() / N));
      DeviceBuffer P(device, static_cast<size_t>(rows) * N);
      double unlocalized = 0.0;
      for (int64_t j = 0; j < d; j += rows) {
        const int64_t b = std::min(rows, d - j);
        device.gemm(false, true, b, N, N, 1.0f, Xc.get() + j, d, C.get(), N, 0.0f, P.get(), b);
        unlocalized += device.sumSquares(P.get(), static_cast<size_t>(b) * N);
      }
      eta *= std::sqrt(unlocalized / localized);
    }
  }
  float* target = aside ? dX : a.out;
  const int64_t total = static_cast<int64_t>(nd);
#pragma omp parallel for schedule(static) if (total > (1 << 16))
  for (int64_t i = 0; i < total; ++i) {
    target[i] = static_cast<float>(static_cast<double>(a.X[i]) - eta * static_cast<double>(dX[i]));
  }
  if (aside) std::memmove(a.out, dX, nd * sizeof(float));
  return coefNorm;
}

}  // namespace

void gaspariCohnTaperCpu(const double* fieldPoints, int64_t d, const double* measurementPoints, int64_t m,
                         double halfWidth, float* rho) {
  const double inv = 1.0 / halfWidth;
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < d; ++j) {
    const double p0 = fieldPoints[2 * j], p1 = fieldPoints[2 * j + 1];
    float* row = rho + j * m;
    for (int64_t l = 0; l < m; ++l) {
      const double u = torusOffset(p0 - measurementPoints[2 * l]), v = torusOffset(p1 - measurementPoints[2 * l + 1]);
      const double dist = std::sqrt(u * u + v * v);  // both <= 1/2: no overflow for hypot to guard against
      row[l] = static_cast<float>(gaspariCohn(dist * inv));
    }
  }
}

double localizedKalmanStepDense(Device& device, const LocalizedStepArgs& a, const float* rho) {
  const int64_t N = a.N, d = a.d, m = a.m;
  const float invN = 1.0f / static_cast<float>(N);
  return localizedStep(device, a, [&](const float* Xc, const float* Yc, float* dX) {
    // A block of field points at a time: K^T for those rows (m x b), the
    // taper on it (rows of rho are contiguous there), then its product with
    // the residuals. The block is sized to stay in cache between the three.
    const int64_t rows = std::min<int64_t>(d, std::max<int64_t>(64, device.scratchBudget() / m));
    DeviceBuffer KT(device, static_cast<size_t>(rows) * m);
    for (int64_t j0 = 0; j0 < d; j0 += rows) {
      const int64_t b = std::min(rows, d - j0);
      device.gemm(false, true, m, b, N, invN, Yc, m, Xc + j0, d, 0.0f, KT.get(), m);
      float* kt = KT.get();
#pragma omp parallel for schedule(static)
      for (int64_t jj = 0; jj < b; ++jj) {
        float* col = kt + jj * m;
        const float* taper = rho + (j0 + jj) * m;
        for (int64_t l = 0; l < m; ++l) col[l] *= taper[l];
      }
      device.gemm(true, false, b, N, m, 1.0f, kt, m, a.R, m, 0.0f, dX + j0, d);
    }
  });
}

double localizedKalmanStepGrid(Device& device, const LocalizedStepArgs& a, const GridTaper& taper) {
  const int64_t N = a.N, d = a.d, m = a.m;
  const int R = taper.resolution;
  const size_t real = static_cast<size_t>(R) * R, half = static_cast<size_t>(R) * (R / 2 + 1);
  if (static_cast<int64_t>(real) != d) {
    throw rangeError("a grid of d = " + std::to_string(d) + " points", "resolution", std::to_string(R));
  }
  const Fftw<float>::Plans plans = Fftw<float>::plans(R);
  return localizedStep(device, a, [&](const float* Xc, const float* Yc, float* dX) {
    // The kernel's spectrum, with the inverse transform's 1 / R^2 and the
    // 1 / N of K folded in.
    FftwArray<std::complex<float>, float> kernelHat(half);
    {
      FftwArray<float, float> k(real);
      std::copy(taper.kernel, taper.kernel + real, k.data());
      Fftw<float>::execute(plans.forward, k.data(), kernelHat.data());
      const float scale = 1.0f / (static_cast<float>(real) * static_cast<float>(N));
      for (size_t p = 0; p < half; ++p) kernelHat[p] *= scale;
    }
    const int32_t* index = taper.index;
#pragma omp parallel
    {
      FftwArray<float, float> field(real), conv(real);
      FftwArray<std::complex<float>, float> spec(half);
      std::fill(field.data(), field.data() + real, 0.0f);
      // Particle n's step: sum over k of Xc_k o (kernel * scatter(Yc_k o r^n)).
#pragma omp for schedule(static)
      for (int64_t n = 0; n < N; ++n) {
        float* dx = dX + n * d;
        std::fill(dx, dx + d, 0.0f);
        const float* r = a.R + n * m;
        for (int64_t k = 0; k < N; ++k) {
          const float* yc = Yc + k * m;
          const float* xc = Xc + k * d;
          for (int64_t l = 0; l < m; ++l) field[index[l]] += yc[l] * r[l];
          Fftw<float>::execute(plans.forward, field.data(), spec.data());  // r2c keeps its input
          for (int64_t l = 0; l < m; ++l) field[index[l]] = 0.0f;
          multiplySpectra(spec.data(), kernelHat.data(), half);
          Fftw<float>::execute(plans.inverse, spec.data(), conv.data());
          for (int64_t j = 0; j < d; ++j) dx[j] += xc[j] * conv[j];
        }
      }
    }
  });
}

}  // namespace enkg
