// The fused Navier-Stokes solver: one worker carries one field through its
// whole solve (docs/method.md 4.1, the scheme of cpu/navier_stokes_cpu.cc), with its
// own FFTs over three R x S work buffers (S >= R + 2). On a GPU the worker is a
// thread block and the buffers live in shared memory, so a time step's
// transforms never touch device memory (cuda/navier_stokes_fused.cu); on the
// CPU the same code runs with one thread per field, which is how it is
// tested (cpu/navier_stokes_fused_cpu.cc).
//
// The code is written against an executor `Exec` that says how a phase's
// independent items are spread over the worker's threads:
//   ex.forEach(n, f)            f(i) for i < n; no two items touch the same value
//   ex.sync()                   every item of the previous phase is done
//   ex.lineGroups<G, State>(count, phase...)
//                               for each of `count` lines, a group of G lanes
//                               runs phase(line, lane, state) for every phase
//                               in turn, all lanes finishing one phase before
//                               any starts the next (LineFft)
//   ex.maxOf<T>(n, f, &finite)  max of f(i) >= 0, and whether all were finite
//   ex.allOf(n, f)              whether f(i) holds for every i
// Every thread of a worker runs the same control flow and ends with the same
// values (time, step, status), which come out of the reductions.
//
// Transforms: four-step FFTs along columns or pairs of rows, a group of
// lanes per line with the values in registers (LineFft). A 2D real transform
// is (forward) row pairs packed as z = x_a + i x_b, split into the two rows'
// half spectra, then columns; the inverse runs the other way. Like FFTW and
// cuFFT the transforms are unnormalised and the inverse ignores the imaginary
// parts of a row's k = 0 and k = R/2 coefficients.
#pragma once

#include <cmath>
#include <cstdint>

#include "navier_stokes.h"

// ENKG_FUSED_CALL: a function called from many places (the 2D transforms),
// compiled once rather than inlined at each, which would multiply the code
// (and nvcc's compile time) by the number of call sites.
#if defined(__CUDACC__)
#define ENKG_FUSED __device__ __forceinline__
#define ENKG_FUSED_CALL __device__ __noinline__
#define ENKG_UNROLL _Pragma("unroll")
#else
#define ENKG_FUSED inline
#define ENKG_FUSED_CALL inline
#define ENKG_UNROLL
#endif

