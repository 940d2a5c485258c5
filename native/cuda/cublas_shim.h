// cuBLAS reached at run time through dlopen (cuFFT joins it the same way), so that building enkg
// needs neither their headers nor their libraries, and the addon loads on a
// machine without them. Only the entry points enkg calls are declared here,
// with the C ABI of cuBLAS v2 (stable across CUDA 11, 12 and 13).
#pragma once

#include <string>

namespace enkg {
namespace cublas {

using Handle = void*;
using Status = int;  // cublasStatus_t; 0 is CUBLAS_STATUS_SUCCESS
enum Operation : int { kNoTrans = 0, kTrans = 1 };

struct Api {
  Status (*create)(Handle*);
  Status (*destroy)(Handle);
  Status (*setStream)(Handle, void* stream);
  Status (*sgemm)(Handle, int transa, int transb, int m, int n, int k, const float* alpha, const float* A, int lda,
                  const float* B, int ldb, const float* beta, float* C, int ldc);
  std::string library;  // path or soname that was loaded
};

// Loads cuBLAS once. Tries $ENKG_CUDA_LIB_DIR first, then the sonames of
// CUDA 13 and 12 on the default search path. Returns null and fills `reason`
// (every name tried and the last dlerror) when nothing loads.
const Api* load(std::string* reason);

const char* statusName(Status status);

}  // namespace cublas
}  // namespace enkg
