// The 2D Navier-Stokes problem of docs/method.md section 4.1, shared by the CPU and
// CUDA solvers: options, the spectral grid (wavenumbers, Laplacian,
// dealiasing mask, forcing), and the adaptive time-step rule.
//
// Vorticity form on [0, 2pi]^2: w_t + u . grad w = (1/Re) lap w + f,
// u = (psi_y, -psi_x), -lap psi = w. Axis 0 of a field (rows, index i) is x,
// axis 1 (columns, index j) is y; spectra are the real-FFT half plane
// R x (R/2 + 1), unnormalised forward, 1/R^2 on the way back (as numpy/torch).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "philox.h"  // ENKG_HD

namespace enkg {

// Which implementation advances the fields. 'library' transforms whole
// batches with FFTW or cuFFT between element-wise passes; 'fused' carries
// each field through its solve in one worker with its own transforms
// (core/navier_stokes_fused.h): on a GPU the fast path, on the CPU a
// reference run of the GPU's algorithm. 'auto': fused on a GPU where it
// applies (fusedUnsupported), else the library path.
enum class SolverKernel { Auto, Library, Fused };

struct NavierStokesOptions {
  int resolution = 64;
  double reynolds = 200.0;
  double time = 1.0;
  bool adaptive = true;
  double dt = 1e-3;          // the fixed step when !adaptive
  bool perSampleDt = true;   // dtMode 'sample' (true) or 'batch'
  bool forcing = true;       // f = -4 cos(4 y), or none
  bool doublePrecision = false;
  // A budget of time steps per field (0: none). A field that would need more
  // (a wild input whose CFL step collapses) stops and is reported as failed,
  // so one bad particle cannot stall a whole solve.
  int64_t maxSteps = 0;
  SolverKernel kernel = SolverKernel::Auto;
  // The CPU run of the fused kernel walks each phase's items backwards: the
  // result must not change (a phase whose items depend on each other would
  // race on a GPU).
  bool reverseItems = false;
  // Set non-zero by another thread (an AbortSignal in JavaScript) to stop
  // the solve early; the solvers look at it once per time step (the fused
  // GPU kernel, one launch for the whole solve, cannot look).
  const int32_t* cancel = nullptr;
};

// True once the caller asked the solve to stop. The flag is written by the
// JavaScript thread; a relaxed atomic load sees it within a step or two.
inline bool cancelRequested(const NavierStokesOptions& o) {
  return o.cancel != nullptr && __atomic_load_n(o.cancel, __ATOMIC_RELAXED) != 0;
}

struct SampleFailure {
  int64_t index;
  double time;  // simulated time reached when the field became non-finite or ran out of steps
  bool stepLimit = false;  // true: maxSteps ran out (the field was still finite)
};

// What a solve reports besides the fields.
struct NavierStokesReport {
  std::vector<SampleFailure> failures;
  // Time steps taken by the longest-running field (in dtMode 'batch', the
  // steps the batch took together), counted alike on every backend.
  int64_t steps = 0;
  bool fused = false;  // which kernel ran
  bool cancelled = false;  // stopped by cancelRequested: the fields are not a result
};

// Wavenumbers and operators of one grid, in double; solvers convert.
struct SpectralGrid {
  int R = 0;
  int Rc = 0;  // R / 2 + 1 columns of the half spectrum
  std::vector<double> kx;       // R x Rc: first-derivative wavenumber along x (Nyquist row zeroed)
  std::vector<double> ky;       // R x Rc: along y (Nyquist column zeroed)
  std::vector<double> lap;      // R x Rc: |k|^2, the negative Laplacian (Nyquist kept)
  std::vector<double> invLap;   // 1 / |k|^2, with 1 at k = 0
  std::vector<double> dealias;  // 1 inside the 2/3-rule disc, 0 outside and at k = 0
  std::vector<double> forcing;  // R x R: -4 cos(4 y_j), y_j = 2 pi j / R
  double forcingAmplitude = 0;  // max |f|
};

SpectralGrid makeSpectralGrid(int R, bool forcing);

// rfft2 of the forcing, R x (R/2 + 1) modes interleaved (re, im), computed
// exactly: f depends on y only, so rfft2(f)(k1, k2) = R delta(k1) sum_j f_j e^{-2 pi i k2 j / R}.
std::vector<double> forcingSpectrum(const SpectralGrid& grid);

// e^{-2 pi i t / R} for t < R, interleaved (re, im).
std::vector<double> fftTwiddles(int R);

// Every table the fused kernel reads, in one array (layout:
// fused::tablesAt): kx, ky, invLap, dealias, viscous (H values each),
// forcing (2H), twiddles (2R).
std::vector<double> fusedTableValues(const SpectralGrid& grid, double reynolds);

// Why the fused kernel cannot run these options (empty: it can). Resolutions
// it compiles for: powers of two from kFusedMinResolution to kFusedMaxResolution.
constexpr int kFusedMinResolution = 16, kFusedMaxResolution = 128;
std::string fusedUnsupported(const NavierStokesOptions& opts);

// Throws the RangeError for kernel 'fused' asked of options it cannot run.
[[noreturn]] void refuseFusedKernel(const std::string& why);

// dt = min(0.5 h / max|u|, 0.5 h^2 / mu), h = 1/R, mu = (1/Re) sqrt(max|f|)
// (sqrt(max|f|) taken as 1 without forcing), as the reference solver does.
// Shared by the CPU and CUDA solvers.
ENKG_HD double adaptiveTimeStep(double maxSpeed, int R, double reynolds, double forcingAmplitude) {
  const double h = 1.0 / R;
  const double xi = forcingAmplitude > 0 ? sqrt(forcingAmplitude) : 1.0;
  const double mu = xi / reynolds;
  const double viscous = 0.5 * h * h / mu;
  if (maxSpeed == 0) return viscous;
  const double cfl = 0.5 * h / maxSpeed;
  return cfl < viscous ? cfl : viscous;
}

inline double adaptiveTimeStep(double maxSpeed, const SpectralGrid& grid, double reynolds) {
  return adaptiveTimeStep(maxSpeed, grid.R, reynolds, grid.forcingAmplitude);
}

// |u|^2 = q q + v v for the CFL step, rounded the same on every backend: no
// fused multiply-add (nvcc would fuse a * b + c; the host build has no FMA),
// so all solvers take the same adaptive steps.
template <typename T>
ENKG_HD T squaredNorm(T q, T v) {
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(T) == sizeof(float)) {
    return __fadd_rn(__fmul_rn(q, q), __fmul_rn(v, v));
  } else {
    return __dadd_rn(__dmul_rn(q, q), __dmul_rn(v, v));
  }
#else
  return q * q + v * v;
#endif
}

// A grid operator in a solver's working precision.
template <typename T>
std::vector<T> castValues(const std::vector<double>& values) {
  return std::vector<T>(values.begin(), values.end());
}

// |k|^2 / Re per mode: the viscous operator of the Crank-Nicolson step.
std::vector<double> viscousSpectrum(const SpectralGrid& grid, double reynolds);

}  // namespace enkg
