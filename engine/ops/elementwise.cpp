// Elementwise ops and their backward rules (each rule uses engine ops only, so it can itself be
// differentiated when the backward pass runs with create_graph).
#include "engine/ops/common.h"

namespace metaloss {
using namespace detail;
using kernels::BinaryOp;
using kernels::CompareOp;
using kernels::UnaryOp;

namespace {

Tensor unary_fwd(UnaryOp k, const Tensor& x, const char* op, double a = 0, double b = 0) {
  check_float(x, op);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  kernels::unary(k, x.view(), out.view(), a, b);
  return out;
}

Tensor binary_fwd(BinaryOp k, const Tensor& a, const Tensor& b, const char* op) {
  check_same_dtype(a, b, op);
  const Shape s = a.shape() == b.shape() ? a.shape() : broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = Tensor::empty(s, a.dtype(), a.device());
  kernels::binary(k, broadcast_view(a, s), broadcast_view(b, s), out.view());
  return out;
}

// Gradient of a broadcast binary op for input i that passes g through: the engine reduces a
// gradient of the broadcast shape back to the input's (backward() calls sum_to), so rules do not.
inline Tensor to_input(const Node& n, size_t i, const Tensor& g) { return n.needs_grad(i) ? g : Tensor(); }

Tensor compare_fwd(CompareOp k, const Tensor& a, const Tensor& b, const char* op) {
  METALOSS_PROFILE_SCOPE(op, "op");
  check_same_dtype(a, b, op);
  const Shape s = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = Tensor::empty(s, DType::Bool, a.device());
  kernels::compare(k, broadcast_view(a, s), broadcast_view(b, s), out.view());
  return out;
}
Tensor compare_scalar_fwd(CompareOp k, const Tensor& a, double v, const char* op) {
  METALOSS_PROFILE_SCOPE(op, "op");
  check_defined(a, op);
  Tensor out = Tensor::empty(a.shape(), DType::Bool, a.device());
  kernels::compare_scalar(k, a.view(), v, out.view());
  return out;
}

}  // namespace

// ---- binary --------------------------------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b) {
  METALOSS_PROFILE_SCOPE("add", "op");
  Tensor out = binary_fwd(BinaryOp::Add, a, b, "add");
  if (should_record(a, b))
    record("add", {a, b}, out, {}, [](Node& n, const Tensor& g) -> RuleGrads {
      return {to_input(n, 0, g), to_input(n, 1, g)};
    });
  return out;
}

// a + alpha * b: one kernel pass (axpby) instead of mul then add, and one node on the tape; the
// differentiable SGD step theta - lr * g is add(theta, g, -lr).
Tensor add(const Tensor& a, const Tensor& b, double alpha) {
  METALOSS_PROFILE_SCOPE("add", "op");
  check_same_dtype(a, b, "add");
  check_float(a, "add");
  const Shape s = a.shape() == b.shape() ? a.shape() : broadcast_shapes(a.shape(), b.shape(), "add");
  Tensor out = Tensor::empty(s, a.dtype(), a.device());
  kernels::axpby(broadcast_view(a, s), broadcast_view(b, s), out.view(), 1.0, alpha);
  if (should_record(a, b))
    // (b's gradient is reduced before it is scaled: fewer elements to scale)
    record("add_scaled", {a, b}, out, {}, [sb = b.shape(), alpha](Node& n, const Tensor& g) -> RuleGrads {
      return {to_input(n, 0, g), n.needs_grad(1) ? mul(sum_to(g, sb), alpha) : Tensor()};
    });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  METALOSS_PROFILE_SCOPE("sub", "op");
  Tensor out = binary_fwd(BinaryOp::Sub, a, b, "sub");
  if (should_record(a, b))
    record("sub", {a, b}, out, {}, [sb = b.shape()](Node& n, const Tensor& g) -> RuleGrads {
      return {to_input(n, 0, g), n.needs_grad(1) ? neg(sum_to(g, sb)) : Tensor()};
    });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  METALOSS_PROFILE_SCOPE("mul", "op");
  Tensor out = binary_fwd(BinaryOp::Mul, a, b, "mul");
  if (should_record(a, b))
    record("mul", {a, b}, out, {a, b}, [](Node& n, const Tensor& g) -> RuleGrads {
      Tensor ga, gb;
      if (n.needs_grad(0)) ga = mul(g, n.saved_tensor(1));
      if (n.needs_grad(1)) gb = mul(g, n.saved_tensor(0));
      return {ga, gb};
    });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  METALOSS_PROFILE_SCOPE("div", "op");
  Tensor out = binary_fwd(BinaryOp::Div, a, b, "div");
  if (should_record(a, b))
    record("div", {a, b}, out, {b, out}, [](Node& n, const Tensor& g) -> RuleGrads {
      Tensor b = n.saved_tensor(0), ga, gb;
      if (n.needs_grad(0)) ga = div(g, b);
      if (n.needs_grad(1)) gb = neg(div(mul(g, n.saved_tensor(1)), b));  // -g a / b^2
      return {ga, gb};
    });
  return out;
}

