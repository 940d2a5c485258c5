#include "navier_stokes.h"

#include "errors.h"

namespace enkg {

SpectralGrid makeSpectralGrid(int R, bool forcing) {
  SpectralGrid g;
  g.R = R;
  g.Rc = R / 2 + 1;
  const size_t n = static_cast<size_t>(R) * g.Rc;
  g.kx.resize(n);
  g.ky.resize(n);
  g.lap.resize(n);
  g.invLap.resize(n);
  g.dealias.resize(n);
  const double cut = (R / 3.0) * (R / 3.0) * 2.0;  // (s1/3)^2 + (s2/3)^2
  for (int i = 0; i < R; ++i) {
    // Row frequency: 0..R/2-1, then -R/2..-1.
    const int f = i < R / 2 ? i : i - R;
    for (int j = 0; j < g.Rc; ++j) {
      const size_t p = static_cast<size_t>(i) * g.Rc + j;
      g.kx[p] = (i == R / 2) ? 0.0 : f;   // derivative: Nyquist zeroed
      g.ky[p] = (j == R / 2) ? 0.0 : j;
      const double k2 = static_cast<double>(f) * f + static_cast<double>(j) * j;
      g.lap[p] = k2;
      g.invLap[p] = (i == 0 && j == 0) ? 1.0 : 1.0 / k2;
      g.dealias[p] = (k2 <= cut && !(i == 0 && j == 0)) ? 1.0 : 0.0;
    }
  }
  g.forcing.assign(static_cast<size_t>(R) * R, 0.0);
  if (forcing) {
    for (int i = 0; i < R; ++i) {
      for (int j = 0; j < R; ++j) g.forcing[static_cast<size_t>(i) * R + j] = -4.0 * std::cos(4.0 * (2.0 * M_PI * j / R));
    }
    g.forcingAmplitude = 4.0;
  }
  return g;
}

std::vector<double> forcingSpectrum(const SpectralGrid& grid) {
  const int R = grid.R;
  std::vector<double> spectrum(2 * static_cast<size_t>(R) * grid.Rc, 0.0);
  if (grid.forcingAmplitude == 0) return spectrum;
  for (int k2 = 0; k2 < grid.Rc; ++k2) {
    double re = 0, im = 0;
    for (int j = 0; j < R; ++j) {
      re += grid.forcing[j] * std::cos(2 * M_PI * k2 * j / R);
      im -= grid.forcing[j] * std::sin(2 * M_PI * k2 * j / R);
    }
    spectrum[2 * k2] = R * re;
    spectrum[2 * k2 + 1] = R * im;
  }
  return spectrum;
}

std::vector<double> viscousSpectrum(const SpectralGrid& grid, double reynolds) {
  std::vector<double> viscous(grid.lap.size());
  for (size_t p = 0; p < viscous.size(); ++p) viscous[p] = grid.lap[p] / reynolds;
  return viscous;
}

std::vector<double> fftTwiddles(int R) {
  std::vector<double> tw(2 * static_cast<size_t>(R));
  for (int t = 0; t < R; ++t) {
    tw[2 * t] = std::cos(2 * M_PI * t / R);
    tw[2 * t + 1] = -std::sin(2 * M_PI * t / R);
  }
  return tw;
}

std::vector<double> fusedTableValues(const SpectralGrid& grid, double reynolds) {
  std::vector<double> values;
  for (const std::vector<double>& part : {grid.kx, grid.ky, grid.invLap, grid.dealias, viscousSpectrum(grid, reynolds),
                                          forcingSpectrum(grid), fftTwiddles(grid.R)}) {
    values.insert(values.end(), part.begin(), part.end());
  }
  return values;
}

std::string fusedUnsupported(const NavierStokesOptions& o) {
  const int R = o.resolution;
  if (R < kFusedMinResolution || R > kFusedMaxResolution || (R & (R - 1)) != 0) {
    return "the fused kernel handles resolutions that are powers of two from " + std::to_string(kFusedMinResolution) +
           " to " + std::to_string(kFusedMaxResolution) + ", not " + std::to_string(R);
  }
  if (!o.perSampleDt) return "the fused kernel gives each field its own time step, so it does not run dtMode 'batch'";
  return "";
}

void refuseFusedKernel(const std::string& why) {
  throw rangeError("options the fused kernel can run", "kernel 'fused'", "options for which " + why);
}

}  // namespace enkg
