// Autodiff behaviour: closed-form higher derivatives, nested differentiation, functional
// helpers, tapes, hooks, no-grad, graph export, non-differentiable points.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/metaloss.h"
#include "gradcheck.h"

using namespace metaloss;
constexpr DType F64 = DType::Float64;

static Tensor param(const Shape& s, uint64_t seed) {
  Generator g(seed);
  Tensor t = randn(s, F64, g);
  t.set_requires_grad(true);
  return t;
}
static double max_abs_diff(const Tensor& a, const Tensor& b) {
  auto x = a.to_vector(), y = b.to_vector();
  REQUIRE(x.size() == y.size());
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

TEST_CASE("Hessian of x^T A x is A + A^T") {
  Generator g(1);
  Tensor A = randn({4, 4}, F64, g);
  Tensor x = randn({4}, F64, g);
  Tensor H = hessian([&](const Tensor& z) { return matmul(z, matmul(A, z)); }, x);
  CHECK(max_abs_diff(H, add(A, transpose(A, 0, 1))) < 1e-12);
}

TEST_CASE("second derivative of tanh in closed form, via grad of grad") {
  Tensor x = param({5}, 2);
  Tensor y = sum(tanh(x));
  Tensor g1 = differentiable_gradients(y, {x})[0];
  CHECK(g1.requires_grad());
  Tensor g2 = gradients(sum(g1), {x})[0];
  CHECK(!g2.requires_grad());
  Tensor t = tanh(x.detach());
  Tensor expect = mul(mul(t, rsub(1.0, square(t))), -2.0);
  CHECK(max_abs_diff(g2, expect) < 1e-12);
  // Third derivative: -2 (1 - t^2)(1 - 3 t^2).
  Tensor y3 = sum(tanh(x));  // the previous graph was freed by the plain gradients() call
  Tensor g2x = differentiable_gradients(sum(differentiable_gradients(y3, {x})[0]), {x})[0];
  Tensor g3 = gradients(sum(g2x), {x})[0];
  Tensor e3 = mul(mul(rsub(1.0, square(t)), rsub(1.0, mul(square(t), 3.0))), -2.0);
  CHECK(max_abs_diff(g3, e3) < 1e-12);
}

// One unrolled SGD step of a model w under a loss weighted by phi, then a validation loss of the
// updated model: d L_val(w - lr dL_train/dw) / d phi needs the gradient of a gradient.
static Tensor unrolled_val_loss(const Tensor& w, const Tensor& phi, const Tensor& x, const Tensor& y,
                                const Tensor& xv, const Tensor& yv, bool create_graph) {
  Tensor r = sub(matmul(x, w), y);
  Tensor train = mean(add(mul(phi, square(r)), mul(mul(phi, phi), tanh(r))));
  GradOptions o;
  o.create_graph = create_graph;
  Tensor gw = grad({train}, {w}, {}, o)[0];
  Tensor w1 = sub(w, mul(gw, 0.1));
  return mean(square(sub(matmul(xv, w1), yv)));
}

TEST_CASE("two-level nested grad (one-step unrolled SGD) matches finite differences") {
  Generator g(3);
  Tensor x = randn({6, 3}, F64, g), y = randn({6}, F64, g), xv = randn({5, 3}, F64, g), yv = randn({5}, F64, g);
  Tensor w = param({3}, 4);
  Tensor phi = Tensor::full({6}, 0.7, F64);
  phi.set_requires_grad(true);
  Tensor val = unrolled_val_loss(w, phi, x, y, xv, yv, true);
  Tensor dphi = gradients(val, {phi})[0];
  const double eps = 1e-6;
  for (int64_t i = 0; i < 6; ++i) {
    double* p = testing::element_ptr(phi, i);
    const double orig = *p;
    *p = orig + eps;
    const double plus = unrolled_val_loss(w, phi, x, y, xv, yv, false).item();
    *p = orig - eps;
    const double minus = unrolled_val_loss(w, phi, x, y, xv, yv, false).item();
    *p = orig;
    CHECK(dphi.at({i}) == doctest::Approx((plus - minus) / (2 * eps)).epsilon(1e-6));
  }
}

TEST_CASE("backward accumulates into .grad; grad() leaves .grad alone") {
  Tensor w = param({3}, 5);
  Tensor loss = sum(square(w));
  GradOptions keep;
  keep.retain_graph = 1;
  Tensor g = grad({loss}, {w}, {}, keep)[0];
  CHECK(!w.grad().defined());
  loss.backward(Tensor(), /*retain_graph=*/true);
  CHECK(max_abs_diff(w.grad(), mul(w.detach(), 2.0)) < 1e-15);
  loss.backward();
  CHECK(max_abs_diff(w.grad(), mul(w.detach(), 4.0)) < 1e-15);
  CHECK(max_abs_diff(g, mul(w.detach(), 2.0)) < 1e-15);
  w.zero_grad();
  CHECK(!w.grad().defined());
}

TEST_CASE("gradient of a tensor used along several paths sums them") {
  Tensor x = param({4}, 6);
  Tensor y = sum(add(mul(x, x), mul(exp(x), 3.0)));  // d/dx = 2x + 3 e^x
  Tensor g = gradients(y, {x})[0];
  CHECK(max_abs_diff(g, add(mul(x.detach(), 2.0), mul(exp(x.detach()), 3.0))) < 1e-12);
}

TEST_CASE("grad of a non-leaf input and of several outputs") {
  Tensor x = param({3}, 7);
  Tensor h = mul(x, 2.0);
  Tensor y1 = sum(square(h)), y2 = sum(h);
  Grads g = grad({y1, y2}, {h}, {Tensor::scalar(1.0, F64), Tensor::scalar(10.0, F64)});
  CHECK(max_abs_diff(g[0], add(mul(h.detach(), 2.0), 10.0)) < 1e-12);
}

TEST_CASE("allow_unused and unreachable inputs") {
  Tensor x = param({2}, 8), z = param({2}, 9);
  Tensor y = sum(x);
  GradOptions o;
  o.allow_unused = true;
  Grads g = grad({y}, {x, z}, {}, o);
  CHECK(g[0].defined());
  CHECK(!g[1].defined());
  CHECK_THROWS_WITH_AS(grad({y}, {z}), doctest::Contains("was not used"), std::invalid_argument);
}

// Issue 18 item 16: an infinite incoming gradient times a flat region is 0, not NaN (PyTorch selects
// with `where` instead of multiplying by a 0/1 mask). Every path: plain gradients, recorded
// (differentiable) gradients, and backward() into .grad.
TEST_CASE("flat regions stop an infinite incoming gradient: 0, not NaN, on every path") {
  struct Case {
    const char* name;
    std::vector<double> x, want;
    Tensor (*f)(const Tensor&);
  };
  const double inf_free = 1.0 / 6.0;
  const std::vector<Case> cases{
      {"sqrt(relu(x))", {-1, 0, 4, 9}, {0, 0, 0.25, inf_free}, [](const Tensor& x) { return sqrt(relu(x)); }},
      {"log(relu(x))", {-1, 0, 4, 9}, {0, 0, 0.25, 1.0 / 9}, [](const Tensor& x) { return log(relu(x)); }},
      {"sqrt(clamp(x, 0, 5))", {-1, 4, 9}, {0, 0.25, 0}, [](const Tensor& x) { return sqrt(clamp(x, 0.0, 5.0)); }},
      {"sqrt(maximum(x, 0))", {-1, 4, 9}, {0, 0.25, inf_free},
       [](const Tensor& x) { return sqrt(maximum(x, Tensor::zeros(x.shape(), F64))); }},
      {"sqrt(-minimum(x, 0))", {-1, 4, 9}, {-0.5, 0, 0}, [](const Tensor& x) { return sqrt(neg(minimum(x, Tensor::zeros(x.shape(), F64)))); }},
  };
  for (const Case& c : cases) {
    const std::string name = c.name;
    CAPTURE(name);
    auto leaf = [&] {
      Tensor x = Tensor::from_vector(c.x, {int64_t(c.x.size())}, F64);
      x.set_requires_grad(true);
      return x;
    };
    Tensor x = leaf();
    const std::vector<double> got = gradients(sum(c.f(x)), {x})[0].to_vector();
    CAPTURE(got);
    CHECK(got == c.want);
    x = leaf();
    CHECK(differentiable_gradients(sum(c.f(x)), {x})[0].to_vector() == c.want);
    x = leaf();
    sum(c.f(x)).backward();
    CHECK(x.grad().to_vector() == c.want);
  }
}

TEST_CASE("non-differentiable points use fixed conventions (not loosened tolerances)") {
  Tensor x = Tensor::from_vector(std::vector<double>{-1, 0, 2}, {3}, F64);
  x.set_requires_grad(true);
  CHECK(gradients(sum(relu(x)), {x})[0].to_vector() == std::vector<double>{0, 0, 1});   // relu'(0) = 0
  CHECK(gradients(sum(abs(x)), {x})[0].to_vector() == std::vector<double>{-1, 0, 1});   // abs'(0) = 0
  CHECK(gradients(sum(sign(x)), {x})[0].to_vector() == std::vector<double>{0, 0, 0});
  {  // clamp: the open interval, 0 at either bound (PyTorch 2.15 with scalar bounds: [0, 1, 0, 0] at
     // x = -0.5, 0, 0.7, 1; bench/compare/check_nondiff_points.py)
    Tensor c = Tensor::from_vector(std::vector<double>{-0.5, 0, 0.7, 1}, {4}, F64);
    c.set_requires_grad(true);
    CHECK(gradients(sum(clamp(c, -0.5, 0.7)), {c})[0].to_vector() == std::vector<double>{0, 1, 0, 0});
  }
  // Elementwise maximum/minimum: ties split the gradient equally.
  Tensor a = Tensor::from_vector(std::vector<double>{1, 2, 3}, {3}, F64), b = Tensor::from_vector(std::vector<double>{1, 5, 0}, {3}, F64);
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  Grads g = grad({sum(maximum(a, b))}, {a, b});
  CHECK(g[0].to_vector() == std::vector<double>{0.5, 0, 1});
  CHECK(g[1].to_vector() == std::vector<double>{0.5, 1, 0});
  // amax over a dim: tied maxima share the gradient.
  Tensor m = Tensor::from_vector(std::vector<double>{3, 1, 3, 2}, {4}, F64);
  m.set_requires_grad(true);
  CHECK(gradients(amax(m), {m})[0].to_vector() == std::vector<double>{0.5, 0, 0.5, 0});
  // max_pool2d: the first maximum in the window takes the gradient.
  Tensor p = Tensor::from_vector(std::vector<double>{1, 1, 1, 1}, {1, 1, 2, 2}, F64);
  p.set_requires_grad(true);
  CHECK(gradients(sum(max_pool2d(p, 2)), {p})[0].to_vector() == std::vector<double>{1, 0, 0, 0});
}

TEST_CASE("vjp, jvp, hvp and jacobian agree with each other") {
  Generator gen(10);
  Tensor A = randn({3, 4}, F64, gen);
  Tensor x = randn({4}, F64, gen), u = randn({4}, F64, gen), v = randn({3}, F64, gen);
  auto f = [&](const Tensor& z) { return tanh(matmul(A, z)); };
  Tensor J = jacobian(f, x);
  CHECK(J.shape() == Shape{3, 4});
  CHECK(max_abs_diff(vjp(f, x, v).value, matmul(v, J)) < 1e-12);
  CHECK(max_abs_diff(jvp(f, x, u).value, matmul(J, u)) < 1e-12);
  auto s = [&](const Tensor& z) { return sum(square(f(z))); };
  Tensor H = hessian(s, x);
  CHECK(max_abs_diff(hvp(s, x, u).value, matmul(H, u)) < 1e-12);
  CHECK(max_abs_diff(H, transpose(H, 0, 1)) < 1e-12);
  // Results are plain values unless create_graph is asked for.
  CHECK(!hvp(s, x, u).value.requires_grad());
  Tensor xr = param({4}, 11);
  FnResult r = hvp(s, xr, u, /*create_graph=*/true);
  CHECK(r.value.requires_grad());
  // Third derivative through the differentiable hvp: d/dx <Hv, u> checked by finite differences.
  auto third = [&](const std::vector<Tensor>& in) { return sum(mul(hvp(s, in[0], u, true).value, u)); };
  auto res = testing::gradcheck(third, {xr});
  CHECK_MESSAGE(res.ok, res.message);
}

TEST_CASE("retain_graph, and a clear error when backpropagating through a freed graph") {
  Tensor x = param({3}, 12);
  Tensor y = sum(exp(x));
  y.backward();
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("a second time"), std::runtime_error);
  Tensor z = sum(exp(x));
  GradOptions keep;
  keep.retain_graph = 1;
  grad({z}, {x}, {}, keep);
  CHECK_NOTHROW(grad({z}, {x}));
}

