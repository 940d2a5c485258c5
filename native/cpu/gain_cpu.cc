#include "gain_cpu.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <new>
#include <string>
#include <vector>

#include "../core/errors.h"

// LAPACK's symmetric eigensolver by divide and conquer, as OpenBLAS exports
// it (Debian's libopenblas carries LAPACK; there is no lapacke.h to
// include). The Fortran calling convention: every argument by pointer, and
// the lengths of the two character arguments appended (gfortran's hidden
// arguments; an implementation that does not read them ignores them).
extern "C" void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
                        double* work, const int* lwork, int* iwork, const int* liwork, int* info, size_t jobzLength,
                        size_t uploLength);

namespace enkg {
namespace {

// A zeroed double buffer, or an enkg::Error that says what it was for.
std::vector<double> doubles(size_t count, const char* what) {
  try {
    return std::vector<double>(count, 0.0);
  } catch (const std::bad_alloc&) {
    throw runtimeError("Could not allocate " + std::to_string(count) + " doubles (" +
                       formatNumber(static_cast<double>(count) * 8.0 / (1 << 30)) + " GiB) for the regularized gain's " +
                       what);
  }
}

// rows (N x w) minus their column means, into out (double); returns the means.
std::vector<double> centre(const float* rows, int64_t N, int64_t w, double* out) {
  std::vector<double> mean = doubles(static_cast<size_t>(w), "means");
  for (int64_t n = 0; n < N; ++n) {
    const float* row = rows + static_cast<size_t>(n) * w;
    for (int64_t j = 0; j < w; ++j) mean[j] += row[j];
  }
  for (int64_t j = 0; j < w; ++j) mean[j] /= static_cast<double>(N);
  for (int64_t n = 0; n < N; ++n) {
    const float* row = rows + static_cast<size_t>(n) * w;
    double* c = out + static_cast<size_t>(n) * w;
    for (int64_t j = 0; j < w; ++j) c[j] = row[j] - mean[j];
  }
  return mean;
}

// Eigenvalues (ascending) into lambda and orthonormal eigenvectors over A
// (n x n symmetric; on return row k of A is eigenvector k).
void symmetricEigen(double* A, int n, double* lambda) {
  const char jobz = 'V', uplo = 'U';
  int info = 0, lwork = -1, liwork = -1, iworkSize = 0;
  double workSize = 0;
  dsyevd_(&jobz, &uplo, &n, A, &n, lambda, &workSize, &lwork, &iworkSize, &liwork, &info, 1, 1);
  if (info != 0) {
    throw runtimeError("LAPACK dsyevd refused the regularized gain's workspace query (info = " + std::to_string(info) +
                       ")");
  }
  lwork = static_cast<int>(workSize);
  liwork = iworkSize;
  std::vector<double> work = doubles(static_cast<size_t>(std::max(lwork, 1)), "eigensolver workspace");
  std::vector<int> iwork(static_cast<size_t>(std::max(liwork, 1)));
  dsyevd_(&jobz, &uplo, &n, A, &n, lambda, work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1);
  if (info < 0) {
    throw runtimeError("LAPACK dsyevd refused its argument " + std::to_string(-info) +
                       " in the regularized gain (an N x N eigenproblem, N = " + std::to_string(n) + ")");
  }
  if (info > 0) {
    throw runtimeError("LAPACK dsyevd did not converge on the regularized gain's N x N matrix S (N = " +
                       std::to_string(n) + ", info = " + std::to_string(info) + ")");
  }
}

// The adaptive alpha (corrections.ts documents the rule): the linearized
// reduction of sum_n ||e^n||^2 at alpha is
//   sum_i q_i (lambda_i + 2 alpha) / (lambda_i + alpha)^2 / N,  q_i = sum_n t_ni^2,
// decreasing in alpha; the alpha at which it is 1 - rho^2 of what alpha -> 0
// (the floor) removes, found by bisection on log alpha.
double adaptiveAlpha(const std::vector<double>& lambda, const std::vector<double>& q, double trace, int64_t N,
                     double rho, const double* sizes) {
  auto reduction = [&](double al) {
    double s = 0;
    for (size_t i = 0; i < lambda.size(); ++i) {
      if (lambda[i] > 0 || al > 0) s += q[i] * (lambda[i] + 2 * al) / ((lambda[i] + al) * (lambda[i] + al));
    }
    return s / static_cast<double>(N);
  };
  double total = 0;
  for (int64_t n = 0; n < N; ++n) total += sizes[n];
  const double floor = std::max(trace, 1e-300) * 1e-12;
  const double reachable = std::min(total, reduction(floor));
  const double target = (1 - rho * rho) * std::min(total, reachable);
  double lo = std::log(floor), hi = std::log(std::max(trace, 1e-300) * 1e12);
  // tr(S) = 0: the measurements do not vary, K = 0 and the step is 0 at any
  // alpha; 1 keeps rt = r finite. Target 0: nothing to remove, the largest alpha.
  if (!(trace > 0)) return 1.0;
  if (!(target > 0)) return std::exp(hi);
  for (int it = 0; it < 100; ++it) {
    const double mid = (lo + hi) / 2;
    if (reduction(std::exp(mid)) > target) lo = mid; else hi = mid;
  }
  return std::exp((lo + hi) / 2);
}

}  // namespace

double regularizedResidualsCpu(const GainArgs& a) {
  const int64_t N = a.N, m = a.m;
  if (N < 2 || N > kGainMaxEnsemble) {
    throw rangeError("an ensembleSize in [2, " + std::to_string(kGainMaxEnsemble) + "]", "ensembleSize",
                     std::to_string(N));
  }
  if (m < 1 || m > 2147483647) throw rangeError("a measurement size m in [1, 2^31)", "m", std::to_string(m));
  const int n = static_cast<int>(N), w = static_cast<int>(m);
  const size_t nm = static_cast<size_t>(N) * m, nn = static_cast<size_t>(N) * N;
  const double invN = 1.0 / static_cast<double>(N);

  std::vector<double> Yc = doubles(nm, "centred measurements"), Rc = doubles(nm, "centred residuals");
  centre(a.Y, N, m, Yc.data());
  const std::vector<double> rbar = centre(a.R, N, m, Rc.data());

  // G = Yc Rc^T and c = Yc rbar: S = (G + G^T) / 2N, and s_n = Yc r^n = G(:, n) + c since r^n = Rc_n + rbar.
  std::vector<double> G = doubles(nn, "N x N products"), c = doubles(static_cast<size_t>(N), "N x N products");
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, w, 1.0, Yc.data(), w, Rc.data(), w, 0.0, G.data(), n);
  cblas_dgemv(CblasRowMajor, CblasNoTrans, n, w, 1.0, Yc.data(), w, rbar.data(), 1, 0.0, c.data(), 1);
  std::vector<double> E = doubles(nn, "eigenvectors"), Sv = doubles(nn, "N x N products");
  for (int64_t p = 0; p < N; ++p) {
    for (int64_t k = 0; k < N; ++k) {
      E[p * N + k] = (G[p * N + k] + G[k * N + p]) * (0.5 * invN);
      Sv[k * N + p] = G[p * N + k] + c[p];  // row k: s_k
    }
  }

