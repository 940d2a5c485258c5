#include "cublas_shim.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <vector>

namespace enkg {
namespace cublas {
namespace {

std::vector<std::string> candidates(const char* stem, const char* const* versions) {
  std::vector<std::string> names;
  const char* dir = std::getenv("ENKG_CUDA_LIB_DIR");
  if (dir != nullptr && *dir != '\0') {
    for (const char* const* v = versions; *v != nullptr; ++v) names.push_back(std::string(dir) + "/" + stem + *v);
  }
  for (const char* const* v = versions; *v != nullptr; ++v) names.push_back(std::string(stem) + *v);
  return names;
}

const char* const kVersions[] = {".so.13", ".so.12", ".so", nullptr};

Api loaded;
std::string failure;
bool ok = false;

void loadOnce() {
  // cuBLAS needs cuBLASLt next to it; preload it from the same directory so
  // a library found through ENKG_CUDA_LIB_DIR resolves its dependency.
  for (const std::string& name : candidates("libcublasLt", kVersions)) {
    if (name.find('/') != std::string::npos && dlopen(name.c_str(), RTLD_NOW | RTLD_GLOBAL) != nullptr) break;
  }
  std::string tried;
  for (const std::string& name : candidates("libcublas", kVersions)) {
    void* handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* err = dlerror();
      tried += (tried.empty() ? "" : "; ") + name + (err != nullptr ? std::string(" (") + err + ")" : "");
      continue;
    }
    loaded.create = reinterpret_cast<decltype(loaded.create)>(dlsym(handle, "cublasCreate_v2"));
    loaded.destroy = reinterpret_cast<decltype(loaded.destroy)>(dlsym(handle, "cublasDestroy_v2"));
    loaded.setStream = reinterpret_cast<decltype(loaded.setStream)>(dlsym(handle, "cublasSetStream_v2"));
    loaded.sgemm = reinterpret_cast<decltype(loaded.sgemm)>(dlsym(handle, "cublasSgemm_v2"));
    if (loaded.create == nullptr || loaded.destroy == nullptr || loaded.setStream == nullptr ||
        loaded.sgemm == nullptr) {
      tried += (tried.empty() ? "" : "; ") + name + " (missing cublasCreate_v2/cublasSgemm_v2 symbols)";
      dlclose(handle);
      continue;
    }
    loaded.library = name;
    ok = true;
    return;
  }
  failure = "cuBLAS could not be loaded; tried " + tried +
            ". Install the CUDA toolkit's cuBLAS or set ENKG_CUDA_LIB_DIR to the directory holding libcublas.so.*";
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
