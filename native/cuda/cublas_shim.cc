#include "cublas_shim.h"

#include <mutex>

#include "dl.h"

namespace enkg {
namespace cublas {
namespace {

Api loaded;
std::string failure;
bool ok = false;

void loadOnce() {
  // cuBLAS needs cuBLASLt next to it; preload it (globally) so a library
  // found through ENKG_CUDA_LIB_DIR resolves its dependency.
  std::string ignored, ltPath;
  cudalib::open("cublasLt", &ignored, &ltPath, /*global=*/true);
  std::string tried;
  void* handle = cudalib::open("cublas", &tried, &loaded.library);
  if (handle == nullptr) {
    failure = "cuBLAS could not be loaded; tried " + tried +
              ". Install the CUDA toolkit's cuBLAS or set ENKG_CUDA_LIB_DIR to the directory holding libcublas.so.*";
    return;
  }
  std::string missing;
  loaded.create = reinterpret_cast<decltype(loaded.create)>(cudalib::symbol(handle, "cublasCreate_v2", &missing));
  loaded.destroy = reinterpret_cast<decltype(loaded.destroy)>(cudalib::symbol(handle, "cublasDestroy_v2", &missing));
  loaded.setStream = reinterpret_cast<decltype(loaded.setStream)>(cudalib::symbol(handle, "cublasSetStream_v2", &missing));
  loaded.sgemm = reinterpret_cast<decltype(loaded.sgemm)>(cudalib::symbol(handle, "cublasSgemm_v2", &missing));
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
