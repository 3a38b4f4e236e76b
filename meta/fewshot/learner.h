// Few-shot meta-learners on a Conv-4 backbone: MAML (second order, or first order), Meta-SGD
// (per-parameter learned inner learning rates) and NPBML (jointly meta-learned initialisation,
// warp preconditioning layers, FiLM task conditioning and a learned loss).
//
// A learner owns its meta-parameters (leaf tensors that require grad). adapt() runs the inner loop
// on a task's support set and returns the adapted ("fast") parameters; query_loss() then gives the
// cross entropy on the query set, differentiable to the meta-parameters through every inner step
// when the inner loop ran with create_graph. Everything is written with engine ops, so second-order
// meta-gradients need no extra rules (the tests check them against finite differences).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/metaloss.h"
#include "meta/data/fewshot.h"
#include "models/module.h"

namespace metaloss::fewshot {

struct LearnerConfig {
  std::string method = "maml";  // maml | metasgd | npbml
  int64_t in_channels = 1, image_size = 28, hidden = 32, ways = 5, blocks = 4;
  int inner_steps = 5;
  double inner_lr = 0.01;
  // How many of the last inner steps are differentiated to second order; the earlier ones use
  // detached gradients (first order). -1: all (full second order); 0: first-order MAML.
  int second_order_steps = -1;
  // NPBML components (the ablations switch one off each).
  bool learned_loss = true, warp = true, film = true;
  bool transductive = false;  // NPBML: learned loss term on the query predictions (unlabelled)
  int64_t loss_hidden = 40;
  DType dtype = DType::Float32;
  uint64_t seed = 0;  // initialisation
};

// What the inner loop produced for one task.
struct Adapted {
  std::vector<Tensor> fast;  // adapted parameters (connected to the meta-parameters when recorded)
  std::vector<double> support_loss;  // inner loss before each step
};

struct QueryResult {
  Tensor loss;  // cross entropy on the query set (0-d)
  double accuracy = 0;
};

class Learner {
 public:
  explicit Learner(const LearnerConfig& c);
  const LearnerConfig& config() const { return c_; }
  // Every meta-learned tensor with a stable name (checkpoints, Adam state, listings).
  const NamedTensors& meta_parameters() const { return meta_; }
  std::vector<Tensor> meta_tensors() const;
  // Copies values in by name and shape (a checkpoint); throws naming a missing or mismatched entry.
  void load_meta_parameters(const NamedTensors& values);
  int64_t num_meta_parameters() const;
  // Moves every meta-parameter to `d` (initialised on the host from the seed: the same values on
  // every device). Episodes must be there too (data::to_device).
  void to(Device d);
  Device device() const { return meta_.front().second.device(); }
  std::string describe() const;

  // The inner loop on the support set. record: keep the graph for the meta-gradient (training);
  // false: plain gradients, nothing retained (evaluation).
  Adapted adapt(const data::Episode& task, bool record) const;
  QueryResult query(const Adapted& a, const data::Episode& task) const;

  // Logits of x under fast parameters and the task conditioning (FiLM uses the batch itself).
  Tensor forward(const std::vector<Tensor>& fast, const Tensor& x) const;
  // The loss minimised in the inner loop: CE (+ NPBML's learned terms).
  Tensor inner_loss(const std::vector<Tensor>& fast, const Tensor& logits, const Tensor& labels,
                    const Tensor& query_logits) const;

 private:
  const Tensor& m(size_t i) const { return meta_[i].second; }
  size_t add_meta(const std::string& name, Tensor t);
  Tensor film(const Tensor& z, const Tensor& input, size_t slot) const;
  Tensor loss_mlp(const Tensor& in, size_t first_slot, const Tensor& task_embedding) const;

  LearnerConfig c_;
  NamedTensors meta_;
  // Inner-adapted tensors: slots in meta_ of their initial values (MAML/Meta-SGD: every backbone
  // tensor and the head; NPBML: conv weights and biases, and the head built from its shared row).
  std::vector<size_t> fast_init_;
  std::vector<size_t> lr_;  // Meta-SGD: per-parameter learning rates, one per fast tensor
  struct Block {
    size_t conv_w, conv_b, bn_w, bn_b;  // conv_w/conv_b: indices into fast for the backbone
    size_t film = 0, warp_w = 0, warp_bn_w = 0, warp_bn_b = 0, warp_film = 0;
  };
  std::vector<Block> blocks_;
  size_t head_w_ = 0, head_b_ = 0;      // fast indices of the head
  size_t head_row_ = 0, head_bias_ = 0;  // NPBML: meta slots of the shared head row and bias
  size_t ind_loss_ = 0, trans_loss_ = 0, pen_loss_ = 0;  // NPBML: first meta slot of each loss MLP
  int64_t feature_dim_ = 0;
};

// 95% confidence interval half-width of a mean over n values: 1.96 * std / sqrt(n).
double ci95(const std::vector<double>& values);

}  // namespace metaloss::fewshot
