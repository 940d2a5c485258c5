// The CUDA emulator's runtime: device memory as host memory (every copy and
// memset checked against the allocations), launches checked against an
// H200's limits, and kernels run block after block, each emulated thread as
// a fiber (threads that never wait share one; see Runner). A thread runs
// until it reaches a barrier or a warp exchange; a barrier opens when every thread of the block (or every lane of
// the mask) waits at it. A barrier some threads can never reach, a lane
// outside its own mask or a shuffle from a lane that did not take part is a
// launch failure whose message says which block and threads, instead of the
// hang or silent garbage it is on a GPU.
//
// ENKG_CUDA_EMU_ORDER=forward|reverse|shuffle picks the order in which
// runnable threads (and blocks) are resumed. Correct code gives identical
// results in every order; code that reads what another thread writes
// without a barrier between them does not.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "cuda_runtime.h"

// The built-ins' names are the emulator's own fields here.
#undef threadIdx
#undef blockIdx
#undef blockDim
#undef gridDim

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace emu {
namespace {

// ---- limits of the emulated GPU (an H200) ------------------------------------------
constexpr int kMultiprocessors = 132;
constexpr size_t kSharedPerBlockDefault = 48 * 1024;
constexpr size_t kSharedPerBlockOptin = 227 * 1024;
constexpr size_t kSharedPerMultiprocessor = 228 * 1024;
constexpr size_t kReservedSharedPerBlock = 1024;
constexpr int kMaxThreadsPerBlock = 1024;
constexpr int kMaxThreadsPerMultiprocessor = 2048;
constexpr int kMaxBlocksPerMultiprocessor = 32;
constexpr size_t kEmulatedMemory = size_t{8} << 30;
// The static shared memory a kernel declares is not known here; this much is
// assumed when checking a launch's total against the limit.
constexpr size_t kAssumedStaticShared = 1024;

// ---- errors ---------------------------------------------------------------------
std::mutex stateMutex;            // errors, allocations, attributes
cudaError_t lastError = cudaSuccess;
cudaError_t stickyError = cudaSuccess;  // a failed launch, as on a GPU, poisons the context
std::string stickyMessage;

cudaError_t record(cudaError_t e) {
  if (e != cudaSuccess && lastError == cudaSuccess) lastError = e;
  return e;
}

cudaError_t fail(cudaError_t e, const std::string& message) {
  std::lock_guard<std::mutex> lock(stateMutex);
  std::fprintf(stderr, "CUDA emulator: %s\n", message.c_str());
  if (e == cudaErrorLaunchFailure) {
    stickyError = e;
    stickyMessage = message;
  }
  return record(e);
}

cudaError_t sticky() {
  std::lock_guard<std::mutex> lock(stateMutex);
  return stickyError;
}

// ---- memory ---------------------------------------------------------------------
std::map<uintptr_t, size_t> allocations;  // start -> bytes

// Whether [p, p + bytes) lies inside one allocation.
bool insideAllocation(const void* p, size_t bytes) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(stateMutex);
  auto it = allocations.upper_bound(a);
  if (it == allocations.begin()) return false;
  --it;
  return a >= it->first && a + bytes <= it->first + it->second;
}

cudaError_t checkDevice(const void* p, size_t bytes, const char* what) {
  if (bytes == 0 || insideAllocation(p, bytes)) return cudaSuccess;
  char message[256];
  std::snprintf(message, sizeof message, "%s: %zu bytes at %p are not inside one device allocation", what, bytes, p);
  return fail(cudaErrorInvalidValue, message);
}

cudaError_t checkCopy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, const char* what) {
  const bool dstDevice = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool srcDevice = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (dstDevice) {
    if (cudaError_t e = checkDevice(dst, bytes, what)) return e;
  }
  if (srcDevice) {
    if (cudaError_t e = checkDevice(src, bytes, what)) return e;
  }
  return cudaSuccess;
}

