// Host-side input checks run inside async workers (they scale with the data).
#pragma once

#include <cstddef>

namespace enkg {

// Index of the first NaN or +-Inf in a[0..count), or `count` when all are finite.
size_t firstNonFinite(const float* a, size_t count);

}  // namespace enkg
