#include "cuda_device.h"

#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "../core/errors.h"
#include "../core/philox.h"
#include "cublas_shim.h"
#include "cuda_check.h"
#include "cufft_shim.h"

namespace enkg {
namespace {

int cublasInt(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX) throw rangeError("a matrix dimension below 2^31", what, std::to_string(v));
  return static_cast<int>(v);
}

unsigned gridFor(int64_t work, int threads, unsigned cap = 65535u * 16u) {
  const int64_t blocks = (work + threads - 1) / threads;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(blocks, cap)));
}

// x over rows, y over columns, both capped (the kernels loop).
dim3 grid2d(int64_t rows, int64_t cols) {
  const int64_t x = std::min<int64_t>((rows + 255) / 256, 1024);
  const int64_t y = std::min<int64_t>(cols, std::max<int64_t>(1, 65535 / x));
  return dim3(static_cast<unsigned>(std::max<int64_t>(x, 1)), static_cast<unsigned>(std::max<int64_t>(y, 1)));
}

// ---- kernels -------------------------------------------------------------

__global__ void probeKernel(int* out) { *out = 1; }

// Row means of a column-major rows x cols matrix (the mean over columns of
// each row), accumulated in double. 32 rows per block; the 32 threads of each
// row sweep the columns with a stride of 32 and their partial sums meet in
// shared memory.
template <typename Out>
__global__ void columnMeanKernel(const float* A, int64_t rows, int64_t cols, int64_t lda, Out* out) {
  __shared__ double partial[32][33];
  const int64_t r = static_cast<int64_t>(blockIdx.x) * 32 + threadIdx.x;
  double acc = 0.0;
  if (r < rows) {
    for (int64_t c = threadIdx.y; c < cols; c += 32) acc += A[r + c * lda];
  }
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && r < rows) {
    double total = 0.0;
    for (int k = 0; k < 32; ++k) total += partial[k][threadIdx.x];
    out[r] = static_cast<Out>(total / static_cast<double>(cols));
  }
}

// Grid: x over rows (grid-stride), y over columns (grid-stride): no 64-bit
// division per element.
__global__ void centerColumnsKernel(const float* A, int64_t rows, int64_t cols, int64_t lda, const float* mean,
                                    float* D, int64_t ldd) {
  for (int64_t c = blockIdx.y; c < cols; c += gridDim.y) {
    for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows;
         r += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      D[r + c * ldd] = A[r + c * lda] - mean[r];
    }
  }
}

// C <- I - eta (C - rowMean 1^T)
__global__ void mixingMatrixKernel(float* C, int64_t N, float eta, const double* rowMean) {
  for (int64_t k = blockIdx.y; k < N; k += gridDim.y) {
    for (int64_t n = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; n < N;
         n += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      const double centred = static_cast<double>(C[n + k * N]) - rowMean[n];
      C[n + k * N] = static_cast<float>((n == k ? 1.0 : 0.0) - static_cast<double>(eta) * centred);
    }
  }
}

// The sum of `value` over a block's threads (1-D blocks of whole warps), in
// a fixed order; valid in thread 0.
__device__ double blockSum(double value) {
  __shared__ double warpSums[32];
  for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_down_sync(0xffffffffu, value, offset);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warpSums[warp] = value;
  __syncthreads();
  value = 0.0;
  if (warp == 0) {
    value = lane < static_cast<int>((blockDim.x + 31) >> 5) ? warpSums[lane] : 0.0;
    for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_down_sync(0xffffffffu, value, offset);
  }
  return value;
}

// Reductions run in two passes, each block writing its partial sum and one
// block adding the partials up, instead of atomicAdd: the order of the
// additions is then fixed, so the same input gives the same bits every run
// (the Kalman step's 1/||C||_F, and with it the particles, stay reproducible).
__device__ void blockReduceAdd(double value, double* partials) {
  value = blockSum(value);
  if (threadIdx.x == 0) partials[blockIdx.y * gridDim.x + blockIdx.x] = value;
}

__global__ void sumPartialsKernel(const double* partials, int64_t count, double* result) {
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
  acc = blockSum(acc);
  if (threadIdx.x == 0) *result = acc;
}

__global__ void dotKernel(const float* a, const float* b, int64_t n, double* partials) {
  double acc = 0.0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    acc += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  }
  blockReduceAdd(acc, partials);
}

__global__ void centeredSumSquaresKernel(const float* A, int64_t rows, int64_t cols, int64_t lda, const float* mean,
                                         double* partials) {
  double acc = 0.0;
  for (int64_t c = blockIdx.y; c < cols; c += gridDim.y) {
    for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows;
         r += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      const double v = static_cast<double>(A[r + c * lda]) - static_cast<double>(mean[r]);
      acc += v * v;
    }
  }
  blockReduceAdd(acc, partials);
}

