// The compute device seen by the backend-independent algorithms in core/.
// One implementation per backend (cpu/cpu_device.cc, cuda/cuda_device.cu).
// Matrices are column-major as in BLAS: a row-major N x d ensemble (one
// particle per row) is the column-major d x N matrix with leading dimension d,
// one particle per column.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "errors.h"

namespace enkg {

enum class Backend { Cpu, Cuda };

inline const char* backendName(Backend b) { return b == Backend::Cpu ? "cpu" : "cuda"; }

class Device {
 public:
  virtual ~Device() = default;
  virtual Backend kind() const = 0;
  // True when device pointers are ordinary host pointers (no copies needed).
  bool isHost() const { return kind() == Backend::Cpu; }

  // Memory. alloc throws enkg::Error on failure; sizes are in floats.
  virtual float* alloc(size_t count) = 0;
  virtual void release(float* p) = 0;
  virtual void upload(float* dst, const float* hostSrc, size_t count) = 0;
  virtual void download(float* hostDst, const float* src, size_t count) = 0;
  virtual void copy(float* dst, const float* src, size_t count) = 0;
  virtual void synchronize() = 0;

  // C = alpha * op(A) * op(B) + beta * C, column-major, op(A) is m x k.
  virtual void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
                    int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) = 0;

  // out[r] = mean over columns c of A[r + c * lda], r < rows, c < cols
  // (accumulated in double). `out` is a device pointer of `rows` floats.
  virtual void columnMean(const float* A, int64_t rows, int64_t cols, int64_t lda, float* out) = 0;

  // D[r + c * ldd] = A[r + c * lda] - mean[r].
  virtual void centerColumns(const float* A, int64_t rows, int64_t cols, int64_t lda, const float* mean, float* D,
                             int64_t ldd) = 0;

  // D[r + c * ldd] = A[r + c * lda]: a strided rows x cols block copy.
  virtual void copyBlock(const float* A, int64_t rows, int64_t cols, int64_t lda, float* D, int64_t ldd) = 0;

  // Turns the N x N coefficient matrix C (column-major) into the mixing
  // matrix M = I - eta (C - (C 1) 1^T / N) in place (row sums in double).
  virtual void formMixingMatrix(float* C, int64_t N, float eta) = 0;

  // sum over r, c of (A[r + c * lda] - mean[r])^2, in double.
  virtual double centeredSumSquares(const float* A, int64_t rows, int64_t cols, int64_t lda, const float* mean) = 0;

  // sum a[i] * b[i] and sum a[i]^2 over contiguous arrays, in double.
  virtual double dot(const float* a, const float* b, size_t count) = 0;
  virtual double sumSquares(const float* a, size_t count) = 0;

  // Philox4x32-10 draws (core/philox.h): out[s * count + i] is value i of
  // stream firstStream + s.
  virtual void randomNormal(float* out, size_t count, uint64_t streams, uint64_t seed, uint64_t firstStream) = 0;
  virtual void randomUniform(float* out, size_t count, uint64_t streams, uint64_t seed, uint64_t firstStream) = 0;

  // How many floats a scratch block may hold: the algorithms split their
  // temporaries into blocks of at most this size (cache-sized on the CPU,
  // a memory budget on a GPU).
  virtual size_t scratchBudget() const = 0;

  // The CUDA stream the device works on (null on the CPU), for kernels that
  // live outside the device class (cuda/navier_stokes.cu).
  virtual void* stream() { return nullptr; }

  // All work on one device is serialised: kernels on a device use all of it.
  std::mutex& mutex() { return mutex_; }

 private:
  std::mutex mutex_;
};

// A scratch buffer owned by a device, released on scope exit.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Device& device, size_t count) : device_(&device), count_(count) {
    // A count whose byte size does not fit in size_t (a product of sizes
    // that overflowed) is refused here rather than wrapped to a tiny buffer.
    if (count > SIZE_MAX / sizeof(float) / 2) {
      throw runtimeError("cannot allocate " + std::to_string(count) + " floats: the size overflows");
    }
    data_ = count > 0 ? device.alloc(count) : nullptr;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept { *this = std::move(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      reset();
      device_ = other.device_;
      data_ = other.data_;
      count_ = other.count_;
      other.data_ = nullptr;
      other.count_ = 0;
    }
    return *this;
  }
  ~DeviceBuffer() { reset(); }
  void reset() {
    if (data_ != nullptr) device_->release(data_);
    data_ = nullptr;
    count_ = 0;
  }
  float* get() const { return data_; }
  size_t size() const { return count_; }

 private:
  Device* device_ = nullptr;
  float* data_ = nullptr;
  size_t count_ = 0;
};

// A read-only host array made visible to a device for the length of a call:
// the host pointer itself on the CPU, an uploaded copy on a GPU.
class StagedInput {
 public:
  StagedInput(Device& device, const float* host, size_t count) {
    if (device.isHost()) {
      ptr_ = host;
    } else {
      buffer_ = DeviceBuffer(device, count);
      device.upload(buffer_.get(), host, count);
      ptr_ = buffer_.get();
    }
  }
  const float* get() const { return ptr_; }

 private:
  DeviceBuffer buffer_;
  const float* ptr_ = nullptr;
};

}  // namespace enkg
