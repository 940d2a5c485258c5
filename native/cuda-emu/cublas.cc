// The CUDA emulator's cuBLAS: the four entry points enkg's shim loads
// (cuda/cublas_shim.cc), on OpenBLAS. Built as libcublas.so.13 next to the
// emulated addon and found through ENKG_CUDA_LIB_DIR. Arguments are checked
// as cuBLAS checks them (status 7, CUBLAS_STATUS_INVALID_VALUE).
#include <cblas.h>

#include <algorithm>

namespace {

constexpr int kSuccess = 0, kNotInitialized = 1, kInvalidValue = 7;
struct Handle {
  int magic = 0x6e6b67;
};

bool valid(void* handle) { return handle != nullptr && static_cast<Handle*>(handle)->magic == 0x6e6b67; }

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int cublasCreate_v2(void** handle) {
  if (handle == nullptr) return kInvalidValue;
  *handle = new Handle();
  return kSuccess;
}

__attribute__((visibility("default"))) int cublasDestroy_v2(void* handle) {
  if (!valid(handle)) return kNotInitialized;
  delete static_cast<Handle*>(handle);
  return kSuccess;
}

__attribute__((visibility("default"))) int cublasSetStream_v2(void* handle, void*) {
  return valid(handle) ? kSuccess : kNotInitialized;
}

// Column-major C = alpha op(A) op(B) + beta C, op(A) m x k, op(B) k x n.
__attribute__((visibility("default"))) int cublasSgemm_v2(void* handle, int transa, int transb, int m, int n, int k,
                                                           const float* alpha, const float* A, int lda,
                                                           const float* B, int ldb, const float* beta, float* C,
                                                           int ldc) {
  if (!valid(handle)) return kNotInitialized;
  if (transa < 0 || transa > 2 || transb < 0 || transb > 2 || m < 0 || n < 0 || k < 0) return kInvalidValue;
  const int rowsA = transa ? k : m, rowsB = transb ? n : k;
  if (lda < std::max(1, rowsA) || ldb < std::max(1, rowsB) || ldc < std::max(1, m)) return kInvalidValue;
  if (m == 0 || n == 0) return kSuccess;
  cblas_sgemm(CblasColMajor, transa ? CblasTrans : CblasNoTrans, transb ? CblasTrans : CblasNoTrans, m, n, k, *alpha,
              A, lda, B, ldb, *beta, C, ldc);
  return kSuccess;
}

}  // extern "C"