Tensor pow(const Tensor& a, const Tensor& b) {
  METALOSS_PROFILE_SCOPE("pow", "op");
  Tensor out = binary_fwd(BinaryOp::Pow, a, b, "pow");
  if (should_record(a, b))
    record("pow", {a, b}, out, {a, b, out}, [](Node& n, const Tensor& g) -> RuleGrads {
      Tensor a = n.saved_tensor(0), b = n.saved_tensor(1), ga, gb;
      // d/da a^b = b a^(b-1), defined as 0 where b == 0 (else 0 * 0^-1 = NaN at a = 0), as PyTorch.
      if (n.needs_grad(0)) {
        Tensor d = mul(b, pow(a, add(b, -1.0)));
        ga = mul(g, where(eq(b, 0.0), zeros_like(d), d));
      }
      if (n.needs_grad(1)) {
        // d/db a^b = a^b log a; defined as 0 where a == 0 and b >= 0 (as PyTorch).
        Tensor zero_base = mul(eq(a, 0.0), ge(b, 0.0));
        Tensor y = n.saved_tensor(2);
        gb = mul(g, where(zero_base, zeros_like(y), mul(y, log(a))));
      }
      return {ga, gb};
    });
  return out;
}

namespace {
// maximum/minimum: the gradient goes to the selected operand; on ties it is split equally.
Tensor min_max(const Tensor& a, const Tensor& b, bool is_max) {
  METALOSS_PROFILE_SCOPE("min_max", "op");
  const char* name = is_max ? "maximum" : "minimum";
  METALOSS_PROFILE_SCOPE(name, "op");
  Tensor out = binary_fwd(is_max ? BinaryOp::Max : BinaryOp::Min, a, b, name);
  if (should_record(a, b))
    record(name, {a, b}, out, {a, b},
           [is_max](Node& n, const Tensor& g) -> RuleGrads {
             Tensor a = n.saved_tensor(0), b = n.saved_tensor(1);
             // Selected, not multiplied by a 0/1 mask: an infinite incoming gradient must give 0 to
             // the operand not chosen (inf * 0 is NaN), as PyTorch's where-based rule does.
             const Tensor tie = eq(a, b), half = where(tie, mul(g, 0.5), zeros_like(g));
             Tensor ga, gb;
             if (n.needs_grad(0)) ga = where(is_max ? gt(a, b) : lt(a, b), g, half);
             if (n.needs_grad(1)) gb = where(is_max ? lt(a, b) : gt(a, b), g, half);
             return {ga, gb};
           });
  return out;
}
}  // namespace
Tensor maximum(const Tensor& a, const Tensor& b) { return min_max(a, b, true); }
Tensor minimum(const Tensor& a, const Tensor& b) { return min_max(a, b, false); }

