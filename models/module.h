// Module: named parameters, buffers and children, PyTorch state_dict naming ("features.0.weight"),
// train/eval mode, and a functional call that runs forward with substituted parameter tensors.
//
// The functional call is what unrolled meta-learning needs: an inner loop produces new parameter
// tensors that are connected to the graph (theta' = theta - lr * grad), and the model must run
// with them without copying or patching modules. Layers read their parameters through param(),
// which returns the substitute while a functional call is active on this thread.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/metaloss.h"

namespace metaloss {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
  // What the module is, for listings ("Linear(784 -> 10)").
  virtual std::string describe() const = 0;

  // Parameters in registration order, depth first, with dotted names.
  NamedTensors named_parameters() const;
  std::vector<Tensor> parameters() const;
  NamedTensors named_buffers() const;
  // Parameters then buffers, as PyTorch's state_dict (names are unique across both).
  NamedTensors state_dict() const;
  // Copies values in by name; every entry must exist with the same shape and dtype (strict), so
  // a wrong file fails loudly instead of leaving parameters at their initial values.
  void load_state_dict(const NamedTensors& state, bool strict = true);
  int64_t num_parameters() const;

  // Converts every floating parameter and buffer (recursively) to `dtype`, in place: parameters
  // become new leaf tensors (requiring grad as before), so build optimizers after calling this.
  void to(DType dtype);
  // Moves every parameter and buffer (recursively) to `device`, the same way.
  void to(Device device);
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Runs forward with `params` (same order and shapes as parameters()) in place of the module's
  // own parameters. The module is not modified.
  Tensor forward_with(const std::vector<Tensor>& params, const Tensor& x);

  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

 protected:
  // Registers a parameter (marked requires_grad) and returns its slot index for param().
  size_t register_parameter(const std::string& name, Tensor t);
  size_t register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }
  // The parameter in slot i, or its substitute inside forward_with().
  Tensor param(size_t i) const;
  const Tensor& buffer(size_t i) const { return buffers_[i].second; }

 private:
  void collect(const std::string& prefix, NamedTensors& out, bool params) const;
  NamedTensors params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// Sequential container: children named "0", "1", ... as torch.nn.Sequential.
class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Module>> layers);
  void push_back(std::shared_ptr<Module> m);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  size_t size() const { return children().size(); }
};

// Prints the module tree with parameter names and shapes.
std::string summary(const Module& m);

}  // namespace metaloss