// ---- fibers ---------------------------------------------------------------------
#if defined(__x86_64__)
// Saves the callee-saved registers on the current stack, stores its pointer
// in *from and continues on the stack `to` (SysV x86-64).
extern "C" void enkgEmuSwitch(void** from, void* to);
asm(R"(
.text
.p2align 4
.globl enkgEmuSwitch
.hidden enkgEmuSwitch
.type enkgEmuSwitch,@function
enkgEmuSwitch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size enkgEmuSwitch, .-enkgEmuSwitch
)");
#endif

enum class Wait { None, Block, Warp, Done };

// An emulated thread.
struct Fiber {
  uint3 threadIdx;
  int linear = 0;
  Wait wait = Wait::None;
  unsigned mask = 0;   // Warp: the lanes waiting together
  int predicate = 0;   // Block: this thread's __syncthreads_and argument
  int result = 0;      // Block: the AND over the block
  struct Runner* runner = nullptr;
};

// What executes threads: a stack and the registers saved on it. A runner
// starts the block's threads one after another, each to completion, until
// one of them waits at a barrier; that thread keeps the runner, and a new
// runner starts the threads not yet started. A kernel without barriers thus
// runs on one runner without a switch per thread, and one where every
// thread meets a barrier gets a runner per thread; both in the order the
// threads would have run with a fiber each.
struct Runner {
  char* stack = nullptr;
  bool dedicated = false;  // its thread waited at a barrier: it runs only that thread now
#if defined(__x86_64__)
  void* sp = nullptr;
#else
  ucontext_t uc;
#endif
};

constexpr size_t kStackBytes = 256 * 1024;

struct Scheduler {
  std::vector<Fiber> fibers;
  std::vector<int> sequence;  // the order threads are started and resumed in
  size_t started = 0;         // threads of `sequence` started so far
  std::vector<std::unique_ptr<Runner>> runners;  // (stable addresses: threads point at theirs)
  size_t runnersUsed = 0;
  std::vector<char*> stacks;  // reused across launches, a guard page below each
  Fiber* current = nullptr;
  Runner* running = nullptr;
#if defined(__x86_64__)
  void* schedulerSp = nullptr;
#else
  ucontext_t schedulerUc;
#endif
  Invocation body{};
  unsigned char* shared = nullptr;
  size_t sharedBytes = 0;
  // Static __shared__ variables (function-local statics here) and the block
  // that last saw each: the first use in a new block refills it with garbage.
  unsigned long long blockSerial = 0;
  std::unordered_map<const void*, unsigned long long> staticShared;
  // Warp exchange slots: 32 lanes x 16 bytes per warp.
  std::vector<unsigned char> slots;
  std::string failure;  // set by an emulated thread; ends the launch

  char* stackFor(size_t i) {
    while (stacks.size() <= i) {
      const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
      void* p = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
      if (p == MAP_FAILED) throw std::runtime_error("CUDA emulator: cannot map a fiber stack");
      mprotect(p, page, PROT_NONE);  // overflow faults instead of corrupting the neighbour
      stacks.push_back(static_cast<char*>(p) + page);
    }
    return stacks[i];
  }
};

Scheduler scheduler;
std::mutex launchMutex;  // one launch at a time, whichever host thread asks

}  // namespace

// Read by the built-in macros of the header.
const uint3* currentThreadIdx = nullptr;
uint3 currentBlockIdx;
dim3 currentBlockDim, currentGridDim;

