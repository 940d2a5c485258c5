// The CUDA emulator's stand-in for <cuda_runtime.h>: enough of the runtime
// API and the device built-ins for enkg's own .cu sources to compile as C++
// and run on the CPU, one emulated thread per fiber (runtime.cc). It exists
// to test the CUDA backend's logic where no GPU is lent: kernel indexing,
// barriers and warp exchanges, shared-memory sizing, launch limits and the
// host code around the kernels. It says nothing about speed, and nothing
// about what only nvcc or the hardware decide (registers, the memory model
// beyond what the scheduling orders expose).
//
// The sources reach it through translate.js, which turns `k<<<cfg>>>(args)`
// into `::emu::Launcher(cfg).run(k, args)` and `extern __shared__` arrays
// into the block's dynamic shared memory; every other CUDA keyword is a
// macro below.
#pragma once

#include <math.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

#define ENKG_CUDA_EMULATOR 1
#define CUDART_VERSION 13000

// ---- qualifiers ---------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
// One block runs at a time, so a function-local static is the block's
// shared variable.
#define __shared__ static
#define __launch_bounds__(...)
#define __align__(n) alignas(n)

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// ---- runtime types --------------------------------------------------------------
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInsufficientDriver = 35,
  cudaErrorInvalidDeviceFunction = 98,
  cudaErrorLaunchFailure = 719,
};
typedef struct EmuStream* cudaStream_t;
typedef struct EmuMemPool* cudaMemPool_t;
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
enum cudaDeviceAttr {
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrMemoryClockRate = 36,
  cudaDevAttrGlobalMemoryBusWidth = 37,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
  cudaDevAttrMemoryPoolsSupported = 115,
};
enum cudaMemPoolAttr { cudaMemPoolAttrReleaseThreshold = 4 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
#define cudaStreamNonBlocking 0x01

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  size_t sharedMemPerBlockOptin;
  int major, minor;
  int multiProcessorCount;
  int maxThreadsPerBlock;
  int warpSize;
};
struct cudaFuncAttributes {
  size_t sharedSizeBytes;
  size_t constSizeBytes;
  size_t localSizeBytes;
  int maxThreadsPerBlock;
  int numRegs;
  int maxDynamicSharedSizeBytes;
};

// ---- the emulator's entry points (runtime.cc) -----------------------------------
namespace emu {

// The built-ins' values for the emulated thread now running (only set
// inside a kernel).
extern const uint3* currentThreadIdx;
extern uint3 currentBlockIdx;
extern dim3 currentBlockDim, currentGridDim;
void syncthreads();
int syncthreadsAnd(int predicate);
void syncwarp(unsigned mask);
// Lane `source` of the calling warp's value (`bytes` of `mine`), after every
// lane in `mask` has offered its own.
void warpExchange(unsigned mask, const void* mine, void* out, size_t bytes, int source);
int laneId();
unsigned char* dynamicShared();
// Called where a static __shared__ variable is declared (translate.js): the
// block's first thread there fills it with all bits set, as a GPU leaves
// fresh shared memory garbage rather than zero or the last block's values.
void freshShared(void* variable, size_t bytes);

struct Invocation {
  void (*call)(void* state);
  void* state;
};
cudaError_t launch(dim3 grid, dim3 block, size_t sharedBytes, cudaStream_t stream, const void* kernel,
                   Invocation body);
cudaError_t funcAttributes(cudaFuncAttributes* out, const void* kernel);
cudaError_t setFuncAttribute(const void* kernel, cudaFuncAttribute attribute, int value);
cudaError_t occupancy(int* blocks, const void* kernel, int blockSize, size_t dynamicBytes);

// `kernel<<<grid, block, shared, stream>>>(args...)` after translate.js.
class Launcher {
 public:
  Launcher(dim3 grid, dim3 block, size_t sharedBytes = 0, cudaStream_t stream = nullptr)
      : grid_(grid), block_(block), shared_(sharedBytes), stream_(stream) {}