template <bool kNormal>
__global__ void philoxKernel(float* out, uint64_t count, uint64_t streams, uint64_t seed, uint64_t firstStream) {
  const uint64_t blocksPerStream = (count + 3) / 4;
  const uint64_t total = blocksPerStream * streams;
  for (uint64_t t = static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += static_cast<uint64_t>(gridDim.x) * blockDim.x) {
    const uint64_t s = t / blocksPerStream, block = t % blocksPerStream;
    const Philox4x32 bits = philoxBlock(seed, firstStream + s, block);
    float z[4];
    if (kNormal) {
      philoxBoxMuller(bits.v[0], bits.v[1], &z[0], &z[1]);
      philoxBoxMuller(bits.v[2], bits.v[3], &z[2], &z[3]);
    } else {
      for (int l = 0; l < 4; ++l) z[l] = philoxUniform(bits.v[l]);
    }
    const uint64_t start = block * 4;
    const int lanes = static_cast<int>(count - start < 4 ? count - start : 4);
    float* dst = out + s * count + start;
    for (int l = 0; l < lanes; ++l) dst[l] = z[l];
  }
}

// ---- the device ------------------------------------------------------------

class CudaDevice final : public Device {
 public:
  explicit CudaDevice(const cublas::Api* api) : api_(api) {
    ENKG_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    // Keep freed memory in the stream-ordered pool: repeated steps of the
    // same shape then allocate without touching the driver. Devices without
    // memory pools (some virtualised GPUs) use plain cudaMalloc.
    int device = 0, pools = 0;
    ENKG_CUDA(cudaGetDevice(&device));
    ENKG_CUDA(cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, device));
    pooled_ = pools != 0;
    if (pooled_) {
      cudaMemPool_t pool;
      ENKG_CUDA(cudaDeviceGetDefaultMemPool(&pool, device));
      uint64_t threshold = UINT64_MAX;
      ENKG_CUDA(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
    }
    const cublas::Status status = api_->create(&handle_);
    if (status != 0) throw runtimeError(std::string("cublasCreate failed: ") + cublas::statusName(status));
    const cublas::Status bound = api_->setStream(handle_, stream_);
    if (bound != 0) throw runtimeError(std::string("cublasSetStream failed: ") + cublas::statusName(bound));
    ENKG_CUDA(cudaMalloc(&scalar_, sizeof(double)));
    ENKG_CUDA(cudaMalloc(&partials_, kMaxReduceBlocks * sizeof(double)));
    size_t freeBytes = 0, totalBytes = 0;
    ENKG_CUDA(cudaMemGetInfo(&freeBytes, &totalBytes));
    // Scratch blocks may use up to an eighth of the memory free at start-up.
    budget_ = std::max<size_t>(size_t{1} << 22, freeBytes / 8 / sizeof(float));
  }

  Backend kind() const override { return Backend::Cuda; }

  float* alloc(size_t count) override {
    void* p = nullptr;
    const size_t bytes = std::max<size_t>(count, 1) * sizeof(float);
    if (!pooled_) synchronize();  // plain cudaFree/cudaMalloc are not stream-ordered
    const cudaError_t status = pooled_ ? cudaMallocAsync(&p, bytes, stream_) : cudaMalloc(&p, bytes);
    if (status != cudaSuccess) {
      cudaGetLastError();
      throw runtimeError("CUDA out of memory allocating " + std::to_string((count * sizeof(float)) >> 20) +
                         " MiB: " + cudaGetErrorString(status));
    }
    return static_cast<float*>(p);
  }
  void release(float* p) override {
    if (pooled_) {
      cudaFreeAsync(p, stream_);
    } else {
      cudaStreamSynchronize(stream_);
      cudaFree(p);
    }
  }
  void upload(float* dst, const float* src, size_t count) override {
    ENKG_CUDA(cudaMemcpyAsync(dst, src, count * sizeof(float), cudaMemcpyHostToDevice, stream_));
  }
  void download(float* dst, const float* src, size_t count) override {
    ENKG_CUDA(cudaMemcpyAsync(dst, src, count * sizeof(float), cudaMemcpyDeviceToHost, stream_));
    synchronize();
  }
  void copy(float* dst, const float* src, size_t count) override {
    if (dst == src || count == 0) return;
    ENKG_CUDA(cudaMemcpyAsync(dst, src, count * sizeof(float), cudaMemcpyDeviceToDevice, stream_));
  }
  void synchronize() override { ENKG_CUDA(cudaStreamSynchronize(stream_)); }

