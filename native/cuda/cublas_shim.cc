#include "cublas_shim.h"

#include "dl.h"

namespace enkg {
namespace cublas {
namespace {

void loadCublas(Api& api, std::string& failure) {
  // cuBLAS needs the cuBLASLt of its own version; preload that one
  // (globally) so a library found through ENKG_CUDA_LIB_DIR resolves its
  // dependency, and never pair a cuBLAS with another release's cuBLASLt.
  std::string tried;
  void* handle = nullptr;
  // cuBLAS and cuBLASLt follow the CUDA major: 13, then 12.
  static const std::vector<std::string> kSuffixes = {".so.13", ".so.12", ".so"};
  for (const std::string& suffix : kSuffixes) {
    std::string ignored, ltPath;
    cudalib::openVersion("cublasLt", suffix, &ignored, &ltPath, /*global=*/true);
    handle = cudalib::openVersion("cublas", suffix, &tried, &api.library);
    if (handle != nullptr) break;
  }
  if (handle == nullptr) {
    failure = "cuBLAS could not be loaded; tried " + tried +
              ". Install the CUDA toolkit's cuBLAS or set ENKG_CUDA_LIB_DIR to the directory holding libcublas.so.*";
    return;
  }
  std::string missing;
  api.create = reinterpret_cast<decltype(api.create)>(cudalib::symbol(handle, "cublasCreate_v2", &missing));
  api.destroy = reinterpret_cast<decltype(api.destroy)>(cudalib::symbol(handle, "cublasDestroy_v2", &missing));
  api.setStream = reinterpret_cast<decltype(api.setStream)>(cudalib::symbol(handle, "cublasSetStream_v2", &missing));
  api.sgemm = reinterpret_cast<decltype(api.sgemm)>(cudalib::symbol(handle, "cublasSgemm_v2", &missing));
  if (!missing.empty()) failure = api.library + " lacks " + missing;
}

}  // namespace

const Api* load(std::string* reason) {
  static cudalib::Lazy<Api> library(loadCublas);
  return library.get(reason);
}

const char* statusName(Status status) {
  switch (status) {
    case 0: return "CUBLAS_STATUS_SUCCESS";
    case 1: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case 3: return "CUBLAS_STATUS_ALLOC_FAILED";
    case 7: return "CUBLAS_STATUS_INVALID_VALUE";
    case 8: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case 11: return "CUBLAS_STATUS_MAPPING_ERROR";
    case 13: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case 14: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case 15: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case 16: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "CUBLAS_STATUS_UNKNOWN";
  }
}

}  // namespace cublas
}  // namespace enkg
