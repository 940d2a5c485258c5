// Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy
// as 1, 2, 3", SC'11), shared verbatim by the CPU and the CUDA kernels so that
// both backends produce the same bits.
//
// Stream layout used throughout enkg:
//   key     = (seed mod 2^32, floor(seed / 2^32))
//   counter = (block mod 2^32, floor(block / 2^32), stream mod 2^32, floor(stream / 2^32))
// where `stream` is the particle index (or any caller-chosen stream id) and
// `block` is the index of a group of four 32-bit words inside that stream.
// Value i of a stream comes from block i / 4, word i % 4, so a value never
// depends on how many values or streams are drawn in one call.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define ENKG_HD __host__ __device__ __forceinline__
#else
#define ENKG_HD inline
#endif

namespace enkg {

struct Philox4x32 {
  uint32_t v[4];
};

ENKG_HD void philoxMulhilo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  const uint64_t product = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  *hi = static_cast<uint32_t>(product >> 32);
  *lo = static_cast<uint32_t>(product);
}

// Ten rounds of Philox4x32 with the published multipliers and Weyl constants.
ENKG_HD Philox4x32 philox4x32_10(Philox4x32 counter, uint32_t key0, uint32_t key1) {
  const uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  const uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  uint32_t c0 = counter.v[0], c1 = counter.v[1], c2 = counter.v[2], c3 = counter.v[3];
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    philoxMulhilo(kMul0, c0, &hi0, &lo0);
    philoxMulhilo(kMul1, c2, &hi1, &lo1);
    const uint32_t n0 = hi1 ^ c1 ^ key0;
    const uint32_t n1 = lo1;
    const uint32_t n2 = hi0 ^ c3 ^ key1;
    const uint32_t n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    key0 += kWeyl0;
    key1 += kWeyl1;
  }
  Philox4x32 out;
  out.v[0] = c0; out.v[1] = c1; out.v[2] = c2; out.v[3] = c3;
  return out;
}

ENKG_HD Philox4x32 philoxBlock(uint64_t seed, uint64_t stream, uint64_t block) {
  Philox4x32 counter;
  counter.v[0] = static_cast<uint32_t>(block);
  counter.v[1] = static_cast<uint32_t>(block >> 32);
  counter.v[2] = static_cast<uint32_t>(stream);
  counter.v[3] = static_cast<uint32_t>(stream >> 32);
  return philox4x32_10(counter, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// Uniform float in the open interval (0, 1): the top 23 bits plus one half,
// times 2^-23. Every step is exact in float32 (23 bits + the half fit the
// 24-bit significand), so every backend gives the same value, the largest
// being 1 - 2^-24 and the smallest 2^-24.
ENKG_HD float philoxUniform(uint32_t word) {
  return (static_cast<float>(word >> 9) + 0.5f) * 1.1920928955078125e-7f;  // 2^-23
}

// Box-Muller on one pair of words, evaluated in double and rounded once to
// float. log/sqrt/sin/cos in double are within one ulp on glibc and CUDA, so
// the float results agree bit for bit except with probability ~2^-28 per draw
// (a double result landing within an ulp of a float rounding boundary).
ENKG_HD void philoxBoxMuller(uint32_t a, uint32_t b, float* z0, float* z1) {
  const double kTwoPi = 6.283185307179586476925286766559;
  const double kInv2p32 = 2.3283064365386962890625e-10;  // 2^-32
  const double u1 = (static_cast<double>(a) + 0.5) * kInv2p32;  // (0, 1)
  const double u2 = (static_cast<double>(b) + 0.5) * kInv2p32;
  const double radius = sqrt(-2.0 * log(u1));
  const double theta = kTwoPi * u2;
  *z0 = static_cast<float>(radius * cos(theta));
  *z1 = static_cast<float>(radius * sin(theta));
}

// Standard normal value `index` of stream `stream`.
ENKG_HD float philoxNormalAt(uint64_t seed, uint64_t stream, uint64_t index) {
  const Philox4x32 block = philoxBlock(seed, stream, index >> 2);
  const int lane = static_cast<int>(index & 3u);
  float z0, z1;
  if (lane < 2) {
    philoxBoxMuller(block.v[0], block.v[1], &z0, &z1);
  } else {
    philoxBoxMuller(block.v[2], block.v[3], &z0, &z1);
  }
  return (lane & 1) ? z1 : z0;
}

ENKG_HD float philoxUniformAt(uint64_t seed, uint64_t stream, uint64_t index) {
  const Philox4x32 block = philoxBlock(seed, stream, index >> 2);
  return philoxUniform(block.v[index & 3u]);
}

}  // namespace enkg
