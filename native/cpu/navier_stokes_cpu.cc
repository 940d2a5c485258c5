#include "navier_stokes_cpu.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <complex>
#include <limits>

#include "../core/errors.h"
#include "cpu_device.h"
#include "fftw_plans.h"

namespace enkg {
namespace {

// The grid's operators in the working precision, and the forcing spectrum.
template <typename T>
struct TypedGrid {
  using C = std::complex<T>;
  int R, Rc;
  size_t half, real;
  std::vector<T> kx, ky, viscous, invLap, dealias;  // viscous = |k|^2 / Re
  std::vector<T> psiDealiased;                       // dealias / |k|^2: psi of the dealiased vorticity
  FftwArray<C, T> forcing;                           // rfft2(f), empty without forcing
  SpectralGrid base;
  // Planned here, before any parallel region: a planning failure throws,
  // which must not happen inside one (OpenMP would terminate the process).
  typename Fftw<T>::Plans realPlans, complexPlans;

  TypedGrid(const NavierStokesOptions& o)
      : base(makeSpectralGrid(o.resolution, o.forcing)), realPlans(Fftw<T>::plans(o.resolution)),
        complexPlans(Fftw<T>::complexPlans(o.resolution)) {
    R = base.R;
    Rc = base.Rc;
    half = static_cast<size_t>(R) * Rc;
    real = static_cast<size_t>(R) * R;
    kx = castValues<T>(base.kx);
    ky = castValues<T>(base.ky);
    invLap = castValues<T>(base.invLap);
    dealias = castValues<T>(base.dealias);
    viscous = castValues<T>(viscousSpectrum(base, o.reynolds));
    psiDealiased.resize(half);
    for (size_t p = 0; p < half; ++p) psiDealiased[p] = invLap[p] * dealias[p];
    if (o.forcing) {
      FftwArray<T, T> f(real);
      for (size_t x = 0; x < real; ++x) f[x] = static_cast<T>(base.forcing[x]);
      forcing.resize(half);
      Fftw<T>::execute(realPlans.forward, f.data(), forcing.data());
    }
  }
};

// Scratch of one thread: four half spectra, a real field and a whole
// complex spectrum.
template <typename T>
struct Workspace {
  using C = std::complex<T>;
  FftwArray<C, T> a, n1, n2, wt, z;
  FftwArray<T, T> w;
  explicit Workspace(const TypedGrid<T>& g) : a(g.half), n1(g.half), n2(g.half), wt(g.half), z(g.real), w(g.real) {}
};

template <typename T>
class Stepper {
 public:
  using C = std::complex<T>;
  Stepper(const TypedGrid<T>& g, Workspace<T>& ws)
      : g_(g), ws_(ws), plans_(g.realPlans), complex_(g.complexPlans) {}

  // out = -(d/dx (q w) + d/dy (v w)) + f, with the velocity (q, v) and w
  // taken from the dealiased vorticity (the reference's nonlinear_term).
  // Complex products are written out: std::complex's operator* goes through
  // a NaN-recovering library call that costs more than the FFTs here.
  void nonlinear(const C* wh, C* out) {
    for (size_t p = 0; p < g_.half; ++p) ws_.a[p] = wh[p] * g_.dealias[p];
    velocity(wh, g_.psiDealiased.data());
    inverse_(ws_.a.data(), ws_.w.data());
    // Both factors of each product carry R^2; the 1/2 belongs to the
    // unpacking below.
    const T scale = T(1) / static_cast<T>(g_.real);
    const T factor = T(0.5) * scale * scale;
    T* z = reinterpret_cast<T*>(ws_.z.data());
    for (size_t x = 0; x < g_.real; ++x) {
      const T w = ws_.w[x] * factor;
      z[2 * x] *= w;
      z[2 * x + 1] *= w;
    }
    Fftw<T>::execute(complex_.forward, ws_.z.data());
    // The products' spectra A (q w) and B (v w) from Z = A + i B, as
    // A(k) = (Z(k) + conj Z(-k)) / 2 and B(k) = (Z(k) - conj Z(-k)) / 2i:
    // 2 (kx A + ky B)(k) = (kx - i ky) Z(k) + (kx + i ky) conj Z(-k).
    const int R = g_.R, Rc = g_.Rc;
    const bool forced = g_.forcing.size() > 0;
    for (int i = 0; i < R; ++i) {
      const size_t o = static_cast<size_t>(i) * Rc;
      const C* za = ws_.z.data() + static_cast<size_t>(i) * R;
      const C* zb = ws_.z.data() + static_cast<size_t>(i == 0 ? 0 : R - i) * R;
      const T *kx = g_.kx.data() + o, *ky = g_.ky.data() + o;
      C* dst = out + o;
      for (int j = 0; j < Rc; ++j) {
        const C a = za[j], b = zb[j == 0 ? 0 : R - j];
        const T sRe = kx[j] * (a.real() + b.real()) + ky[j] * (a.imag() + b.imag());
        const T sIm = kx[j] * (a.imag() - b.imag()) + ky[j] * (b.real() - a.real());
        dst[j] = C(sIm, -sRe);  // -i (kx A + ky B)
      }
      if (forced) {
        const C* f = &g_.forcing[o];
        for (int j = 0; j < Rc; ++j) dst[j] += f[j];
      }
    }
  }

