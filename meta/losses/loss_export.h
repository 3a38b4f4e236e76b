// A loss file in other forms (`metaloss loss export FILE --format F`):
//   c        a dependency-free C header (<math.h> only) with the value and the gradient, for every
//            kind: NAME_pair(...) per (prediction, target) pair and NAME(...) for a batch
//            (classification: softmax of logits, summed over classes, mean over the batch, and
//            dLoss/dlogits; regression: dLoss/dprediction)
//   pytorch  a Python function `NAME(output, target)` built from torch ops, pasteable as it is
//   latex    the formula (expressions and TaylorGLO in closed form; networks as their layers)
//   json     every field and tensor value, for other tools
#pragma once
#include <string>

#include "meta/losses/loss_file.h"

namespace metaloss::losses {

std::string export_loss(const LossFile& loss, const std::string& format, const std::string& name = "metaloss_loss");

}  // namespace metaloss::losses
