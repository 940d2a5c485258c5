// Points carried back along a 2D incompressible flow on the [0, 2pi]^2 torus
// (docs/method.md section 2, "A taper that follows the flow"): given the
// vorticity w at S + 1 equally spaced times 0, T/S, ..., T, each point p
// (in units of the domain, [0, 1)^2) is integrated backwards from T to 0
// along dX/dt = u(X, t), u = (psi_y, -psi_x), -lap psi = w: where the fluid
// seen at p at time T came from. Velocities are spectral (FFTW); between
// grid points bilinear, between snapshots linear in time; Heun steps.
#pragma once

#include <cstdint>

namespace enkg {

// snapshots: count x R x R vorticity (count = S + 1 >= 2, physical units,
// row-major, axis 0 = x); points and out: m (row, column) pairs; out may be
// points. substeps: Heun steps per snapshot interval.
void traceBackCpu(const float* snapshots, int64_t count, int R, double time, const double* points, int64_t m,
                  int substeps, double* out);

}  // namespace enkg