// ---- tensor-scalar ----------------------------------------------------------------------------
Tensor add(const Tensor& a, double s) {
  METALOSS_PROFILE_SCOPE("add", "op");
  Tensor out = unary_fwd(UnaryOp::AddScalar, a, "add", s);
  if (should_record(a)) record("add_scalar", {a}, out, {}, [](Node&, const Tensor& g) -> RuleGrads { return {g}; });
  return out;
}
Tensor mul(const Tensor& a, double s) {
  METALOSS_PROFILE_SCOPE("mul", "op");
  Tensor out = unary_fwd(UnaryOp::MulScalar, a, "mul", s);
  if (should_record(a))
    record("mul_scalar", {a}, out, {}, [s](Node&, const Tensor& g) -> RuleGrads { return {mul(g, s)}; });
  return out;
}
Tensor pow(const Tensor& a, double c) {
  METALOSS_PROFILE_SCOPE("pow", "op");
  Tensor out = unary_fwd(UnaryOp::PowScalar, a, "pow", c);
  if (should_record(a))
    record("pow_scalar", {a}, out, {a}, [c](Node& n, const Tensor& g) -> RuleGrads {
      if (c == 0) return {zeros_like(g)};
      Tensor x = n.saved_tensor(0);
      return {mul(g, c == 2 ? mul(x, 2.0) : mul(pow(x, c - 1), c))};
    });
  return out;
}
Tensor rsub(double s, const Tensor& a) {
  METALOSS_PROFILE_SCOPE("rsub", "op");
  Tensor out = unary_fwd(UnaryOp::RSubScalar, a, "rsub", s);
  if (should_record(a)) record("rsub_scalar", {a}, out, {}, [](Node&, const Tensor& g) -> RuleGrads { return {neg(g)}; });
  return out;
}
Tensor rdiv(double s, const Tensor& a) {
  METALOSS_PROFILE_SCOPE("rdiv", "op");
  Tensor out = unary_fwd(UnaryOp::RDivScalar, a, "rdiv", s);
  if (should_record(a))
    record("rdiv_scalar", {a}, out, {a, out}, [](Node& n, const Tensor& g) -> RuleGrads {
      return {neg(div(mul(g, n.saved_tensor(1)), n.saved_tensor(0)))};  // -g (s/x) / x
    });
  return out;
}

// ---- unary --------------------------------------------------------------------------------
Tensor neg(const Tensor& x) {
  METALOSS_PROFILE_SCOPE("neg", "op");
  check_defined(x, "neg");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  kernels::unary(UnaryOp::Neg, x.view(), out.view());
  if (should_record(x)) record("neg", {x}, out, {}, [](Node&, const Tensor& g) -> RuleGrads { return {neg(g)}; });
  return out;
}
Tensor exp(const Tensor& x) {
  METALOSS_PROFILE_SCOPE("exp", "op");
  Tensor y = unary_fwd(UnaryOp::Exp, x, "exp");
  if (should_record(x))
    record("exp", {x}, y, {y}, [](Node& n, const Tensor& g) -> RuleGrads { return {mul(g, n.saved_tensor(0))}; });
  return y;
}
Tensor log(const Tensor& x) {
  METALOSS_PROFILE_SCOPE("log", "op");
  Tensor y = unary_fwd(UnaryOp::Log, x, "log");
  if (should_record(x))
    record("log", {x}, y, {x}, [](Node& n, const Tensor& g) -> RuleGrads { return {div(g, n.saved_tensor(0))}; });
  return y;
}
Tensor sqrt(const Tensor& x) {
  METALOSS_PROFILE_SCOPE("sqrt", "op");
  Tensor y = unary_fwd(UnaryOp::Sqrt, x, "sqrt");
  if (should_record(x))
    record("sqrt", {x}, y, {y}, [](Node& n, const Tensor& g) -> RuleGrads {
      return {div(mul(g, 0.5), n.saved_tensor(0))};
    });
  return y;
}
Tensor rsqrt(const Tensor& x) {
  METALOSS_PROFILE_SCOPE("rsqrt", "op");
  Tensor y = unary_fwd(UnaryOp::Rsqrt, x, "rsqrt");
  if (should_record(x))
    record("rsqrt", {x}, y, {y}, [](Node& n, const Tensor& g) -> RuleGrads {
      Tensor y = n.saved_tensor(0);
      return {mul(mul(g, pow(y, 3.0)), -0.5)};
    });
  return y;
}
Tensor abs(const Tensor& x) {
  METALOSS_PROFILE_SCOPE("abs", "op");
  check_defined(x, "abs");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  kernels::unary(UnaryOp::Abs, x.view(), y.view());
  if (should_record(x))
    record("abs", {x}, y, {x}, [](Node& n, const Tensor& g) -> RuleGrads { return {mul(g, sign(n.saved_tensor(0)))}; });
  return y;
}
Tensor sign(const Tensor& x) {
  METALOSS_PROFILE_SCOPE("sign", "op");
  Tensor y = unary_fwd(UnaryOp::Sign, x, "sign");
  if (should_record(x)) record("sign", {x}, y, {}, [](Node&, const Tensor& g) -> RuleGrads { return {zeros_like(g)}; });
  return y;
}
Tensor square(const Tensor& x) {
  METALOSS_PROFILE_SCOPE("square", "op");
  Tensor y = unary_fwd(UnaryOp::Square, x, "square");
  if (should_record(x))
    record("square", {x}, y, {x}, [](Node& n, const Tensor& g) -> RuleGrads {
      return {mul(g, mul(n.saved_tensor(0), 2.0))};
    });
  return y;
}
Tensor tanh(const Tensor& x) {
  METALOSS_PROFILE_SCOPE("tanh", "op");
  Tensor y = unary_fwd(UnaryOp::Tanh, x, "tanh");
  if (should_record(x))
    record("tanh", {x}, y, {y}, [](Node& n, const Tensor& g) -> RuleGrads { return {tanh_backward(g, n.saved_tensor(0))}; });
  return y;
}
Tensor sigmoid(const Tensor& x) {
  METALOSS_PROFILE_SCOPE("sigmoid", "op");
  Tensor y = unary_fwd(UnaryOp::Sigmoid, x, "sigmoid");
  if (should_record(x))
    record("sigmoid", {x}, y, {y}, [](Node& n, const Tensor& g) -> RuleGrads { return {sigmoid_backward(g, n.saved_tensor(0))}; });
  return y;
}
Tensor relu(const Tensor& x) {
  METALOSS_PROFILE_SCOPE("relu", "op");
  Tensor y = unary_fwd(UnaryOp::Relu, x, "relu");
  if (should_record(x))
    record("relu", {x}, y, {x}, [](Node& n, const Tensor& g) -> RuleGrads { return {relu_backward(g, n.saved_tensor(0))}; });
  return y;
}

