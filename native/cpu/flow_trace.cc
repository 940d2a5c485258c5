#include "flow_trace.h"

#include <cmath>
#include <complex>
#include <vector>

#include "../core/errors.h"
#include "fftw_plans.h"

namespace enkg {
namespace {

// The velocity of one vorticity field in grid units per unit time: the
// component along axis 0 (psi_y) and along axis 1 (-psi_x), each R x R.
void velocity(const float* w, int R, std::vector<double>& u0, std::vector<double>& u1) {
  const int Rc = R / 2 + 1;
  const size_t real = static_cast<size_t>(R) * R, half = static_cast<size_t>(R) * Rc;
  const Fftw<double>::Plans plans = Fftw<double>::plans(R);
  FftwArray<double, double> field(real);
  FftwArray<std::complex<double>, double> spec(half), a(half), b(half);
  for (size_t i = 0; i < real; ++i) field[i] = w[i];
  Fftw<double>::execute(plans.forward, field.data(), spec.data());
  for (int i = 0; i < R; ++i) {
    // Derivative wavenumbers with the Nyquist mode zeroed (as the solver's).
    const double kx = i == R / 2 ? 0.0 : (i < R / 2 ? i : i - R), kxLap = i <= R / 2 ? i : i - R;
    for (int j = 0; j < Rc; ++j) {
      const size_t p = static_cast<size_t>(i) * Rc + j;
      const double ky = j == R / 2 ? 0.0 : j, lap = kxLap * kxLap + static_cast<double>(j) * j;
      const std::complex<double> psi = lap > 0 ? spec[p] / lap : 0.0;
      a[p] = std::complex<double>(0.0, ky) * psi;    // psi_y
      b[p] = std::complex<double>(0.0, -kx) * psi;   // -psi_x
    }
  }
  // Physical velocity (domain 2pi) to grid units: x R / (2 pi); irfft2 needs 1 / R^2.
  const double scale = static_cast<double>(R) / (2.0 * M_PI) / static_cast<double>(real);
  u0.resize(real);
  u1.resize(real);
  Fftw<double>::execute(plans.inverse, a.data(), field.data());
  for (size_t i = 0; i < real; ++i) u0[i] = field[i] * scale;
  Fftw<double>::execute(plans.inverse, b.data(), field.data());
  for (size_t i = 0; i < real; ++i) u1[i] = field[i] * scale;
}

double bilinear(const std::vector<double>& f, int R, double x, double y) {
  const double fx = std::floor(x), fy = std::floor(y);
  const double tx = x - fx, ty = y - fy;
  const auto wrap = [R](double v) {
    int64_t k = static_cast<int64_t>(v) % R;
    return static_cast<size_t>(k < 0 ? k + R : k);
  };
  const size_t i0 = wrap(fx), i1 = (i0 + 1) % R, j0 = wrap(fy), j1 = (j0 + 1) % R;
  return (1 - tx) * ((1 - ty) * f[i0 * R + j0] + ty * f[i0 * R + j1]) + tx * ((1 - ty) * f[i1 * R + j0] + ty * f[i1 * R + j1]);
}

}  // namespace

void traceBackCpu(const float* snapshots, int64_t count, int R, double time, const double* points, int64_t m,
                  int substeps, double* out) {
  const size_t real = static_cast<size_t>(R) * R;
  std::vector<std::vector<double>> u0(count), u1(count);
  for (int64_t s = 0; s < count; ++s) velocity(snapshots + s * real, R, u0[s], u1[s]);
  const int64_t intervals = count - 1, steps = intervals * substeps;
  const double dt = time / static_cast<double>(steps);
  // The velocity at grid position (x, y) and step k of the trace (time k dt).
  const auto at = [&](int64_t k, double x, double y, double& vx, double& vy) {
    const int64_t s = std::min(k / substeps, intervals - 1);
    const double f = static_cast<double>(k - s * substeps) / substeps;
    vx = (1 - f) * bilinear(u0[s], R, x, y) + f * bilinear(u0[s + 1], R, x, y);
    vy = (1 - f) * bilinear(u1[s], R, x, y) + f * bilinear(u1[s + 1], R, x, y);
  };
  // Positions stay in [0, R) after every step (the grid is periodic), so
  // the integer casts of the lookup stay in range. A step that moves a
  // point by more than the whole domain (a huge time or speed for the
  // substeps; or one that leaves the finite numbers) traces nothing
  // meaningful: it is reported, not wrapped.
  const auto wrap = [R](double v) { return v - R * std::floor(v / R); };
  bool finite = true;
#pragma omp parallel for schedule(static) reduction(&& : finite)
  for (int64_t l = 0; l < m; ++l) {
    double x = wrap(points[2 * l] * R), y = wrap(points[2 * l + 1] * R);
    for (int64_t k = steps; k > 0 && finite; --k) {
      double ax, ay, bx, by;
      at(k, x, y, ax, ay);
      const double px = x - dt * ax, py = y - dt * ay;
      if (!(std::fabs(dt * ax) < R && std::fabs(dt * ay) < R)) {  // also false for NaN
        finite = false;
        break;
      }
      at(k - 1, wrap(px), wrap(py), bx, by);
      x = wrap(x - 0.5 * dt * (ax + bx));
      y = wrap(y - 0.5 * dt * (ay + by));
      if (!std::isfinite(x) || !std::isfinite(y)) finite = false;
    }
    // x and y are wrapped to [0, R] (R itself only by rounding): to [0, 1), + 0.0 for no -0.
    const auto unit = [R](double v) { return std::fmod(v / R, 1.0) + 0.0; };
    out[2 * l] = unit(x);
    out[2 * l + 1] = unit(y);
  }
  if (!finite) {
    throw rangeError("steps that move no point by more than the domain (more substeps, or a shorter time)",
                     "the flow trace", "a step of more than " + std::to_string(R) + " cells at time " + formatNumber(time) +
                         " with " + std::to_string(substeps) + " substeps per snapshot");
  }
}

}  // namespace enkg
