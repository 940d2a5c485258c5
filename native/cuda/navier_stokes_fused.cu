// The fused Navier-Stokes kernel on the GPU: one thread block per field at a
// time, taking the next field from a shared counter when it finishes (fields
// need different numbers of steps). The block's three work buffers and the
// twiddles live in shared memory, and so does the field's state where four
// blocks per multiprocessor still fit; otherwise the state goes to a slot of
// device memory per block, which the L2 cache holds. The algorithm itself is
// core/navier_stokes_fused.h, the code the CPU tests run.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "../core/navier_stokes_fused.h"
#include "cuda_check.h"
#include "navier_stokes_cuda.h"

namespace enkg {
namespace {

// The executor of navier_stokes_fused.h for a block of kThreads threads.
template <int kThreads>
struct BlockExec {
  template <class F>
  __device__ void forEach(int n, F f) const {
    for (int i = threadIdx.x; i < n; i += kThreads) f(i);
  }
  __device__ void sync() const { __syncthreads(); }

  // Groups of G consecutive lanes of a warp take lines group, group +
  // groups, ...; a group's phases are separated by a sync of its own lanes.
  template <int G, class State, class... Phases>
  __device__ void lineGroups(int count, Phases... phases) const {
    static_assert(32 % G == 0 && kThreads % 32 == 0, "a line's group must sit inside one warp");
    constexpr int kGroups = kThreads / G;
    const int group = threadIdx.x / G, lane = threadIdx.x % G;
    const unsigned mask = G == 32 ? 0xffffffffu : ((1u << G) - 1u) << ((threadIdx.x & 31) / G * G);
    for (int line = group; line < count; line += kGroups) {
      State state;
      ((phases(line, lane, state), __syncwarp(mask)), ...);
    }
    __syncthreads();
  }

  template <typename T, class F>
  __device__ T maxOf(int n, F f, bool* finite) const {
    __shared__ T warpBest[kThreads / 32];
    __shared__ int warpFinite[kThreads / 32];
    T best = 0;
    int ok = 1;
    for (int i = threadIdx.x; i < n; i += kThreads) {
      const T v = f(i);
      if (!isfinite(v)) ok = 0;
      best = best < v ? v : best;
    }
    for (int offset = 16; offset > 0; offset >>= 1) {
      const T other = __shfl_xor_sync(0xffffffffu, best, offset);
      best = best < other ? other : best;
      ok &= __shfl_xor_sync(0xffffffffu, ok, offset);
    }
    if ((threadIdx.x & 31) == 0) {
      warpBest[threadIdx.x >> 5] = best;
      warpFinite[threadIdx.x >> 5] = ok;
    }
    __syncthreads();
    T all = 0;
    int allFinite = 1;
    for (int w = 0; w < kThreads / 32; ++w) {
      all = all < warpBest[w] ? warpBest[w] : all;
      allFinite &= warpFinite[w];
    }
    __syncthreads();  // before the next reduction reuses the arrays
    *finite = allFinite != 0;
    return all;
  }