  template <class... Params, class... Args>
  void run(void (*kernel)(Params...), Args&&... args) {
    static_assert(sizeof...(Params) == sizeof...(Args), "a kernel launch with the wrong number of arguments");
    // Converted once, as the launch copies the arguments; every thread gets its own copy.
    struct State {
      void (*kernel)(Params...);
      std::tuple<std::decay_t<Params>...> params;
    } state{kernel, std::tuple<std::decay_t<Params>...>(std::forward<Args>(args)...)};
    Invocation body{[](void* p) {
                      State& s = *static_cast<State*>(p);
                      std::apply(s.kernel, s.params);
                    },
                    &state};
    launch(grid_, block_, shared_, stream_, reinterpret_cast<const void*>(kernel), body);
  }

 private:
  dim3 grid_, block_;
  size_t shared_;
  cudaStream_t stream_;
};

}  // namespace emu

#define threadIdx (*::emu::currentThreadIdx)
#define blockIdx (static_cast<const uint3&>(::emu::currentBlockIdx))
#define blockDim (static_cast<const dim3&>(::emu::currentBlockDim))
#define gridDim (static_cast<const dim3&>(::emu::currentGridDim))

inline void __syncthreads() { ::emu::syncthreads(); }
inline int __syncthreads_and(int predicate) { return ::emu::syncthreadsAnd(predicate); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::emu::syncwarp(mask); }

// Shuffles within segments of `width` lanes, as on the GPU.
template <typename T>
T __shfl_xor_sync(unsigned mask, T value, int laneMask, int width = 32) {
  const int lane = ::emu::laneId(), base = lane & ~(width - 1);
  const int source = ((lane ^ laneMask) & (width - 1)) + base;
  T out;
  ::emu::warpExchange(mask, &value, &out, sizeof(T), source);
  return out;
}
template <typename T>
T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = 32) {
  const int lane = ::emu::laneId(), base = lane & ~(width - 1);
  const int within = lane - base + static_cast<int>(delta);
  T out;
  ::emu::warpExchange(mask, &value, &out, sizeof(T), within < width ? base + within : lane);
  return out;
}
template <typename T>
T __shfl_sync(unsigned mask, T value, int srcLane, int width = 32) {
  const int lane = ::emu::laneId(), base = lane & ~(width - 1);
  T out;
  ::emu::warpExchange(mask, &value, &out, sizeof(T), base + (srcLane & (width - 1)));
  return out;
}

// Emulated threads run one at a time, so read-modify-write is atomic.
template <typename T>
T atomicAdd(T* address, T value) {
  const T old = *address;
  *address = old + value;
  return old;
}

// ---- runtime API ------------------------------------------------------------------
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attribute, int device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaGetLastError();
const char* cudaGetErrorString(cudaError_t error);

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);

cudaError_t cudaMalloc(void** pointer, size_t bytes);
cudaError_t cudaFree(void* pointer);
cudaError_t cudaMallocAsync(void** pointer, size_t bytes, cudaStream_t stream);
// The typed overloads the real header has too.
template <class T>
cudaError_t cudaMalloc(T** pointer, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(pointer), bytes);
}
template <class T>
cudaError_t cudaMallocAsync(T** pointer, size_t bytes, cudaStream_t stream) {
  return cudaMallocAsync(reinterpret_cast<void**>(pointer), bytes, stream);
}
cudaError_t cudaFreeAsync(void* pointer, cudaStream_t stream);
cudaError_t cudaMemGetInfo(size_t* freeBytes, size_t* totalBytes);
cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* pool, int device);
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attribute, void* value);
cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, size_t minBytesToKeep);

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream = nullptr);
cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t stream = nullptr);
cudaError_t cudaMemsetAsync(void* pointer, int value, size_t bytes, cudaStream_t stream = nullptr);

template <class... P>
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* out, void (*kernel)(P...)) {
  return ::emu::funcAttributes(out, reinterpret_cast<const void*>(kernel));
}
template <class... P>
cudaError_t cudaFuncSetAttribute(void (*kernel)(P...), cudaFuncAttribute attribute, int value) {
  return ::emu::setFuncAttribute(reinterpret_cast<const void*>(kernel), attribute, value);
}
template <class... P>
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* blocks, void (*kernel)(P...), int blockSize,
                                                          size_t dynamicBytes) {
  return ::emu::occupancy(blocks, reinterpret_cast<const void*>(kernel), blockSize, dynamicBytes);
}