TEST_CASE("in-place modification of a saved tensor is detected") {
  Tensor w = param({3}, 13);
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3}, {3}, F64);
  Tensor y = sum(mul(w, x));  // saves x
  x.mul_(2.0);                // x needs no grad: allowed, but bumps its version
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("modified in place"), std::runtime_error);
  // Modifying a tensor that requires grad while recording is refused up front.
  CHECK_THROWS_WITH_AS(w.add_(Tensor::ones({3}, F64)), doctest::Contains("in-place"), std::invalid_argument);
  {
    NoGrad ng;  // an optimizer step: allowed
    w.add_(Tensor::ones({3}, F64), -0.1);
  }
}

TEST_CASE("NoGrad records nothing; Tape scopes nest and re-enable recording") {
  Tensor w = param({3}, 14);
  {
    NoGrad ng;
    Tensor y = mul(w, 2.0);
    CHECK(!y.requires_grad());
    CHECK(!grad_mode_enabled());
    {
      Tape inner;  // an inner training loop that needs gradients inside an evaluation loop
      Tensor z = mul(w, 3.0);
      CHECK(z.requires_grad());
      CHECK(inner.recorded() == 1);
    }
    CHECK(!grad_mode_enabled());
  }
  Tape outer;
  Tensor a = exp(w);
  Tensor g;
  size_t inner_nodes = 0;
  {
    Tape inner;
    Tensor b = sum(mul(a, a));
    CHECK(inner.recorded() == 2);
    g = differentiable_gradients(b, {w})[0];
    inner_nodes = inner.recorded();
    CHECK(inner_nodes > 2);  // the create_graph backward pass is recorded too
    CHECK(g.requires_grad());
  }
  // Nodes still needed (by g) were handed to the outer scope; the rest were freed with b.
  const size_t alive = outer.nodes().size();
  CHECK(alive > 1);
  CHECK(alive <= 1 + inner_nodes);
  CHECK(gradients(sum(g), {w})[0].defined());  // the outer meta-gradient still works
}