namespace enkg {
namespace fused {

template <typename T>
struct Cx {
  T re, im;
};

// Sizes of one resolution. A work buffer holds R rows of S values: as a real
// field, value (i, j) at i S + j; as a half spectrum, mode (i, k) at i S + 2k
// (real part) and i S + 2k + 1 (imaginary part).
template <int R>
struct Grid {
  static_assert(R >= 4 && (R & (R - 1)) == 0, "the fused solver needs a power-of-two resolution");
  static constexpr int Rc = R / 2 + 1;
  // Row stride: R + 2 holds a half spectrum; a little more spreads each
  // transform phase's warp-wide accesses over the 32 shared-memory banks
  // (chosen by counting banks per phase, bench/fused-banks.ts: at 128^2
  // columns 2-way, rows conflict-free; 2-way or better below).
  static constexpr int S = R == 128 ? R + 4 : R + 3;
  static constexpr int H = R * Rc;      // modes of a half spectrum
  static constexpr int buffer = R * S;  // values of a work buffer
};

// Per-mode operators (natural half-spectrum order p = i Rc + k, as
// SpectralGrid) and the twiddles e^{-2 pi i t / R}, t < R (interleaved).
template <typename T>
struct Tables {
  const T *kx, *ky, *invLap, *dealias, *viscous;
  const T* forcing;  // 2H values (re, im), null without forcing
  const T* twiddle;  // 2R values
};

// The tables inside one array laid out as fusedTableValues (host code).
template <int R, typename T>
inline Tables<T> tablesAt(const T* base, bool forcing) {
  constexpr int H = R * (R / 2 + 1);
  return {base, base + H, base + 2 * H, base + 3 * H, base + 4 * H, forcing ? base + 5 * H : nullptr, base + 7 * H};
}

// A worker's memory: three work buffers, and the field's state (its
// spectrum, the first Heun stage's nonlinear term, and the predictor).
template <typename T>
struct Work {
  T *a, *b, *c;
  Cx<T>*wh, *n1, *wt;
};

struct Params {
  double reynolds, time, dt, forcingAmplitude;
  bool adaptive;
  int64_t maxSteps;
};

struct FieldResult {
  int64_t steps;
  double time;  // reached
  bool failed, stepLimit;
};

template <typename T>
ENKG_FUSED bool finiteValue(T x) {
#if defined(__CUDA_ARCH__)
  return isfinite(x);
#else
  return std::isfinite(x);
#endif
}

// ---- transforms ----------------------------------------------------------

// x * (c + i s)
template <typename T>
ENKG_FUSED Cx<T> rotate(Cx<T> x, T c, T s) {
  return {x.re * c - x.im * s, x.re * s + x.im * c};
}

// e^(-+2 pi i t / R) from the table of e^(-2 pi i t / R).
template <typename T>
ENKG_FUSED Cx<T> twiddleAt(const T* tw, int t, bool inverse) {
  return {tw[2 * t], inverse ? -tw[2 * t + 1] : tw[2 * t + 1]};
}

// An N-point DFT (N a power of two up to 16) of values held in registers,
// radix-2 decimation in time; w_N^m is table entry m * stride (R / N).
template <int N, typename T>
ENKG_FUSED void dftInRegisters(Cx<T>* v, const T* tw, int stride, bool inverse) {
ENKG_UNROLL
  for (int i = 0; i < N; ++i) {
    int j = 0;
ENKG_UNROLL
    for (int bit = 1, rest = i; bit < N; bit <<= 1, rest >>= 1) j = (j << 1) | (rest & 1);
    if (i < j) {
      const Cx<T> t = v[i];
      v[i] = v[j];
      v[j] = t;
    }
  }
ENKG_UNROLL
  for (int len = 2; len <= N; len <<= 1) {
ENKG_UNROLL
    for (int start = 0; start < N; start += len) {
ENKG_UNROLL
      for (int m = 0; m < len / 2; ++m) {
        const Cx<T> a = v[start + m];
        Cx<T> b = v[start + m + len / 2];
        if (m > 0) {
          const Cx<T> w = twiddleAt(tw, m * (N / len) * stride, inverse);
          b = rotate(b, w.re, w.im);
        }
        v[start + m] = {a.re + b.re, a.im + b.im};
        v[start + m + len / 2] = {a.re - b.re, a.im - b.im};
      }
    }
  }
}

// Complex lines of length R inside a buffer: element e of line l has its real
// part at l * lineStep + e * elemStep and its imaginary part imStep further.
struct Lines {
  int lineStep, elemStep, imStep;
};

template <int R>
constexpr Lines columnLines() {
  return {2, Grid<R>::S, 1};
}
template <int R>
constexpr Lines rowPairLines() {
  return {2 * Grid<R>::S, 1, Grid<R>::S};
}

// A length-R DFT of every line, each by a group of G = R/16 lanes that hold
// 16 values each in registers (the "four-step" split R = G x 16): lane g
// transforms elements g + G e (e < 16), twiddles them by w_R^(g k2), and
// parks them in block k2 (see parked); then lane j gathers k2 = j, j + G, ... from every
// lane and finishes with G-point DFTs into X(k2 + 16 k1). The line's own
// storage holds the intermediate, so a group syncs between its phases and no
// other line is touched: ex.lineGroups<G, State>(count, phase...) runs the
// phases in order for every line, each for all G lanes of the line before
// the next begins, with `State` carried per lane.
//
// The rows' split between the packed pair z = x_a + i x_b and the two half
// spectra runs as two more phases of the same groups (a lane takes
// k = j, j + G, ..., R/2: at most 9 values of k, 2 results each).
template <typename T>
struct LaneValues {
  Cx<T> v[18];
};

template <int R, typename T>
struct LineFft {
  static constexpr int E = 16, G = R / E, perLane = E / G;
  static_assert(R >= 16, "line groups need R >= 16");
  T* buf;
  Lines lines;
  bool inverse;
  const T* tw;