  // max |u| of the (not dealiased) vorticity; NaN when a value is not finite.
  double maxSpeed(const C* wh) {
    velocity(wh, g_.invLap.data());
    const double scale = 1.0 / static_cast<double>(g_.real);
    const C* z = ws_.z.data();
    T best = 0;
    bool finite = true;
    for (size_t x = 0; x < g_.real; ++x) {
      const T s2 = squaredNorm(z[x].real(), z[x].imag());
      finite = finite && std::isfinite(s2);
      best = std::max(best, s2);
    }
    return finite ? std::sqrt(static_cast<double>(best)) * scale : std::numeric_limits<double>::quiet_NaN();
  }

  // One Heun predictor-corrector step with Crank-Nicolson viscosity.
  void step(C* wh, double dtDouble) {
    const T dt = static_cast<T>(dtDouble);
    const T half = T(0.5);
    nonlinear(wh, ws_.n1.data());
    for (size_t p = 0; p < g_.half; ++p) {
      const T nu = g_.viscous[p];
      ws_.wt[p] = (wh[p] + dt * (ws_.n1[p] - half * nu * wh[p])) / (T(1) + half * dt * nu);
    }
    nonlinear(ws_.wt.data(), ws_.n2.data());
    for (size_t p = 0; p < g_.half; ++p) {
      const T nu = g_.viscous[p];
      wh[p] = (wh[p] + dt * (half * (ws_.n1[p] + ws_.n2[p]) - half * nu * wh[p])) / (T(1) + half * dt * nu);
    }
  }

  bool finite(const C* wh) const {
    for (size_t p = 0; p < g_.half; ++p) {
      if (!std::isfinite(wh[p].real()) || !std::isfinite(wh[p].imag())) return false;
    }
    return true;
  }

  void toSpectrum(const float* field, C* wh) {
    for (size_t x = 0; x < g_.real; ++x) ws_.w[x] = static_cast<T>(field[x]);
    forward_(ws_.w.data(), wh);
  }

  void toField(const C* wh, float* field) {
    std::copy(wh, wh + g_.half, ws_.a.data());
    inverse_(ws_.a.data(), ws_.w.data());
    const T scale = T(1) / static_cast<T>(g_.real);
    for (size_t x = 0; x < g_.real; ++x) field[x] = static_cast<float>(ws_.w[x] * scale);
  }

 private:
  void forward_(T* in, C* out) { Fftw<T>::execute(plans_.forward, in, out); }
  void inverse_(C* in, T* out) { Fftw<T>::execute(plans_.inverse, in, out); }

  // The velocity (q, v) = (psi_y, -psi_x) of psi = toPsi * wh, both in one
  // complex transform, which costs about what one real transform does
  // (bench/fftw-pairs.cc): z = Q + i V = (kx + i ky) psi over the whole
  // R x R spectrum (at -k, conj Q + i conj V = -(kx + i ky) conj psi), so
  // that after the inverse transform Re z = q and Im z = v, unnormalised.
  // R is even (checked where options are read), so columns 0..R/2 and their
  // mirrors R/2+1..R-1 cover every row.
  void velocity(const C* wh, const T* toPsi) {
    const int R = g_.R, Rc = g_.Rc;
    for (int i = 0; i < R; ++i) {
      const size_t o = static_cast<size_t>(i) * Rc;
      const C* src = wh + o;
      const T *f = toPsi + o, *kx = g_.kx.data() + o, *ky = g_.ky.data() + o;
      C* row = ws_.z.data() + static_cast<size_t>(i) * R;
      C* mirror = ws_.z.data() + static_cast<size_t>(i == 0 ? 0 : R - i) * R;
      for (int j = 0; j < Rc; ++j) {
        const T pr = src[j].real() * f[j], pi = src[j].imag() * f[j];
        row[j] = C(kx[j] * pr - ky[j] * pi, kx[j] * pi + ky[j] * pr);
      }
      for (int j = 1; j < R / 2; ++j) {
        const T pr = src[j].real() * f[j], pi = src[j].imag() * f[j];
        mirror[R - j] = C(-kx[j] * pr - ky[j] * pi, kx[j] * pi - ky[j] * pr);
      }
    }
    Fftw<T>::execute(complex_.inverse, ws_.z.data());
  }