TEST_CASE("tensor hooks see and may replace gradients") {
  Tensor x = param({3}, 15);
  Tensor h = mul(x, 2.0);
  Tensor seen;
  h.register_hook([&](const Tensor& g) {
    seen = g;
    return mul(g, 10.0);
  });
  Tensor g = gradients(sum(h), {x})[0];
  CHECK(seen.to_vector() == std::vector<double>{1, 1, 1});
  CHECK(g.to_vector() == std::vector<double>{20, 20, 20});
  Tensor leaf_seen;
  x.register_hook([&](const Tensor& gr) {
    leaf_seen = gr;
    return Tensor();
  });
  sum(x).backward();
  CHECK(leaf_seen.to_vector() == std::vector<double>{1, 1, 1});
}

TEST_CASE("detach cuts the graph") {
  Tensor x = param({2}, 16);
  Tensor y = mul(x, 3.0).detach();
  CHECK(!y.requires_grad());
  CHECK(y.is_leaf());
  CHECK_THROWS_AS(sum(y).backward(), std::invalid_argument);
}

TEST_CASE("to_dot exports forward and double-backward graphs") {
  Tensor x = param({3}, 17);
  x.set_name("x");
  Tensor y = sum(tanh(x));
  std::string fwd = to_dot({y});
  CHECK(fwd.find("digraph") != std::string::npos);
  CHECK(fwd.find("tanh") != std::string::npos);
  CHECK(fwd.find("leaf 'x'") != std::string::npos);
  CHECK(fwd.find("float64[3]") != std::string::npos);
  Tensor g = differentiable_gradients(y, {x})[0];
  std::string dbl = to_dot({g});
  CHECK(dbl.find("backward of tanh") != std::string::npos);
  CHECK(dbl.find("lightblue") != std::string::npos);
}

