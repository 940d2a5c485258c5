// The Navier-Stokes solver and GRF sampler on the GPU. Two kernels:
// - fused (navier_stokes_fused.cu): a thread block carries one field through
//   its whole solve with its own FFTs in shared memory; dtMode 'sample',
//   power-of-two resolutions up to 128.
// - library (navier_stokes.cu): batched cuFFT plans (loaded at run time)
//   between fused element-wise kernels; every field's step size, clock and
//   status live on the device, so a time step needs no host round-trip (the
//   host looks at a "still running" flag every few steps).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../core/device.h"
#include "../core/navier_stokes.h"
#include "../cpu/navier_stokes_cpu.h"  // GrfOptions

namespace enkg {

// Same contract as solveNavierStokesCpu; w0 and out are host arrays. Runs
// the fused kernel where opts.kernel allows and it applies, else cuFFT.
NavierStokesReport solveNavierStokesCuda(Device& device, const float* w0, float* out, int64_t batch,
                                         const NavierStokesOptions& opts);

// The fused kernel (navier_stokes_fused.cu): false, with the reason, when it
// cannot run these options on this GPU.
bool solveNavierStokesFusedCuda(Device& device, const float* w0, float* out, int64_t batch,
                                const NavierStokesOptions& opts, NavierStokesReport* report, std::string* why);

void gaussianRandomFieldCuda(Device& device, float* out, int64_t count, const GrfOptions& opts);

}  // namespace enkg
