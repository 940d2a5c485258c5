// The magnitude of the orthonormal 2D DFT of real images zero-padded into a
// larger frame, |F(pad(x))|, and the transpose of its Jacobian (phase
// retrieval's forward map and gradient), in double precision through FFTW.
#pragma once

#include <cstdint>

namespace enkg {

// Where each channel of a C x H x W image sits in its P x Q frame: rows
// top .. top + H - 1, columns left .. left + W - 1, zeros elsewhere.
struct PaddedFrame {
  int channels, height, width;  // C, H, W
  int rows, cols;               // P >= H, Q >= W
  int top, left;                // 0 <= top <= P - H, 0 <= left <= Q - W
};

// out (batch x C x P x Q) = |F(pad(x))| for x of batch x C x H x W, with
// F = the DFT scaled by 1 / sqrt(P Q). out must not overlap x.
void paddedDftMagnitudeCpu(const float* x, float* out, int64_t batch, const PaddedFrame& frame);

// out (batch x C x H x W) = J(x)^T r with J the Jacobian of x -> |F(pad(x))|
// and r of batch x C x P x Q: Re(F^H (r u / |u|)) on the image's window,
// u = F(pad(x)); where u = 0 the subgradient 0 is taken.
void paddedDftMagnitudeAdjointCpu(const float* x, const float* r, float* out, int64_t batch,
                                  const PaddedFrame& frame);

}  // namespace enkg
