// Per-wavenumber filtering of real R x R fields: out = irfft2(rfft2(x) * gain),
// in double precision. The exact denoiser of a stationary Gaussian prior is
// such a filter (gain lambda_k / (lambda_k + sigma^2)).
#pragma once

#include <cstdint>

namespace enkg {

// x, out: batch x R x R floats. gains: R x (R/2 + 1) doubles per field when
// perField, else one set shared by all fields.
void spectralFilterCpu(const float* x, float* out, int64_t batch, int R, const double* gains, bool perField);

}  // namespace enkg