  const TypedGrid<T>& g_;
  Workspace<T>& ws_;
  typename Fftw<T>::Plans plans_, complex_;
};

// The step to take next: adaptive from the current field, or the fixed dt.
template <typename T>
double nextStep(Stepper<T>& stepper, const std::complex<T>* wh, const NavierStokesOptions& o, const TypedGrid<T>& g) {
  if (!o.adaptive) return stepper.finite(wh) ? o.dt : std::numeric_limits<double>::quiet_NaN();
  const double speed = stepper.maxSpeed(wh);
  return std::isfinite(speed) ? adaptiveTimeStep(speed, g.base, o.reynolds) : speed;
}

void fillNaN(float* field, size_t n) { std::fill(field, field + n, std::numeric_limits<float>::quiet_NaN()); }

// Each field with its own step sequence: independent of the batch.
template <typename T>
NavierStokesReport solvePerSample(const float* w0, float* out, int64_t batch, const NavierStokesOptions& o) {
  const TypedGrid<T> g(o);
  std::vector<double> failedAt(static_cast<size_t>(batch), -1.0);
  std::vector<char> outOfSteps(static_cast<size_t>(batch), 0);
  std::vector<int64_t> stepsTaken(static_cast<size_t>(batch), 0);
  std::atomic<bool> cancelled{false};
#pragma omp parallel
  {
    Workspace<T> ws(g);
    Stepper<T> stepper(g, ws);
    FftwArray<std::complex<T>, T> wh(g.half);
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < batch; ++b) {
      if (cancelled.load(std::memory_order_relaxed)) continue;
      stepper.toSpectrum(w0 + b * g.real, wh.data());
      double time = 0.0;
      double dt = nextStep(stepper, wh.data(), o, g);
      bool ok = std::isfinite(dt);
      int64_t steps = 0;
      while (ok && time < o.time) {
        if (cancelRequested(o)) {
          cancelled = true;
          break;
        }
        if (o.maxSteps > 0 && steps == o.maxSteps) {
          ok = false;
          outOfSteps[b] = 1;
          break;
        }
        const double current = time + dt > o.time ? o.time - time : dt;
        stepper.step(wh.data(), current);
        time += current;
        ++steps;
        dt = nextStep(stepper, wh.data(), o, g);
        ok = std::isfinite(dt);
      }
      stepsTaken[b] = steps;
      if (ok) {
        stepper.toField(wh.data(), out + b * g.real);
      } else {
        failedAt[b] = time;
        fillNaN(out + b * g.real, g.real);
      }
    }
  }
  NavierStokesReport report;
  report.cancelled = cancelled;
  for (int64_t b = 0; b < batch; ++b) {
    if (failedAt[b] >= 0) report.failures.push_back({b, failedAt[b], outOfSteps[b] != 0});
    report.steps = std::max(report.steps, stepsTaken[b]);
  }
  return report;
}

// All fields in lockstep with the smallest step of the batch (the reference).
template <typename T>
NavierStokesReport solveBatch(const float* w0, float* out, int64_t batch, const NavierStokesOptions& o) {
  const TypedGrid<T> g(o);
  std::vector<FftwArray<std::complex<T>, T>> wh(static_cast<size_t>(batch));
  std::vector<double> dts(static_cast<size_t>(batch));
  std::vector<double> failedAt(static_cast<size_t>(batch), -1.0);
  double time = 0.0, current = 0.0;
  bool done = false, cancelled = false;
  std::vector<char> outOfSteps(static_cast<size_t>(batch), 0);
  int64_t steps = 0;
#pragma omp parallel
  {
    Workspace<T> ws(g);
    Stepper<T> stepper(g, ws);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < batch; ++b) {
      wh[b].resize(g.half);
      stepper.toSpectrum(w0 + b * g.real, wh[b].data());
      dts[b] = nextStep(stepper, wh[b].data(), o, g);
    }
    while (true) {
      // One thread decides the common step; the barrier at the end of
      // `single` publishes it before any thread steps (and so rewrites dts).
#pragma omp single
      {
        // Fields that went non-finite leave the batch; the rest keep going.
        double dt = std::numeric_limits<double>::infinity();
        for (int64_t b = 0; b < batch; ++b) {
          if (failedAt[b] < 0 && !std::isfinite(dts[b])) failedAt[b] = time;
          if (failedAt[b] < 0) dt = std::min(dt, dts[b]);
        }
        done = !(time < o.time) || !std::isfinite(dt);
        if (!done && cancelRequested(o)) done = cancelled = true;
        if (!done && o.maxSteps > 0 && steps == o.maxSteps) {
          // Out of steps: every field still running fails at this time.
          done = true;
          for (int64_t b = 0; b < batch; ++b) {
            if (failedAt[b] < 0) {
              failedAt[b] = time;
              outOfSteps[b] = 1;
            }
          }
        }
        current = time + dt > o.time ? o.time - time : dt;
        if (!done) {
          time += current;
          ++steps;
        }
      }
      if (done) break;
#pragma omp for schedule(static)
      for (int64_t b = 0; b < batch; ++b) {
        if (failedAt[b] >= 0) continue;
        stepper.step(wh[b].data(), current);
        dts[b] = nextStep(stepper, wh[b].data(), o, g);
      }
    }
#pragma omp for schedule(static)
    for (int64_t b = 0; b < batch; ++b) {
      if (failedAt[b] < 0) {
        stepper.toField(wh[b].data(), out + b * g.real);
      } else {
        fillNaN(out + b * g.real, g.real);
      }
    }
  }
  NavierStokesReport report;
  report.steps = steps;
  report.cancelled = cancelled;
  for (int64_t b = 0; b < batch; ++b) {
    if (failedAt[b] >= 0) report.failures.push_back({b, failedAt[b], outOfSteps[b] != 0});
  }
  return report;
}

}  // namespace

