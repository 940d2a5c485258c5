// Helpers shared by the ensemble exports (ensemble_ops.cc: kalmanStep,
// ensembleMean, ensembleCovarianceTrace), NativeEnsemble and the localized
// step (localization_ops.cc).
#pragma once

#include <napi.h>

#include "../core/kalman.h"

namespace enkg {
namespace napi {

// Shared by the free functions, NativeEnsemble and the localized step
// (localization_ops.cc).
int64_t ensembleSize(const Napi::Value& value);    // an integer >= 2
double stepScaleValue(const Napi::Value& value);  // finite, >= 0
int64_t rowLength(size_t length, int64_t N, const std::string& name, const std::string& shape);
int orderingChoice(const Napi::Value& value);  // -1 auto, else an Ordering
// The message of a step whose new particles are not all finite.
std::string overflowMessage(double stepScale, const std::string& where);
Napi::Object outcomeObject(Napi::Env env, const KalmanOutcome& outcome);

}  // namespace napi
}  // namespace enkg