TEST_CASE("float32 gradients agree with float64") {
  Tensor x64 = param({4, 3}, 18);
  Tensor x32 = x64.detach().to(DType::Float32);
  x32.set_requires_grad(true);
  auto f = [](const Tensor& x) { return sum(mul(log_softmax(x, 1), tanh(x))); };
  Tensor g64 = gradients(f(x64), {x64})[0], g32 = gradients(f(x32), {x32})[0];
  CHECK(max_abs_diff(g64, g32.to(F64)) < 1e-5);
  // Cast is differentiable between float types.
  Tensor gc = gradients(sum(square(x64.to(DType::Float32))), {x64})[0];
  CHECK(gc.dtype() == F64);
  CHECK(max_abs_diff(gc, mul(x64.detach(), 2.0)) < 1e-5);
}

TEST_CASE("batch_norm running statistics and dropout scaling") {
  Generator gen(19);
  Tensor x = randn({8, 3}, F64, gen);
  Tensor rm = Tensor::zeros({3}, F64), rv = Tensor::ones({3}, F64);
  Tensor y = batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.1);
  // Normalised output: zero mean, unit (biased) variance per channel.
  CHECK(std::abs(mean(y, {0}).at({1})) < 1e-12);
  CHECK(mean(square(y), {0}).at({2}) == doctest::Approx(1.0).epsilon(1e-4));
  // Running mean moved 10% towards the batch mean; running var uses the unbiased estimate.
  const double bm = mean(x, {0}).at({0});
  CHECK(rm.at({0}) == doctest::Approx(0.1 * bm));
  double ss = 0;
  for (int64_t i = 0; i < 8; ++i) ss += (x.at({i, 0}) - bm) * (x.at({i, 0}) - bm);
  CHECK(rv.at({0}) == doctest::Approx(0.9 + 0.1 * ss / 7));
  Tensor ones = Tensor::ones({10000}, F64);
  Tensor d = dropout(ones, 0.25, true, gen);
  const double kept = sum(gt(d, 0.0)).item();
  CHECK(kept / 10000 == doctest::Approx(0.75).epsilon(0.03));
  CHECK(amax(d).item() == doctest::Approx(1 / 0.75));
  CHECK(dropout(ones, 0.25, false).same(ones));
}

