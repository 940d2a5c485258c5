#include "cpu_device.h"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>
#include <string>
#include <vector>

#include "../core/errors.h"
#include "../core/philox.h"

namespace enkg {
namespace {

int blasInt(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX) {
    throw rangeError("a matrix dimension below 2^31", what, std::to_string(v));
  }
  return static_cast<int>(v);
}

class CpuDevice final : public Device {
 public:
  Backend kind() const override { return Backend::Cpu; }

  // Scratch buffers are recycled: a fresh multi-megabyte allocation is
  // mmap'ed and page-faulted on first touch, which costs as much as the
  // centring pass of a Kalman step.
  float* alloc(size_t count) override {
    count = std::max<size_t>(count, 1);
    {
      std::lock_guard<std::mutex> lock(poolMutex_);
      auto it = pool_.lower_bound(count);
      if (it != pool_.end() && it->first <= 2 * count) {
        float* p = it->second;
        pooledFloats_ -= it->first;
        pool_.erase(it);
        return p;
      }
    }
    void* p = nullptr;
    if (posix_memalign(&p, 64, count * sizeof(float)) != 0) {
      throw runtimeError("Out of host memory allocating " + std::to_string((count * sizeof(float)) >> 20) + " MiB");
    }
    std::lock_guard<std::mutex> lock(poolMutex_);
    sizes_[static_cast<float*>(p)] = count;
    return static_cast<float*>(p);
  }
  void release(float* p) override {
    if (p == nullptr) return;
    std::lock_guard<std::mutex> lock(poolMutex_);
    const size_t count = sizes_.at(p);
    pool_.emplace(count, p);
    pooledFloats_ += count;
    // Keep at most kPoolFloats cached; free the largest blocks first.
    while (pooledFloats_ > kPoolFloats && !pool_.empty()) {
      auto largest = std::prev(pool_.end());
      pooledFloats_ -= largest->first;
      sizes_.erase(largest->second);
      std::free(largest->second);
      pool_.erase(largest);
    }
  }
  void upload(float* dst, const float* src, size_t count) override { copy(dst, src, count); }
  void download(float* dst, const float* src, size_t count) override { copy(dst, src, count); }
  void copy(float* dst, const float* src, size_t count) override {
    if (dst == src || count == 0) return;
    const int64_t n = static_cast<int64_t>(count);
    const int64_t chunk = 1 << 18;
#pragma omp parallel for schedule(static) if (n > chunk)
    for (int64_t start = 0; start < n; start += chunk) {
      std::memcpy(dst + start, src + start, static_cast<size_t>(std::min(chunk, n - start)) * sizeof(float));
    }
  }
  void synchronize() override {}

  void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda,
            const float* B, int64_t ldb, float beta, float* C, int64_t ldc) override {
    if (m == 0 || n == 0) return;
    cblas_sgemm(CblasColMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                blasInt(m, "gemm m"), blasInt(n, "gemm n"), blasInt(k, "gemm k"), alpha, A, blasInt(lda, "gemm lda"),
                B, blasInt(ldb, "gemm ldb"), beta, C, blasInt(ldc, "gemm ldc"));
  }

  void columnMean(const float* A, int64_t rows, int64_t cols, int64_t lda, float* out) override {
    // Threads own disjoint row ranges and sweep the columns, so reads stay
    // contiguous and the double accumulators stay in cache.
    const int64_t tile = 2048;
#pragma omp parallel for schedule(static) if (rows * cols > (1 << 16))
    for (int64_t r0 = 0; r0 < rows; r0 += tile) {
      const int64_t r1 = std::min(rows, r0 + tile);
      double acc[2048];
      std::fill(acc, acc + (r1 - r0), 0.0);
      for (int64_t c = 0; c < cols; ++c) {
        const float* col = A + c * lda;
        for (int64_t r = r0; r < r1; ++r) acc[r - r0] += col[r];
      }
      for (int64_t r = r0; r < r1; ++r) out[r] = static_cast<float>(acc[r - r0] / static_cast<double>(cols));
    }
  }

  void centerColumns(const float* A, int64_t rows, int64_t cols, int64_t lda, const float* mean, float* D,
                     int64_t ldd) override {
#pragma omp parallel for schedule(static) if (rows * cols > (1 << 15))
    for (int64_t c = 0; c < cols; ++c) {
      const float* src = A + c * lda;
      float* dst = D + c * ldd;
      for (int64_t r = 0; r < rows; ++r) dst[r] = src[r] - mean[r];
    }
  }

