#include "gradcheck.h"

#include <cmath>
#include <sstream>

#include "kernels/cuda/runtime.h"

namespace metaloss::testing {

double* element_ptr(const Tensor& t, int64_t k) {
  int64_t off = 0;
  for (int d = t.dim() - 1; d >= 0; --d) {
    off += (k % t.shape()[d]) * t.strides()[d];
    k /= t.shape()[d];
  }
  return t.data<double>() + off;
}

namespace {

// Reads / writes element k of a float64 tensor on any device (a CUDA tensor through 8-byte copies,
// without bumping its version counter: the recorded graph must keep treating it as unchanged).
double get_element(const Tensor& t, int64_t k) {
  double v;
  if (t.is_cuda())
    kernels::cuda::memcpy(&v, Device::cpu(), element_ptr(t, k), t.device(), sizeof v);
  else
    v = *element_ptr(t, k);
  return v;
}
void set_element(const Tensor& t, int64_t k, double v) {
  if (t.is_cuda())
    kernels::cuda::memcpy(element_ptr(t, k), t.device(), &v, Device::cpu(), sizeof v);
  else
    *element_ptr(t, k) = v;
}

Tensor flat_output(const MultiFn& fn, const std::vector<Tensor>& in) {
  Tensor y = fn(in);
  return reshape(contiguous(y), {-1});
}

}  // namespace

CheckResult gradcheck(const MultiFn& fn, const std::vector<Tensor>& inputs, double eps, double atol, double rtol) {
  CheckResult r;
  Tensor y = flat_output(fn, inputs);
  const int64_t m = y.numel();
  std::vector<size_t> diff;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].requires_grad()) diff.push_back(i);
  if (diff.empty()) {
    r.ok = false;
    r.message = "no input requires grad";
    return r;
  }
  std::vector<Tensor> diff_inputs;
  for (size_t i : diff) diff_inputs.push_back(inputs[i]);

  // Analytic Jacobian: one vjp per output element.
  std::vector<std::vector<double>> analytic(diff.size());  // [input][row * n + col]
  for (size_t j = 0; j < diff.size(); ++j) analytic[j].assign(size_t(m * inputs[diff[j]].numel()), 0.0);
  for (int64_t row = 0; row < m; ++row) {
    if (!y.requires_grad()) break;
    Tensor e = Tensor::zeros(Shape{m}, DType::Float64);
    e.data<double>()[row] = 1;
    e = e.to(y.device());
    GradOptions o;
    o.retain_graph = 1;
    o.allow_unused = true;
    Grads g = grad({y}, diff_inputs, {e}, o);
    for (size_t j = 0; j < diff.size(); ++j) {
      if (!g[j].defined()) continue;
      auto v = g[j].to_vector();
      for (size_t c = 0; c < v.size(); ++c) analytic[j][size_t(row) * v.size() + c] = v[c];
    }
  }
  // Numeric Jacobian: central differences, perturbing each element in place.
  for (size_t j = 0; j < diff.size(); ++j) {
    const Tensor& x = inputs[diff[j]];
    const int64_t n = x.numel();
    for (int64_t c = 0; c < n; ++c) {
      const double orig = get_element(x, c);
      std::vector<double> plus, minus;
      {
        NoGrad ng;
        set_element(x, c, orig + eps);
        plus = flat_output(fn, inputs).to_vector();
        set_element(x, c, orig - eps);
        minus = flat_output(fn, inputs).to_vector();
        set_element(x, c, orig);
      }
      for (int64_t row = 0; row < m; ++row) {
        const double num = (plus[size_t(row)] - minus[size_t(row)]) / (2 * eps);
        const double ana = analytic[j][size_t(row * n + c)];
        if (!(std::abs(num - ana) <= atol + rtol * std::abs(num))) {
          std::ostringstream os;
          os << "input " << diff[j] << " (" << x.desc() << ") element " << c << ", output " << row
             << ": analytic " << ana << " vs numeric " << num;
          r.ok = false;
          r.message = os.str();
          return r;
        }
      }
    }
  }
  return r;
}

MultiFn grad_function(const MultiFn& fn, size_t n_inputs) {
  return [fn, n_inputs](const std::vector<Tensor>& all) {
    GradMode on(true);  // the numeric pass evaluates this under NoGrad, but it needs a backward
    std::vector<Tensor> in(all.begin(), all.begin() + long(n_inputs));
    const Tensor& w = all[n_inputs];
    Tensor y = fn(in);
    std::vector<Tensor> diff;
    for (const Tensor& t : in)
      if (t.requires_grad()) diff.push_back(t);
    GradOptions o;
    o.create_graph = true;
    o.allow_unused = true;
    // An output that does not depend on any input (e.g. the derivative of a linear op) has a
    // zero gradient: nothing was recorded, so there is nothing to differentiate.
    Grads g = y.requires_grad() ? grad({y}, diff, {reshape(w, y.shape().vec())}, o) : Grads(diff.size());
    std::vector<Tensor> flat;
    for (size_t i = 0; i < g.size(); ++i)
      flat.push_back(g[i].defined() ? reshape(g[i], {-1}) : Tensor::zeros(Shape{diff[i].numel()}, DType::Float64, diff[i].device()));
    return cat(flat, 0);
  };
}

namespace {
std::vector<Tensor> with_weights(const MultiFn& fn, const std::vector<Tensor>& inputs, uint64_t seed) {
  Generator gen(seed);
  Tensor y;
  {
    NoGrad ng;
    y = fn(inputs);
  }
  std::vector<Tensor> all = inputs;
  Tensor w = randn(Shape{y.numel()}, DType::Float64, gen, y.device());
  w.set_requires_grad(true);
  all.push_back(w);
  return all;
}
}  // namespace

CheckResult gradgradcheck(const MultiFn& fn, const std::vector<Tensor>& inputs, uint64_t seed) {
  return gradcheck(grad_function(fn, inputs.size()), with_weights(fn, inputs, seed));
}

CheckResult gradgradgradcheck(const MultiFn& fn, const std::vector<Tensor>& inputs, uint64_t seed) {
  MultiFn g1 = grad_function(fn, inputs.size());
  std::vector<Tensor> in1 = with_weights(fn, inputs, seed);
  return gradcheck(grad_function(g1, in1.size()), with_weights(g1, in1, seed + 100));
}

}  // namespace metaloss::testing
