// dlopen of NVIDIA's math libraries by soname: $ENKG_CUDA_LIB_DIR first,
// then the default search path, newest CUDA major first.
#pragma once

#include <string>

namespace enkg {
namespace cudalib {

// Opens lib<stem>.so.13 / .so.12 / .so and returns the handle, or null with
// every name tried (and why) appended to `tried`. `path` receives what opened.
// `global` makes its symbols available to libraries opened later.
void* open(const char* stem, std::string* tried, std::string* path, bool global = false);

// dlsym that records a missing symbol in `missing`.
void* symbol(void* handle, const char* name, std::string* missing);

}  // namespace cudalib
}  // namespace enkg
