// The regularized gain as transformed residuals on the CPU (docs/method.md
// section 2, "The regularized gain"; regularizedResidualsReference in
// lib/algorithms/corrections.ts is the TypeScript reference it is tested
// against). With Yc, Rc the centred measurements and residuals (N x m),
//   S = sym(Yc Rc^T) / N,  s_n = Yc r^n,  S = V diag(lambda) V^T,
//   rt^n = (r^n - Rc^T V diag(1 / (lambda + alpha)) V^T s_n / N) / alpha,
// so that K rt^n = Xc^T (S + alpha I)^-1 Yc r^n / N. The products are
// OpenBLAS dgemm calls (2 N^2 m + 2 N^3 multiply-adds), the eigensystem is
// LAPACK's divide and conquer (dsyevd), everything in double precision.
#pragma once

#include <cstdint>

namespace enkg {

struct GainArgs {
  // Y, R: N x m row-major (measurements and the misfit's residuals); out:
  // N x m, the transformed residuals rt. out may not share memory with Y or R.
  const float* Y;
  const float* R;
  float* out;
  int64_t N, m;
  // adaptive: alpha by the reachable-fraction discrepancy rule with this rho
  // and sizes[n], particle n's squared residual norm in the misfit's metric
  // (N doubles). Otherwise alpha (> 0) as given; rho and sizes unused.
  bool adaptive;
  double alpha;
  double rho;
  const double* sizes;
};

// The largest N the kernel takes: dsyevd's workspace, 1 + 6 N + 2 N^2
// doubles, is counted in a 32-bit LAPACK integer.
constexpr int64_t kGainMaxEnsemble = 16384;

// Writes rt to out and returns the alpha used. Throws enkg::Error (a
// LAPACK failure, memory) and never aborts. Uses OpenBLAS's threads: the
// caller holds the CPU device's lock.
double regularizedResidualsCpu(const GainArgs& args);

}  // namespace enkg
