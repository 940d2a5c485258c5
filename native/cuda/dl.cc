#include "dl.h"

#include <dlfcn.h>

#include <cstdlib>
#include <vector>

namespace enkg {
namespace cudalib {

void* open(const char* stem, std::string* tried, std::string* path, bool global) {
  static const char* const kVersions[] = {".so.13", ".so.12", ".so"};
  std::vector<std::string> names;
  const char* dir = std::getenv("ENKG_CUDA_LIB_DIR");
  if (dir != nullptr && *dir != '\0') {
    for (const char* v : kVersions) names.push_back(std::string(dir) + "/lib" + stem + v);
  }
  for (const char* v : kVersions) names.push_back(std::string("lib") + stem + v);
  for (const std::string& name : names) {
    void* handle = dlopen(name.c_str(), RTLD_NOW | (global ? RTLD_GLOBAL : RTLD_LOCAL));
    if (handle != nullptr) {
      *path = name;
      return handle;
    }
    const char* err = dlerror();
    *tried += (tried->empty() ? "" : "; ") + name + (err != nullptr ? std::string(" (") + err + ")" : "");
  }
  return nullptr;
}

void* symbol(void* handle, const char* name, std::string* missing) {
  void* p = dlsym(handle, name);
  if (p == nullptr) *missing += (missing->empty() ? "" : ", ") + std::string(name);
  return p;
}

}  // namespace cudalib
}  // namespace enkg
