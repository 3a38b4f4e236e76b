// Functional autodiff helpers. Each takes a function of one tensor and returns values; the names
// say what comes back:
//   gradients(...)                 plain values, no graph (cheap; for reading and for updates)
//   differentiable_gradients(...)  tensors that carry a graph and can be differentiated again
// The helpers vjp/jvp/hvp/jacobian/hessian return plain values unless create_graph is true.
#pragma once
#include <functional>
#include <vector>

#include "engine/autograd.h"

namespace metaloss {

using TensorFn = std::function<Tensor(const Tensor&)>;

// d y / d xs for a scalar y, as plain values.
std::vector<Tensor> gradients(const Tensor& y, const std::vector<Tensor>& xs);
// d y / d xs for a scalar y, recorded (create_graph): differentiate them again for higher orders.
std::vector<Tensor> differentiable_gradients(const Tensor& y, const std::vector<Tensor>& xs);

struct FnResult {
  Tensor output;  // f(x)
  Tensor value;   // the product asked for
};

FnResult vjp(const TensorFn& f, const Tensor& x, const Tensor& v, bool create_graph = false);  // v^T J
FnResult jvp(const TensorFn& f, const Tensor& x, const Tensor& u, bool create_graph = false);  // J u (double-vjp)
FnResult hvp(const TensorFn& f, const Tensor& x, const Tensor& v, bool create_graph = false);  // H v, f scalar
// J with shape f(x).shape + x.shape.
Tensor jacobian(const TensorFn& f, const Tensor& x, bool create_graph = false);
// H with shape x.shape + x.shape, f scalar.
Tensor hessian(const TensorFn& f, const Tensor& x, bool create_graph = false);

}  // namespace metaloss
