// Per-wavenumber filtering of real R x R fields: out = irfft2(rfft2(x) * gain),
// in double precision. The exact denoiser of a stationary Gaussian prior is
// such a filter (gain lambda_k / (lambda_k + sigma^2)).
#pragma once

#include <cstdint>

namespace enkg {

// x, out: batch x R x R floats. gains: R x (R/2 + 1) doubles per field when
// perField, else one set shared by all fields.
void spectralFilterCpu(const float* x, float* out, int64_t batch, int R, const double* gains, bool perField);

// Mean |rfft2(x)(k)|^2 / R^4 per shell s = round(|k|), over all fields and
// over the full plane of modes (k and -k both counted). out has
// shellCount(R) entries; entry 0 is the mean mode.
int shellCount(int R);
void shellSpectrumCpu(const float* x, int64_t batch, int R, double* out);

}  // namespace enkg
