// cuFFT reached at run time through dlopen (see dl.h): only the entry points
// the Navier-Stokes solver uses, with cuFFT's stable C ABI.
#pragma once

#include <string>

namespace enkg {
namespace cufft {

using Handle = int;  // cufftHandle
using Result = int;  // cufftResult; 0 is CUFFT_SUCCESS
enum Type : int { kR2C = 0x2a, kC2R = 0x2c, kD2Z = 0x6a, kZ2D = 0x6c };

struct Api {
  Result (*planMany)(Handle* plan, int rank, int* n, int* inembed, int istride, int idist, int* onembed, int ostride,
                     int odist, int type, int batch);
  Result (*setStream)(Handle plan, void* stream);
  Result (*destroy)(Handle plan);
  Result (*execR2C)(Handle plan, float* in, void* out);
  Result (*execC2R)(Handle plan, void* in, float* out);
  Result (*execD2Z)(Handle plan, double* in, void* out);
  Result (*execZ2D)(Handle plan, void* in, double* out);
  std::string library;
};

// Loads cuFFT once; null with the reason (every name tried) when it fails.
const Api* load(std::string* reason);

}  // namespace cufft
}  // namespace enkg
