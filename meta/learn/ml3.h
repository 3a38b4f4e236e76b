// ML3 (Bechtle et al., ICPR 2021): offline loss learning by unrolled differentiation.
//
// Each meta step starts a base model from a fresh seeded init theta_0 and takes K differentiable
// SGD steps with the learned loss on training ("support") batches,
//     theta_{k+1} = theta_k - alpha * grad_theta L_phi(f_theta_k(x_k), y_k)     (create_graph)
// then scores the adapted model with the task loss (CE / MSE) on a batch of the held-out
// validation split, and moves phi along the gradient of that score (Adam, lr 1e-3). The
// meta-gradient flows through the inner gradients, i.e. it is second order in the base model.
// After meta-training phi is frozen and used to train base models from scratch (meta-testing:
// TrainOptions::loss_fn with frozen_loss()).
#pragma once
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "meta/learn/task.h"
#include "meta/progress.h"
#include "models/optim.h"

namespace metaloss::learn {

struct ML3Config {
  int64_t meta_steps = 250;
  int64_t inner_steps = 1;  // K unrolled SGD steps per meta step
  double inner_lr = 0.01;   // alpha (the initial value when learn_lr)
  // Meta-learn alpha too, as log alpha (so it stays positive) updated by the same meta-gradient.
  bool learn_lr = false;
  double meta_lr = 1e-3;    // Adam on phi
  int64_t batch_size = 128; // support and validation batches
  double clip_norm = 10;    // meta-gradients are clipped to this global L2 norm; 0: no clipping
  uint64_t seed = 0;
  int64_t log_every = 10;   // meta steps between metrics lines / plain progress lines
  bool progress = true;
  std::string label = "ml3";  // progress bar and the metrics' "phase"
  void validate() const;
};

struct MetaStats {
  int64_t steps = 0;
  // Meta steps whose meta loss or meta-gradient was NaN/Inf (or overflowed): phi left unchanged.
  int64_t skipped = 0;
  double last_meta_loss = NAN;
  double last_grad_norm = NAN;  // before clipping
  double seconds = 0;
  std::vector<double> meta_losses;  // one per meta step (NaN where skipped)
};

// The ML3 meta-objective for one initialisation: K = support.size() differentiable SGD steps
// from theta0 with L_phi (the loss evaluated with `phi`, not with the loss's own parameters), then
// the task loss of f_theta_K on `query`. The result is connected to phi, and to lr when lr
// requires grad. `model` only provides the architecture (Module::forward_with); it is not changed.
Tensor unrolled_meta_loss(Module& model, const std::vector<Tensor>& theta0, losses::LearnedLoss& loss,
                          const std::vector<Tensor>& phi, const std::vector<data::Batch>& support,
                          const data::Batch& query, const Tensor& lr, int64_t num_classes);

class ML3 {
 public:
  // phi = loss->parameters() is trained in place. With config.learn_lr, `log_lr` (a 0-d leaf
  // that requires grad, shared with the caller, e.g. AdaLFL) is meta-learned; when undefined,
  // ML3 makes its own from inner_lr.
  ML3(LearnTask task, std::shared_ptr<losses::LearnedLoss> loss, ML3Config config, Tensor log_lr = {});
  ML3(const ML3&) = delete;  // the batch streams point at the generators held here
  ML3& operator=(const ML3&) = delete;

  // The meta-gradient of meta step `step` (its fresh init and batches) without updating anything:
  // gradients for meta_parameters(), and the meta loss. Advances the batch streams.
  std::vector<Tensor> meta_gradient(int64_t step, double* meta_loss);
  // One meta step: meta_gradient, then (when finite) clipping and an Adam step on phi.
  double step();
  // config.meta_steps steps, with a progress bar and (optional) metrics lines.
  MetaStats run(MetricsWriter* metrics = nullptr);

  std::vector<Tensor> meta_parameters() const;  // phi, then log alpha when learned
  double inner_lr() const;
  const MetaStats& stats() const { return stats_; }

 private:
  Tensor lr_tensor(DType dtype) const;
  LearnTask task_;
  std::shared_ptr<losses::LearnedLoss> loss_;
  ML3Config cfg_;
  Tensor log_lr_;
  Generator support_gen_, query_gen_;
  BatchStream support_, query_;
  std::unique_ptr<Adam> opt_;
  MetaStats stats_;
};

}  // namespace metaloss::learn