namespace {

[[noreturn]] void runnerMain();

#if defined(__x86_64__)
extern "C" [[noreturn]] void enkgEmuFiberEntry() { runnerMain(); }
#else
void fiberEntryUc() { runnerMain(); }
#endif

Runner& newRunner() {
  if (scheduler.runners.size() <= scheduler.runnersUsed) scheduler.runners.push_back(std::make_unique<Runner>());
  Runner& r = *scheduler.runners[scheduler.runnersUsed];
  r.stack = scheduler.stackFor(scheduler.runnersUsed);
  ++scheduler.runnersUsed;
  r.dedicated = false;
#if defined(__x86_64__)
  uintptr_t top = reinterpret_cast<uintptr_t>(r.stack + kStackBytes) & ~uintptr_t{15};
  void** sp = reinterpret_cast<void**>(top);
  *--sp = nullptr;                                      // the entry's return address slot (never used)
  *--sp = reinterpret_cast<void*>(&enkgEmuFiberEntry);  // where enkgEmuSwitch returns to
  for (int i = 0; i < 6; ++i) *--sp = nullptr;          // rbp rbx r12-r15
  r.sp = sp;
#else
  getcontext(&r.uc);
  r.uc.uc_stack.ss_sp = r.stack;
  r.uc.uc_stack.ss_size = kStackBytes;
  r.uc.uc_link = nullptr;
  makecontext(&r.uc, fiberEntryUc, 0);
#endif
  return r;
}

void enter(Fiber* f) {
  scheduler.current = f;
  currentThreadIdx = f != nullptr ? &f->threadIdx : nullptr;
}

void switchTo(Runner& r) {
  scheduler.running = &r;
#if defined(__x86_64__)
  enkgEmuSwitch(&scheduler.schedulerSp, r.sp);
#else
  swapcontext(&scheduler.schedulerUc, &r.uc);
#endif
  scheduler.running = nullptr;
  enter(nullptr);
}

void resume(Fiber& f) {
  enter(&f);
  switchTo(*f.runner);
}

// From an emulated thread back to the scheduler.
void yieldToScheduler() {
  Runner& r = *scheduler.running;
#if defined(__x86_64__)
  enkgEmuSwitch(&r.sp, scheduler.schedulerSp);
#else
  swapcontext(&r.uc, &scheduler.schedulerUc);
#endif
}

void runnerMain() {
  Runner& self = *scheduler.running;
  while (!self.dedicated && scheduler.started < scheduler.sequence.size()) {
    Fiber& f = scheduler.fibers[scheduler.sequence[scheduler.started++]];
    f.runner = &self;
    enter(&f);
    scheduler.body.call(scheduler.body.state);
    scheduler.current->wait = Wait::Done;
  }
  yieldToScheduler();
  std::abort();  // a finished runner is never resumed
}

Fiber& self() {
  if (scheduler.current == nullptr) {
    std::fprintf(stderr, "CUDA emulator: a device built-in was called outside a kernel\n");
    std::abort();
  }
  return *scheduler.current;
}

// The calling thread waits (f.wait set): it keeps its runner from now on.
void block(Fiber& f) {
  f.runner->dedicated = true;
  yieldToScheduler();
  enter(&f);
}

// An emulated thread found the launch broken: record why and park forever
// (the scheduler abandons the block).
[[noreturn]] void threadFailure(const std::string& why) {
  if (scheduler.failure.empty()) scheduler.failure = why;
  Fiber& f = self();
  f.wait = Wait::Done;
  f.runner->dedicated = true;
  while (true) yieldToScheduler();
}

std::string describeThread(const Fiber& f) {
  char text[128];
  std::snprintf(text, sizeof text, "thread (%u,%u,%u) of block (%u,%u,%u)", f.threadIdx.x, f.threadIdx.y,
                f.threadIdx.z, currentBlockIdx.x, currentBlockIdx.y, currentBlockIdx.z);
  return text;
}

enum class Order { Forward, Reverse, Shuffle };

Order orderFromEnvironment() {
  const char* v = std::getenv("ENKG_CUDA_EMU_ORDER");
  if (v == nullptr || std::string(v) == "forward" || *v == '\0') return Order::Forward;
  if (std::string(v) == "reverse") return Order::Reverse;
  if (std::string(v) == "shuffle") return Order::Shuffle;
  std::fprintf(stderr, "CUDA emulator: ENKG_CUDA_EMU_ORDER=%s is not forward, reverse or shuffle; using forward\n", v);
  return Order::Forward;
}

// Opens whatever barriers can open; false when none can (the block is stuck,
// with the reason in *why, or simply waiting for running threads).
bool release(std::vector<Fiber>& fibers, std::string* why) {
  const int n = static_cast<int>(fibers.size());
  int done = 0, atBlock = 0;
  for (const Fiber& f : fibers) {
    done += f.wait == Wait::Done;
    atBlock += f.wait == Wait::Block;
  }
  bool opened = false;
  // Warp barriers: every lane of the mask waits with the same mask.
  for (int i = 0; i < n; ++i) {
    Fiber& f = fibers[i];
    if (f.wait != Wait::Warp) continue;
    const int warp = i / 32, lane = i % 32;
    if (!(f.mask >> lane & 1u)) {
      *why = describeThread(f) + " called a warp operation with a mask that leaves out its own lane";
      return false;
    }
    if (lane != __builtin_ctz(f.mask)) continue;  // each group of lanes is checked once, by its lowest lane
    bool ready = true;
    for (int l = 0; l < 32 && ready; ++l) {
      if (!(f.mask >> l & 1u)) continue;
      const int j = warp * 32 + l;
      if (j >= n || fibers[j].wait == Wait::Done) {
        *why = describeThread(f) + " waits in a warp operation for lane " + std::to_string(l) +
               (j >= n ? ", which does not exist" : ", which has exited");
        return false;
      }
      ready = fibers[j].wait == Wait::Warp && fibers[j].mask == f.mask;
    }
    if (!ready) continue;
    for (int l = 0; l < 32; ++l) {
      if (f.mask >> l & 1u) fibers[warp * 32 + l].wait = Wait::None;
    }
    opened = true;
  }
  if (opened) return true;
  if (atBlock > 0 && atBlock + done == n) {
    if (done > 0) {
      *why = std::to_string(n - done) + " of the block's " + std::to_string(n) +
             " threads wait at __syncthreads after the others exited";
      return false;
    }
    int all = 1;
    for (const Fiber& f : fibers) all &= f.predicate != 0;
    for (Fiber& f : fibers) {
      f.result = all;
      f.wait = Wait::None;
    }
    return true;
  }
  if (done == n) return false;
  // Nothing runnable and nothing opens.
  for (const Fiber& f : fibers) {
    if (f.wait == Wait::Block) {
      for (const Fiber& g : fibers) {
        if (g.wait == Wait::Warp) {
          *why = describeThread(f) + " waits at __syncthreads while " + describeThread(g) +
                 " waits in a warp operation that never completes";
          return false;
        }
      }
    }
  }
  *why = "threads wait in warp operations whose lanes never meet (different masks or call sites)";
  return false;
}

// Runs one block; returns the failure, or an empty string.
std::string runBlock(const uint3& blockIdx, Order order, std::mt19937& rng) {
  std::vector<Fiber>& fibers = scheduler.fibers;  // indices set by launch()
  for (Fiber& f : fibers) {
    f.wait = Wait::None;
    f.runner = nullptr;
  }
  currentBlockIdx = blockIdx;
  std::vector<int>& sequence = scheduler.sequence;
  if (order == Order::Shuffle) std::shuffle(sequence.begin(), sequence.end(), rng);
  scheduler.started = 0;
  scheduler.runnersUsed = 0;
  // Uninitialised shared memory reads back as NaN (all bits set), not zero
  // and not what the previous block left (static arrays: freshShared).
  ++scheduler.blockSerial;
  if (scheduler.sharedBytes > 0) std::memset(scheduler.shared, 0xFF, scheduler.sharedBytes);
  scheduler.failure.clear();
  // Every thread runs until it waits or ends.
  while (scheduler.started < sequence.size()) {
    switchTo(newRunner());
    if (!scheduler.failure.empty()) return scheduler.failure;
  }
  while (true) {
    bool finished = true;
    for (const Fiber& f : fibers) finished &= f.wait == Wait::Done;
    if (finished) return "";
    std::string why;
    if (!release(fibers, &why)) return why.empty() ? "the block is stuck" : why;
    if (order == Order::Shuffle) std::shuffle(sequence.begin(), sequence.end(), rng);
    for (int i : sequence) {
      if (fibers[i].wait == Wait::None) resume(fibers[i]);
      if (!scheduler.failure.empty()) return scheduler.failure;
    }
  }
}

}  // namespace

