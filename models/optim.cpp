#include "models/optim.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace metaloss {

Optimizer::Optimizer(std::vector<Tensor> params, double lr) : params_(std::move(params)), lr_(lr) {
  if (lr < 0) throw std::invalid_argument("optimizer: learning rate must be >= 0, got " + std::to_string(lr));
  for (size_t i = 0; i < params_.size(); ++i)
    if (!params_[i].requires_grad())
      throw std::invalid_argument("optimizer: parameter " + std::to_string(i) + " (" + params_[i].desc() +
                                  ") does not require grad");
}

void Optimizer::zero_grad() {
  for (auto& p : params_) p.zero_grad();
}

SGD::SGD(std::vector<Tensor> params, SGDOptions o) : Optimizer(std::move(params), o.lr), o_(o) {
  if (o.momentum < 0 || o.weight_decay < 0) throw std::invalid_argument("SGD: momentum and weight_decay must be >= 0");
  if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
    throw std::invalid_argument("SGD: Nesterov momentum needs momentum > 0 and dampening 0");
  momentum_.resize(params_.size());
}

void SGD::step() {
  NoGrad ng;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    Tensor d = p.grad();
    if (!d.defined()) continue;
    if (o_.weight_decay != 0) d = add(d, p, o_.weight_decay);
    if (o_.momentum != 0) {
      Tensor& buf = momentum_[i];
      if (!buf.defined()) {
        buf = d.clone();
      } else {
        buf.mul_add_(o_.momentum, d, 1 - o_.dampening);
      }
      d = o_.nesterov ? add(d, buf, o_.momentum) : buf;
    }
    p.add_(d, -lr_);
  }
}

Adam::Adam(std::vector<Tensor> params, AdamOptions o) : Optimizer(std::move(params), o.lr), o_(o) {
  if (o.beta1 < 0 || o.beta1 >= 1 || o.beta2 < 0 || o.beta2 >= 1 || o.eps < 0)
    throw std::invalid_argument("Adam: betas must be in [0, 1) and eps >= 0");
  m_.resize(params_.size());
  v_.resize(params_.size());
}

void Adam::load_state(const AdamState& s) {
  if (s.m.size() != params_.size() || s.v.size() != params_.size() || s.t < 0)
    throw std::invalid_argument("Adam::load_state: state for " + std::to_string(s.m.size()) + " parameters, optimizer has " +
                                std::to_string(params_.size()));
  for (size_t i = 0; i < params_.size(); ++i)
    for (const Tensor* t : {&s.m[i], &s.v[i]})
      if (t->defined() && t->shape() != params_[i].shape())
        throw std::invalid_argument("Adam::load_state: moment " + t->desc() + " of parameter " + std::to_string(i) +
                                    " does not match " + params_[i].desc());
  NoGrad ng;
  for (size_t i = 0; i < params_.size(); ++i) {
    // On the parameter's device: a checkpoint's moments are host tensors.
    const Device d = params_[i].device();
    m_[i] = s.m[i].defined() ? cast(s.m[i], params_[i].dtype()).to(d).clone() : Tensor();
    v_[i] = s.v[i].defined() ? cast(s.v[i], params_[i].dtype()).to(d).clone() : Tensor();
  }
  t_ = s.t;
}

void Adam::step() {
  NoGrad ng;
  ++t_;
  const double bc1 = 1 - std::pow(o_.beta1, double(t_)), bc2 = 1 - std::pow(o_.beta2, double(t_));
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (o_.weight_decay != 0) {
      if (o_.decoupled_weight_decay) p.mul_(1 - lr_ * o_.weight_decay);
      else g = add(g, p, o_.weight_decay);
    }
    if (!m_[i].defined()) {
      m_[i] = Tensor::zeros(p.shape(), p.dtype(), p.device());
      v_[i] = Tensor::zeros(p.shape(), p.dtype(), p.device());
    }
    m_[i].mul_add_(o_.beta1, g, 1 - o_.beta1);
    v_[i].mul_add_(o_.beta2, square(g), 1 - o_.beta2);
    // As torch.optim.Adam: p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
    Tensor denom = add(mul(sqrt(v_[i]), 1 / std::sqrt(bc2)), o_.eps);
    p.add_(div(m_[i], denom), -lr_ / bc1);
  }
}

