#include "models/module.h"

#include <sstream>
#include <stdexcept>

namespace metaloss {

namespace {
// Active functional call on this thread: original parameter impl -> substitute.
thread_local const std::unordered_map<const TensorImpl*, Tensor>* t_substitutes = nullptr;
}  // namespace

size_t Module::register_parameter(const std::string& name, Tensor t) {
  if (t.defined() && t.is_leaf() && !t.requires_grad()) t.set_requires_grad(true);
  params_.emplace_back(name, std::move(t));
  return params_.size() - 1;
}

size_t Module::register_buffer(const std::string& name, Tensor t) {
  buffers_.emplace_back(name, std::move(t));
  return buffers_.size() - 1;
}

Tensor Module::param(size_t i) const {
  const Tensor& p = params_[i].second;
  if (t_substitutes) {
    auto it = t_substitutes->find(p.impl());
    if (it != t_substitutes->end()) return it->second;
  }
  return p;
}

void Module::collect(const std::string& prefix, NamedTensors& out, bool params) const {
  for (const auto& [name, t] : params ? params_ : buffers_)
    if (t.defined()) out.emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out, params);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", out, true);
  return out;
}
std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}
NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", out, false);
  return out;
}
NamedTensors Module::state_dict() const {
  NamedTensors out = named_parameters();
  for (auto& b : named_buffers()) out.push_back(b);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

void Module::load_state_dict(const NamedTensors& state, bool strict) {
  std::map<std::string, const Tensor*> given;
  for (const auto& [name, t] : state) given[name] = &t;
  NoGrad ng;
  size_t used = 0;
  for (auto& [name, mine] : state_dict()) {
    auto it = given.find(name);
    if (it == given.end()) {
      if (strict) throw std::invalid_argument("load_state_dict: missing entry '" + name + "' (" + mine.desc() + ")");
      continue;
    }
    const Tensor& src = *it->second;
    if (src.shape() != mine.shape())
      throw std::invalid_argument("load_state_dict: '" + name + "' has shape " + src.shape().str() + ", expected " +
                                  mine.shape().str());
    if (src.dtype() != mine.dtype())
      throw std::invalid_argument("load_state_dict: '" + name + "' has dtype " + dtype_name(src.dtype()) +
                                  ", expected " + dtype_name(mine.dtype()));
    mine.copy_(src);
    ++used;
  }
  if (strict && used != given.size()) {
    std::string extra;
    auto mine = state_dict();
    for (auto& [name, t] : given) {
      bool found = false;
      for (auto& [n2, t2] : mine) found = found || n2 == name;
      if (!found) extra += (extra.empty() ? "'" : ", '") + name + "'";
    }
    throw std::invalid_argument("load_state_dict: unexpected entries " + extra);
  }
}

void Module::to(DType dtype) {
  if (!is_floating(dtype)) throw std::invalid_argument(std::string("Module::to: dtype must be floating, got ") + dtype_name(dtype));
  NoGrad ng;
  for (auto& [name, p] : params_)
    if (p.defined() && is_floating(p.dtype()) && p.dtype() != dtype) {
      const bool trainable = p.requires_grad();  // a frozen parameter stays frozen
      p = p.to(dtype);
      p.set_requires_grad(trainable);
    }
  for (auto& [name, b] : buffers_)
    if (b.defined() && is_floating(b.dtype()) && b.dtype() != dtype) b = b.to(dtype);
  for (auto& [n, c] : children_) c->to(dtype);
}

void Module::to(Device device) {
  NoGrad ng;
  for (auto& [name, p] : params_)
    if (p.defined() && p.device() != device) {
      const bool trainable = p.requires_grad();
      p = p.to(device);
      p.set_requires_grad(trainable);
    }
  for (auto& [name, b] : buffers_)
    if (b.defined() && b.device() != device) b = b.to(device);
  for (auto& [n, c] : children_) c->to(device);
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

Tensor Module::forward_with(const std::vector<Tensor>& params, const Tensor& x) {
  NamedTensors mine = named_parameters();
  if (params.size() != mine.size())
    throw std::invalid_argument("forward_with: got " + std::to_string(params.size()) + " parameters, the module has " +
                                std::to_string(mine.size()));
  std::unordered_map<const TensorImpl*, Tensor> subs;
  for (size_t i = 0; i < mine.size(); ++i) {
    if (params[i].shape() != mine[i].second.shape())
      throw std::invalid_argument("forward_with: parameter " + std::to_string(i) + " ('" + mine[i].first + "') is " +
                                  params[i].desc() + ", expected " + mine[i].second.desc());
    subs.emplace(mine[i].second.impl(), params[i]);
  }
  struct Restore {
    const std::unordered_map<const TensorImpl*, Tensor>* prev;
    ~Restore() { t_substitutes = prev; }
  } restore{t_substitutes};
  t_substitutes = &subs;
  return forward(x);
}

Sequential::Sequential(std::vector<std::shared_ptr<Module>> layers) {
  for (auto& l : layers) push_back(std::move(l));
}
void Sequential::push_back(std::shared_ptr<Module> m) { register_module(std::to_string(children().size()), std::move(m)); }
Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& [name, m] : children()) h = m->forward(h);
  return h;
}
std::string Sequential::describe() const { return "Sequential(" + std::to_string(size()) + " layers)"; }

namespace {
void summary_rec(const Module& m, const std::string& prefix, int depth, std::ostringstream& os) {
  os << std::string(size_t(depth * 2), ' ') << (prefix.empty() ? "" : prefix + ": ") << m.describe() << "\n";
  for (auto& [name, child] : m.children()) summary_rec(*child, name, depth + 1, os);
}
}  // namespace

std::string summary(const Module& m) {
  std::ostringstream os;
  summary_rec(m, "", 0, os);
  return os.str();
}

}  // namespace metaloss