// ---- device built-ins ---------------------------------------------------------------
int laneId() { return self().linear % 32; }

unsigned char* dynamicShared() { return scheduler.shared; }

void freshShared(void* variable, size_t bytes) {
  unsigned long long& seen = scheduler.staticShared[variable];
  if (seen == scheduler.blockSerial) return;
  seen = scheduler.blockSerial;
  std::memset(variable, 0xFF, bytes);
}

int syncthreadsAnd(int predicate) {
  Fiber& f = self();
  f.wait = Wait::Block;
  f.predicate = predicate;
  block(f);
  return f.result;
}

void syncthreads() { syncthreadsAnd(1); }

void syncwarp(unsigned mask) {
  Fiber& f = self();
  f.wait = Wait::Warp;
  f.mask = mask;
  block(f);
}

void warpExchange(unsigned mask, const void* mine, void* out, size_t bytes, int source) {
  Fiber& f = self();
  if (bytes > 16) threadFailure("a warp shuffle of more than 16 bytes");
  const int warp = f.linear / 32, lane = f.linear % 32;
  unsigned char* slots = scheduler.slots.data() + static_cast<size_t>(warp) * 32 * 16;
  std::memcpy(slots + lane * 16, mine, bytes);
  syncwarp(mask);  // every lane of the mask has offered its value
  if (!(mask >> source & 1u) || warp * 32 + source >= static_cast<int>(scheduler.fibers.size())) {
    threadFailure(describeThread(f) + " shuffles from lane " + std::to_string(source) + ", outside the mask");
  }
  std::memcpy(out, slots + source * 16, bytes);
  syncwarp(mask);  // every lane has read before the slots are reused
}

