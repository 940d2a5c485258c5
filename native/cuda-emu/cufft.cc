// The CUDA emulator's cuFFT: the entry points enkg's shim loads
// (cuda/cufft_shim.cc), on FFTW. Built as libcufft.so.12 next to the
// emulated addon and found through ENKG_CUDA_LIB_DIR. Only what enkg plans
// is accepted (rank 2, default layouts, R2C/C2R/D2Z/Z2D); anything else is
// CUFFT_INVALID_VALUE, so a new use is noticed here rather than mistranslated.
#include <fftw3.h>

#include <map>
#include <mutex>

namespace {

constexpr int kSuccess = 0, kInvalidPlan = 1, kAllocFailed = 2, kInvalidType = 3, kInvalidValue = 4,
              kInvalidSize = 8;
constexpr int kR2C = 0x2a, kC2R = 0x2c, kD2Z = 0x6a, kZ2D = 0x6c;

struct Plan {
  int type;
  void* plan;  // fftwf_plan or fftw_plan
};

std::mutex mutex;  // FFTW's planner is not thread-safe; neither is the table
std::map<int, Plan> plans;
int nextHandle = 1;

// FFTW's single- and double-precision entry points, so one planner serves both.
struct SingleFftw {
  using Real = float;
  using Complex = fftwf_complex;
  static constexpr auto allocReal = fftwf_alloc_real;
  static constexpr auto allocComplex = fftwf_alloc_complex;
  static constexpr auto release = fftwf_free;
  static constexpr auto planR2C = fftwf_plan_many_dft_r2c;
  static constexpr auto planC2R = fftwf_plan_many_dft_c2r;
};
struct DoubleFftw {
  using Real = double;
  using Complex = fftw_complex;
  static constexpr auto allocReal = fftw_alloc_real;
  static constexpr auto allocComplex = fftw_alloc_complex;
  static constexpr auto release = fftw_free;
  static constexpr auto planR2C = fftw_plan_many_dft_r2c;
  static constexpr auto planC2R = fftw_plan_many_dft_c2r;
};

// A batched 2-D real transform over contiguous fields of n[0] x n[1] reals
// and n[0] x (n[1]/2 + 1) complexes, planned on scratch buffers (executed
// later on the caller's with the new-array interface, hence UNALIGNED).
// Null when FFTW cannot allocate or plan.
template <class Fftw>
void* makePlan(int* n, int batch, bool forward) {
  const int reals = n[0] * n[1], complexes = n[0] * (n[1] / 2 + 1);
  const unsigned flags = FFTW_ESTIMATE | FFTW_UNALIGNED;
  auto* real = Fftw::allocReal(static_cast<size_t>(reals));
  auto* spectrum = Fftw::allocComplex(static_cast<size_t>(complexes));
  void* made = nullptr;
  if (real != nullptr && spectrum != nullptr) {
    made = forward ? Fftw::planR2C(2, n, batch, real, nullptr, 1, reals, spectrum, nullptr, 1, complexes, flags)
                   : Fftw::planC2R(2, n, batch, spectrum, nullptr, 1, complexes, real, nullptr, 1, reals, flags);
  }
  Fftw::release(real);
  Fftw::release(spectrum);
  return made;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int cufftPlanMany(int* handle, int rank, int* n, int* inembed, int istride,
                                                          int idist, int* onembed, int ostride, int odist, int type,
                                                          int batch) {
  if (handle == nullptr || n == nullptr) return kInvalidValue;
  if (rank != 2 || inembed != nullptr || onembed != nullptr) return kInvalidValue;
  if (n[0] <= 0 || n[1] <= 0 || batch <= 0) return kInvalidSize;
  (void)istride, (void)idist, (void)ostride, (void)odist;  // ignored with null embeds, as in cuFFT
  std::lock_guard<std::mutex> lock(mutex);
  void* made = nullptr;
  if (type == kR2C || type == kC2R) {
    made = makePlan<SingleFftw>(n, batch, type == kR2C);
  } else if (type == kD2Z || type == kZ2D) {
    made = makePlan<DoubleFftw>(n, batch, type == kD2Z);
  } else {
    return kInvalidType;
  }
  if (made == nullptr) return kAllocFailed;
  *handle = nextHandle++;
  plans[*handle] = {type, made};
  return kSuccess;
}

__attribute__((visibility("default"))) int cufftSetStream(int handle, void*) {
  std::lock_guard<std::mutex> lock(mutex);
  return plans.count(handle) ? kSuccess : kInvalidPlan;
}

__attribute__((visibility("default"))) int cufftDestroy(int handle) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = plans.find(handle);
  if (it == plans.end()) return kInvalidPlan;
  if (it->second.type == kR2C || it->second.type == kC2R) {
    fftwf_destroy_plan(static_cast<fftwf_plan>(it->second.plan));
  } else {
    fftw_destroy_plan(static_cast<fftw_plan>(it->second.plan));
  }
  plans.erase(it);
  return kSuccess;
}

}  // extern "C"

namespace {
// Runs `execute` on the plan of `handle` if it has `type`.
template <class Execute>
int withPlan(int handle, int type, Execute execute) {
  void* plan = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = plans.find(handle);
    if (it != plans.end() && it->second.type == type) plan = it->second.plan;
  }
  if (plan == nullptr) return kInvalidPlan;
  execute(plan);
  return kSuccess;
}
}  // namespace

extern "C" {

__attribute__((visibility("default"))) int cufftExecR2C(int handle, float* in, void* out) {
  return withPlan(handle, kR2C, [&](void* p) {
    fftwf_execute_dft_r2c(static_cast<fftwf_plan>(p), in, static_cast<fftwf_complex*>(out));
  });
}
__attribute__((visibility("default"))) int cufftExecC2R(int handle, void* in, float* out) {
  return withPlan(handle, kC2R, [&](void* p) {
    fftwf_execute_dft_c2r(static_cast<fftwf_plan>(p), static_cast<fftwf_complex*>(in), out);
  });
}
__attribute__((visibility("default"))) int cufftExecD2Z(int handle, double* in, void* out) {
  return withPlan(handle, kD2Z, [&](void* p) {
    fftw_execute_dft_r2c(static_cast<fftw_plan>(p), in, static_cast<fftw_complex*>(out));
  });
}
__attribute__((visibility("default"))) int cufftExecZ2D(int handle, void* in, double* out) {
  return withPlan(handle, kZ2D, [&](void* p) {
    fftw_execute_dft_c2r(static_cast<fftw_plan>(p), static_cast<fftw_complex*>(in), out);
  });
}

}  // extern "C"