NavierStokesReport solveNavierStokesCpu(const float* w0, float* out, int64_t batch, const NavierStokesOptions& opts) {
  if (opts.kernel == SolverKernel::Fused) return solveNavierStokesFusedCpu(w0, out, batch, opts);
  if (opts.doublePrecision) {
    return opts.perSampleDt ? solvePerSample<double>(w0, out, batch, opts) : solveBatch<double>(w0, out, batch, opts);
  }
  return opts.perSampleDt ? solvePerSample<float>(w0, out, batch, opts) : solveBatch<float>(w0, out, batch, opts);
}

double grfModeAmplitude(double k1, double k2, double alpha, double tau) {
  const double L = 2.0 * M_PI;
  const double sigma = std::pow(tau, alpha - 1.0);
  const double normConst = std::sqrt(2.0 / (L * L));
  const double c = 4.0 * M_PI * M_PI / (L * L);
  return sigma * normConst * std::pow(c * (k1 * k1 + k2 * k2) + tau * tau, -alpha / 2.0);
}

std::vector<double> grfModeAmplitudes(int R, double alpha, double tau) {
  const int Rc = R / 2 + 1;
  std::vector<double> amp(static_cast<size_t>(R) * Rc, 0.0);
  for (int i = 0; i < R; ++i) {
    const int k1 = i < R / 2 ? i : i - R;
    for (int j = 0; j < Rc; ++j) {
      const bool empty = i == R / 2 || j == R / 2 || (i == 0 && j == 0);
      if (!empty) amp[static_cast<size_t>(i) * Rc + j] = grfModeAmplitude(k1, j, alpha, tau);
    }
  }
  return amp;
}

void gaussianRandomFieldCpu(float* out, int64_t count, const GrfOptions& o) {
  const int R = o.resolution, Rc = R / 2 + 1;
  const size_t half = static_cast<size_t>(R) * Rc, real = static_cast<size_t>(R) * R;
  // |u_hat(k)| scale: R^2 a_k / 2 per real and imaginary part's unit normal,
  // so E|u_hat|^2 = R^4 a_k^2 / 2 (see grfModeAmplitude).
  std::vector<double> amp = grfModeAmplitudes(R, o.alpha, o.tau);
  for (double& a : amp) a *= 0.5 * static_cast<double>(real);
  const fftw_plan inverse = Fftw<double>::plans(R).inverse;  // outside the parallel region: planning may throw
#pragma omp parallel
  {
    FftwArray<std::complex<double>, double> spec(half);
    FftwArray<double, double> field(real);
    std::vector<float> xi(2 * half);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < count; ++b) {
      cpuDevice().randomNormal(xi.data(), 2 * half, 1, o.seed, o.firstStream + static_cast<uint64_t>(b));
      for (size_t p = 0; p < half; ++p) spec[p] = amp[p] * std::complex<double>(xi[2 * p], xi[2 * p + 1]);
      // Column j = 0 must be Hermitian: row R - i is the conjugate of row i.
      for (int i = R / 2 + 1; i < R; ++i) spec[static_cast<size_t>(i) * Rc] = std::conj(spec[static_cast<size_t>(R - i) * Rc]);
      Fftw<double>::execute(inverse, spec.data(), field.data());
      const double scale = 1.0 / static_cast<double>(real);
      for (size_t x = 0; x < real; ++x) out[b * real + x] = static_cast<float>(field[x] * scale);
    }
  }
}

}  // namespace enkg