  void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda,
            const float* B, int64_t ldb, float beta, float* C, int64_t ldc) override {
    if (m == 0 || n == 0) return;
    const cublas::Status status =
        api_->sgemm(handle_, transA ? cublas::kTrans : cublas::kNoTrans, transB ? cublas::kTrans : cublas::kNoTrans,
                    cublasInt(m, "gemm m"), cublasInt(n, "gemm n"), cublasInt(k, "gemm k"), &alpha, A,
                    cublasInt(lda, "gemm lda"), B, cublasInt(ldb, "gemm ldb"), &beta, C, cublasInt(ldc, "gemm ldc"));
    if (status != 0) throw runtimeError(std::string("cublasSgemm failed: ") + cublas::statusName(status));
  }

  void columnMean(const float* A, int64_t rows, int64_t cols, int64_t lda, float* out) override {
    if (rows == 0) return;
    columnMeanKernel<float><<<gridFor(rows, 32, INT_MAX), dim3(32, 32), 0, stream_>>>(A, rows, cols, lda, out);
    ENKG_CUDA(cudaGetLastError());
  }

  void centerColumns(const float* A, int64_t rows, int64_t cols, int64_t lda, const float* mean, float* D,
                     int64_t ldd) override {
    if (rows * cols == 0) return;
    centerColumnsKernel<<<grid2d(rows, cols), 256, 0, stream_>>>(A, rows, cols, lda, mean, D, ldd);
    ENKG_CUDA(cudaGetLastError());
  }

  void copyBlock(const float* A, int64_t rows, int64_t cols, int64_t lda, float* D, int64_t ldd) override {
    if (rows * cols == 0) return;
    ENKG_CUDA(cudaMemcpy2DAsync(D, ldd * sizeof(float), A, lda * sizeof(float), rows * sizeof(float), cols,
                                cudaMemcpyDeviceToDevice, stream_));
  }

  void formMixingMatrix(float* C, int64_t N, float eta) override {
    // N doubles of row means, in a float buffer of twice the length.
    DeviceBuffer scratch(*this, 2 * static_cast<size_t>(N));
    double* rowMean = reinterpret_cast<double*>(scratch.get());
    // (1024 threads per 32 rows: a thread per row would leave most of the GPU idle at N = 2048.)
    columnMeanKernel<double><<<gridFor(N, 32, INT_MAX), dim3(32, 32), 0, stream_>>>(C, N, N, N, rowMean);
    mixingMatrixKernel<<<grid2d(N, N), 256, 0, stream_>>>(C, N, eta, rowMean);
    ENKG_CUDA(cudaGetLastError());
  }

  double centeredSumSquares(const float* A, int64_t rows, int64_t cols, int64_t lda, const float* mean) override {
    if (rows * cols == 0) return 0.0;
    const dim3 grid = grid2d(rows, cols);
    centeredSumSquaresKernel<<<grid, 256, 0, stream_>>>(A, rows, cols, lda, mean, partials_);
    return sumPartials(static_cast<int64_t>(grid.x) * grid.y);
  }

  double dot(const float* a, const float* b, size_t count) override {
    if (count == 0) return 0.0;
    const int64_t n = static_cast<int64_t>(count);
    const unsigned blocks = gridFor(n, 256, 4096);
    dotKernel<<<blocks, 256, 0, stream_>>>(a, b, n, partials_);
    return sumPartials(blocks);
  }
  double sumSquares(const float* a, size_t count) override { return dot(a, a, count); }

  void randomNormal(float* out, size_t count, uint64_t streams, uint64_t seed, uint64_t firstStream) override {
    launchPhilox<true>(out, count, streams, seed, firstStream);
  }
  void randomUniform(float* out, size_t count, uint64_t streams, uint64_t seed, uint64_t firstStream) override {
    launchPhilox<false>(out, count, streams, seed, firstStream);
  }

  size_t scratchBudget() const override { return budget_; }
  void* stream() override { return stream_; }

 private:
  template <bool kNormal>
  void launchPhilox(float* out, size_t count, uint64_t streams, uint64_t seed, uint64_t firstStream) {
    const int64_t blocks = static_cast<int64_t>((count + 3) / 4 * streams);
    if (blocks == 0) return;
    philoxKernel<kNormal><<<gridFor(blocks, 256), 256, 0, stream_>>>(out, count, streams, seed, firstStream);
    ENKG_CUDA(cudaGetLastError());
  }

  // Adds the first `blocks` partial sums (in a fixed order) and reads the total.
  double sumPartials(int64_t blocks) {
    sumPartialsKernel<<<1, 1024, 0, stream_>>>(partials_, blocks, scalar_);
    ENKG_CUDA(cudaGetLastError());
    double value = 0.0;
    ENKG_CUDA(cudaMemcpyAsync(&value, scalar_, sizeof(double), cudaMemcpyDeviceToHost, stream_));
    synchronize();
    return value;
  }

  // The most blocks a reduction launches: grid2d's x * y, and dot's 4096.
  static constexpr int64_t kMaxReduceBlocks = 65535;

  const cublas::Api* api_;
  cublas::Handle handle_ = nullptr;
  cudaStream_t stream_ = nullptr;
  double* scalar_ = nullptr;
  double* partials_ = nullptr;
  size_t budget_ = 0;
  bool pooled_ = false;
};