// The fused backward rules: one kernel pass each, and recorded ops of their own (PyTorch's
// tanh_backward), so a second backward differentiates them like any other op; no rule branches
// on the grad mode. The rules are linear in the incoming gradient g; the derivative in the saved
// tensor is the second derivative of the activation.
Tensor tanh_backward(const Tensor& g, const Tensor& y) {
  METALOSS_PROFILE_SCOPE("tanh_backward", "op");
  Tensor out = binary_fwd(BinaryOp::TanhBackward, g, y, "tanh_backward");
  if (should_record(g, y))
    record("tanh_backward", {g, y}, out, {g, y}, [](Node& n, const Tensor& gg) -> RuleGrads {
      const Tensor g = n.saved_tensor(0), y = n.saved_tensor(1);
      Tensor dg, dy;
      if (n.needs_grad(0)) dg = tanh_backward(gg, y);
      if (n.needs_grad(1)) dy = mul(mul(gg, g), mul(y, -2.0));  // d/dy g (1 - y^2) = -2 g y
      return {dg, dy};
    });
  return out;
}
Tensor sigmoid_backward(const Tensor& g, const Tensor& y) {
  METALOSS_PROFILE_SCOPE("sigmoid_backward", "op");
  Tensor out = binary_fwd(BinaryOp::SigmoidBackward, g, y, "sigmoid_backward");
  if (should_record(g, y))
    record("sigmoid_backward", {g, y}, out, {g, y}, [](Node& n, const Tensor& gg) -> RuleGrads {
      const Tensor g = n.saved_tensor(0), y = n.saved_tensor(1);
      Tensor dg, dy;
      if (n.needs_grad(0)) dg = sigmoid_backward(gg, y);
      if (n.needs_grad(1)) dy = mul(mul(gg, g), rsub(1.0, mul(y, 2.0)));  // d/dy g y (1 - y) = g (1 - 2y)
      return {dg, dy};
    });
  return out;
}
Tensor relu_backward(const Tensor& g, const Tensor& x) {
  METALOSS_PROFILE_SCOPE("relu_backward", "op");
  // A select (x > 0 ? g : 0), not g times a 0/1 mask: an infinite g over x <= 0 gives 0 (PyTorch).
  Tensor out = binary_fwd(BinaryOp::ReluBackward, g, x, "relu_backward");
  if (should_record(g, x))
    record("relu_backward", {g, x}, out, {x}, [](Node& n, const Tensor& gg) -> RuleGrads {
      // Piecewise constant in x: its gradient is zero (defined, as PyTorch's threshold_backward).
      const Tensor x = n.saved_tensor(0);
      return {n.needs_grad(0) ? relu_backward(gg, x) : Tensor(), n.needs_grad(1) ? zeros_like(x) : Tensor()};
    });
  return out;
}
Tensor leaky_relu(const Tensor& x, double slope) {
  METALOSS_PROFILE_SCOPE("leaky_relu", "op");
  Tensor y = unary_fwd(UnaryOp::LeakyRelu, x, "leaky_relu", slope);
  if (should_record(x))
    record("leaky_relu", {x}, y, {x}, [slope](Node& n, const Tensor& g) -> RuleGrads {
      Tensor x = n.saved_tensor(0);
      return {where(gt(x, 0.0), g, mul(g, slope))};
    });
  return y;
}
Tensor softplus(const Tensor& x, double beta, double threshold) {
  METALOSS_PROFILE_SCOPE("softplus", "op");
  if (beta == 0) fail("softplus", "beta must be non-zero");
  Tensor y = unary_fwd(UnaryOp::Softplus, x, "softplus", beta, threshold);
  if (should_record(x))
    record("softplus", {x}, y, {x}, [beta, threshold](Node& n, const Tensor& g) -> RuleGrads {
      Tensor x = n.saved_tensor(0);
      Tensor bx = mul(x, beta);
      return {mul(g, where(gt(bx, threshold), ones_like(x), sigmoid(bx)))};
    });
  return y;
}
Tensor clamp(const Tensor& x, double lo, double hi) {
  METALOSS_PROFILE_SCOPE("clamp", "op");
  if (lo > hi) fail("clamp", "min " + std::to_string(lo) + " exceeds max " + std::to_string(hi));
  Tensor y = unary_fwd(UnaryOp::Clamp, x, "clamp", lo, hi);
  if (should_record(x))
    record("clamp", {x}, y, {x}, [lo, hi](Node& n, const Tensor& g) -> RuleGrads {
      Tensor x = n.saved_tensor(0);
      // The open interval, as PyTorch 2.x for scalar bounds (0 at x = lo and x = hi; 1.13 gave 1
      // there); selects, not a 0/1 mask: inf * 0 would be NaN.
      const Tensor zero = zeros_like(g);
      return {where(gt(x, lo), where(lt(x, hi), g, zero), zero)};
    });
  return y;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  METALOSS_PROFILE_SCOPE("where", "op");
  check_defined(cond, "where", "condition");
  if (cond.dtype() != DType::Bool) fail("where", "condition must be bool, got " + cond.desc());
  check_same_dtype(a, b, "where");
  check_same_device(cond, a, "where");
  const Shape s = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = Tensor::empty(s, a.dtype(), a.device());
  kernels::where(broadcast_view(cond, s), broadcast_view(a, s), broadcast_view(b, s), out.view());
  if (should_record(a, b))
    record("where", {a, b}, out, {cond}, [](Node& n, const Tensor& g) -> RuleGrads {
      Tensor c = n.saved_tensor(0), z = Tensor::zeros(Shape{}, g.dtype(), g.device()), ga, gb;
      if (n.needs_grad(0)) ga = where(c, g, z);
      if (n.needs_grad(1)) gb = where(c, z, g);
      return {ga, gb};
    });
  return out;
}

