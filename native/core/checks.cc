#include "checks.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace enkg {

size_t firstNonFinite(const float* a, size_t count) {
  const int64_t n = static_cast<int64_t>(count);
  int64_t first = n;
  // Chunks are scanned in parallel; the smallest offending index wins.
#pragma omp parallel for schedule(static) reduction(min : first) if (n > (1 << 16))
  for (int64_t chunk = 0; chunk < (n + 4095) / 4096; ++chunk) {
    const int64_t end = std::min(n, (chunk + 1) * 4096);
    for (int64_t i = chunk * 4096; i < end; ++i) {
      if (!std::isfinite(a[i])) {
        first = std::min(first, i);
        break;
      }
    }
  }
  return static_cast<size_t>(first);
}

}  // namespace enkg
