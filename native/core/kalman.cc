#include "kalman.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "errors.h"

namespace enkg {

double orderingCost(Ordering ordering, int64_t N, int64_t d, int64_t m) {
  const double n = static_cast<double>(N), dd = static_cast<double>(d), mm = static_cast<double>(m);
  if (ordering == Ordering::Coefficient) return n * n * (mm + dd);
  // The cross-covariance ordering still needs ||C||_F: directly (N^2 m) or
  // through the Gram identity ||R Yc^T||_F^2 = <R^T R, Yc^T Yc>_F (2 N m^2).
  return 2.0 * n * mm * dd + std::min(n * n * mm, 2.0 * n * mm * mm);
}

Ordering chooseOrdering(int64_t N, int64_t d, int64_t m) {
  return orderingCost(Ordering::Coefficient, N, d, m) <= orderingCost(Ordering::CrossCovariance, N, d, m)
             ? Ordering::Coefficient
             : Ordering::CrossCovariance;
}

namespace {

// Rows of a d x N block that fit `perRow` floats per row in the device's
// scratch budget, but at least 512 (thinner products run below full rate).
int64_t blockRows(const Device& device, int64_t d, int64_t perRow) {
  const int64_t budget = static_cast<int64_t>(device.scratchBudget());
  return std::min<int64_t>(d, std::max<int64_t>(512, budget / std::max<int64_t>(1, perRow)));
}

}  // namespace

// Notes on the products (column-major; particle n is column n of X):
//
// Coefficient ordering. With P = I - 11^T/N the centring projector,
// Xc = X P^T, so dx = C Xc is X (C P)^T, and the whole update is one product
//   Xout = X M^T,  M = I - eta (C - (C 1) 1^T / N),
// an N x N "mixing matrix" formed in O(N^2). Neither xbar nor Xc is ever
// materialised: the step reads X once and writes Xout once, the least memory
// traffic possible, and runs at the rate of a plain sgemm. (C 1 is zero in
// exact arithmetic because Yc is centred; subtracting the computed row sums
// keeps the product equal to C Xc even for the rounded C.) Rounding is then
// relative to |x| rather than |x - xbar|: the same order as storing the
// result in float32, which both forms do.
//
// Cross-covariance ordering. S = Xc Yc^T equals X Yc^T because Yc's columns
// sum to zero; the update Xout = X - (eta / N) S R runs block by block over
// the rows of X, so S never exists beyond one block.
KalmanOutcome kalmanStep(Device& device, const float* X, float* Xout, const float* Y, const float* R, int64_t N,
                         int64_t d, int64_t m, double stepScale, Ordering ordering) {
  const float invN = 1.0f / static_cast<float>(N);

  DeviceBuffer ybar(device, m);
  device.columnMean(Y, m, N, m, ybar.get());
  DeviceBuffer Yc(device, static_cast<size_t>(m) * N);
  device.centerColumns(Y, m, N, m, ybar.get(), Yc.get(), m);

  // C (column-major N x N): C(n, k) = <r^n, yc^k> / N = (R^T Yc)(n, k) / N.
  DeviceBuffer C;
  double coefNorm;
  const bool formC = ordering == Ordering::Coefficient || N <= 2 * m;
  if (formC) {
    C = DeviceBuffer(device, static_cast<size_t>(N) * N);
    device.gemm(true, false, N, N, m, invN, R, m, Yc.get(), m, 0.0f, C.get(), N);
    coefNorm = std::sqrt(device.sumSquares(C.get(), static_cast<size_t>(N) * N));
  } else {
    DeviceBuffer gramR(device, static_cast<size_t>(m) * m), gramY(device, static_cast<size_t>(m) * m);
    device.gemm(false, true, m, m, N, 1.0f, R, m, R, m, 0.0f, gramR.get(), m);
    device.gemm(false, true, m, m, N, 1.0f, Yc.get(), m, Yc.get(), m, 0.0f, gramY.get(), m);
    const double squared = device.dot(gramR.get(), gramY.get(), static_cast<size_t>(m) * m);
    coefNorm = std::sqrt(std::max(0.0, squared)) / static_cast<double>(N);
  }
  if (!std::isfinite(coefNorm)) {
    throw rangeError("residuals and measurements whose coefficient matrix fits in float32", "residuals",
                     "values whose ||C||_F overflows (" + formatNumber(coefNorm) + "); rescale the misfit");
  }
  if (coefNorm == 0.0) {
    // Every residual is orthogonal to the measurement spread: no information,
    // no step (the formula would divide zero by zero).
    if (Xout != X) device.copy(Xout, X, static_cast<size_t>(d) * N);
    return {coefNorm, ordering};
  }
  const float eta = static_cast<float>(stepScale / coefNorm);

  if (ordering == Ordering::Coefficient) {
    device.formMixingMatrix(C.get(), N, eta);  // C becomes M
    if (Xout != X) {
      device.gemm(false, true, d, N, N, 1.0f, X, d, C.get(), N, 0.0f, Xout, d);
    } else {
      // In place: each block of rows is copied aside (a cache-sized
      // buffer) before the product overwrites it.
      const int64_t rows = blockRows(device, d, N);
      DeviceBuffer block(device, static_cast<size_t>(rows) * N);
      for (int64_t j = 0; j < d; j += rows) {
        const int64_t b = std::min(rows, d - j);
        device.copyBlock(X + j, b, N, d, block.get(), b);
        device.gemm(false, true, b, N, N, 1.0f, block.get(), b, C.get(), N, 0.0f, Xout + j, d);
      }
    }
  } else {
    const int64_t rows = blockRows(device, d, m);
    DeviceBuffer S(device, static_cast<size_t>(rows) * m);
    for (int64_t j = 0; j < d; j += rows) {
      const int64_t b = std::min(rows, d - j);
      // S_blk = X_blk Yc^T (b x m) is read from X before X_blk is written.
      device.gemm(false, true, b, m, N, 1.0f, X + j, d, Yc.get(), m, 0.0f, S.get(), b);
      if (Xout != X) device.copyBlock(X + j, b, N, d, Xout + j, d);
      device.gemm(false, false, b, N, m, -eta * invN, S.get(), b, R, m, 1.0f, Xout + j, d);
    }
  }
  return {coefNorm, ordering};
}

void ensembleMean(Device& device, const float* X, int64_t N, int64_t d, float* mean) {
  device.columnMean(X, d, N, d, mean);
}

double ensembleCovarianceTrace(Device& device, const float* X, int64_t N, int64_t d) {
  DeviceBuffer xbar(device, d);
  device.columnMean(X, d, N, d, xbar.get());
  return device.centeredSumSquares(X, d, N, d, xbar.get()) / static_cast<double>(N);
}

}  // namespace enkg
