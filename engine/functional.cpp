#include "engine/functional.h"

#include <stdexcept>

#include "engine/ops.h"

namespace metaloss {

std::vector<Tensor> gradients(const Tensor& y, const std::vector<Tensor>& xs) {
  return grad({y}, xs, {}, GradOptions{});
}
std::vector<Tensor> differentiable_gradients(const Tensor& y, const std::vector<Tensor>& xs) {
  GradOptions o;
  o.create_graph = true;
  return grad({y}, xs, {}, o);
}

namespace {
// The point at which f is differentiated: x itself when the caller wants results connected to
// x's own graph, else a fresh leaf with x's values.
Tensor at_point(const Tensor& x, bool create_graph) {
  if (!x.defined() || !is_floating(x.dtype()))
    throw std::invalid_argument("functional autodiff: x must be a float tensor, got " + x.desc());
  if (create_graph && x.requires_grad()) return x;
  Tensor p = x.detach();
  p.set_requires_grad(true);
  return p;
}
void check_like(const Tensor& v, const Tensor& like, const char* fn, const char* what) {
  if (!v.defined() || v.shape() != like.shape() || v.dtype() != like.dtype())
    throw std::invalid_argument(std::string(fn) + ": " + what + " must be " + like.desc() + ", got " + v.desc());
}
Tensor value_of(const Tensor& t, bool create_graph) { return create_graph ? t : t.detach(); }
Tensor call(const TensorFn& f, const Tensor& x, const char* fn) {
  Tensor y = f(x);
  if (!y.defined()) throw std::invalid_argument(std::string(fn) + ": f returned an undefined tensor");
  return y;
}
// grad of y (with weights v) at x; zeros if y does not depend on x.
Tensor grad_at(const Tensor& y, const Tensor& x, const Tensor& v, bool create_graph, bool retain = false) {
  if (!y.requires_grad()) return Tensor::zeros(x.shape(), x.dtype(), x.device());
  GradOptions o;
  o.create_graph = create_graph;
  o.retain_graph = (create_graph || retain) ? 1 : 0;
  o.allow_unused = true;
  Tensor g = grad({y}, {x}, {v}, o)[0];
  return g.defined() ? g : Tensor::zeros(x.shape(), x.dtype(), x.device());
}
}  // namespace

FnResult vjp(const TensorFn& f, const Tensor& x, const Tensor& v, bool create_graph) {
  GradMode on(true);
  Tensor xp = at_point(x, create_graph);
  Tensor y = call(f, xp, "vjp");
  check_like(v, y, "vjp", "v");
  return {value_of(y, create_graph), grad_at(y, xp, v, create_graph)};
}

FnResult jvp(const TensorFn& f, const Tensor& x, const Tensor& u, bool create_graph) {
  check_like(u, x, "jvp", "u");
  GradMode on(true);
  Tensor xp = at_point(x, create_graph);
  Tensor y = call(f, xp, "jvp");
  // J u = d/dw [ (w^T J) u ] for a dummy w: the vjp is linear in w, so its gradient is exact.
  Tensor w = Tensor::zeros(y.shape(), y.dtype(), y.device()).set_requires_grad(true);
  if (!y.requires_grad()) return {value_of(y, create_graph), Tensor::zeros(y.shape(), y.dtype(), y.device())};
  Tensor wj = grad_at(y, xp, w, /*create_graph=*/true);
  Tensor ju = grad_at(sum(mul(wj, u)), w, Tensor::ones(Shape{}, y.dtype(), y.device()), create_graph);
  return {value_of(y, create_graph), ju};
}

FnResult hvp(const TensorFn& f, const Tensor& x, const Tensor& v, bool create_graph) {
  check_like(v, x, "hvp", "v");
  GradMode on(true);
  Tensor xp = at_point(x, create_graph);
  Tensor y = call(f, xp, "hvp");
  if (y.numel() != 1) throw std::invalid_argument("hvp: f must return a scalar, got " + y.desc());
  Tensor g = grad_at(y, xp, Tensor::ones(y.shape(), y.dtype(), y.device()), /*create_graph=*/true);
  Tensor hv = g.requires_grad() ? grad_at(sum(mul(g, v)), xp, Tensor::ones(Shape{}, y.dtype(), y.device()), create_graph)
                                : Tensor::zeros(x.shape(), x.dtype(), x.device());
  return {value_of(y, create_graph), hv};
}

namespace {
// Rows of the Jacobian of y (any shape) with respect to xp, one vjp per output element.
Tensor jacobian_of(const Tensor& y, const Tensor& xp, bool create_graph) {
  const int64_t m = y.numel();
  std::vector<Tensor> rows;
  rows.reserve(size_t(m));
  for (int64_t i = 0; i < m; ++i) {
    Tensor e = Tensor::zeros(Shape{m}, y.dtype(), y.device());
    {
      NoGrad ng;
      make_view(e, Shape{}, Shape{}, i).fill_(1);
    }
    rows.push_back(grad_at(y, xp, reshape(e, y.shape().vec()), create_graph, /*retain=*/true));
  }
  Shape s = y.shape();
  for (int64_t d : xp.shape()) s.push_back(d);
  return reshape(stack(rows, 0), s.vec());
}
}  // namespace

Tensor jacobian(const TensorFn& f, const Tensor& x, bool create_graph) {
  GradMode on(true);
  Tensor xp = at_point(x, create_graph);
  Tensor y = call(f, xp, "jacobian");
  return value_of(jacobian_of(y, xp, create_graph), create_graph);
}

Tensor hessian(const TensorFn& f, const Tensor& x, bool create_graph) {
  GradMode on(true);
  Tensor xp = at_point(x, create_graph);
  Tensor y = call(f, xp, "hessian");
  if (y.numel() != 1) throw std::invalid_argument("hessian: f must return a scalar, got " + y.desc());
  Tensor g = grad_at(y, xp, Tensor::ones(y.shape(), y.dtype(), y.device()), /*create_graph=*/true);
  return value_of(jacobian_of(g, xp, create_graph), create_graph);
}

}  // namespace metaloss
