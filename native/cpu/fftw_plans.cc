#include "fftw_plans.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <system_error>
#include <utility>

#include "../core/errors.h"

namespace enkg {
namespace {

std::mutex& plannerMutex() {
  static std::mutex m;
  return m;
}

// Reproducible plans. FFTW_MEASURE picks the fastest algorithm by timing
// candidates, so two processes can pick different ones and round
// differently: the same seed would then give different particles from one
// run to the next. The measured choice is therefore stored as FFTW wisdom
// in a file, and every later process plans from that file and gets the same
// algorithm. Where no file can be kept (ENKG_FFTW_WISDOM=off, or a folder
// that cannot be written), plans use FFTW_ESTIMATE, whose choice does not
// depend on timing, but it is 1.6x (64^2) to 2.7x (128^2) slower
// (bench/RESULTS.md).

std::string wisdomFolder() {
  const char* env = std::getenv("ENKG_FFTW_WISDOM");
  if (env != nullptr) return std::string(env) == "off" ? std::string() : std::string(env);
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && *xdg != '\0') return std::string(xdg) + "/enkg";
  const char* home = std::getenv("HOME");
  if (home != nullptr && *home != '\0') return std::string(home) + "/.cache/enkg";
  return std::string();
}

// The wisdom file of one precision, or empty when none can be kept (then
// plans are estimated). Worked out once, on first use.
template <typename T>
std::string wisdomPathNow() {
  const std::string folder = wisdomFolder();
  if (folder.empty()) return folder;
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (!std::filesystem::is_directory(folder, ec) || access(folder.c_str(), W_OK) != 0) return std::string();
  return folder + "/fftw-wisdom-" + Fftw<T>::tag + ".txt";
}

template <typename T>
const std::string& wisdomPath() {
  static const std::string path = wisdomPathNow<T>();
  return path;
}

// Writes the wisdom next to the file and renames it over, so a reader never
// sees half a file.
template <typename T>
void saveWisdom(const std::string& path) {
  const std::string tmp = path + "." + std::to_string(getpid()) + ".tmp";
  if (Fftw<T>::exportWisdom(tmp.c_str()) != 0) std::rename(tmp.c_str(), path.c_str());
  std::remove(tmp.c_str());
}

// Plans are made on scratch arrays the first time a size is used, then kept
// for the life of the process. make(rows, cols, flags) returns the pair of
// plans of one kind (real or complex transforms), made on scratch arrays
// it allocates and frees.
template <typename T, typename Plan, typename Make>
std::pair<Plan, Plan> plansFor(std::map<std::pair<int, int>, std::pair<Plan, Plan>>& cache, int rows, int cols, Make make) {
  std::lock_guard<std::mutex> lock(plannerMutex());
  const std::pair<int, int> key{rows, cols};
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  const std::string& wisdom = wisdomPath<T>();
  // What other processes stored since (a file from another FFTW version is
  // refused by FFTW and overwritten below).
  if (!wisdom.empty()) Fftw<T>::importWisdom(wisdom.c_str());
  const unsigned flags = wisdom.empty() ? FFTW_ESTIMATE : FFTW_MEASURE;
  const std::pair<Plan, Plan> plans = make(rows, cols, flags);
  if (plans.first == nullptr || plans.second == nullptr) {
    throw runtimeError("FFTW could not plan a " + std::to_string(rows) + " x " + std::to_string(cols) + " transform");
  }
  if (!wisdom.empty()) saveWisdom<T>(wisdom);
  cache[key] = plans;
  return plans;
}

// The real pair: r2c forward and c2r inverse, out of place.
template <typename T, typename Plan, typename MakeForward, typename MakeInverse>
std::pair<Plan, Plan> realPlanPair(int rows, int cols, MakeForward makeForward, MakeInverse makeInverse) {
  static std::map<std::pair<int, int>, std::pair<Plan, Plan>> cache;
  return plansFor<T, Plan>(cache, rows, cols, [&](int n0, int n1, unsigned flags) {
    const size_t real = static_cast<size_t>(n0) * n1, half = static_cast<size_t>(n0) * (n1 / 2 + 1);
    T* in = static_cast<T*>(Fftw<T>::allocate(real * sizeof(T)));
    auto* spec = static_cast<typename Fftw<T>::Complex*>(Fftw<T>::allocate(half * sizeof(typename Fftw<T>::Complex)));
    const std::pair<Plan, Plan> plans{makeForward(n0, n1, in, spec, flags), makeInverse(n0, n1, spec, in, flags)};
    Fftw<T>::release(in);
    Fftw<T>::release(spec);
    return plans;
  });
}

// The complex pair: forward and backward c2c, in place.
template <typename T, typename Plan, typename MakeComplex>
std::pair<Plan, Plan> complexPlanPair(int rows, int cols, MakeComplex makeComplex) {
  static std::map<std::pair<int, int>, std::pair<Plan, Plan>> cache;
  return plansFor<T, Plan>(cache, rows, cols, [&](int n0, int n1, unsigned flags) {
    const size_t n = static_cast<size_t>(n0) * n1;
    auto* data = static_cast<typename Fftw<T>::Complex*>(Fftw<T>::allocate(n * sizeof(typename Fftw<T>::Complex)));
    const std::pair<Plan, Plan> plans{makeComplex(n0, n1, data, FFTW_FORWARD, flags),
                                      makeComplex(n0, n1, data, FFTW_BACKWARD, flags)};
    Fftw<T>::release(data);
    return plans;
  });
}

std::pair<fftwf_plan, fftwf_plan> floatPlans(int rows, int cols) {
  return realPlanPair<float, fftwf_plan>(
      rows, cols,
      [](int n0, int n1, float* in, fftwf_complex* out, unsigned f) { return fftwf_plan_dft_r2c_2d(n0, n1, in, out, f); },
      [](int n0, int n1, fftwf_complex* in, float* out, unsigned f) { return fftwf_plan_dft_c2r_2d(n0, n1, in, out, f); });
}

std::pair<fftw_plan, fftw_plan> doublePlans(int rows, int cols) {
  return realPlanPair<double, fftw_plan>(
      rows, cols,
      [](int n0, int n1, double* in, fftw_complex* out, unsigned f) { return fftw_plan_dft_r2c_2d(n0, n1, in, out, f); },
      [](int n0, int n1, fftw_complex* in, double* out, unsigned f) { return fftw_plan_dft_c2r_2d(n0, n1, in, out, f); });
}

}  // namespace

Fftw<float>::Plans Fftw<float>::plans(int rows, int cols) {
  const auto p = floatPlans(rows, cols);
  return {p.first, p.second};
}

Fftw<double>::Plans Fftw<double>::plans(int rows, int cols) {
  const auto p = doublePlans(rows, cols);
  return {p.first, p.second};
}

Fftw<float>::Plans Fftw<float>::complexPlans(int R) {
  const auto p = complexPlanPair<float, fftwf_plan>(R, R, [](int n0, int n1, fftwf_complex* d, int sign, unsigned f) {
    return fftwf_plan_dft_2d(n0, n1, d, d, sign, f);
  });
  return {p.first, p.second};
}

Fftw<double>::Plans Fftw<double>::complexPlans(int R) {
  const auto p = complexPlanPair<double, fftw_plan>(R, R, [](int n0, int n1, fftw_complex* d, int sign, unsigned f) {
    return fftw_plan_dft_2d(n0, n1, d, d, sign, f);
  });
  return {p.first, p.second};
}

}  // namespace enkg