MultiStepLR::MultiStepLR(Optimizer& opt, std::vector<int64_t> milestones, double gamma)
    : opt_(opt), milestones_(std::move(milestones)), gamma_(gamma), base_(opt.lr()) {
  std::sort(milestones_.begin(), milestones_.end());
}
void MultiStepLR::step() {
  ++t_;
  const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), t_) - milestones_.begin();
  opt_.set_lr(base_ * std::pow(gamma_, double(passed)));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& opt, int64_t t_max, double eta_min)
    : opt_(opt), t_max_(t_max), eta_min_(eta_min), base_(opt.lr()) {
  if (t_max <= 0) throw std::invalid_argument("CosineAnnealingLR: T_max must be positive");
}
void CosineAnnealingLR::step() {
  t_ = std::min(t_ + 1, t_max_);
  opt_.set_lr(eta_min_ + (base_ - eta_min_) * (1 + std::cos(M_PI * double(t_) / double(t_max_))) / 2);
}

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm) {
  NoGrad ng;
  double total = 0;
  for (const auto& p : params)
    if (p.grad().defined()) total += sum(square(p.grad().to(DType::Float64))).item();
  total = std::sqrt(total);
  const double scale = max_norm / (total + 1e-6);
  if (scale < 1)
    for (const auto& p : params)
      if (p.grad().defined()) p.grad().mul_(scale);
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip) {
  NoGrad ng;
  for (const auto& p : params)
    if (p.grad().defined()) p.grad().copy_(clamp(p.grad(), -clip, clip));
}

namespace {
void check_pairs(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const char* fn) {
  if (params.size() != grads.size())
    throw std::invalid_argument(std::string(fn) + ": " + std::to_string(params.size()) + " parameters but " +
                                std::to_string(grads.size()) + " gradients");
}
}  // namespace

std::vector<Tensor> sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, double lr) {
  check_pairs(params, grads, "sgd_update");
  std::vector<Tensor> out;
  for (size_t i = 0; i < params.size(); ++i) out.push_back(grads[i].defined() ? add(params[i], grads[i], -lr) : params[i]);
  return out;
}

std::vector<Tensor> sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const Tensor& lr) {
  check_pairs(params, grads, "sgd_update");
  std::vector<Tensor> out;
  for (size_t i = 0; i < params.size(); ++i) out.push_back(grads[i].defined() ? sub(params[i], mul(grads[i], lr)) : params[i]);
  return out;
}

std::vector<Tensor> DifferentiableSGD::step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads) {
  check_pairs(params, grads, "DifferentiableSGD");
  if (buf_.empty()) buf_.resize(params.size());
  std::vector<Tensor> out;
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor d = grads[i];
    if (!d.defined()) {
      out.push_back(params[i]);
      continue;
    }
    if (o_.weight_decay != 0) d = add(d, params[i], o_.weight_decay);
    if (o_.momentum != 0) {
      buf_[i] = buf_[i].defined() ? add(mul(buf_[i], o_.momentum), d, 1 - o_.dampening) : d;
      d = o_.nesterov ? add(d, buf_[i], o_.momentum) : buf_[i];
    }
    out.push_back(add(params[i], d, -o_.lr));
  }
  return out;
}

std::vector<Tensor> DifferentiableAdam::step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads) {
  check_pairs(params, grads, "DifferentiableAdam");
  if (m_.empty()) {
    m_.resize(params.size());
    v_.resize(params.size());
  }
  ++t_;
  const double bc1 = 1 - std::pow(o_.beta1, double(t_)), bc2 = 1 - std::pow(o_.beta2, double(t_));
  std::vector<Tensor> out;
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor g = grads[i], p = params[i];
    if (!g.defined()) {
      out.push_back(p);
      continue;
    }
    if (o_.weight_decay != 0) {
      if (o_.decoupled_weight_decay) p = mul(p, 1 - o_.lr * o_.weight_decay);
      else g = add(g, p, o_.weight_decay);
    }
    m_[i] = m_[i].defined() ? add(mul(m_[i], o_.beta1), g, 1 - o_.beta1) : mul(g, 1 - o_.beta1);
    v_[i] = v_[i].defined() ? add(mul(v_[i], o_.beta2), square(g), 1 - o_.beta2) : mul(square(g), 1 - o_.beta2);
    Tensor denom = add(sqrt(add(mul(v_[i], 1 / bc2), eps_root_)), o_.eps);
    out.push_back(add(p, div(m_[i], denom), -o_.lr / bc1));
  }
  return out;
}

}  // namespace metaloss
