// The one file format of a learned loss, whatever method made it: safetensors with JSON-free
// string metadata, so any safetensors reader (PyTorch's included) can open it.
//
//   metadata "metaloss_loss" = "1"           the format version
//            "kind"          = expression | taylorglo | network
//            "task"          = classification | regression
//            "expression"    = canonical text (kind expression: EvoMAL, GP-LFL, GLO)
//            "learned_loss"  = the network's configuration (kind network: ML3, AdaLFL)
//            "provenance.*"  = method, run, seed, generation, step, dataset, model, version
//            "metaloss_crc32" = the integrity check of every tensor (models/safetensors.h)
//   tensors  "weights" F64 [edges]   the expression's learned edge weights (absent: all 1)
//            "theta"   F64 [8]       TaylorGLO's parameters
//            "net.*"                 the network's weights
//
// A file written by LearnedLoss::save before this format (metadata "learned_loss" only) still
// loads, as a network. Malformed files raise std::runtime_error naming the file and the field.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "meta/losses/expression.h"
#include "meta/losses/learned_loss.h"

namespace metaloss::losses {

struct LossFile {
  enum class Kind { Expression, TaylorGLO, Network };
  Kind kind = Kind::Expression;
  bool regression = false;                     // the task it applies to (networks only can be regression)
  Expression expression;                       // Kind::Expression
  std::vector<double> weights;                 // its edge weights (size() - 1), or empty for none
  std::vector<double> theta;                   // Kind::TaylorGLO: 8 parameters
  std::shared_ptr<LearnedLoss> network;        // Kind::Network
  std::map<std::string, std::string> provenance;  // "method", "seed", ... (without the prefix)

  // "mul(-1, mul(y, log(f)))", "EXPR @ [w, ...]", "taylorglo(t0, ..., t7)" or the network's description.
  std::string formula() const;
  const char* kind_name() const;  // "expression", "taylorglo", "network"
  int64_t parameter_count() const;
  // The training loss: (model output, targets) -> 0-d, as the method meta-tested it. A network is
  // used frozen (its weights get no gradient).
  std::function<Tensor(const Tensor&, const Tensor&)> function() const;
};

// "EXPR", "EXPR @ [w1, w2, ...]" (EvoMAL's form) or "taylorglo(t0, ..., t7)"; throws
// std::invalid_argument naming what is malformed.
LossFile parse_loss_spec(const std::string& text);

void save_loss_file(const std::string& path, const LossFile& loss);
LossFile load_loss_file(const std::string& path);

}  // namespace metaloss::losses