  ENKG_FUSED T* at(int line, int e) const { return buf + line * lines.lineStep + e * lines.elemStep; }

  // Phase 1: the lane's column of the G x 16 split, its DFT, the twiddles.
  ENKG_FUSED void transform(int line, int g, LaneValues<T>& s) const {
ENKG_UNROLL
    for (int e = 0; e < E; ++e) {
      const T* x = at(line, g + G * e);
      s.v[e] = {x[0], x[lines.imStep]};
    }
    dftInRegisters<E>(s.v, tw, R / E, inverse);
ENKG_UNROLL
    for (int k2 = 1; k2 < E; ++k2) {
      if (g > 0) {
        const Cx<T> w = twiddleAt(tw, g * k2, inverse);
        s.v[k2] = rotate(s.v[k2], w.re, w.im);
      }
    }
  }
  // Where lane g parks Y_g(k2): slot (g + k2) mod G of block k2. Rotating
  // the slot with k2 spreads the gather's accesses over the banks (g + G k2
  // would have the lanes of a group read G apart; bench/fused-banks.ts).
  static ENKG_FUSED int parked(int g, int k2) { return (g + k2) % G + G * k2; }

  // Phase 2: park Y_g(k2).
  ENKG_FUSED void park(int line, int g, LaneValues<T>& s) const {
ENKG_UNROLL
    for (int k2 = 0; k2 < E; ++k2) {
      T* x = at(line, parked(g, k2));
      x[0] = s.v[k2].re;
      x[lines.imStep] = s.v[k2].im;
    }
  }
  // Phase 3: gather k2 = j + G c from every lane; G-point DFTs.
  ENKG_FUSED void gather(int line, int j, LaneValues<T>& s) const {
ENKG_UNROLL
    for (int c = 0; c < perLane; ++c) {
      Cx<T> u[G];
ENKG_UNROLL
      for (int g = 0; g < G; ++g) {
        const T* x = at(line, parked(g, j + G * c));
        u[g] = {x[0], x[lines.imStep]};
      }
      dftInRegisters<G>(u, tw, R / G, inverse);
ENKG_UNROLL
      for (int k1 = 0; k1 < G; ++k1) s.v[c * G + k1] = u[k1];
    }
  }
  // Phase 4: X(k2 + 16 k1) in natural order.
  ENKG_FUSED void finish(int line, int j, LaneValues<T>& s) const {
ENKG_UNROLL
    for (int c = 0; c < perLane; ++c) {
ENKG_UNROLL
      for (int k1 = 0; k1 < G; ++k1) {
        T* x = at(line, j + G * c + E * k1);
        x[0] = s.v[c * G + k1].re;
        x[lines.imStep] = s.v[c * G + k1].im;
      }
    }
  }

  // Row pairs only (rows 2r, 2r+1 of the buffer, S apart).
  static constexpr int S = Grid<R>::S;
  static constexpr int kSplit = R / 2 / G + 1;  // values of k a lane takes
  ENKG_FUSED T* rowA(int pair) const { return buf + 2 * pair * S; }

  // Inverse, before the transform: half spectra Y_a, Y_b -> z = Y_a + i Y_b
  // over all R frequencies (the Hermitian extension; like C2R transforms,
  // the imaginary parts at k = 0 and R/2 are ignored).
  ENKG_FUSED void unsplitLoad(int pair, int j, LaneValues<T>& s) const {
    const T *a = rowA(pair), *b = a + S;
ENKG_UNROLL
    for (int c = 0; c < kSplit; ++c) {
      const int k = j + G * c;
      if (k > R / 2) continue;
      const Cx<T> ya = {a[2 * k], a[2 * k + 1]}, yb = {b[2 * k], b[2 * k + 1]};
      if (k == 0 || k == R / 2) {
        s.v[2 * c] = {ya.re, yb.re};
      } else {
        s.v[2 * c] = {ya.re - yb.im, ya.im + yb.re};      // Y_a(k) + i Y_b(k)
        s.v[2 * c + 1] = {ya.re + yb.im, yb.re - ya.im};  // conj(Y_a(k)) + i conj(Y_b(k)), at R - k
      }
    }
  }
  ENKG_FUSED void unsplitStore(int pair, int j, LaneValues<T>& s) const {
    T *a = rowA(pair), *b = a + S;
ENKG_UNROLL
    for (int c = 0; c < kSplit; ++c) {
      const int k = j + G * c;
      if (k > R / 2) continue;
      a[k] = s.v[2 * c].re;
      b[k] = s.v[2 * c].im;
      if (k != 0 && k != R / 2) {
        a[R - k] = s.v[2 * c + 1].re;
        b[R - k] = s.v[2 * c + 1].im;
      }
    }
  }

