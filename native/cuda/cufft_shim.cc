#include "cufft_shim.h"

#include "dl.h"

namespace enkg {
namespace cufft {
namespace {

void loadCufft(Api& api, std::string& failure) {
  // cuFFT's soname runs one behind the CUDA major: CUDA 13 ships
  // libcufft.so.12, CUDA 12 libcufft.so.11.
  static const std::vector<std::string> kSuffixes = {".so.12", ".so.11", ".so"};
  std::string tried;
  void* handle = cudalib::open("cufft", kSuffixes, &tried, &api.library);
  if (handle == nullptr) {
    failure = "cuFFT could not be loaded; tried " + tried +
              ". Install the CUDA toolkit's cuFFT or set ENKG_CUDA_LIB_DIR to the directory holding libcufft.so.*";
    return;
  }
  std::string missing;
  auto get = [&](const char* name) { return cudalib::symbol(handle, name, &missing); };
  api.planMany = reinterpret_cast<decltype(api.planMany)>(get("cufftPlanMany"));
  api.setStream = reinterpret_cast<decltype(api.setStream)>(get("cufftSetStream"));
  api.destroy = reinterpret_cast<decltype(api.destroy)>(get("cufftDestroy"));
  api.execR2C = reinterpret_cast<decltype(api.execR2C)>(get("cufftExecR2C"));
  api.execC2R = reinterpret_cast<decltype(api.execC2R)>(get("cufftExecC2R"));
  api.execD2Z = reinterpret_cast<decltype(api.execD2Z)>(get("cufftExecD2Z"));
  api.execZ2D = reinterpret_cast<decltype(api.execZ2D)>(get("cufftExecZ2D"));
  if (!missing.empty()) failure = api.library + " lacks " + missing;
}

}  // namespace

const Api* load(std::string* reason) {
  static cudalib::Lazy<Api> library(loadCufft);
  return library.get(reason);
}

}  // namespace cufft
}  // namespace enkg
