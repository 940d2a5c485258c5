// The Navier-Stokes solver and GRF sampler on the GPU: batched cuFFT plans
// (loaded at run time) and fused element-wise kernels; every field's step
// size, clock and status live on the device, so a time step needs no
// host round-trip (the host looks at a "still running" flag every few steps).
#pragma once

#include <cstdint>
#include <vector>

#include "../core/device.h"
#include "../core/navier_stokes.h"
#include "../cpu/navier_stokes_cpu.h"  // GrfOptions

namespace enkg {

// Same contract as solveNavierStokesCpu; w0 and out are host arrays.
NavierStokesReport solveNavierStokesCuda(Device& device, const float* w0, float* out, int64_t batch,
                                         const NavierStokesOptions& opts);

void gaussianRandomFieldCuda(Device& device, float* out, int64_t count, const GrfOptions& opts);

}  // namespace enkg
