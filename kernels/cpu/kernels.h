// The CPU kernels (kernels/cpu/*.cpp). Same contracts as kernels/kernels.h, on host memory; the
// engine reaches them through the dispatching functions declared there.
#pragma once
#include "kernels/kernels.h"

namespace metaloss::kernels::cpu {

#include "kernels/backend_api.inc"

}  // namespace metaloss::kernels::cpu