  // Forward, after the transform: the spectrum Z of z = x_a + i x_b gives
  // X_a(k) = (Z(k) + conj Z(-k)) / 2 and X_b(k) = (Z(k) - conj Z(-k)) / 2i,
  // k <= R/2, written interleaved into rows a and b.
  ENKG_FUSED void splitLoad(int pair, int j, LaneValues<T>& s) const {
    const T *a = rowA(pair), *b = a + S;
    const T half = T(0.5);
ENKG_UNROLL
    for (int c = 0; c < kSplit; ++c) {
      const int k = j + G * c, mk = (R - k) % R;
      if (k > R / 2) continue;
      const Cx<T> z = {a[k], b[k]}, zm = {a[mk], b[mk]};
      s.v[2 * c] = {(z.re + zm.re) * half, (z.im - zm.im) * half};
      s.v[2 * c + 1] = {(z.im + zm.im) * half, (zm.re - z.re) * half};
    }
  }
  ENKG_FUSED void splitStore(int pair, int j, LaneValues<T>& s) const {
    T *a = rowA(pair), *b = a + S;
ENKG_UNROLL
    for (int c = 0; c < kSplit; ++c) {
      const int k = j + G * c;
      if (k > R / 2) continue;
      a[2 * k] = s.v[2 * c].re;
      a[2 * k + 1] = s.v[2 * c].im;
      b[2 * k] = s.v[2 * c + 1].re;
      b[2 * k + 1] = s.v[2 * c + 1].im;
    }
  }
};

#define ENKG_LINE_PHASE(f, method) [&](int line, int lane, LaneValues<T>& s) { f.method(line, lane, s); }

// Half spectrum -> real field, in place (unnormalised, as a C2R transform).
template <int R, typename T, class Exec>
ENKG_FUSED_CALL void inverse2d(const Exec& ex, T* buf, const T* tw) {
  using F = LineFft<R, T>;
  const F columns{buf, columnLines<R>(), true, tw}, rows{buf, rowPairLines<R>(), true, tw};
  ex.template lineGroups<F::G, LaneValues<T>>(
      R / 2 + 1, ENKG_LINE_PHASE(columns, transform), ENKG_LINE_PHASE(columns, park),
      ENKG_LINE_PHASE(columns, gather), ENKG_LINE_PHASE(columns, finish));
  ex.template lineGroups<F::G, LaneValues<T>>(
      R / 2, ENKG_LINE_PHASE(rows, unsplitLoad), ENKG_LINE_PHASE(rows, unsplitStore),
      ENKG_LINE_PHASE(rows, transform), ENKG_LINE_PHASE(rows, park), ENKG_LINE_PHASE(rows, gather),
      ENKG_LINE_PHASE(rows, finish));
}

// Real field -> half spectrum, in place (unnormalised, as an R2C transform).
template <int R, typename T, class Exec>
ENKG_FUSED_CALL void forward2d(const Exec& ex, T* buf, const T* tw) {
  using F = LineFft<R, T>;
  const F columns{buf, columnLines<R>(), false, tw}, rows{buf, rowPairLines<R>(), false, tw};
  ex.template lineGroups<F::G, LaneValues<T>>(
      R / 2, ENKG_LINE_PHASE(rows, transform), ENKG_LINE_PHASE(rows, park), ENKG_LINE_PHASE(rows, gather),
      ENKG_LINE_PHASE(rows, finish), ENKG_LINE_PHASE(rows, splitLoad), ENKG_LINE_PHASE(rows, splitStore));
  ex.template lineGroups<F::G, LaneValues<T>>(
      R / 2 + 1, ENKG_LINE_PHASE(columns, transform), ENKG_LINE_PHASE(columns, park),
      ENKG_LINE_PHASE(columns, gather), ENKG_LINE_PHASE(columns, finish));
}

#undef ENKG_LINE_PHASE

// ---- the solver ----------------------------------------------------------

template <int R, typename T, class Exec>
class FieldSolver {
 public:
  using G = Grid<R>;
  ENKG_FUSED FieldSolver(const Exec& ex, const Work<T>& w, const Tables<T>& tb, const Params& o)
      : ex_(ex), w_(w), tb_(tb), o_(o) {}

