// The CUDA emulator checked against kernels whose right and wrong answers
// are known: each case prints one line, `<case> <result>`, and the jest test
// (test/cuda-emulator.test.ts) runs every case in its own process, since a
// failed launch poisons the emulated context as it does a GPU's.
//   enkg-cuda-emu-selftest <case>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

// A block sum through shared memory and warp shuffles: the sum of 0..n-1.
__global__ void blockSum(const int* in, int* out) {
  __shared__ int partial[32];
  int v = in[blockIdx.x * blockDim.x + threadIdx.x];
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    int total = 0;
    for (int w = 0; w < static_cast<int>(blockDim.x / 32); ++w) total += partial[w];
    out[blockIdx.x] = total;
  }
}

// Reads a neighbour's shared value without a barrier between the write and
// the read: the result depends on which thread ran first.
__global__ void racyNeighbour(int* out) {
  __shared__ int value[64];
  value[threadIdx.x] = static_cast<int>(threadIdx.x) + 1;
  out[threadIdx.x] = value[(threadIdx.x + 1) % blockDim.x];
}

// The same with the barrier: always the neighbour's value.
__global__ void syncedNeighbour(int* out) {
  __shared__ int value[64];
  value[threadIdx.x] = static_cast<int>(threadIdx.x) + 1;
  __syncthreads();
  out[threadIdx.x] = value[(threadIdx.x + 1) % blockDim.x];
}

// Reads a shared slot before any thread of its block wrote it, then writes
// it: on a GPU the read is garbage, in every block (not zero, and not what
// the previous block on the multiprocessor left).
__global__ void staleShared(float* out) {
  __shared__ float slot[2];
  out[blockIdx.x] = slot[0];
  __syncthreads();
  if (threadIdx.x == 0) slot[0] = 1.0f + static_cast<float>(blockIdx.x);
}

// Half the block skips the barrier.
__global__ void divergentBarrier(int* out) {
  if (threadIdx.x < 16) __syncthreads();
  out[threadIdx.x] = 1;
}

// Shuffles from a lane the mask leaves out.
__global__ void shuffleOutsideMask(int* out) {
  const unsigned low = 0x0000ffffu, high = 0xffff0000u;
  const int v = __shfl_sync(threadIdx.x < 16 ? low : high, static_cast<int>(threadIdx.x), 20);
  out[threadIdx.x] = v;
}

// Groups of 8 lanes, each exchanging within its own group: legal.
__global__ void groupShuffle(int* out) {
  const unsigned mask = 0xffu << (threadIdx.x / 8 * 8);
  out[threadIdx.x] = __shfl_xor_sync(mask, static_cast<int>(threadIdx.x), 1, 8);
}

__global__ void andBarrier(const int* in, int* out) {
  out[threadIdx.x] = __syncthreads_and(in[threadIdx.x]);
}

__global__ void dynamicFill(int* out, int n) {
  extern __shared__ __align__(16) unsigned char memory[];
  int* values = reinterpret_cast<int*>(memory);
  for (int i = threadIdx.x; i < n; i += blockDim.x) values[i] = i;
  __syncthreads();
  if (threadIdx.x == 0) {
    long long total = 0;
    for (int i = 0; i < n; ++i) total += values[i];
    *out = static_cast<int>(total);
  }
}

// Thread 32 writes one element past the end.
__global__ void pastTheEnd(int* out) { out[threadIdx.x] = 1; }

template <typename T>
T* deviceArray(size_t n) {
  T* p = nullptr;
  if (cudaMalloc(&p, n * sizeof(T)) != cudaSuccess) {
    std::printf("cudaMalloc failed\n");
    std::exit(1);
  }
  return p;
}

std::vector<int> download(const int* p, size_t n) {
  std::vector<int> host(n);
  cudaMemcpy(host.data(), p, n * sizeof(int), cudaMemcpyDeviceToHost);
  return host;
}

void report(const char* name, const std::string& result) { std::printf("%s %s\n", name, result.c_str()); }

std::string status(cudaError_t e) { return e == cudaSuccess ? "ok" : std::string("error: ") + cudaGetErrorString(e); }

}  // namespace

