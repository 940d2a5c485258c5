#include "cufft_shim.h"

#include <mutex>

#include "dl.h"

namespace enkg {
namespace cufft {
namespace {

Api loaded;
std::string failure;
bool ok = false;

void loadOnce() {
  std::string tried;
  void* handle = cudalib::open("cufft", &tried, &loaded.library);
  if (handle == nullptr) {
    failure = "cuFFT could not be loaded; tried " + tried +
              ". Install the CUDA toolkit's cuFFT or set ENKG_CUDA_LIB_DIR to the directory holding libcufft.so.*";
    return;
  }
  std::string missing;
  auto get = [&](const char* name) { return cudalib::symbol(handle, name, &missing); };
  loaded.planMany = reinterpret_cast<decltype(loaded.planMany)>(get("cufftPlanMany"));
  loaded.setStream = reinterpret_cast<decltype(loaded.setStream)>(get("cufftSetStream"));
  loaded.destroy = reinterpret_cast<decltype(loaded.destroy)>(get("cufftDestroy"));
  loaded.execR2C = reinterpret_cast<decltype(loaded.execR2C)>(get("cufftExecR2C"));
  loaded.execC2R = reinterpret_cast<decltype(loaded.execC2R)>(get("cufftExecC2R"));
  loaded.execD2Z = reinterpret_cast<decltype(loaded.execD2Z)>(get("cufftExecD2Z"));
  loaded.execZ2D = reinterpret_cast<decltype(loaded.execZ2D)>(get("cufftExecZ2D"));
  if (!missing.empty()) {
    failure = loaded.library + " lacks " + missing;
    return;
  }
  ok = true;
}

}  // namespace

const Api* load(std::string* reason) {
  static std::once_flag once;
  std::call_once(once, loadOnce);
  if (!ok && reason != nullptr) *reason = failure;
  return ok ? &loaded : nullptr;
}

}  // namespace cufft
}  // namespace enkg
