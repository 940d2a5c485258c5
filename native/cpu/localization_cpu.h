// Distance localization of the Kalman step on the CPU (docs/method.md
// section 2, "Localization"; lib/algorithms/localization.ts holds the
// TypeScript reference it is tested against):
//   x^n <- x^n - eta (rho o K) r^n,   K = Xc^T Yc / N  (d x m),
// with eta = stepScale / ||C||_F, C = R Yc^T / N (N x N), rescaled under
// StepNormalization::Unlocalized to the Frobenius norm of the unlocalized
// step (stepScale / ||C||_F) C Xc.
//
// Two ways to apply the taper:
//  - dense: rho is a d x m matrix (any geometry). K is formed a block of
//    field points at a time (never all d x m of it besides rho itself), at
//    2 N d m multiply-adds for the two products plus d m for the taper;
//  - grid: field points are an R x R periodic grid, measurement points sit
//    on grid points and the taper is stationary, rho(j, l) = kernel(p_j - q_l).
//    Then (rho o K) r^n = (1/N) sum_k Xc_k o (kernel * s^{k,n}), with
//    s^{k,n} the products Yc_k o r^n scattered onto the grid (zero
//    elsewhere) and * the circular convolution, done by FFT: N^2 pairs of
//    R x R real transforms, and no d x m array at all.
#pragma once

#include <cstdint>

#include "../core/device.h"

namespace enkg {

enum class StepNormalization {
  Unlocalized,  // the localized step rescaled to ||(stepScale / ||C||_F) C Xc||_F
  Coefficient,  // the plain factor stepScale / ||C||_F
};

// rho[j * m + l] = GC(dist(p_j, q_l) / halfWidth), the Gaspari-Cohn taper of
// the torus distance between field point j and measurement point l (points
// are (row, column) pairs in units of the domain).
void gaspariCohnTaperCpu(const double* fieldPoints, int64_t d, const double* measurementPoints, int64_t m,
                         double halfWidth, float* rho);

struct LocalizedStepArgs {
  // X, out: N x d row-major (the column-major d x N of core/device.h);
  // Y, R: N x m. out may be X.
  const float* X;
  const float* Y;
  const float* R;
  float* out;
  int64_t N, d, m;
  double stepScale;
  StepNormalization normalize;
};

// A stationary taper on an R x R periodic grid: kernel[u * R + v] is the
// taper between points (u, v) / R apart (field point minus measurement
// point), and measurement l sits on grid point index[l] (field value
// index[l] = row * R + column). d must be R^2.
struct GridTaper {
  int resolution;
  const float* kernel;
  const int32_t* index;
};

// Both return ||C||_F (0: no information, out = X) and write the new
// particles to out. `device` must be the CPU device, held by the caller.
double localizedKalmanStepDense(Device& device, const LocalizedStepArgs& args, const float* rho);
double localizedKalmanStepGrid(Device& device, const LocalizedStepArgs& args, const GridTaper& taper);

}  // namespace enkg