int main(int argc, char** argv) {
  const std::string which = argc > 1 ? argv[1] : "";
  if (which == "block-sum") {
    const int blocks = 3, threads = 256;
    std::vector<int> host(blocks * threads);
    for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<int>(i);
    int* in = deviceArray<int>(host.size());
    int* out = deviceArray<int>(blocks);
    cudaMemcpy(in, host.data(), host.size() * sizeof(int), cudaMemcpyHostToDevice);
    blockSum<<<blocks, threads>>>(in, out);
    const cudaError_t e = cudaGetLastError();
    const std::vector<int> sums = download(out, blocks);
    report("block-sum", status(e) + " " + std::to_string(sums[0]) + " " + std::to_string(sums[1]) + " " +
                            std::to_string(sums[2]));
  } else if (which == "neighbour") {
    // Prints what thread 0 read: 2 (thread 1 wrote first) or garbage.
    int* out = deviceArray<int>(64);
    racyNeighbour<<<1, 64>>>(out);
    const int racy = download(out, 1)[0];
    syncedNeighbour<<<1, 64>>>(out);
    const int synced = download(out, 1)[0];
    report("neighbour", status(cudaGetLastError()) + " racy=" + std::to_string(racy) + " synced=" +
                            std::to_string(synced));
  } else if (which == "stale-shared") {
    float* out = deviceArray<float>(2);
    staleShared<<<2, 32>>>(out);
    std::vector<float> host(2);
    cudaMemcpy(host.data(), out, sizeof(host[0]) * host.size(), cudaMemcpyDeviceToHost);
    auto show = [](float v) { return std::isnan(v) ? std::string("nan") : std::to_string(v); };
    report("stale-shared", status(cudaGetLastError()) + " " + show(host[0]) + " " + show(host[1]));
  } else if (which == "divergent-barrier") {
    int* out = deviceArray<int>(32);
    divergentBarrier<<<1, 32>>>(out);
    const cudaError_t e = cudaGetLastError();
    void* later = nullptr;
    report("divergent-barrier", status(e) + " | then cudaMalloc: " + status(cudaMalloc(&later, 16)));
  } else if (which == "shuffle-outside-mask") {
    int* out = deviceArray<int>(32);
    shuffleOutsideMask<<<1, 32>>>(out);
    report("shuffle-outside-mask", status(cudaGetLastError()));
  } else if (which == "group-shuffle") {
    int* out = deviceArray<int>(32);
    groupShuffle<<<1, 32>>>(out);
    const std::vector<int> v = download(out, 32);
    bool right = true;
    for (int i = 0; i < 32; ++i) right &= v[i] == (i ^ 1);
    report("group-shuffle", status(cudaGetLastError()) + (right ? " swapped" : " wrong"));
  } else if (which == "syncthreads-and") {
    std::vector<int> ones(64, 1), oneZero(64, 1);
    oneZero[37] = 0;
    int* in = deviceArray<int>(64);
    int* out = deviceArray<int>(64);
    cudaMemcpy(in, ones.data(), 64 * sizeof(int), cudaMemcpyHostToDevice);
    andBarrier<<<1, 64>>>(in, out);
    const int all = download(out, 64)[5];
    cudaMemcpy(in, oneZero.data(), 64 * sizeof(int), cudaMemcpyHostToDevice);
    andBarrier<<<1, 64>>>(in, out);
    const int some = download(out, 64)[5];
    report("syncthreads-and", status(cudaGetLastError()) + " " + std::to_string(all) + " " + std::to_string(some));
  } else if (which == "dynamic-shared") {
    // 64 KiB needs the attribute; with it the block sees all of it.
    const int n = 16384;
    int* out = deviceArray<int>(1);
    dynamicFill<<<1, 128, n * sizeof(int)>>>(out, n);
    const cudaError_t without = cudaGetLastError();
    cudaFuncSetAttribute(dynamicFill, cudaFuncAttributeMaxDynamicSharedMemorySize, n * static_cast<int>(sizeof(int)));
    dynamicFill<<<1, 128, n * sizeof(int)>>>(out, n);
    const cudaError_t with = cudaGetLastError();
    const cudaError_t tooMuch = cudaFuncSetAttribute(dynamicFill, cudaFuncAttributeMaxDynamicSharedMemorySize, 300 * 1024);
    report("dynamic-shared", "without=" + status(without) + " | with=" + status(with) + " " +
                                 std::to_string(download(out, 1)[0]) + " | 300KiB=" + status(tooMuch));
  } else if (which == "launch-limits") {
    int* out = deviceArray<int>(1);
    syncedNeighbour<<<1, 2048>>>(out);
    const cudaError_t big = cudaGetLastError();
    syncedNeighbour<<<dim3(1, 70000), 32>>>(out);
    report("launch-limits", "block=" + status(big) + " | grid=" + status(cudaGetLastError()));
  } else if (which == "copy-bounds") {
    int* p = deviceArray<int>(10);
    std::vector<int> host(11);
    const cudaError_t inside = cudaMemcpy(p, host.data(), 10 * sizeof(int), cudaMemcpyHostToDevice);
    const cudaError_t past = cudaMemcpy(p, host.data(), 11 * sizeof(int), cudaMemcpyHostToDevice);
    report("copy-bounds", "inside=" + status(inside) + " | past=" + status(past));
  } else if (which == "sanitized") {
#if defined(__SANITIZE_ADDRESS__)
    report("sanitized", "yes");
#else
    report("sanitized", "no");
#endif
  } else if (which == "past-the-end") {
    // With AddressSanitizer: a heap-buffer-overflow report and exit status 1.
    int* out = deviceArray<int>(32);
    pastTheEnd<<<1, 33>>>(out);
    report("past-the-end", status(cudaGetLastError()));
  } else {
    std::printf("usage: enkg-cuda-emu-selftest sanitized|past-the-end|block-sum|neighbour|stale-shared|divergent-barrier|shuffle-outside-mask|"
                "group-shuffle|syncthreads-and|dynamic-shared|launch-limits|copy-bounds\n");
    return 2;
  }
  return 0;
}