  template <class F>
  __device__ bool allOf(int n, F f) const {
    int ok = 1;
    for (int i = threadIdx.x; i < n; i += kThreads) {
      if (!f(i)) ok = 0;
    }
    return __syncthreads_and(ok) != 0;
  }
};

template <typename T>
struct Launch {
  fused::Tables<T> tables;  // device pointers; the twiddles are copied to shared memory
  fused::Params params;
  float* fields;            // batch x R^2: w0 in, the solution (or NaN) out, field by field
  int64_t batch;
  unsigned long long* next;  // the field counter
  fused::Cx<T>* state;       // 3 H per block, or null: the state lives in shared memory
  long long* steps;          // per field
  double* reached;           // per field: the time reached
  int* status;               // per field: 0 done, 1 non-finite, 2 out of steps
};

template <int R, typename T, int kThreads>
__global__ void __launch_bounds__(kThreads) fusedSolve(Launch<T> L) {
  using G = fused::Grid<R>;
  extern __shared__ __align__(16) unsigned char memory[];
  T* shared = reinterpret_cast<T*>(memory);
  T* twiddle = shared + 3 * G::buffer;
  fused::Cx<T>* state = L.state != nullptr ? L.state + static_cast<size_t>(blockIdx.x) * 3 * G::H
                                           : reinterpret_cast<fused::Cx<T>*>(twiddle + 2 * R);
  const fused::Work<T> work{shared, shared + G::buffer, shared + 2 * G::buffer, state, state + G::H, state + 2 * G::H};
  for (int i = threadIdx.x; i < 2 * R; i += kThreads) twiddle[i] = L.tables.twiddle[i];
  __syncthreads();
  fused::Tables<T> tables = L.tables;
  tables.twiddle = twiddle;
  const BlockExec<kThreads> ex{};
  fused::FieldSolver<R, T, BlockExec<kThreads>> solver(ex, work, tables, L.params);
  __shared__ unsigned long long field;
  while (true) {
    if (threadIdx.x == 0) field = atomicAdd(L.next, 1ull);
    __syncthreads();
    const unsigned long long f = field;
    __syncthreads();
    if (f >= static_cast<unsigned long long>(L.batch)) break;
    float* values = L.fields + f * R * R;
    const fused::FieldResult r = solver.solve(values, values);
    if (threadIdx.x == 0) {
      L.steps[f] = r.steps;
      L.reached[f] = r.time;
      L.status[f] = r.failed ? (r.stepLimit ? 2 : 1) : 0;
    }
  }
}

// Runs the solve, or returns false with the reason it cannot run on this GPU.
template <int R, typename T, int kThreads>
bool solveOn(Device& device, const float* w0Host, float* outHost, int64_t batch, const NavierStokesOptions& o,
             NavierStokesReport* report, std::string* why) {
  using G = fused::Grid<R>;
  auto kernel = fusedSolve<R, T, kThreads>;
  int gpu = 0, optin = 0, multiprocessors = 0;
  ENKG_CUDA(cudaGetDevice(&gpu));
  ENKG_CUDA(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, gpu));
  ENKG_CUDA(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, gpu));
  cudaFuncAttributes attributes;
  ENKG_CUDA(cudaFuncGetAttributes(&attributes, kernel));
  const size_t workBytes = (3 * static_cast<size_t>(G::buffer) + 2 * R) * sizeof(T);
  const size_t stateBytes = 3 * static_cast<size_t>(G::H) * sizeof(fused::Cx<T>);
  const size_t available = static_cast<size_t>(optin) - attributes.sharedSizeBytes;
  if (workBytes > available) {
    *why = "the fused kernel needs " + std::to_string(workBytes / 1024) + " KiB of shared memory per block at " +
           std::to_string(R) + "^2 in this precision and this GPU offers " + std::to_string(available / 1024) + " KiB";
    return false;
  }
  // The state joins the work buffers where four blocks per multiprocessor
  // still fit (ENKG_NS_FUSED_STATE=shared|global overrides, for tuning).
  const char* placement = std::getenv("ENKG_NS_FUSED_STATE");
  const bool fitsShared = workBytes + stateBytes <= available;
  bool stateShared = 4 * (workBytes + stateBytes + attributes.sharedSizeBytes) <= static_cast<size_t>(optin);
  if (placement != nullptr && std::string(placement) == "shared") stateShared = fitsShared;
  if (placement != nullptr && std::string(placement) == "global") stateShared = false;
  const size_t dynamicBytes = workBytes + (stateShared ? stateBytes : 0);
  ENKG_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(dynamicBytes)));
  int perMultiprocessor = 0;
  ENKG_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perMultiprocessor, kernel, kThreads, dynamicBytes));
  if (perMultiprocessor == 0) {
    *why = "the fused kernel does not fit on this GPU's multiprocessors (registers or shared memory)";
    return false;
  }
  const int64_t blocks = std::min<int64_t>(batch, static_cast<int64_t>(perMultiprocessor) * multiprocessors);

  cudaStream_t stream = static_cast<cudaStream_t>(device.stream());
  const SpectralGrid grid = makeSpectralGrid(R, o.forcing);
  const std::vector<T> tables = castValues<T>(fusedTableValues(grid, o.reynolds));  // one upload
  DeviceArray<T> tableMemory(device, tables.size());
  const size_t values = static_cast<size_t>(batch) * R * R;
  DeviceArray<float> fields(device, values);
  DeviceArray<fused::Cx<T>> state(device, stateShared ? 1 : static_cast<size_t>(blocks) * 3 * G::H);
  DeviceArray<long long> steps(device, static_cast<size_t>(batch));
  DeviceArray<double> reached(device, static_cast<size_t>(batch));
  DeviceArray<int> status(device, static_cast<size_t>(batch));
  DeviceArray<unsigned long long> next(device, 1);
  ENKG_CUDA(cudaMemcpyAsync(tableMemory.get(), tables.data(), tables.size() * sizeof(T), cudaMemcpyHostToDevice, stream));
  ENKG_CUDA(cudaMemcpyAsync(fields.get(), w0Host, values * sizeof(float), cudaMemcpyHostToDevice, stream));
  ENKG_CUDA(cudaMemsetAsync(next.get(), 0, sizeof(unsigned long long), stream));

  Launch<T> launch;
  launch.tables = fused::tablesAt<R>(tableMemory.get(), o.forcing);
  launch.params = {o.reynolds, o.time, o.dt, grid.forcingAmplitude, o.adaptive, o.maxSteps};
  launch.fields = fields.get();
  launch.batch = batch;
  launch.next = next.get();
  launch.state = stateShared ? nullptr : state.get();
  launch.steps = steps.get();
  launch.reached = reached.get();
  launch.status = status.get();
  kernel<<<static_cast<unsigned>(blocks), kThreads, dynamicBytes, stream>>>(launch);
  ENKG_CUDA(cudaGetLastError());

  std::vector<long long> stepsHost(static_cast<size_t>(batch));
  std::vector<double> reachedHost(static_cast<size_t>(batch));
  std::vector<int> statusHost(static_cast<size_t>(batch));
  ENKG_CUDA(cudaMemcpyAsync(outHost, fields.get(), values * sizeof(float), cudaMemcpyDeviceToHost, stream));
  ENKG_CUDA(cudaMemcpyAsync(stepsHost.data(), steps.get(), batch * sizeof(long long), cudaMemcpyDeviceToHost, stream));
  ENKG_CUDA(cudaMemcpyAsync(reachedHost.data(), reached.get(), batch * sizeof(double), cudaMemcpyDeviceToHost, stream));
  ENKG_CUDA(cudaMemcpyAsync(statusHost.data(), status.get(), batch * sizeof(int), cudaMemcpyDeviceToHost, stream));
  ENKG_CUDA(cudaStreamSynchronize(stream));
  report->fused = true;
  for (int64_t f = 0; f < batch; ++f) {
    report->steps = std::max<int64_t>(report->steps, stepsHost[f]);
    if (statusHost[f] != 0) report->failures.push_back({f, reachedHost[f], statusHost[f] == 2});
  }
  return true;
}

