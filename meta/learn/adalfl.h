// AdaLFL (Raymond et al., arXiv 2301.13247): adaptive loss function learning. The learned loss
// is trained online, after every base-model update, so it follows the base model through
// training instead of being fitted only to its first steps (ML3's short-horizon bias).
//
//   offline init: `offline_steps` ML3 meta steps (fresh inits, one unrolled step each)
//   online, for every base step t with a training batch (x, y) and a validation batch (xv, yv):
//     d      = grad_theta L_phi(f_theta(x), y) + mu * buf         (create_graph; buf constant)
//     theta' = theta - alpha * d
//     phi   <- Adam step along grad_phi CE/MSE(f_theta'(xv), yv)  (clipped; also log alpha when learned)
//     theta <- theta'.detach(),  buf <- d.detach()
//
// Momentum (mu, PyTorch's SGD rule without dampening): the base optimizer is SGD, and theta' is
// exactly the parameter vector that optimizer moves to, so "theta <- theta'" holds with momentum
// too. The buffer carried from earlier steps enters the look-ahead as a constant: the meta-
// gradient goes through this one unrolled step only (as in AdaLFL; earlier steps are truncated),
// so d theta'/d phi = -alpha * d grad_theta L_phi / d phi, the same as for a plain SGD step; with
// mu = 0 (the default, the thesis' MNIST setting) it is the plain unrolled SGD step.
//
// Safety: a step whose base loss, base gradient or theta' is NaN/Inf is skipped entirely (theta
// and phi unchanged) and counted in skipped_base; a step whose meta loss or meta-gradient is
// non-finite still updates theta but leaves phi unchanged (skipped_meta). Finite meta-gradients
// are clipped to clip_norm before the Adam step.
//
// BatchNorm: both forwards of a step run in train mode, so a model with BatchNorm updates its
// running statistics twice per step, once from the validation batch of the look-ahead. The
// running statistics then include validation batches; the weights never see their gradients.
// (The Fashion-MNIST models logistic, MLP and LeNet-5 have no BatchNorm.)
#pragma once
#include <cmath>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "meta/learn/ml3.h"

namespace metaloss::learn {

struct AdaLFLConfig {
  int64_t offline_steps = 2500;    // ML3-style meta steps that initialise phi (0: none); the paper's S_init
  int64_t offline_inner_steps = 1;
  int64_t steps = 0, epochs = 0;   // online base training budget; epochs (over task.train) win
  double lr = 0.01;                // base SGD learning rate alpha (the initial value when learn_lr)
  double momentum = 0;             // base SGD momentum mu (see above)
  bool learn_lr = false;           // meta-learn alpha (as log alpha), offline and online
  double meta_lr = 1e-4;           // Adam on phi (and log alpha); chosen on validation (docs/results.md)
  int64_t batch_size = 128;        // training and validation batches
  double clip_norm = 10;           // meta-gradient clipping by global L2 norm; 0: off
  int64_t snapshots = 4;           // phi recorded at this many evenly spaced online steps
  uint64_t seed = 0;
  int64_t log_every = 100;         // online steps between metrics lines
  int64_t offline_log_every = 10;
  bool progress = true;
  // Test seam: sees (and may change) the base gradients of each online step before they are
  // checked, e.g. to inject a NaN.
  std::function<void(int64_t step, std::vector<Tensor>& grads)> base_grad_hook;
  void validate() const;
};

struct AdaLFLReport {
  MetaStats offline;
  int64_t steps = 0;         // online steps run (including skipped ones)
  int64_t skipped_base = 0;  // non-finite base loss / gradient / theta': theta and phi unchanged
  int64_t skipped_meta = 0;  // non-finite meta loss / meta-gradient: theta updated, phi unchanged
  double last_base_loss = NAN, last_meta_loss = NAN;
  double lr = NAN;           // alpha at the end
  double seconds = 0;        // offline + online
  // "initial", "offline init", then "step N" at evenly spaced online steps (the last one = end).
  std::vector<LossSnapshot> snapshots;
  // The online meta-gradient's L2 norm (before clipping), averaged over each log interval of
  // finite meta steps: (last step of the interval, mean norm). The diagnostic for a learned loss
  // that flattens out and stops learning (its meta-gradient vanishes).
  std::vector<std::pair<int64_t, double>> meta_grad_norms;
};

// What one online step did.
struct OnlineStep {
  bool base_ok = false, meta_ok = false;
  double base_loss = NAN, meta_loss = NAN, meta_grad_norm = NAN;
};

class AdaLFL {
 public:
  AdaLFL(LearnTask task, std::shared_ptr<losses::LearnedLoss> loss, AdaLFLConfig config);
  AdaLFL(const AdaLFL&) = delete;  // the validation stream points at a generator held here
  AdaLFL& operator=(const AdaLFL&) = delete;

  // The offline ML3-style initialisation of phi (and alpha when learned).
  MetaStats offline_init(MetricsWriter* metrics = nullptr);
  // One online step on `model` (trained in place) with a training batch; the validation batch
  // comes from task.valid.
  OnlineStep online_step(Module& model, const data::Batch& batch);
  // offline_init, then online training of `model` for the budget. The training batches are
  // drawn like train_supervised draws them from `order` (same order for the same generator),
  // so a baseline trained with the same generator sees the same batches.
  AdaLFLReport run(Module& model, Generator& order, MetricsWriter* metrics = nullptr);

  double lr() const { return log_lr_.defined() ? std::exp(log_lr_.item()) : cfg_.lr; }
  std::vector<Tensor> meta_parameters() const;
  const AdaLFLReport& report() const { return report_; }

 private:
  LearnTask task_;
  std::shared_ptr<losses::LearnedLoss> loss_;
  AdaLFLConfig cfg_;
  Tensor log_lr_;
  Generator valid_gen_;
  BatchStream valid_;
  std::unique_ptr<Adam> opt_;
  std::vector<Tensor> momentum_;  // detached, one per base parameter
  int64_t step_ = 0;
  AdaLFLReport report_;
};

}  // namespace metaloss::learn