cudaError_t launch(dim3 grid, dim3 block, size_t sharedBytes, cudaStream_t, const void* kernel, Invocation body) {
  if (cudaError_t e = sticky()) return record(e);
  const uint64_t threads = static_cast<uint64_t>(block.x) * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0 || threads > kMaxThreadsPerBlock ||
      block.z > 64 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535) {
    char text[160];
    std::snprintf(text, sizeof text, "launch of grid (%u,%u,%u) x block (%u,%u,%u) exceeds the GPU's limits", grid.x,
                  grid.y, grid.z, block.x, block.y, block.z);
    return fail(cudaErrorInvalidConfiguration, text);
  }
  cudaFuncAttributes attributes;
  funcAttributes(&attributes, kernel);
  const size_t allowed = std::max<size_t>(kSharedPerBlockDefault - kAssumedStaticShared,
                                          static_cast<size_t>(attributes.maxDynamicSharedSizeBytes));
  if (sharedBytes > allowed) {
    return fail(cudaErrorInvalidValue, "launch asks " + std::to_string(sharedBytes) +
                                           " bytes of dynamic shared memory; the kernel allows " +
                                           std::to_string(allowed) + " (cudaFuncSetAttribute raises it)");
  }
  std::lock_guard<std::mutex> lock(launchMutex);
  std::vector<unsigned char> shared(sharedBytes);
  scheduler.shared = shared.data();
  scheduler.sharedBytes = sharedBytes;
  scheduler.body = body;
  scheduler.slots.assign((threads + 31) / 32 * 32 * 16, 0);
  const Order order = orderFromEnvironment();
  const int n = static_cast<int>(threads);
  scheduler.fibers.resize(threads);
  scheduler.sequence.resize(threads);
  for (int i = 0; i < n; ++i) {
    Fiber& f = scheduler.fibers[i];
    f.linear = i;
    f.threadIdx = {static_cast<unsigned>(i) % block.x, static_cast<unsigned>(i) / block.x % block.y,
                   static_cast<unsigned>(i) / (block.x * block.y)};
    scheduler.sequence[i] = order == Order::Reverse ? n - 1 - i : i;
  }
  currentBlockDim = block;
  currentGridDim = grid;
  std::mt19937 rng(12345);
  const uint64_t blocks = static_cast<uint64_t>(grid.x) * grid.y * grid.z;
  for (uint64_t b = 0; b < blocks; ++b) {
    const uint64_t k = order == Order::Reverse ? blocks - 1 - b : b;
    const uint3 index = {static_cast<unsigned>(k % grid.x), static_cast<unsigned>(k / grid.x % grid.y),
                         static_cast<unsigned>(k / (static_cast<uint64_t>(grid.x) * grid.y))};
    const std::string failure = runBlock(index, order, rng);
    if (!failure.empty()) {
      scheduler.fibers.clear();
      return fail(cudaErrorLaunchFailure, "kernel failed: " + failure);
    }
  }
  scheduler.fibers.clear();
  return cudaSuccess;
}

