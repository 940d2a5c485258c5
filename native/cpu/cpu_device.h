// The CPU backend: OpenBLAS (cblas) for matrix products, OpenMP for loops.
#pragma once

#include "../core/device.h"

namespace enkg {

Device& cpuDevice();

}  // namespace enkg
