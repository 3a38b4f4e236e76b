// Reductions, softmax family, and sum_to (the adjoint of broadcasting).
#include <algorithm>
#include <cmath>

#include "engine/ops/common.h"

namespace metaloss {
using namespace detail;

namespace detail {
DimList reduction_dims(const Tensor& x, const std::vector<int64_t>& dims, const char* op) {
  DimList out;
  if (dims.empty()) {
    for (int i = 0; i < x.dim(); ++i) out.push_back(i);
    return out;
  }
  if (dims.size() > size_t(kMaxDims)) {  // more dims than any tensor has: out of range or repeated
    for (int64_t d : dims) wrap_dim(d, x.dim(), op);
    fail(op, "a dim appears twice in the reduction dims");
  }
  for (int64_t d : dims) out.push_back(wrap_dim(d, x.dim(), op));
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end()) fail(op, "a dim appears twice in the reduction dims");
  if (x.dim() == 0) out.clear();
  return out;
}

Shape reduced_shape(const Shape& s, const DimList& dims, bool keepdim) {
  Shape out;
  int j = 0;
  for (int i = 0; i < s.size(); ++i) {
    const bool reduced = j < dims.size() && dims[j] == i;
    if (reduced) ++j;
    if (!reduced) out.push_back(s[i]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}
}  // namespace detail

namespace {
Tensor reduce_fwd(kernels::ReduceOp k, const Tensor& x, const DimList& dims, bool keepdim, const char* op) {
  const Shape keep = reduced_shape(x.shape(), dims, true);
  if (k != kernels::ReduceOp::Sum)
    for (int d : dims)
      if (x.shape()[d] == 0) fail(op, "cannot reduce over an empty dim of " + x.desc());
  Tensor out = Tensor::empty(keep, x.dtype(), x.device());
  kernels::reduce(k, x.view(), out.view());
  return keepdim ? out : make_view(out, reduced_shape(x.shape(), dims, false),
                                   contiguous_strides(reduced_shape(x.shape(), dims, false)), 0);
}
// Gradient of a reduction output, reshaped to keepdim form and broadcast back to `shape`.
Tensor expand_back(const Tensor& g, const Shape& shape, const DimList& dims) {
  return expand(reshape_to(g, reduced_shape(shape, dims, true)), shape);
}
}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  check_defined(x, "sum");
  return sum_dims(x, reduction_dims(x, dims_in, "sum"), keepdim);  // bool is summed as int64 there
}

namespace detail {
Tensor sum_dims(const Tensor& x, const DimList& dims, bool keepdim) {
  METALOSS_PROFILE_SCOPE("sum", "op");
  if (x.dtype() == DType::Bool) return sum_dims(cast(x, DType::Int64), dims, keepdim);
  Tensor out = reduce_fwd(kernels::ReduceOp::Sum, x, dims, keepdim, "sum");
  if (should_record(x))
    record("sum", {x}, out, {}, [shape = x.shape(), dims](Node&, const Tensor& g) -> RuleGrads {
      return {expand_back(g, shape, dims)};
    });
  return out;
}
}  // namespace detail

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  METALOSS_PROFILE_SCOPE("mean", "op");
  check_float(x, "mean");
  auto dims = reduction_dims(x, dims_in, "mean");
  int64_t count = 1;
  for (int d : dims) count *= x.shape()[d];
  return mul(sum_dims(x, dims, keepdim), 1.0 / double(count));
}

namespace {
// amax/amin: the gradient is shared equally among the elements equal to the extreme (as PyTorch).
Tensor extreme(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim, bool is_max) {
  METALOSS_PROFILE_SCOPE("extreme", "op");
  const char* name = is_max ? "amax" : "amin";
  METALOSS_PROFILE_SCOPE(name, "op");
  check_defined(x, name);
  auto dims = reduction_dims(x, dims_in, name);
  Tensor out = reduce_fwd(is_max ? kernels::ReduceOp::Max : kernels::ReduceOp::Min, x, dims, keepdim, name);
  if (should_record(x))
    record(name, {x}, out, {x, out}, [dims](Node& n, const Tensor& g) -> RuleGrads {
      Tensor x = n.saved_tensor(0), y = n.saved_tensor(1).detach();
      Tensor y_full = expand_back(y, x.shape(), dims);
      Tensor hit = mask_as(eq(x, y_full), x.dtype());
      Tensor count = sum_dims(hit, dims, true);
      return {div(mul(hit, expand_back(g, x.shape(), dims)), count)};
    });
  return out;
}
}  // namespace
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) { return extreme(x, dims, keepdim, true); }
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) { return extreme(x, dims, keepdim, false); }