namespace {
std::map<const void*, int> dynamicLimits;  // cudaFuncAttributeMaxDynamicSharedMemorySize per kernel
}

cudaError_t funcAttributes(cudaFuncAttributes* out, const void* kernel) {
  *out = cudaFuncAttributes{};
  out->sharedSizeBytes = kAssumedStaticShared;
  out->maxThreadsPerBlock = kMaxThreadsPerBlock;
  out->numRegs = 32;
  std::lock_guard<std::mutex> lock(stateMutex);
  auto it = dynamicLimits.find(kernel);
  out->maxDynamicSharedSizeBytes =
      it != dynamicLimits.end() ? it->second : static_cast<int>(kSharedPerBlockDefault - kAssumedStaticShared);
  return cudaSuccess;
}

cudaError_t setFuncAttribute(const void* kernel, cudaFuncAttribute attribute, int value) {
  if (attribute != cudaFuncAttributeMaxDynamicSharedMemorySize) return fail(cudaErrorInvalidValue, "unknown attribute");
  if (value < 0 || static_cast<size_t>(value) + kAssumedStaticShared > kSharedPerBlockOptin) {
    return fail(cudaErrorInvalidValue, "cudaFuncSetAttribute: " + std::to_string(value) +
                                           " bytes of dynamic shared memory exceed the opt-in limit");
  }
  std::lock_guard<std::mutex> lock(stateMutex);
  dynamicLimits[kernel] = value;
  return cudaSuccess;
}

cudaError_t occupancy(int* blocks, const void* kernel, int blockSize, size_t dynamicBytes) {
  if (blockSize <= 0 || blockSize > kMaxThreadsPerBlock) return fail(cudaErrorInvalidValue, "occupancy: block size");
  const int warps = (blockSize + 31) / 32;
  const size_t perBlock = dynamicBytes + kAssumedStaticShared + kReservedSharedPerBlock;
  const int byShared = static_cast<int>(kSharedPerMultiprocessor / perBlock);
  const int byThreads = kMaxThreadsPerMultiprocessor / (warps * 32);
  *blocks = std::min({byShared, byThreads, kMaxBlocksPerMultiprocessor});
  return cudaSuccess;
}

}  // namespace emu

// ---- runtime API ------------------------------------------------------------------
using emu::fail;

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return emu::sticky();
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return fail(cudaErrorInvalidValue, "cudaGetDeviceProperties: no device " + std::to_string(device));
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "enkg CUDA emulator (H200 limits, on the CPU)");
  prop->totalGlobalMem = emu::kEmulatedMemory;
  prop->sharedMemPerBlock = emu::kSharedPerBlockDefault;
  prop->sharedMemPerBlockOptin = emu::kSharedPerBlockOptin;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = emu::kMultiprocessors;
  prop->maxThreadsPerBlock = emu::kMaxThreadsPerBlock;
  prop->warpSize = 32;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attribute, int device) {
  if (device != 0) return fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute: no device " + std::to_string(device));
  switch (attribute) {
    case cudaDevAttrMultiProcessorCount: *value = emu::kMultiprocessors; break;
    case cudaDevAttrMemoryClockRate: *value = 3201000; break;  // kHz, with 6144 bits: 4.9 TB/s, an H200
    case cudaDevAttrGlobalMemoryBusWidth: *value = 6144; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = static_cast<int>(emu::kSharedPerBlockOptin); break;
    case cudaDevAttrMemoryPoolsSupported: *value = 1; break;
    default: return fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute: attribute " + std::to_string(attribute));
  }
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() { return emu::sticky(); }
cudaError_t cudaGetLastError() {
  std::lock_guard<std::mutex> lock(emu::stateMutex);
  const cudaError_t e = emu::stickyError != cudaSuccess ? emu::stickyError : emu::lastError;
  emu::lastError = cudaSuccess;
  return e;
}
const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
    case cudaErrorLaunchFailure: {
      // The emulator's own diagnosis, which a GPU could not give.
      static thread_local std::string text;
      std::lock_guard<std::mutex> lock(emu::stateMutex);
      text = "unspecified launch failure (emulator: " + emu::stickyMessage + ")";
      return text.c_str();
    }
  }
  return "unknown error";
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned) {
  static int token;
  *stream = reinterpret_cast<cudaStream_t>(&token);
  return emu::sticky();
}
// Launches and copies complete before they return.
cudaError_t cudaStreamSynchronize(cudaStream_t) { return emu::sticky(); }

