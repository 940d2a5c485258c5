// Each napi/*_ops.cc file registers its exports through one of these.
#pragma once

#include <napi.h>

namespace enkg {
namespace napi {

void registerBackendOps(Napi::Env env, Napi::Object exports);   // backend_ops.cc
void registerEnsembleOps(Napi::Env env, Napi::Object exports);  // ensemble_ops.cc
void registerRandomOps(Napi::Env env, Napi::Object exports);    // random_ops.cc
void registerBenchOps(Napi::Env env, Napi::Object exports);     // bench_ops.cc
void registerSpectralOps(Napi::Env env, Napi::Object exports);   // spectral_ops.cc
void registerLocalizationOps(Napi::Env env, Napi::Object exports);  // localization_ops.cc
void registerImagingOps(Napi::Env env, Napi::Object exports);    // imaging_ops.cc
void registerGainOps(Napi::Env env, Napi::Object exports);       // gain_ops.cc

}  // namespace napi
}  // namespace enkg
