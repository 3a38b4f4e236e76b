#include <array>
#include "op_records.h"

#include <algorithm>
#include <cmath>

namespace metaloss::testing {
namespace {

using V = std::vector<double>;
using Ts = std::vector<Tensor>;
constexpr DType F64 = DType::Float64;

Generator& gen() {
  static Generator g(2024);
  return g;
}

// ---- input makers ----------------------------------------------------------------------
Tensor leaf(Tensor t) {
  t.set_requires_grad(true);
  return t;
}
Tensor uni(const Shape& s, double lo, double hi) { return uniform(s, lo, hi, F64, gen()); }
// Values with |x| in [lo, hi] and a random sign: keeps clear of kinks at 0.
Tensor away0(const Shape& s, double lo = 0.2, double hi = 1.5) {
  Tensor mag = uni(s, lo, hi);
  Tensor sgn = sign(uni(s, -1, 1));
  return mul(mag, where(eq(sgn, 0.0), Tensor::ones(Shape{}, F64), sgn));
}
// The same values laid out transposed (a non-contiguous leaf). `s` is the logical shape.
Tensor transposed(const Tensor& contiguous_values) {
  Tensor base = contiguous(transpose(contiguous_values, 0, 1));  // physical layout [b, a]
  return transpose(base, 0, 1);                                  // logical [a, b], strides swapped
}
// Every other element of a [rows, 2*cols] buffer: a strided leaf.
Tensor strided(const Tensor& values) {
  Shape s = values.shape();
  Shape big = s;
  big[s.size() - 1] *= 2;
  Tensor base = Tensor::zeros(big, F64);
  Tensor v = slice(base, -1, 0, big.back(), 2);
  v.copy_(values);
  return v;
}
Tensor idx(const std::vector<int64_t>& v, const Shape& s) { return Tensor::from_vector(v, s); }

// Standard unary samples: contiguous, transposed, strided, 0-d. `make` draws values of a shape.
std::function<std::vector<Sample>()> unary_samples(std::function<Tensor(const Shape&)> make) {
  return [make] {
    return std::vector<Sample>{{"contiguous [3, 4]", {leaf(make({3, 4}))}},
                               {"transposed [4, 3]", {leaf(transposed(make({4, 3})))}},
                               {"strided [2, 3]", {leaf(strided(make({2, 3})))}},
                               {"0-d", {leaf(make({}))}}};
  };
}
std::function<std::vector<Sample>()> binary_samples(std::function<Tensor(const Shape&)> ma,
                                                    std::function<Tensor(const Shape&)> mb) {
  return [ma, mb] {
    return std::vector<Sample>{
        {"same [3, 4]", {leaf(ma({3, 4})), leaf(mb({3, 4}))}},
        {"broadcast [3, 1] x [1, 4]", {leaf(ma({3, 1})), leaf(mb({1, 4}))}},
        {"broadcast [2, 3, 2] x [2]", {leaf(ma({2, 3, 2})), leaf(mb({2}))}},
        {"transposed lhs, 0-d rhs", {leaf(transposed(ma({4, 3}))), leaf(mb({}))}},
        {"strided rhs", {leaf(ma({2, 3})), leaf(strided(mb({2, 3})))}},
        {"rhs constant", {leaf(ma({2, 3})), mb({2, 3})}}};
  };
}

// ---- references ------------------------------------------------------------------------
V values(const Tensor& t) { return t.detach().to_vector(); }
V values_as(const Tensor& t, const Shape& s) {
  NoGrad ng;
  return contiguous(expand(t.detach(), s)).to_vector();
}
Shape bshape(const Ts& in) {
  Shape s = in[0].shape();
  for (size_t i = 1; i < in.size(); ++i) s = broadcast_shapes(s, in[i].shape(), "ref");
  return s;
}
std::function<V(const Ts&)> ref_unary(std::function<double(double)> f) {
  return [f](const Ts& in) {
    V v = values(in[0]);
    for (double& x : v) x = f(x);
    return v;
  };
}
std::function<V(const Ts&)> ref_binary(std::function<double(double, double)> f) {
  return [f](const Ts& in) {
    Shape s = bshape(in);
    V a = values_as(in[0], s), b = values_as(in[1], s);
    for (size_t i = 0; i < a.size(); ++i) a[i] = f(a[i], b[i]);
    return a;
  };
}

// Naive reduction over `dims` (all if empty) of a tensor, keepdim layout = row-major over kept dims.
V ref_reduce(const Tensor& x, std::vector<int> dims, const std::function<double(const V&)>& f) {
  if (dims.empty())
    for (int d = 0; d < x.dim(); ++d) dims.push_back(d);
  V v = values(x);
  const Shape& s = x.shape();
  std::vector<V> groups;
  std::vector<int64_t> key_of(v.size());
  int64_t n_groups = 1;
  for (int d = 0; d < s.size(); ++d)
    if (std::find(dims.begin(), dims.end(), d) == dims.end()) n_groups *= s[d];
  groups.resize(size_t(n_groups));
  for (int64_t k = 0; k < int64_t(v.size()); ++k) {
    int64_t rem = k, key = 0, mult = 1;
    for (int d = s.size() - 1; d >= 0; --d) {
      const int64_t i = rem % s[d];
      rem /= s[d];
      if (std::find(dims.begin(), dims.end(), d) == dims.end()) {
        key += i * mult;
        mult *= s[d];
      }
    }
    groups[size_t(key)].push_back(v[size_t(k)]);
  }
  V out;
  for (auto& g : groups) out.push_back(f(g));
  return out;
}
double vsum(const V& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

V ref_matmul(const Tensor& a, const Tensor& b) {  // 2-d only
  V av = values(a), bv = values(b);
  const int64_t m = a.shape()[0], k = a.shape()[1], n = b.shape()[1];
  V out(size_t(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t t = 0; t < k; ++t) out[size_t(i * n + j)] += av[size_t(i * k + t)] * bv[size_t(t * n + j)];
  return out;
}

V ref_conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride, int64_t pad, int64_t dil,
             int64_t groups) {
  V xv = values(x), wv = values(w), bv = bias.defined() ? values(bias) : V();
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t O = w.shape()[0], Cg = w.shape()[1], KH = w.shape()[2], KW = w.shape()[3];
  const int64_t OH = (H + 2 * pad - dil * (KH - 1) - 1) / stride + 1, OW = (W + 2 * pad - dil * (KW - 1) - 1) / stride + 1;
  V out;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          double s = bv.empty() ? 0 : bv[size_t(o)];
          const int64_t g = o / (O / groups);
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t ky = 0; ky < KH; ++ky)
              for (int64_t kx = 0; kx < KW; ++kx) {
                const int64_t iy = oy * stride - pad + ky * dil, ix = ox * stride - pad + kx * dil;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                s += xv[size_t(((n * C + g * Cg + c) * H + iy) * W + ix)] * wv[size_t(((o * Cg + c) * KH + ky) * KW + kx)];
              }
          out.push_back(s);
        }
  return out;
}

V ref_pool(const Tensor& x, int64_t k, int64_t stride, int64_t pad, bool is_max) {
  V xv = values(x);
  const int64_t P = x.shape()[0] * x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t OH = (H + 2 * pad - k) / stride + 1, OW = (W + 2 * pad - k) / stride + 1;
  V out;
  for (int64_t p = 0; p < P; ++p)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        double m = -INFINITY, s = 0;
        for (int64_t ky = 0; ky < k; ++ky)
          for (int64_t kx = 0; kx < k; ++kx) {
            const int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            const double v = xv[size_t((p * H + iy) * W + ix)];
            m = std::max(m, v);
            s += v;
          }
        out.push_back(is_max ? m : s / double(k * k));
      }
  return out;
}