Tensor argmax(const Tensor& x, int64_t dim_in, bool keepdim) {
  METALOSS_PROFILE_SCOPE("argmax", "op");
  check_defined(x, "argmax");
  const int dim = wrap_dim(dim_in, x.dim(), "argmax");
  const int64_t n = x.dim() ? x.shape()[dim] : 1;
  if (n == 0) fail("argmax", "cannot take the argmax over an empty dim of " + x.desc());
  Tensor xc = contiguous(x.detach());
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < dim; ++i) outer *= x.shape()[i];
  for (int i = dim + 1; i < x.dim(); ++i) inner *= x.shape()[i];
  Shape keep = x.shape();
  if (x.dim()) keep[dim] = 1;
  Tensor out = Tensor::empty(keep, DType::Int64, x.device());
  kernels::argmax(x.device(), x.dtype(), xc.raw_data(), out.data<int64_t>(), outer, n, inner);
  return keepdim || x.dim() == 0 ? out : squeeze(out, dim);
}

// log(sum(exp(x - m))) + m with m = amax(x) held constant: the result does not depend on m, so
// treating it as a constant is exact, and keeps exp() from overflowing.
Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  METALOSS_PROFILE_SCOPE("logsumexp", "op");
  check_float(x, "logsumexp");
  Tensor m;
  {
    NoGrad ng;
    m = amax(x, dims, true);
    // An all -inf slice would give nan from (-inf) - (-inf); shift by 0 there instead.
    m = where(eq(abs(m), INFINITY), Tensor::zeros(Shape{}, x.dtype(), x.device()), m);
  }
  Tensor s = log(sum(exp(sub(x, m)), dims, true));
  Tensor out = add(s, m);
  if (keepdim) return out;
  auto rd = reduction_dims(x, dims, "logsumexp");
  return reshape_to(out, reduced_shape(x.shape(), rd, false));
}

namespace {
Tensor softmax_fwd(const Tensor& x, int dim, bool log) {
  Tensor xc = x.is_contiguous() ? x : contiguous(x.detach());
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < dim; ++i) outer *= x.shape()[i];
  for (int i = dim + 1; i < x.dim(); ++i) inner *= x.shape()[i];
  kernels::softmax(x.device(), x.dtype(), xc.raw_data(), y.raw_data(), outer, x.dim() ? x.shape()[dim] : 1, inner, log);
  return y;
}
}  // namespace

Tensor softmax(const Tensor& x, int64_t dim_in) {
  METALOSS_PROFILE_SCOPE("softmax", "op");
  check_float(x, "softmax");
  const int dim = wrap_dim(dim_in, x.dim(), "softmax");
  Tensor y = softmax_fwd(x, dim, false);
  if (should_record(x))
    record("softmax", {x}, y, {y}, [dim](Node& n, const Tensor& g) -> RuleGrads {
      Tensor y = n.saved_tensor(0);
      Tensor gy = mul(g, y);
      return {sub(gy, mul(y, sum_dims(gy, DimList(dim), true)))};  // y * (g - <g, y>)
    });
  return y;
}

Tensor log_softmax(const Tensor& x, int64_t dim_in) {
  METALOSS_PROFILE_SCOPE("log_softmax", "op");
  check_float(x, "log_softmax");
  const int dim = wrap_dim(dim_in, x.dim(), "log_softmax");
  Tensor y = softmax_fwd(x, dim, true);
  if (should_record(x))
    record("log_softmax", {x}, y, {y}, [dim](Node& n, const Tensor& g) -> RuleGrads {
      return {sub(g, mul(exp(n.saved_tensor(0)), sum_dims(g, DimList(dim), true)))};
    });
  return y;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  METALOSS_PROFILE_SCOPE("sum_to", "op");
  if (x.shape() == shape) return x;
  const int lead = x.dim() - shape.size();
  if (lead < 0) fail("sum_to", "cannot reduce " + x.desc() + " to the larger shape " + shape.str());
  DimList dims;
  for (int i = 0; i < x.dim(); ++i) {
    if (i < lead) dims.push_back(i);
    else if (shape[i - lead] == 1 && x.shape()[i] != 1) dims.push_back(i);
    else if (shape[i - lead] != x.shape()[i])
      fail("sum_to", "shape " + x.shape().str() + " is not a broadcast of " + shape.str());
  }
  Tensor s = dims.empty() ? x : sum_dims(x, dims, true);
  return reshape_to(s, shape);
}

}  // namespace metaloss