CudaProbe runProbe() {
  CudaProbe probe;
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();
    // The static runtime reports a missing driver as "insufficient"; say
    // which of the two it is.
    void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (driver == nullptr) {
      probe.reason = "no NVIDIA driver on this machine (libcuda.so.1 not found)";
    } else {
      dlclose(driver);
      probe.reason = std::string("no usable CUDA device (cudaGetDeviceCount: ") + cudaGetErrorString(status) + ")";
      if (status == cudaErrorInsufficientDriver) {
        probe.reason += "; this build's CUDA runtime is " + std::to_string(CUDART_VERSION / 1000) + "." +
                        std::to_string(CUDART_VERSION % 1000 / 10) +
                        ", newer than the driver supports: update the NVIDIA driver, or rebuild enkg with the nvcc "
                        "of the CUDA version `nvidia-smi` reports";
      }
    }
    return probe;
  }
  if (count == 0) {
    probe.reason = "no CUDA device found";
    return probe;
  }
  cudaDeviceProp prop;
  status = cudaGetDeviceProperties(&prop, 0);
  if (status != cudaSuccess) {
    probe.reason = std::string("cudaGetDeviceProperties failed: ") + cudaGetErrorString(status);
    return probe;
  }
  char description[512];
  std::snprintf(description, sizeof description, "%s (compute capability %d.%d, %.1f GiB)", prop.name, prop.major,
                prop.minor, static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  probe.device = description;
  int memoryClockKHz = 0, busWidthBits = 0;
  if (cudaDeviceGetAttribute(&memoryClockKHz, cudaDevAttrMemoryClockRate, 0) == cudaSuccess &&
      cudaDeviceGetAttribute(&busWidthBits, cudaDevAttrGlobalMemoryBusWidth, 0) == cudaSuccess) {
    probe.memoryBandwidth = 2.0 * memoryClockKHz * 1e3 * busWidthBits / 8.0;
  }
  cudaGetLastError();
  // A kernel image for this device must exist (SASS or PTX of this build).
  cudaFuncAttributes attributes;
  status = cudaFuncGetAttributes(&attributes, probeKernel);
  if (status != cudaSuccess) {
    cudaGetLastError();
    probe.reason = probe.device + " has no kernel image in this build (" + cudaGetErrorString(status) +
                   "); rebuild with ENKG_CUDA_ARCHITECTURES=" + std::to_string(prop.major * 10 + prop.minor);
    return probe;
  }
  std::string why;
  if (cublas::load(&why) == nullptr) {
    probe.reason = why;
    return probe;
  }
  probe.available = true;
  return probe;
}

}  // namespace

std::vector<CudaLibrary> cudaLibraryReport() {
  std::vector<CudaLibrary> out(2);
  out[0].name = "cublas";
  if (const cublas::Api* api = cublas::load(&out[0].reason)) {
    out[0].loaded = true;
    out[0].path = api->library;
  }
  out[1].name = "cufft";
  if (const cufft::Api* api = cufft::load(&out[1].reason)) {
    out[1].loaded = true;
    out[1].path = api->library;
  }
  return out;
}

const CudaProbe& cudaProbe() {
  static const CudaProbe probe = runProbe();
  return probe;
}

Device& cudaDevice() {
  static std::once_flag once;
  static CudaDevice* device = nullptr;
  static std::string failure;
  const CudaProbe& probe = cudaProbe();
  if (!probe.available) throw runtimeError("The CUDA backend is unavailable: " + probe.reason);
  std::call_once(once, [&] {
    try {
      device = new CudaDevice(cublas::load(nullptr));  // lives for the process
    } catch (const std::exception& e) {
      failure = e.what();
    }
  });
  if (device == nullptr) throw runtimeError("The CUDA backend failed to start: " + failure);
  return *device;
}

}  // namespace enkg
