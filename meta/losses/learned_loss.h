// LearnedLoss: a small network L_phi applied elementwise to (prediction, target) pairs, the loss
// family of ML3 (Bechtle et al., ICPR 2021) and AdaLFL (Raymond et al., arXiv 2301.13247).
//
//   classification: pairs (f_c, y_c) = (softmax probability, one-hot target) for every class c;
//                   loss = mean over the batch of sum over classes of L_phi(f_c, y_c)
//   regression:     pairs (prediction, target) per output; loss = mean over the batch of the sum
//                   over outputs (for one output: the mean of L_phi over the batch)
//
// It is a Module, so phi is parameters() and the loss can run with substituted parameters
// (loss_with), which is how an outer loop differentiates through inner updates of phi.
// forward() is the per-pair network itself: [N, 2] pairs -> [N, 1].
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/module.h"

namespace metaloss::losses {

struct LearnedLossConfig {
  enum class Mode { Classification, Regression };
  Mode mode = Mode::Classification;
  std::vector<int64_t> hidden = {50, 50};  // hidden layer widths (may be empty: one linear map)
  bool bias = false;
  std::string activation = "relu";         // "relu" | "smooth_leaky_relu"
  double slrelu_beta = 2, slrelu_gamma = 0.25;  // smooth leaky ReLU: g*x + (1-g)*softplus(b*x)/b
  std::string output = "softplus";         // "softplus" (a non-negative loss) | "none"
  // Classification input: true = logits (softmax applied here, as the zoo models emit logits),
  // false = probabilities already.
  bool from_logits = true;

  // ML3: 2-50-50-1, no bias, ReLU, Softplus. AdaLFL (arXiv 2301.13247): 2-40-40-1, no bias,
  // smooth leaky ReLU (b 2, g 0.25), no output activation (Softplus for regression); where the
  // paper is silent (output, b, g) the choice was made on validation error (docs/results.md).
  static LearnedLossConfig ml3(Mode mode = Mode::Classification);
  static LearnedLossConfig adalfl(Mode mode = Mode::Classification);

  // Compact JSON stored in the safetensors metadata under "learned_loss"; from_json rejects
  // unknown keys, wrong types and invalid values, naming them.
  std::string to_json() const;
  static LearnedLossConfig from_json(const std::string& json);
  void validate() const;  // throws std::invalid_argument naming the bad field
  // The first field that differs from `other` ("activation: 'relu' vs 'smooth_leaky_relu'"), or "".
  std::string difference(const LearnedLossConfig& other) const;
};

class LearnedLoss : public Module {
 public:
  explicit LearnedLoss(LearnedLossConfig config = {}, Generator& gen = default_generator());
  static std::shared_ptr<LearnedLoss> ml3(LearnedLossConfig::Mode mode = LearnedLossConfig::Mode::Classification,
                                          Generator& gen = default_generator());
  static std::shared_ptr<LearnedLoss> adalfl(LearnedLossConfig::Mode mode = LearnedLossConfig::Mode::Classification,
                                             Generator& gen = default_generator());

  // The per-pair network: pairs [N, 2] -> values [N, 1].
  Tensor forward(const Tensor& pairs) override;
  std::string describe() const override;

  // The loss (0-d). Classification: out = logits (or probabilities) [B, C], targets = int64
  // labels [B]. Regression: out [B, ...] and targets of the same shape ([B, 1] vs [B] allowed).
  Tensor loss(const Tensor& out, const Tensor& targets);
  Tensor operator()(const Tensor& out, const Tensor& targets) { return loss(out, targets); }
  // The same with phi replaced by `phi` (same order and shapes as parameters()).
  Tensor loss_with(const std::vector<Tensor>& phi, const Tensor& out, const Tensor& targets);

  // L_phi(p, target) for each p of a 1-d grid [G] -> [G], no graph (for plotting the learned
  // loss: call with target 1 and target 0). In regression mode p is the prediction.
  Tensor sample(const Tensor& p_grid, double target);

  // Weights as safetensors, the config as JSON in the metadata key "learned_loss".
  void save(const std::string& path) const;
  // Loads weights into this loss; the file's config must equal ours (the error names the field).
  void load(const std::string& path);
  // Builds a loss from the file's config and loads its weights.
  static std::shared_ptr<LearnedLoss> from_file(const std::string& path);

  const LearnedLossConfig& config() const { return config_; }

 private:
  Tensor pairs_of(const Tensor& out, const Tensor& targets) const;  // [N, 2] and checks
  Tensor reduce(const Tensor& values, const Tensor& out) const;    // [N, 1] -> 0-d
  LearnedLossConfig config_;
  std::shared_ptr<Sequential> net_;
};

}  // namespace metaloss::losses
