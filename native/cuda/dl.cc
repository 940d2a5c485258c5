#include "dl.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace enkg {
namespace cudalib {

namespace {

// The directories of $ENKG_CUDA_LIB_DIR (colon-separated, like PATH).
std::vector<std::string> libraryDirs() {
  std::vector<std::string> dirs;
  const char* value = std::getenv("ENKG_CUDA_LIB_DIR");
  if (value == nullptr) return dirs;
  std::string all(value);
  size_t start = 0;
  while (start <= all.size()) {
    const size_t end = std::min(all.find(':', start), all.size());
    if (end > start) dirs.push_back(all.substr(start, end - start));
    start = end + 1;
  }
  return dirs;
}

}  // namespace

void* openVersion(const char* stem, const std::string& suffix, std::string* tried, std::string* path, bool global) {
  std::vector<std::string> names;
  for (const std::string& dir : libraryDirs()) names.push_back(dir + "/lib" + stem + suffix);
  names.push_back(std::string("lib") + stem + suffix);
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

void* open(const char* stem, const std::vector<std::string>& suffixes, std::string* tried, std::string* path,
           bool global) {
  for (const std::string& suffix : suffixes) {
    if (void* handle = openVersion(stem, suffix, tried, path, global)) return handle;
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