  std::vector<double> lambda = doubles(static_cast<size_t>(N), "eigenvalues");
  symmetricEigen(E.data(), n, lambda.data());
  double trace = 0;
  for (double& l : lambda) {
    l = std::max(0.0, l);
    trace += l;
  }

  // t_n = V^T s_n (row n of t); E's row i is V's column i.
  std::vector<double> t = doubles(nn, "N x N products");
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0, Sv.data(), n, E.data(), n, 0.0, t.data(), n);

  double alpha = a.alpha;
  if (a.adaptive) {
    std::vector<double> q = doubles(static_cast<size_t>(N), "eigenvalues");
    for (int64_t p = 0; p < N; ++p) {
      for (int64_t i = 0; i < N; ++i) q[i] += t[p * N + i] * t[p * N + i];
    }
    alpha = adaptiveAlpha(lambda, q, trace, N, a.rho, a.sizes);
  }

  // u_n = V diag(1 / (lambda + alpha)) t_n (rows of U, in Sv's place), then
  // rt^n = (r^n - Rc^T u_n / N) / alpha with Rc^T u_n / N the rows of U Rc / N (in Yc's place).
  for (int64_t p = 0; p < N; ++p) {
    for (int64_t i = 0; i < N; ++i) G[p * N + i] = t[p * N + i] / (lambda[i] + alpha);
  }
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, G.data(), n, E.data(), n, 0.0, Sv.data(), n);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, w, n, invN, Sv.data(), n, Rc.data(), w, 0.0, Yc.data(), w);
  for (size_t k = 0; k < nm; ++k) a.out[k] = static_cast<float>((a.R[k] - Yc[k]) / alpha);
  return alpha;
}

}  // namespace enkg
