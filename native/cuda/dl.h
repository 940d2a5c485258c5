// dlopen of NVIDIA's math libraries by soname: the directories of
// $ENKG_CUDA_LIB_DIR (colon-separated) first, then the default search path,
// newest CUDA major first.
#pragma once

#include <mutex>
#include <string>
#include <vector>

namespace enkg {
namespace cudalib {

// An API table filled once by `load` (which sets `failure` when it fails);
// every later call returns the table, or null with the failure in *reason.
template <typename Api>
class Lazy {
 public:
  explicit Lazy(void (*load)(Api& api, std::string& failure)) : load_(load) {}
  const Api* get(std::string* reason) {
    std::call_once(once_, [this] { load_(api_, failure_); });
    if (!failure_.empty() && reason != nullptr) *reason = failure_;
    return failure_.empty() ? &api_ : nullptr;
  }

 private:
  void (*load_)(Api&, std::string&);
  std::once_flag once_;
  Api api_{};
  std::string failure_;
};

// Opens lib<stem><suffix> from each directory of $ENKG_CUDA_LIB_DIR, then
// by soname; returns the handle, or null with every name tried (and why)
// appended to `tried`. `path` receives what opened. `global` makes its
// symbols available to libraries opened later.
void* openVersion(const char* stem, const std::string& suffix, std::string* tried, std::string* path,
                  bool global = false);

// openVersion over `suffixes` (newest first; each library's shim knows its
// own, since they do not all follow the CUDA major).
void* open(const char* stem, const std::vector<std::string>& suffixes, std::string* tried, std::string* path,
           bool global = false);

// dlsym that records a missing symbol in `missing`.
void* symbol(void* handle, const char* name, std::string* missing);

}  // namespace cudalib
}  // namespace enkg