  // Solves one field: w0 and out are R x R floats (physical units); a field
  // that fails is written as NaN.
  ENKG_FUSED FieldResult solve(const float* w0, float* out) {
    ex_.forEach(R * R, [&](int x) { w_.a[(x / R) * G::S + x % R] = static_cast<T>(w0[x]); });
    ex_.sync();
    forward2d<R>(ex_, w_.a, tb_.twiddle);
    ex_.forEach(G::H, [&](int p) { w_.wh[p] = load(w_.a, p); });
    ex_.sync();

    FieldResult result{0, 0.0, false, false};
    double dt = nextStep();
    bool ok = finiteValue(dt);
    while (ok && result.time < o_.time) {
      if (o_.maxSteps > 0 && result.steps == o_.maxSteps) {
        ok = false;
        result.stepLimit = true;
        break;
      }
      const double current = result.time + dt > o_.time ? o_.time - result.time : dt;
      step(static_cast<T>(current));
      result.time += current;
      ++result.steps;
      dt = nextStep();
      ok = finiteValue(dt);
    }
    result.failed = !ok;
    if (ok) {
      ex_.forEach(G::H, [&](int p) { store(w_.a, p, w_.wh[p]); });
      ex_.sync();
      inverse2d<R>(ex_, w_.a, tb_.twiddle);
      const T scale = T(1) / static_cast<T>(R * R);
      ex_.forEach(R * R, [&](int x) { out[x] = static_cast<float>(w_.a[(x / R) * G::S + x % R] * scale); });
    } else {
      ex_.forEach(R * R, [&](int x) { out[x] = NAN; });
    }
    ex_.sync();
    return result;
  }

 private:
  static ENKG_FUSED Cx<T> load(const T* buf, int p) {
    const T* e = buf + (p / G::Rc) * G::S + 2 * (p % G::Rc);
    return {e[0], e[1]};
  }
  static ENKG_FUSED void store(T* buf, int p, Cx<T> v) {
    T* e = buf + (p / G::Rc) * G::S + 2 * (p % G::Rc);
    e[0] = v.re;
    e[1] = v.im;
  }

  // The next step: adaptive from the current spectrum's velocity, or the
  // fixed dt; NaN when the field is no longer finite.
  ENKG_FUSED double nextStep() {
    if (!o_.adaptive) {
      const bool finite = ex_.allOf(G::H, [&](int p) { return finiteValue(w_.wh[p].re) && finiteValue(w_.wh[p].im); });
      return finite ? o_.dt : NAN;
    }
    ex_.forEach(G::H, [&](int p) {
      const Cx<T> w = w_.wh[p];
      const T psiRe = w.re * tb_.invLap[p], psiIm = w.im * tb_.invLap[p];
      store(w_.b, p, {-tb_.ky[p] * psiIm, tb_.ky[p] * psiRe});
      store(w_.c, p, {tb_.kx[p] * psiIm, -tb_.kx[p] * psiRe});
    });
    ex_.sync();
    inverse2d<R>(ex_, w_.b, tb_.twiddle);
    inverse2d<R>(ex_, w_.c, tb_.twiddle);
    bool finite = true;
    const T best = ex_.template maxOf<T>(R * R, [&](int x) {
      const int o = (x / R) * G::S + x % R;
      return squaredNorm(w_.b[o], w_.c[o]);
    }, &finite);
    if (!finite) return NAN;
    const double speed = std::sqrt(static_cast<double>(best)) * (1.0 / static_cast<double>(R * R));
    return adaptiveTimeStep(speed, R, o_.reynolds, o_.forcingAmplitude);
  }

