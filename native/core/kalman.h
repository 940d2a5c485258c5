// The derivative-free ensemble Kalman correction of docs/method.md section 2
// (Algorithm 2 of the EnKG paper) and the ensemble statistics around it,
// written once against the Device interface so that the CPU and CUDA
// backends run the same algorithm.
#pragma once

#include <cstdint>

#include "device.h"

namespace enkg {

enum class Ordering {
  // (R Yc^T / N) Xc: forms the N x N coefficient matrix C. Costs N^2 (m + d).
  Coefficient,
  // R (Yc^T Xc) / N: forms the m x d cross-covariance, block by block.
  // Costs 2 N m d, plus the Frobenius norm of C (N^2 m or 2 N m^2).
  CrossCovariance,
};

inline const char* orderingName(Ordering o) {
  return o == Ordering::Coefficient ? "coefficient" : "cross-covariance";
}

// Multiply-adds of each ordering for the given shapes.
double orderingCost(Ordering ordering, int64_t N, int64_t d, int64_t m);
Ordering chooseOrdering(int64_t N, int64_t d, int64_t m);

struct KalmanOutcome {
  double coefNorm;  // ||C||_F
  Ordering ordering;
};

// x^n <- x^n - (stepScale / ||C||_F) sum_k C[n, k] (x^k - xbar),
// C[n, k] = <r^n, y^k - ybar> / N.
// X, Xout: d x N (particle n is column n, leading dimension d); Xout may be X.
// Y, R: m x N. All pointers live on `device`. When ||C||_F is zero the step
// is zero and Xout = X. No temporary is larger than N x N, N x m, m x m or
// the device's scratch budget (never N x d x m).
KalmanOutcome kalmanStep(Device& device, const float* X, float* Xout, const float* Y, const float* R, int64_t N,
                         int64_t d, int64_t m, double stepScale, Ordering ordering);

// mean[j] = (1/N) sum_n X[j, n]  (d floats on the device).
void ensembleMean(Device& device, const float* X, int64_t N, int64_t d, float* mean);

// tr(Cov) = (1/N) sum_n ||x^n - xbar||^2, the paper's tr(Cxx) / tr(Cyy).
double ensembleCovarianceTrace(Device& device, const float* X, int64_t N, int64_t d);

}  // namespace enkg
