// Umbrella header for the engine: tensors, ops, autodiff, functional helpers, graph export.
#pragma once
#include "engine/autograd.h"
#include "engine/dot.h"
#include "engine/functional.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "engine/tensor.h"