  // a, b, c <- the physical dealiased vorticity and velocity of `src`;
  // b, c <- the spectra of q w and v w.
  ENKG_FUSED void nonlinearProducts(const Cx<T>* src) {
    ex_.forEach(G::H, [&](int p) {
      const Cx<T> w = src[p];
      const T mask = tb_.dealias[p];
      const T re = w.re * mask, im = w.im * mask;
      const T psiRe = re * tb_.invLap[p], psiIm = im * tb_.invLap[p];
      store(w_.a, p, {re, im});
      store(w_.b, p, {-tb_.ky[p] * psiIm, tb_.ky[p] * psiRe});  // psi_y
      store(w_.c, p, {tb_.kx[p] * psiIm, -tb_.kx[p] * psiRe});  // -psi_x
    });
    ex_.sync();
    inverse2d<R>(ex_, w_.a, tb_.twiddle);
    inverse2d<R>(ex_, w_.b, tb_.twiddle);
    inverse2d<R>(ex_, w_.c, tb_.twiddle);
    const T scale = T(1) / static_cast<T>(R * R);
    const T scale2 = scale * scale;
    ex_.forEach(R * R, [&](int x) {
      const int o = (x / R) * G::S + x % R;
      const T w = w_.a[o] * scale2;
      w_.b[o] *= w;
      w_.c[o] *= w;
    });
    ex_.sync();
    forward2d<R>(ex_, w_.b, tb_.twiddle);
    forward2d<R>(ex_, w_.c, tb_.twiddle);
  }

  // The nonlinear term at mode p from the products: -i (kx A + ky B) + f.
  ENKG_FUSED Cx<T> nonlinearAt(int p) const {
    const Cx<T> A = load(w_.b, p), B = load(w_.c, p);
    const T sRe = tb_.kx[p] * A.re + tb_.ky[p] * B.re;
    const T sIm = tb_.kx[p] * A.im + tb_.ky[p] * B.im;
    Cx<T> n = {sIm, -sRe};
    if (tb_.forcing != nullptr) {
      n.re += tb_.forcing[2 * p];
      n.im += tb_.forcing[2 * p + 1];
    }
    return n;
  }

  // One Heun predictor-corrector step with Crank-Nicolson viscosity.
  ENKG_FUSED void step(T dt) {
    const T half = T(0.5);
    nonlinearProducts(w_.wh);
    ex_.forEach(G::H, [&](int p) {
      const Cx<T> n = nonlinearAt(p), w = w_.wh[p];
      const T nu = tb_.viscous[p], hn = half * nu, denom = T(1) + half * dt * nu;
      w_.n1[p] = n;
      w_.wt[p] = {(w.re + dt * (n.re - hn * w.re)) / denom, (w.im + dt * (n.im - hn * w.im)) / denom};
    });
    ex_.sync();
    nonlinearProducts(w_.wt);
    ex_.forEach(G::H, [&](int p) {
      const Cx<T> n2 = nonlinearAt(p), n1 = w_.n1[p], w = w_.wh[p];
      const T nu = tb_.viscous[p], hn = half * nu, denom = T(1) + half * dt * nu;
      const T driveRe = half * (n1.re + n2.re), driveIm = half * (n1.im + n2.im);
      w_.wh[p] = {(w.re + dt * (driveRe - hn * w.re)) / denom, (w.im + dt * (driveIm - hn * w.im)) / denom};
    });
    ex_.sync();
  }

  const Exec& ex_;
  Work<T> w_;
  Tables<T> tb_;
  Params o_;
};

}  // namespace fused
}  // namespace enkg