// tanh and sigmoid use a fused backward kernel when the backward pass records no graph, and the
// composed rule (differentiable again) under create_graph: the two must give the same gradient.
TEST_CASE("fused tanh/sigmoid/relu backward equals the composed rule") {
  Generator gen(21);
  for (DType dt : {DType::Float32, DType::Float64})
    for (auto op : {&metaloss::tanh, &metaloss::sigmoid, &metaloss::relu}) {
      Tensor x = mul(randn({37, 19}, dt, gen), 2.0);
      x.set_requires_grad(true);
      Tensor w = randn({37, 19}, dt, gen);
      w.set_requires_grad(true);  // so the composed relu gradient (w * mask) is in the graph too
      Tensor fused = grad({sum(mul(op(x), w))}, {x})[0];
      Tensor composed = grad({sum(mul(op(x), w))}, {x}, {}, {.create_graph = true})[0];
      REQUIRE(composed.requires_grad());  // the composed path really ran
      CHECK(amax(abs(sub(fused, composed.detach()))).item() <= (dt == DType::Float32 ? 1e-6 : 0.0));
    }
}

// A hook that runs grad() while the outer backward is sweeping: the inner walk re-marks nodes
// (including the shared leaf accumulator of x), which must not disturb the outer pass.
TEST_CASE("grad() called from a hook during backward leaves the outer pass intact") {
  Tensor x = Tensor::from_vector(std::vector<double>{0.5, -1.0, 2.0}, {3}, DType::Float64);
  x.set_requires_grad(true);
  Tensor h = mul(x, x);  // h = x^2
  double inner_value = 0;
  h.register_hook([&](const Tensor& g) {
    GradMode record(true);   // backward runs with recording off
    Tensor z = sum(exp(x));  // an unrelated graph over the same leaf
    inner_value = grad({z}, {x})[0].to_vector()[1];
    return g;
  });
  Tensor y = sum(mul(h, 3.0));  // dy/dx = 6x
  Tensor gx = grad({y}, {x})[0];
  const auto v = gx.to_vector();
  CHECK(v[0] == doctest::Approx(3.0));
  CHECK(v[1] == doctest::Approx(-6.0));
  CHECK(v[2] == doctest::Approx(12.0));
  CHECK(inner_value == doctest::Approx(std::exp(-1.0)));
}

