// The pseudo-spectral Navier-Stokes solver and the Gaussian-random-field
// sampler on the CPU: FFTW (plans shared per grid size), OpenMP over the batch.
#pragma once

#include <cstdint>
#include <vector>

#include "../core/navier_stokes.h"

namespace enkg {

// Advances `batch` fields (physical units, batch x R x R, row-major) from
// t = 0 to opts.time into `out`. A field that becomes non-finite is filled
// with NaN and reported; the others finish.
// opts.kernel 'fused' runs the GPU's fused algorithm instead (below).
NavierStokesReport solveNavierStokesCpu(const float* w0, float* out, int64_t batch, const NavierStokesOptions& opts);

// The fused kernel of core/navier_stokes_fused.h on the CPU, one thread per
// field: slow next to FFTW, it checks the GPU's algorithm without a GPU.
NavierStokesReport solveNavierStokesFusedCpu(const float* w0, float* out, int64_t batch,
                                             const NavierStokesOptions& opts);

struct GrfOptions {
  int resolution = 64;
  double alpha = 2.5;
  double tau = 7.0;
  uint64_t seed = 0;
  uint64_t firstStream = 0;  // field b is Philox stream firstStream + b
};

// `count` GRF samples (count x R x R) of docs/method.md section 1:
// sqrt_eig(k) = R^2 sigma sqrt(2 / L^2) (4 pi^2 / L^2 |k|^2 + tau^2)^(-alpha / 2),
// sigma = tau^(alpha - 1), L = 2 pi, zero mean and Nyquist modes.
void gaussianRandomFieldCpu(float* out, int64_t count, const GrfOptions& opts);

// The amplitude a_k (without the R^2 factor) of mode k = (k1, k2): each
// real-FFT coefficient has E|u_hat(k)|^2 = R^4 a_k^2 / 2.
double grfModeAmplitude(double k1, double k2, double alpha, double tau);

// a_k of every real-FFT mode of an R x R grid (R x (R/2 + 1)), 0 for the mean
// and Nyquist modes the sampler leaves empty.
std::vector<double> grfModeAmplitudes(int R, double alpha, double tau);

}  // namespace enkg
