// The fused Navier-Stokes kernel (core/navier_stokes_fused.h) run on the CPU:
// one thread per field, each phase's items in a plain loop. It exists to test
// the GPU's algorithm where there is no GPU: against the FFTW solver, and
// against itself with every phase's items walked backwards (a phase whose
// items depended on one another would give a different answer, and would
// race on a GPU).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/errors.h"
#include "../core/navier_stokes_fused.h"
#include "navier_stokes_cpu.h"

namespace enkg {
namespace {

class SerialExec {
 public:
  explicit SerialExec(bool reverse) : reverse_(reverse) {}

  template <class F>
  void forEach(int n, F f) const {
    for (int k = 0; k < n; ++k) f(reverse_ ? n - 1 - k : k);
  }
  void sync() const {}

  template <int G, class State, class... Phases>
  void lineGroups(int count, Phases... phases) const {
    State lanes[G];
    forEach(count, [&](int line) {
      // Each phase for every lane of the line before the next phase.
      (forEach(G, [&](int lane) { phases(line, lane, lanes[lane]); }), ...);
    });
  }

  template <typename T, class F>
  T maxOf(int n, F f, bool* finite) const {
    T best = 0;
    bool ok = true;
    forEach(n, [&](int i) {
      const T v = f(i);
      ok = ok && std::isfinite(v);
      best = std::max(best, v);
    });
    *finite = ok;
    return best;
  }

  template <class F>
  bool allOf(int n, F f) const {
    bool ok = true;
    forEach(n, [&](int i) { ok = ok && f(i); });
    return ok;
  }

 private:
  bool reverse_;
};

template <int R, typename T>
NavierStokesReport solveFused(const float* w0, float* out, int64_t batch, const NavierStokesOptions& o) {
  using G = fused::Grid<R>;
  const SpectralGrid grid = makeSpectralGrid(R, o.forcing);
  const std::vector<T> values = castValues<T>(fusedTableValues(grid, o.reynolds));
  const fused::Tables<T> tables = fused::tablesAt<R>(values.data(), o.forcing);
  const fused::Params params{o.reynolds, o.time, o.dt, grid.forcingAmplitude, o.adaptive, o.maxSteps};
  std::vector<fused::FieldResult> results(static_cast<size_t>(batch));
  bool cancelled = false;
#pragma omp parallel
  {
    std::vector<T> buffers(3 * static_cast<size_t>(G::buffer));
    std::vector<fused::Cx<T>> state(3 * static_cast<size_t>(G::H));
    const fused::Work<T> work{buffers.data(), buffers.data() + G::buffer, buffers.data() + 2 * G::buffer,
                              state.data(), state.data() + G::H, state.data() + 2 * G::H};
    const SerialExec ex(o.reverseItems);
    fused::FieldSolver<R, T, SerialExec> solver(ex, work, tables, params);
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < batch; ++b) {
      // A reference run: looked at between fields, not within one.
      if (cancelRequested(o)) {
#pragma omp atomic write
        cancelled = true;
        continue;
      }
      results[b] = solver.solve(w0 + b * R * R, out + b * R * R);
    }
  }
  NavierStokesReport report;
  report.fused = true;
  report.cancelled = cancelled;
  for (int64_t b = 0; b < batch; ++b) {
    const fused::FieldResult& r = results[b];
    report.steps = std::max(report.steps, r.steps);
    if (r.failed) report.failures.push_back({b, r.time, r.stepLimit});
  }
  return report;
}

template <typename T>
NavierStokesReport dispatchResolution(const float* w0, float* out, int64_t batch, const NavierStokesOptions& o) {
  switch (o.resolution) {
    case 16: return solveFused<16, T>(w0, out, batch, o);
    case 32: return solveFused<32, T>(w0, out, batch, o);
    case 64: return solveFused<64, T>(w0, out, batch, o);
    case 128: return solveFused<128, T>(w0, out, batch, o);
    default: throw rangeError("a resolution the fused kernel handles", "resolution", std::to_string(o.resolution));
  }
}

}  // namespace

NavierStokesReport solveNavierStokesFusedCpu(const float* w0, float* out, int64_t batch,
                                             const NavierStokesOptions& opts) {
  const std::string why = fusedUnsupported(opts);
  if (!why.empty()) refuseFusedKernel(why);
  return opts.doublePrecision ? dispatchResolution<double>(w0, out, batch, opts)
                              : dispatchResolution<float>(w0, out, batch, opts);
}

}  // namespace enkg