  void copyBlock(const float* A, int64_t rows, int64_t cols, int64_t lda, float* D, int64_t ldd) override {
#pragma omp parallel for schedule(static) if (rows * cols > (1 << 15))
    for (int64_t c = 0; c < cols; ++c) {
      std::memcpy(D + c * ldd, A + c * lda, static_cast<size_t>(rows) * sizeof(float));
    }
  }

  void formMixingMatrix(float* C, int64_t N, float eta) override {
    std::vector<double> rowMean(static_cast<size_t>(N), 0.0);
    for (int64_t k = 0; k < N; ++k) {
      const float* col = C + k * N;
      for (int64_t n = 0; n < N; ++n) rowMean[n] += col[n];
    }
    for (double& v : rowMean) v /= static_cast<double>(N);
#pragma omp parallel for schedule(static) if (N > 256)
    for (int64_t k = 0; k < N; ++k) {
      float* col = C + k * N;
      for (int64_t n = 0; n < N; ++n) {
        const double centred = static_cast<double>(col[n]) - rowMean[n];
        col[n] = static_cast<float>((n == k ? 1.0 : 0.0) - static_cast<double>(eta) * centred);
      }
    }
  }

  double centeredSumSquares(const float* A, int64_t rows, int64_t cols, int64_t lda, const float* mean) override {
    double total = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : total) if (rows * cols > (1 << 16))
    for (int64_t c = 0; c < cols; ++c) {
      const float* src = A + c * lda;
      double acc = 0.0;
      for (int64_t r = 0; r < rows; ++r) {
        const double v = static_cast<double>(src[r]) - static_cast<double>(mean[r]);
        acc += v * v;
      }
      total += acc;
    }
    return total;
  }

  double dot(const float* a, const float* b, size_t count) override {
    const int64_t n = static_cast<int64_t>(count);
    double total = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : total) if (n > (1 << 16))
    for (int64_t i = 0; i < n; ++i) total += static_cast<double>(a[i]) * static_cast<double>(b[i]);
    return total;
  }

  double sumSquares(const float* a, size_t count) override { return dot(a, a, count); }

  void randomNormal(float* out, size_t count, uint64_t streams, uint64_t seed, uint64_t firstStream) override {
    fill(out, count, streams, [&](uint64_t stream, uint64_t block, float* dst, int lanes) {
      const Philox4x32 bits = philoxBlock(seed, stream, block);
      float z[4];
      philoxBoxMuller(bits.v[0], bits.v[1], &z[0], &z[1]);
      philoxBoxMuller(bits.v[2], bits.v[3], &z[2], &z[3]);
      for (int l = 0; l < lanes; ++l) dst[l] = z[l];
    }, firstStream);
  }

  void randomUniform(float* out, size_t count, uint64_t streams, uint64_t seed, uint64_t firstStream) override {
    fill(out, count, streams, [&](uint64_t stream, uint64_t block, float* dst, int lanes) {
      const Philox4x32 bits = philoxBlock(seed, stream, block);
      for (int l = 0; l < lanes; ++l) dst[l] = philoxUniform(bits.v[l]);
    }, firstStream);
  }

  // Scratch blocks (in-place steps, the cross-covariance ordering) small
  // enough to stay in the last-level cache between the copy and the product.
  size_t scratchBudget() const override { return size_t{1} << 20; }  // 4 MiB of floats

 private:
  static constexpr size_t kPoolFloats = size_t{1} << 29;  // 2 GiB
  std::mutex poolMutex_;
  std::multimap<size_t, float*> pool_;          // free blocks by size
  std::unordered_map<float*, size_t> sizes_;    // every live or pooled block
  size_t pooledFloats_ = 0;

  // Calls emit(stream, block, dst, lanes) for every block of four values of
  // every stream; the blocks are independent, so any split is the same.
  template <typename Emit>
  void fill(float* out, size_t count, uint64_t streams, Emit emit, uint64_t firstStream) {
    const uint64_t blocksPerStream = (count + 3) / 4;
    const int64_t total = static_cast<int64_t>(blocksPerStream * streams);
#pragma omp parallel for schedule(static) if (total > 4096)
    for (int64_t t = 0; t < total; ++t) {
      const uint64_t s = static_cast<uint64_t>(t) / blocksPerStream;
      const uint64_t block = static_cast<uint64_t>(t) % blocksPerStream;
      const size_t start = static_cast<size_t>(block * 4);
      const int lanes = static_cast<int>(std::min<size_t>(4, count - start));
      emit(firstStream + s, block, out + s * count + start, lanes);
    }
  }
};

}  // namespace

Device& cpuDevice() {
  static CpuDevice device;
  return device;
}

}  // namespace enkg
