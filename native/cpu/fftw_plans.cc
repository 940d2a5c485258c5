#include "fftw_plans.h"

#include <map>
#include <mutex>
#include <utility>

#include "../core/errors.h"

namespace enkg {
namespace {

std::mutex& plannerMutex() {
  static std::mutex m;
  return m;
}

// Plans are measured (FFTW_MEASURE) on scratch arrays the first time a size
// is used, then kept for the life of the process.
template <typename T, typename Plan, typename MakeForward, typename MakeInverse>
std::pair<Plan, Plan> plansFor(int R, MakeForward makeForward, MakeInverse makeInverse) {
  static std::map<int, std::pair<Plan, Plan>> cache;
  std::lock_guard<std::mutex> lock(plannerMutex());
  auto it = cache.find(R);
  if (it != cache.end()) return it->second;
  const size_t real = static_cast<size_t>(R) * R, half = static_cast<size_t>(R) * (R / 2 + 1);
  T* in = static_cast<T*>(Fftw<T>::allocate(real * sizeof(T)));
  auto* spec = static_cast<typename Fftw<T>::Complex*>(Fftw<T>::allocate(half * sizeof(typename Fftw<T>::Complex)));
  Plan forward = makeForward(R, in, spec);
  Plan inverse = makeInverse(R, spec, in);
  Fftw<T>::release(in);
  Fftw<T>::release(spec);
  if (forward == nullptr || inverse == nullptr) throw runtimeError("FFTW could not plan a " + std::to_string(R) + "^2 transform");
  cache[R] = {forward, inverse};
  return cache[R];
}

std::pair<fftwf_plan, fftwf_plan> floatPlans(int R) {
  return plansFor<float, fftwf_plan>(
      R, [](int n, float* in, fftwf_complex* out) { return fftwf_plan_dft_r2c_2d(n, n, in, out, FFTW_MEASURE); },
      [](int n, fftwf_complex* in, float* out) { return fftwf_plan_dft_c2r_2d(n, n, in, out, FFTW_MEASURE); });
}

std::pair<fftw_plan, fftw_plan> doublePlans(int R) {
  return plansFor<double, fftw_plan>(
      R, [](int n, double* in, fftw_complex* out) { return fftw_plan_dft_r2c_2d(n, n, in, out, FFTW_MEASURE); },
      [](int n, fftw_complex* in, double* out) { return fftw_plan_dft_c2r_2d(n, n, in, out, FFTW_MEASURE); });
}

}  // namespace

Fftw<float>::Plans Fftw<float>::plans(int R) {
  const auto p = floatPlans(R);
  return {p.first, p.second};
}

Fftw<double>::Plans Fftw<double>::plans(int R) {
  const auto p = doublePlans(R);
  return {p.first, p.second};
}

}  // namespace enkg