// Block sizes: every line of a transform gets its group of R / 16 lanes at
// once (R/2 + 1 columns, R/2 row pairs), rounded up to whole warps. float64
// stops at 64^2: three 128^2 buffers of doubles exceed any GPU's shared memory.
template <typename T>
bool dispatchResolution(Device& device, const float* w0, float* out, int64_t batch, const NavierStokesOptions& o,
                        NavierStokesReport* report, std::string* why) {
  switch (o.resolution) {
    case 16: return solveOn<16, T, 32>(device, w0, out, batch, o, report, why);
    case 32: return solveOn<32, T, 64>(device, w0, out, batch, o, report, why);
    case 64: return solveOn<64, T, 160>(device, w0, out, batch, o, report, why);
    case 128:
      if constexpr (sizeof(T) == sizeof(float)) return solveOn<128, T, 544>(device, w0, out, batch, o, report, why);
      *why = "the fused kernel runs float64 up to 64^2 on a GPU (three 128^2 buffers of doubles exceed its shared memory)";
      return false;
    default: *why = fusedUnsupported(o); return false;
  }
}

}  // namespace

bool solveNavierStokesFusedCuda(Device& device, const float* w0, float* out, int64_t batch,
                                const NavierStokesOptions& opts, NavierStokesReport* report, std::string* why) {
  *why = fusedUnsupported(opts);
  if (!why->empty()) return false;
  return opts.doublePrecision ? dispatchResolution<double>(device, w0, out, batch, opts, report, why)
                              : dispatchResolution<float>(device, w0, out, batch, opts, report, why);
}

}  // namespace enkg