// ---- comparisons -------------------------------------------------------------------------
Tensor eq(const Tensor& a, const Tensor& b) { return compare_fwd(CompareOp::Eq, a, b, "eq"); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare_fwd(CompareOp::Ne, a, b, "ne"); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare_fwd(CompareOp::Lt, a, b, "lt"); }
Tensor le(const Tensor& a, const Tensor& b) { return compare_fwd(CompareOp::Le, a, b, "le"); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare_fwd(CompareOp::Gt, a, b, "gt"); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare_fwd(CompareOp::Ge, a, b, "ge"); }
Tensor eq(const Tensor& a, double s) { return compare_scalar_fwd(CompareOp::Eq, a, s, "eq"); }
Tensor lt(const Tensor& a, double s) { return compare_scalar_fwd(CompareOp::Lt, a, s, "lt"); }
Tensor le(const Tensor& a, double s) { return compare_scalar_fwd(CompareOp::Le, a, s, "le"); }
Tensor gt(const Tensor& a, double s) { return compare_scalar_fwd(CompareOp::Gt, a, s, "gt"); }
Tensor ge(const Tensor& a, double s) { return compare_scalar_fwd(CompareOp::Ge, a, s, "ge"); }

// ---- dtype conversion --------------------------------------------------------------------
Tensor cast(const Tensor& x, DType dtype) {
  METALOSS_PROFILE_SCOPE("cast", "op");
  check_defined(x, "cast");
  if (x.dtype() == dtype) return x;
  Tensor out = Tensor::empty(x.shape(), dtype, x.device());
  kernels::copy(x.view(), out.view());
  if (is_floating(dtype) && should_record(x))
    record("cast", {x}, out, {}, [from = x.dtype()](Node&, const Tensor& g) -> RuleGrads { return {cast(g, from)}; });
  return out;
}

}  // namespace metaloss