cudaError_t cudaMalloc(void** pointer, size_t bytes) {
  if (cudaError_t e = emu::sticky()) return e;
  *pointer = nullptr;
  void* p = nullptr;
  if (posix_memalign(&p, 256, std::max<size_t>(bytes, 1)) != 0) {
    return fail(cudaErrorMemoryAllocation, "cudaMalloc of " + std::to_string(bytes) + " bytes");
  }
  std::memset(p, 0xFF, bytes);  // device memory starts as garbage: NaN, not zero
  std::lock_guard<std::mutex> lock(emu::stateMutex);
  emu::allocations[reinterpret_cast<uintptr_t>(p)] = bytes;
  *pointer = p;
  return cudaSuccess;
}
cudaError_t cudaFree(void* pointer) {
  if (pointer == nullptr) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lock(emu::stateMutex);
    if (emu::allocations.erase(reinterpret_cast<uintptr_t>(pointer)) == 0) {
      emu::lastError = cudaErrorInvalidValue;
      std::fprintf(stderr, "CUDA emulator: cudaFree of %p, which is not a device allocation\n", pointer);
      return cudaErrorInvalidValue;
    }
  }
  std::free(pointer);
  return cudaSuccess;
}
cudaError_t cudaMallocAsync(void** pointer, size_t bytes, cudaStream_t) { return cudaMalloc(pointer, bytes); }
cudaError_t cudaFreeAsync(void* pointer, cudaStream_t) { return cudaFree(pointer); }
cudaError_t cudaMemGetInfo(size_t* freeBytes, size_t* totalBytes) {
  *freeBytes = *totalBytes = emu::kEmulatedMemory;
  return emu::sticky();
}
cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* pool, int) {
  static int token;
  *pool = reinterpret_cast<cudaMemPool_t>(&token);
  return cudaSuccess;
}
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t, cudaMemPoolAttr, void*) { return cudaSuccess; }
cudaError_t cudaMemPoolTrimTo(cudaMemPool_t, size_t) { return cudaSuccess; }

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (cudaError_t e = emu::sticky()) return e;
  if (cudaError_t e = emu::checkCopy(dst, src, bytes, kind, "cudaMemcpy")) return e;
  if (bytes > 0) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, kind);
}
cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t) {
  if (cudaError_t e = emu::sticky()) return e;
  if (width > dpitch || width > spitch) return fail(cudaErrorInvalidValue, "cudaMemcpy2DAsync: width exceeds a pitch");
  if (height == 0 || width == 0) return cudaSuccess;
  const size_t dstSpan = dpitch * (height - 1) + width, srcSpan = spitch * (height - 1) + width;
  const bool dstDevice = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool srcDevice = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (dstDevice) {
    if (cudaError_t e = emu::checkDevice(dst, dstSpan, "cudaMemcpy2DAsync (destination)")) return e;
  }
  if (srcDevice) {
    if (cudaError_t e = emu::checkDevice(src, srcSpan, "cudaMemcpy2DAsync (source)")) return e;
  }
  for (size_t r = 0; r < height; ++r) {
    std::memmove(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
  }
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* pointer, int value, size_t bytes, cudaStream_t) {
  if (cudaError_t e = emu::sticky()) return e;
  if (cudaError_t e = emu::checkDevice(pointer, bytes, "cudaMemsetAsync")) return e;
  std::memset(pointer, value, bytes);
  return cudaSuccess;
}