Tensor any(const Shape& s) { return uni(s, -1.5, 1.5); }
Tensor pos(const Shape& s) { return uni(s, 0.5, 2.0); }
Tensor nz(const Shape& s) { return away0(s); }

Tensor fixed_dropout(const Tensor& x) {
  Generator g(99);  // the same mask on every call, so finite differences see one function
  return dropout(x, 0.3, true, g);
}

double sigm(double x) { return 1 / (1 + std::exp(-x)); }

std::vector<OpRecord> build() {
  std::vector<OpRecord> r;
  auto unary = [&](const char* name, MultiFn fn, std::function<double(double)> f,
                   std::function<Tensor(const Shape&)> make, int order = 3) {
    r.push_back({name, unary_samples(make), fn, ref_unary(f), order});
  };
  auto binary = [&](const char* name, MultiFn fn, std::function<double(double, double)> f,
                    std::function<Tensor(const Shape&)> ma, std::function<Tensor(const Shape&)> mb, int order = 3) {
    r.push_back({name, binary_samples(ma, mb), fn, ref_binary(f), order});
  };

  // ---- elementwise (third order) ----
  binary("add", [](const Ts& x) { return add(x[0], x[1]); }, [](double a, double b) { return a + b; }, any, any);
  binary("add_scaled", [](const Ts& x) { return add(x[0], x[1], -0.7); }, [](double a, double b) { return a - 0.7 * b; },
         any, any);
  binary("sub", [](const Ts& x) { return sub(x[0], x[1]); }, [](double a, double b) { return a - b; }, any, any);
  binary("mul", [](const Ts& x) { return mul(x[0], x[1]); }, [](double a, double b) { return a * b; }, any, any);
  binary("div", [](const Ts& x) { return div(x[0], x[1]); }, [](double a, double b) { return a / b; }, any, nz);
  binary("pow", [](const Ts& x) { return pow(x[0], x[1]); }, [](double a, double b) { return std::pow(a, b); }, pos,
         any);
  binary("maximum", [](const Ts& x) { return maximum(x[0], x[1]); }, [](double a, double b) { return std::max(a, b); },
         any, any);
  binary("minimum", [](const Ts& x) { return minimum(x[0], x[1]); }, [](double a, double b) { return std::min(a, b); },
         any, any);
  unary("add_scalar", [](const Ts& x) { return add(x[0], 0.7); }, [](double a) { return a + 0.7; }, any);
  unary("mul_scalar", [](const Ts& x) { return mul(x[0], -1.3); }, [](double a) { return a * -1.3; }, any);
  unary("pow_scalar", [](const Ts& x) { return pow(x[0], 2.5); }, [](double a) { return std::pow(a, 2.5); }, pos);
  unary("pow_scalar_2", [](const Ts& x) { return pow(x[0], 2.0); }, [](double a) { return a * a; }, any);
  unary("rsub", [](const Ts& x) { return rsub(2.0, x[0]); }, [](double a) { return 2 - a; }, any);
  unary("rdiv", [](const Ts& x) { return rdiv(2.0, x[0]); }, [](double a) { return 2 / a; }, nz);
  unary("neg", [](const Ts& x) { return neg(x[0]); }, [](double a) { return -a; }, any);
  unary("exp", [](const Ts& x) { return exp(x[0]); }, [](double a) { return std::exp(a); }, any);
  // to_device: a round trip over the host check device cpu:1 (exact).
  unary("to_device", [](const Ts& x) { return to_device(to_device(x[0], Device::parse("cpu:1")), x[0].device()); },
        [](double a) { return a; }, any);

  unary("log", [](const Ts& x) { return log(x[0]); }, [](double a) { return std::log(a); }, pos);
  unary("sqrt", [](const Ts& x) { return sqrt(x[0]); }, [](double a) { return std::sqrt(a); }, pos);
  unary("rsqrt", [](const Ts& x) { return rsqrt(x[0]); }, [](double a) { return 1 / std::sqrt(a); }, pos);
  unary("abs", [](const Ts& x) { return abs(x[0]); }, [](double a) { return std::abs(a); }, nz);
  unary("sign", [](const Ts& x) { return sign(x[0]); }, [](double a) { return double((a > 0) - (a < 0)); }, nz);
  unary("square", [](const Ts& x) { return square(x[0]); }, [](double a) { return a * a; }, any);
  unary("tanh", [](const Ts& x) { return tanh(x[0]); }, [](double a) { return std::tanh(a); }, any);
  unary("sigmoid", [](const Ts& x) { return sigmoid(x[0]); }, sigm, any);
  unary("relu", [](const Ts& x) { return relu(x[0]); }, [](double a) { return a > 0 ? a : 0; }, nz);
  // The fused backward rules as ops of their own (their second argument is the saved tensor).
  binary("tanh_backward", [](const Ts& x) { return tanh_backward(x[0], x[1]); },
         [](double g, double y) { return g * (1 - y * y); }, any, any);
  binary("sigmoid_backward", [](const Ts& x) { return sigmoid_backward(x[0], x[1]); },
         [](double g, double y) { return g * y * (1 - y); }, any, any);
  binary("relu_backward", [](const Ts& x) { return relu_backward(x[0], x[1]); },
         [](double g, double x) { return x > 0 ? g : 0; }, any, nz);
  unary("leaky_relu", [](const Ts& x) { return leaky_relu(x[0], 0.1); }, [](double a) { return a > 0 ? a : 0.1 * a; },
        nz);
  unary("softplus", [](const Ts& x) { return softplus(x[0], 2.0, 20.0); },
        [](double a) { return std::log1p(std::exp(2 * a)) / 2; }, any);
  unary("softplus_threshold", [](const Ts& x) { return softplus(x[0], 1.0, 1.0); },
        [](double a) { return a > 1 ? a : std::log1p(std::exp(a)); },
        [](const Shape& s) { return add(away0(s, 0.3, 1.5), 1.0); });  // both sides of the threshold
  unary("clamp", [](const Ts& x) { return clamp(x[0], -0.5, 0.5); },
        [](double a) { return std::min(0.5, std::max(-0.5, a)); },
        [](const Shape& s) { return add(mul(away0(s, 0.1, 0.4), 1.0), mul(sign(away0(s)), 0.5)); });
  r.push_back({"where",
               [] {
                 Tensor c = gt(uni({3, 4}, -1, 1), 0.0), c1 = gt(uni({3, 1}, -1, 1), 0.0);
                 return std::vector<Sample>{{"same", {c, leaf(any({3, 4})), leaf(any({3, 4}))}},
                                            {"broadcast", {c1, leaf(any({1, 4})), leaf(any({3, 4}))}}};
               },
               [](const Ts& x) { return where(x[0], x[1], x[2]); },
               [](const Ts& in) {
                 Shape s = bshape(in);
                 V c = values_as(cast(in[0], F64), s), a = values_as(in[1], s), b = values_as(in[2], s);
                 for (size_t i = 0; i < c.size(); ++i) c[i] = c[i] != 0 ? a[i] : b[i];
                 return c;
               },
               3});

  // ---- reductions and softmax ----
  auto red_samples = [] {
    return std::vector<Sample>{{"[3, 4]", {leaf(any({3, 4}))}},
                               {"transposed [4, 3]", {leaf(transposed(any({4, 3})))}},
                               {"[2, 3, 2]", {leaf(any({2, 3, 2}))}}};
  };
  r.push_back({"sum_all", red_samples, [](const Ts& x) { return sum(x[0]); },
               [](const Ts& in) { return ref_reduce(in[0], {}, vsum); }, 3});
  r.push_back({"sum_dim1_keepdim", red_samples, [](const Ts& x) { return sum(x[0], {1}, true); },
               [](const Ts& in) { return ref_reduce(in[0], {1}, vsum); }, 3});
  r.push_back({"mean_dims_0_last", red_samples, [](const Ts& x) { return mean(x[0], {0, -1}); },
               [](const Ts& in) { return ref_reduce(in[0], {0, in[0].dim() - 1}, [](const V& v) { return vsum(v) / double(v.size()); }); },
               3});
  r.push_back({"amax_dim0", red_samples, [](const Ts& x) { return amax(x[0], {0}); },
               [](const Ts& in) { return ref_reduce(in[0], {0}, [](const V& v) { return *std::max_element(v.begin(), v.end()); }); },
               2});
  r.push_back({"amin_all", red_samples, [](const Ts& x) { return amin(x[0]); },
               [](const Ts& in) { return ref_reduce(in[0], {}, [](const V& v) { return *std::min_element(v.begin(), v.end()); }); },
               2});
  auto lse = [](const V& v) {
    double m = *std::max_element(v.begin(), v.end()), s = 0;
    for (double x : v) s += std::exp(x - m);
    return m + std::log(s);
  };
  r.push_back({"logsumexp_dim1", red_samples, [](const Ts& x) { return logsumexp(x[0], {1}); },
               [lse](const Ts& in) { return ref_reduce(in[0], {1}, lse); }, 3});
  r.push_back({"logsumexp_all_keepdim", red_samples, [](const Ts& x) { return logsumexp(x[0], {}, true); },
               [lse](const Ts& in) { return ref_reduce(in[0], {}, lse); }, 2});
  auto softmax_ref = [lse](bool log_space) {
    return [lse, log_space](const Ts& in) {  // softmax over the last dim of a 2-d input
      V v = values(in[0]);
      const int64_t n = in[0].shape()[1];
      for (size_t row = 0; row < v.size() / size_t(n); ++row) {
        V seg(v.begin() + long(row * size_t(n)), v.begin() + long((row + 1) * size_t(n)));
        const double l = lse(seg);
        for (int64_t j = 0; j < n; ++j) {
          double& e = v[row * size_t(n) + size_t(j)];
          e = log_space ? e - l : std::exp(e - l);
        }
      }
      return v;
    };
  };
  auto sm_samples = [] {
    return std::vector<Sample>{{"[3, 4]", {leaf(any({3, 4}))}}, {"transposed [4, 3]", {leaf(transposed(any({4, 3})))}}};
  };
  r.push_back({"softmax_last", sm_samples, [](const Ts& x) { return softmax(x[0], -1); }, softmax_ref(false), 3});
  r.push_back({"log_softmax_last", sm_samples, [](const Ts& x) { return log_softmax(x[0], 1); }, softmax_ref(true), 3});
  r.push_back({"softmax_dim0", red_samples, [](const Ts& x) { return softmax(x[0], 0); }, nullptr, 2});
  r.push_back({"log_softmax_dim0", red_samples, [](const Ts& x) { return log_softmax(x[0], 0); }, nullptr, 2});
  r.push_back({"sum_to",
               [] { return std::vector<Sample>{{"[2, 3, 4] -> [3, 1]", {leaf(any({2, 3, 4}))}}}; },
               [](const Ts& x) { return sum_to(x[0], Shape{3, 1}); },
               [](const Ts& in) { return ref_reduce(in[0], {0, 2}, vsum); }, 2});

  // ---- linear algebra ----
  r.push_back({"matmul",
               [] {
                 return std::vector<Sample>{
                     {"[3, 4] @ [4, 2]", {leaf(any({3, 4})), leaf(any({4, 2}))}},
                     {"transposed operands", {leaf(transposed(any({3, 4}))), leaf(transposed(any({4, 2})))}},
                     {"batched [2, 3, 4] @ [4, 2]", {leaf(any({2, 3, 4})), leaf(any({4, 2}))}},
                     {"broadcast [2, 1, 2, 3] @ [3, 3, 2]", {leaf(any({2, 1, 2, 3})), leaf(any({3, 3, 2}))}},
                     {"vector @ matrix", {leaf(any({4})), leaf(any({4, 3}))}},
                     {"matrix @ vector", {leaf(any({3, 4})), leaf(any({4}))}},
                     {"dot", {leaf(any({5})), leaf(any({5}))}}};
               },
               [](const Ts& x) { return matmul(x[0], x[1]); },
               [](const Ts& in) {
                 if (in[0].dim() == 2 && in[1].dim() == 2) return ref_matmul(in[0], in[1]);
                 return V();
               },
               2});
  r.push_back({"linear",
               [] {
                 return std::vector<Sample>{{"bias", {leaf(any({4, 3})), leaf(any({2, 3})), leaf(any({2}))}},
                                            {"3-d input", {leaf(any({2, 2, 3})), leaf(any({2, 3})), leaf(any({2}))}}};
               },
               [](const Ts& x) { return linear(x[0], x[1], x[2]); }, nullptr, 2});

  // ---- shape ops ----
  auto shape_samples = [] {
    return std::vector<Sample>{{"[2, 3, 4]", {leaf(any({2, 3, 4}))}}};
  };
  r.push_back({"reshape", shape_samples, [](const Ts& x) { return reshape(x[0], {4, -1}); },
               [](const Ts& in) { return values(in[0]); }, 2});
  r.push_back({"reshape_noncontiguous",
               [] { return std::vector<Sample>{{"transposed", {leaf(transposed(any({4, 3})))}}}; },
               [](const Ts& x) { return reshape(x[0], {-1}); }, [](const Ts& in) { return values(in[0]); }, 2});
  r.push_back({"permute", shape_samples, [](const Ts& x) { return permute(x[0], {2, 0, 1}); }, nullptr, 2});
  r.push_back({"transpose", shape_samples, [](const Ts& x) { return transpose(x[0], 0, 2); }, nullptr, 2});
  r.push_back({"expand",
               [] { return std::vector<Sample>{{"[3, 1] -> [2, 3, 4]", {leaf(any({3, 1}))}}}; },
               [](const Ts& x) { return expand(x[0], Shape{2, 3, 4}); }, nullptr, 2});
  r.push_back({"slice", shape_samples, [](const Ts& x) { return slice(x[0], 2, 1, 4, 2); }, nullptr, 2});
  r.push_back({"slice_backward",
               [] { return std::vector<Sample>{{"[2, 3, 2] into [2, 3, 4]", {leaf(any({2, 3, 2}))}}}; },
               [](const Ts& x) { return slice_backward(x[0], Shape{2, 3, 4}, 2, 0, 4, 2); }, nullptr, 2});
  r.push_back({"squeeze_unsqueeze",
               [] { return std::vector<Sample>{{"[3, 1, 2]", {leaf(any({3, 1, 2}))}}}; },
               [](const Ts& x) { return unsqueeze(squeeze(x[0], 1), 0); }, nullptr, 2});
  r.push_back({"flatten", shape_samples, [](const Ts& x) { return flatten(x[0], 1); }, nullptr, 2});
  r.push_back({"contiguous",
               [] { return std::vector<Sample>{{"transposed", {leaf(transposed(any({4, 3})))}}}; },
               [](const Ts& x) { return contiguous(x[0]); }, [](const Ts& in) { return values(in[0]); }, 2});
  r.push_back({"cat",
               [] {
                 return std::vector<Sample>{{"dim 1", {leaf(any({2, 3})), leaf(transposed(any({2, 2}))), leaf(any({2, 1}))}}};
               },
               [](const Ts& x) { return cat(x, 1); }, nullptr, 2});
  r.push_back({"stack",
               [] { return std::vector<Sample>{{"dim 1", {leaf(any({2, 3})), leaf(any({2, 3}))}}}; },
               [](const Ts& x) { return stack(x, 1); }, nullptr, 2});

  // ---- indexing ----
  r.push_back({"gather",
               [] {
                 return std::vector<Sample>{{"dim 1", {leaf(any({3, 4})), idx({0, 3, 3, 1, 2, 2}, {3, 2})}},
                                            {"dim 0, transposed", {leaf(transposed(any({3, 4}))), idx({2, 0, 1, 1}, {1, 4})}}};
               },
               [](const Ts& x) { return gather(x[0], x[0].dim() == 2 && x[1].shape()[0] == 3 ? 1 : 0, x[1]); },
               [](const Ts& in) {
                 V xv = values(in[0]), out;
                 auto iv = in[1].to_vector();
                 const bool dim1 = in[1].shape()[0] == 3;
                 const int64_t cols = in[0].shape()[1], ic = in[1].shape()[1];
                 for (int64_t i = 0; i < in[1].shape()[0]; ++i)
                   for (int64_t j = 0; j < ic; ++j) {
                     const int64_t k = int64_t(iv[size_t(i * ic + j)]);
                     out.push_back(dim1 ? xv[size_t(i * cols + k)] : xv[size_t(k * cols + j)]);
                   }
                 return out;
               },
               2});
  r.push_back({"scatter_add",
               [] {
                 return std::vector<Sample>{
                     {"dim 1, repeated index", {leaf(any({3, 4})), idx({0, 0, 3, 1, 2, 2}, {3, 2}), leaf(any({3, 2}))}}};
               },
               [](const Ts& x) { return scatter_add(x[0], 1, x[1], x[2]); }, nullptr, 2});
  r.push_back({"index_select",
               [] { return std::vector<Sample>{{"dim 0, repeats", {leaf(any({4, 3})), idx({3, 0, 3}, {3})}}}; },
               [](const Ts& x) { return index_select(x[0], 0, x[1]); },
               [](const Ts& in) {
                 V xv = values(in[0]), out;
                 for (double k : in[1].to_vector())
                   for (int64_t j = 0; j < 3; ++j) out.push_back(xv[size_t(int64_t(k) * 3 + j)]);
                 return out;
               },
               2});
  r.push_back({"index_add",
               [] { return std::vector<Sample>{{"dim 1", {leaf(any({2, 4})), idx({1, 1, 3}, {3}), leaf(any({2, 3}))}}}; },
               [](const Ts& x) { return index_add(x[0], 1, x[1], x[2]); }, nullptr, 2});

  // ---- convolution and pooling ----
  r.push_back({"conv2d",
               [] {
                 return std::vector<Sample>{
                     {"pad 1", {leaf(any({1, 2, 4, 4})), leaf(any({2, 2, 3, 3})), leaf(any({2}))}},
                     {"stride 2, batch 2", {leaf(any({2, 1, 5, 5})), leaf(any({2, 1, 3, 3})), leaf(any({2}))}},
                     {"dilation 2", {leaf(any({1, 1, 5, 5})), leaf(any({1, 1, 2, 2})), leaf(any({1}))}},
                     {"groups 2", {leaf(any({1, 4, 3, 3})), leaf(any({2, 2, 2, 2})), leaf(any({2}))}}};
               },
               [](const Ts& x) {
                 const int64_t k = x[1].shape()[2], c = x[0].shape()[1];
                 if (c == 4) return conv2d(x[0], x[1], x[2], 1, 0, 1, 2);
                 if (x[0].shape()[0] == 2) return conv2d(x[0], x[1], x[2], 2, 0);
                 if (k == 2) return conv2d(x[0], x[1], x[2], 1, 1, 2);
                 return conv2d(x[0], x[1], x[2], 1, 1);
               },
               [](const Ts& x) {
                 const int64_t k = x[1].shape()[2], c = x[0].shape()[1];
                 if (c == 4) return ref_conv2d(x[0], x[1], x[2], 1, 0, 1, 2);
                 if (x[0].shape()[0] == 2) return ref_conv2d(x[0], x[1], x[2], 2, 0, 1, 1);
                 if (k == 2) return ref_conv2d(x[0], x[1], x[2], 1, 1, 2, 1);
                 return ref_conv2d(x[0], x[1], x[2], 1, 1, 1, 1);
               },
               2});
  // conv2d_direct and its two adjoints: each one's backward rules are the other two, so gradcheck
  // and gradgradcheck here check that the three rules fit together (cuDNN runs the same rules).
  auto direct_samples = [] {
    return std::vector<Sample>{{"pad 1", {leaf(any({1, 2, 4, 4})), leaf(any({2, 2, 3, 3}))}},
                               {"stride 2, batch 2", {leaf(any({2, 1, 5, 5})), leaf(any({2, 1, 3, 3}))}},
                               {"dilation 2", {leaf(any({1, 1, 5, 5})), leaf(any({1, 1, 2, 2}))}}};
  };
  // stride, padding, dilation of each sample, told apart by the shapes.
  auto direct_geom = [](const Tensor& x, const Tensor& w) -> std::array<int64_t, 3> {
    if (x.shape()[0] == 2) return {2, 0, 1};
    if (w.shape()[2] == 2) return {1, 1, 2};
    return {1, 1, 1};
  };
  r.push_back({"conv2d_direct", direct_samples,
               [direct_geom](const Ts& x) {
                 auto [s, p, d] = direct_geom(x[0], x[1]);
                 return conv2d_direct(x[0], x[1], s, p, d);
               },
               [direct_geom](const Ts& x) {
                 auto [s, p, d] = direct_geom(x[0], x[1]);
                 return ref_conv2d(x[0], x[1], Tensor(), s, p, d, 1);
               },
               2});
  r.push_back({"conv2d_input_grad",
               [direct_samples] {
                 auto ss = direct_samples();  // inputs: upstream gradient gy (shaped like y) and w
                 for (auto& smp : ss) {
                   NoGrad ng;
                   const Tensor& x = smp.inputs[0];
                   const Tensor y = smp.label == "pad 1" ? conv2d(x, smp.inputs[1], Tensor(), 1, 1)
                                    : smp.label == "dilation 2" ? conv2d(x, smp.inputs[1], Tensor(), 1, 1, 2)
                                                                : conv2d(x, smp.inputs[1], Tensor(), 2, 0);
                   smp.inputs = {leaf(any(y.shape())), smp.inputs[1], x.detach()};  // x: only its shape is used
                 }
                 return ss;
               },
               [direct_geom](const Ts& x) {
                 auto [s, p, d] = direct_geom(x[2], x[1]);
                 return conv2d_input_grad(x[0], x[1], x[2].shape(), s, p, d);
               },
               nullptr, 2});
  r.push_back({"conv2d_weight_grad",
               [direct_samples] {
                 auto ss = direct_samples();  // inputs: x and the upstream gradient gy
                 for (auto& smp : ss) {
                   NoGrad ng;
                   const Tensor& w = smp.inputs[1];
                   const Tensor y = smp.label == "pad 1" ? conv2d(smp.inputs[0], w, Tensor(), 1, 1)
                                    : smp.label == "dilation 2" ? conv2d(smp.inputs[0], w, Tensor(), 1, 1, 2)
                                                                : conv2d(smp.inputs[0], w, Tensor(), 2, 0);
                   smp.inputs = {smp.inputs[0], leaf(any(y.shape())), w.detach()};  // w: only its shape is used
                 }
                 return ss;
               },
               [direct_geom](const Ts& x) {
                 auto [s, p, d] = direct_geom(x[0], x[2]);
                 return conv2d_weight_grad(x[0], x[1], x[2].shape(), s, p, d);
               },
               nullptr, 2});
  r.push_back({"im2col_col2im",
               [] { return std::vector<Sample>{{"roundtrip", {leaf(any({1, 2, 3, 3}))}}}; },
               [](const Ts& x) { return col2im(mul(im2col(x[0], 2, 1, 1, 1), 1.5), x[0].shape(), 2, 1, 1, 1); },
               nullptr, 2});
  auto pool_samples = [] {
    return std::vector<Sample>{{"[1, 2, 4, 4]", {leaf(any({1, 2, 4, 4}))}},
                               {"[2, 1, 5, 5]", {leaf(any({2, 1, 5, 5}))}}};
  };
  r.push_back({"max_pool2d", pool_samples, [](const Ts& x) { return max_pool2d(x[0], 2, 2); },
               [](const Ts& in) { return ref_pool(in[0], 2, 2, 0, true); }, 2});
  r.push_back({"max_pool2d_overlap_pad", pool_samples, [](const Ts& x) { return max_pool2d(x[0], 3, 2, 1); },
               [](const Ts& in) { return ref_pool(in[0], 3, 2, 1, true); }, 2});
  r.push_back({"avg_pool2d", pool_samples, [](const Ts& x) { return avg_pool2d(x[0], 3, 2, 1); },
               [](const Ts& in) { return ref_pool(in[0], 3, 2, 1, false); }, 2});
  // 2x2 stride 2 (LeNet's): the kernel's non-overlapping fast path; 5x5 leaves an uncovered row/col.
  r.push_back({"avg_pool2d_2x2", pool_samples, [](const Ts& x) { return avg_pool2d(x[0], 2, 2); },
               [](const Ts& in) { return ref_pool(in[0], 2, 2, 0, false); }, 2});
  r.push_back({"adaptive_avg_pool2d", pool_samples, [](const Ts& x) { return adaptive_avg_pool2d(x[0], {2, 3}); },
               nullptr, 2});

  // ---- normalisation, dropout, losses ----
  r.push_back({"batch_norm_train",
               [] {
                 return std::vector<Sample>{{"[4, 3]", {leaf(any({4, 3})), leaf(any({3})), leaf(any({3}))}},
                                            {"[2, 2, 2, 2]", {leaf(any({2, 2, 2, 2})), leaf(any({2})), leaf(any({2}))}}};
               },
               [](const Ts& x) { return batch_norm(x[0], Tensor(), Tensor(), x[1], x[2], true); }, nullptr, 2});
  r.push_back({"batch_norm_eval",
               [] {
                 return std::vector<Sample>{{"[4, 3]", {leaf(any({4, 3})), any({3}), pos({3}), leaf(any({3})), leaf(any({3}))}}};
               },
               [](const Ts& x) { return batch_norm(x[0], x[1], x[2], x[3], x[4], false); }, nullptr, 2});
  r.push_back({"dropout", [] { return std::vector<Sample>{{"[3, 4]", {leaf(any({3, 4}))}}}; },
               [](const Ts& x) { return fixed_dropout(x[0]); }, nullptr, 2});
  r.push_back({"cross_entropy",
               [] { return std::vector<Sample>{{"[3, 4]", {leaf(any({3, 4})), idx({0, 3, 1}, {3})}}}; },
               [](const Ts& x) { return cross_entropy(x[0], x[1]); },
               [lse](const Ts& in) {
                 V xv = values(in[0]);
                 auto lab = in[1].to_vector();
                 double s = 0;
                 for (int64_t i = 0; i < 3; ++i) {
                   V row(xv.begin() + i * 4, xv.begin() + (i + 1) * 4);
                   s += lse(row) - row[size_t(lab[size_t(i)])];
                 }
                 return V{s / 3};
               },
               3});
  r.push_back({"mse_loss", [] { return std::vector<Sample>{{"[3, 4]", {leaf(any({3, 4})), leaf(any({3, 4}))}}}; },
               [](const Ts& x) { return mse_loss(x[0], x[1]); }, nullptr, 3});
  return r;
}

}  // namespace

const std::vector<OpRecord>& op_records() {
  static const std::vector<OpRecord> records = build();
  return records;
}

}  // namespace metaloss::testing
