// Optimizers with PyTorch's update rules (torch.optim 1.13), learning-rate schedules, gradient
// clipping, and differentiable (functional) SGD/Adam for unrolled meta-learning.
#pragma once
#include <vector>

#include "engine/metaloss.h"

namespace metaloss {

// ---- stateful optimizers: update parameters in place from their .grad (under NoGrad) --------
class Optimizer {
 public:
  explicit Optimizer(std::vector<Tensor> params, double lr);
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  void zero_grad();
  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
  const std::vector<Tensor>& params() const { return params_; }

 protected:
  std::vector<Tensor> params_;
  double lr_;
};

struct SGDOptions {
  double lr = 0.01, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions o);
  void step() override;

 private:
  SGDOptions o_;
  std::vector<Tensor> momentum_;
};

struct AdamOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled_weight_decay = false;  // true: AdamW
};
// Adam's moments and step count, for checkpoints: m[i] / v[i] undefined until parameter i has
// had a gradient.
struct AdamState {
  std::vector<Tensor> m, v;
  int64_t t = 0;
};
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions o);
  void step() override;
  AdamState state() const { return {m_, v_, t_}; }
  // Restores a state() of an Adam over parameters of the same shapes (throws naming the mismatch).
  void load_state(const AdamState& s);

 private:
  AdamOptions o_;
  std::vector<Tensor> m_, v_;
  int64_t t_ = 0;
};
inline AdamOptions adamw_options(double lr = 1e-3, double weight_decay = 1e-2) {
  AdamOptions o;
  o.lr = lr;
  o.weight_decay = weight_decay;
  o.decoupled_weight_decay = true;
  return o;
}

// ---- learning-rate schedules: call step() once per epoch (or per step, as you define T) -----
class MultiStepLR {
 public:
  MultiStepLR(Optimizer& opt, std::vector<int64_t> milestones, double gamma = 0.1);
  void step();  // advances the counter and sets opt.lr

 private:
  Optimizer& opt_;
  std::vector<int64_t> milestones_;
  double gamma_, base_;
  int64_t t_ = 0;
};
class CosineAnnealingLR {
 public:
  CosineAnnealingLR(Optimizer& opt, int64_t t_max, double eta_min = 0);
  void step();

 private:
  Optimizer& opt_;
  int64_t t_max_;
  double eta_min_, base_;
  int64_t t_ = 0;
};

// ---- gradient clipping (in place on .grad) ----------------------------------------------
// Scales all gradients so their joint L2 norm is at most max_norm; returns the norm before.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm);
void clip_grad_value_(const std::vector<Tensor>& params, double clip);

// ---- differentiable updates for unrolled meta-learning -------------------------------------
// They return new parameter tensors connected to the graph of params and grads (pass grads
// computed with create_graph to differentiate through the update).
std::vector<Tensor> sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, double lr);
std::vector<Tensor> sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const Tensor& lr);

class DifferentiableSGD {
 public:
  explicit DifferentiableSGD(SGDOptions o) : o_(o) {}
  std::vector<Tensor> step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads);
  void reset() { buf_.clear(); }

 private:
  SGDOptions o_;
  std::vector<Tensor> buf_;
};

// Adam whose state (m, v) stays in the graph. The root is taken as sqrt(v_hat + eps_root) with
// eps_root > 0: d sqrt(v)/dv is infinite at v = 0 (a parameter whose gradient is exactly zero),
// which would turn meta-gradients into NaN.
class DifferentiableAdam {
 public:
  explicit DifferentiableAdam(AdamOptions o, double eps_root = 1e-16) : o_(o), eps_root_(eps_root) {}
  std::vector<Tensor> step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads);
  void reset() {
    m_.clear();
    v_.clear();
    t_ = 0;
  }

 private:
  AdamOptions o_;
  double eps_root_;
  std::vector<Tensor> m_, v_;
  int64_t t_ = 0;
};

}  // namespace metaloss