TEST_CASE("conv2d with recompute on equals the saved-columns path, through a meta-gradient") {
  // set_conv_recompute swaps which tensors conv2d keeps for backward (input and weight instead
  // of the im2col columns): the value, the gradient and the second-order meta-gradient of an
  // unrolled step must not change.
  Generator gen(11);
  Tensor x = randn({3, 4, 7, 6}, DType::Float64, gen);
  Tensor w0 = mul(randn({4, 4, 3, 3}, DType::Float64, gen), 0.3), b0 = randn({4}, DType::Float64, gen);
  Tensor phi0 = randn({4}, DType::Float64, gen);
  auto run = [&](bool recompute) {
    const bool before = conv_recompute();
    set_conv_recompute(recompute);
    Tensor w = w0.clone().set_requires_grad(true), b = b0.clone().set_requires_grad(true);
    Tensor phi = phi0.clone().set_requires_grad(true);
    auto f = [&](const Tensor& wt) {
      return conv2d(tanh(conv2d(x, wt, b, 1, 1)), wt, Tensor(), 1, 1);
    };
    // Inner loss weighted by phi per channel, one differentiable SGD step, outer loss.
    Tensor inner = sum(mul(square(f(w)), reshape(phi, {1, 4, 1, 1})));
    Grads gw = grad({inner}, {w}, {}, {.create_graph = true});
    Tensor w1 = add(w, gw[0], -0.01);
    Tensor outer = sum(square(f(w1)));
    Grads meta = grad({outer}, {phi, b});
    set_conv_recompute(before);
    return std::vector<Tensor>{f(w0).detach(), gw[0].detach(), meta[0], meta[1]};
  };
  auto a = run(false), r = run(true);
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("output " << i);
    CHECK(amax(abs(sub(a[i], r[i]))).item() <= 1e-10 * (1 + amax(abs(a[i])).item()));
  }
}
