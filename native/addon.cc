// The enkg native addon: registers the exports of napi/ and nothing else.
#include <napi.h>

#include "napi/ensemble_handle.h"
#include "napi/exports.h"

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  enkg::napi::registerBackendOps(env, exports);
  enkg::napi::registerEnsembleOps(env, exports);
  enkg::napi::registerRandomOps(env, exports);
  enkg::napi::registerBenchOps(env, exports);
  enkg::napi::registerSpectralOps(env, exports);
  enkg::napi::registerLocalizationOps(env, exports);
  enkg::napi::registerImagingOps(env, exports);
  enkg::napi::registerGainOps(env, exports);
  enkg::napi::EnsembleHandle::Register(env, exports);
  return exports;
}

NODE_API_MODULE(enkg, Init)
