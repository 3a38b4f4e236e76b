// Views and shape ops. Views share storage with their input; their backward rules are the
// inverse view (reshape, permute), the adjoint (expand <-> sum_to, slice <-> slice_backward).
#include <cstring>
#include <numeric>

#include "engine/ops/common.h"

namespace metaloss {
using namespace detail;

namespace {
Shape infer_shape(const Tensor& x, const std::vector<int64_t>& shape_in, const char* op) {
  Shape s;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape_in.size(); ++i) {
    if (shape_in[i] == -1) {
      if (infer >= 0) fail(op, "only one dimension can be -1");
      infer = int(i);
      s.push_back(1);
    } else {
      if (shape_in[i] < 0) fail(op, "invalid size " + std::to_string(shape_in[i]));
      known *= shape_in[i];
      s.push_back(shape_in[i]);
    }
  }
  if (infer >= 0) {
    if (known == 0 || x.numel() % known != 0)
      fail(op, "cannot infer -1 in shape " + Shape(shape_in).str() + " for " + x.desc());
    s[infer] = x.numel() / known;
  }
  if (s.numel() != x.numel())
    fail(op, "shape " + s.str() + " (" + std::to_string(s.numel()) + " elements) is invalid for " + x.desc() + " (" +
                 std::to_string(x.numel()) + " elements)");
  return s;
}

// Strides that let x be viewed with shape s without a copy, if they exist (merging/splitting
// dims only where the memory is laid out contiguously across them).
bool view_strides(const Tensor& x, const Shape& s, Shape& out) {
  if (x.is_contiguous()) {
    out = contiguous_strides(s);
    return true;
  }
  // Group old dims into chunks that are contiguous within themselves, then split chunks.
  out = Shape::filled(s.size(), 1);
  const Shape& os = x.shape();
  const Shape& ost = x.strides();
  int view_d = s.size() - 1;
  int64_t chunk_base_stride = ost.size() ? ost.back() : 1;
  int64_t tensor_numel = 1, view_numel = 1;
  for (int d = os.size() - 1; d >= 0; --d) {
    tensor_numel *= os[d];
    if (d == 0 || (os[d - 1] != 1 && ost[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || s[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= s[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = ost[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}
}  // namespace

Tensor reshape(const Tensor& x, const std::vector<int64_t>& shape_in) {
  check_defined(x, "reshape");
  return reshape_to(x, infer_shape(x, shape_in, "reshape"));
}

namespace detail {
Tensor reshape_to(const Tensor& x, const Shape& s) {
  METALOSS_PROFILE_SCOPE("reshape", "op");
  check_defined(x, "reshape");
  if (s == x.shape()) return x;
  if (s.numel() != x.numel()) fail("reshape", "cannot view " + x.desc() + " as " + s.str());
  Shape st;
  Tensor out;
  if (view_strides(x, s, st)) {
    out = make_view(x, s, st, x.offset());
  } else {
    out = contiguous(x.detach());
    out = make_view(out, s, contiguous_strides(s), 0);
  }
  if (should_record(x))
    record("reshape", {x}, out, {}, [from = x.shape()](Node&, const Tensor& g) -> RuleGrads {
      return {reshape_to(g, from)};
    });
  return out;
}
}  // namespace detail

namespace detail {
// permute with the dims as a pointer and a count: transpose and permute's own backward call it
// with dims held in a Shape (inline storage), so neither allocates.
Tensor permute_dims(const Tensor& x, const int64_t* dims, int n) {
  METALOSS_PROFILE_SCOPE("permute", "op");
  check_defined(x, "permute");
  if (n != x.dim()) fail("permute", std::to_string(n) + " dims given for " + x.desc());
  Shape s, st, inverse;
  for (int i = 0; i < n; ++i) inverse.push_back(-1);
  for (int i = 0; i < n; ++i) {
    const int d = wrap_dim(dims[i], x.dim(), "permute");
    if (inverse[d] != -1) fail("permute", "dim " + std::to_string(d) + " repeated");
    inverse[d] = int64_t(i);
    s.push_back(x.shape()[d]);
    st.push_back(x.strides()[d]);
  }
  Tensor out = make_view(x, s, st, x.offset());
  if (should_record(x))
    record("permute", {x}, out, {}, [inverse](Node&, const Tensor& g) -> RuleGrads {
      return {permute_dims(g, inverse.begin(), inverse.size())};
    });
  return out;
}
}  // namespace detail

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  if (dims.size() > size_t(kMaxDims)) fail("permute", std::to_string(dims.size()) + " dims given for " + x.desc());
  return permute_dims(x, dims.data(), int(dims.size()));
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  METALOSS_PROFILE_SCOPE("transpose", "op");
  check_defined(x, "transpose");
  if (x.dim() == 0) {
    wrap_dim(d0, 0, "transpose");
    wrap_dim(d1, 0, "transpose");
    return x;  // as PyTorch: transposing a 0-d tensor is the identity
  }
  Shape p;
  for (int i = 0; i < x.dim(); ++i) p.push_back(i);
  std::swap(p[wrap_dim(d0, x.dim(), "transpose")], p[wrap_dim(d1, x.dim(), "transpose")]);
  return permute_dims(x, p.begin(), p.size());
}

Tensor expand(const Tensor& x, const Shape& shape) {
  METALOSS_PROFILE_SCOPE("expand", "op");
  check_defined(x, "expand");
  if (x.shape() == shape) return x;
  const int lead = shape.size() - x.dim();
  if (lead < 0) fail("expand", "cannot expand " + x.desc() + " to fewer dims " + shape.str());
  Shape st;
  Shape target = shape;
  for (int i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1 && i >= lead) target[i] = x.shape()[i - lead];  // -1 keeps the size, as PyTorch
    else if (shape[i] < 0) fail("expand", "invalid size " + std::to_string(shape[i]) + " in " + shape.str());
  }
  if (target != shape) return expand(x, target);
  for (int i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      st.push_back(0);
      continue;
    }
    const int64_t d = x.shape()[i - lead];
    if (d == shape[i]) st.push_back(x.strides()[i - lead]);
    else if (d == 1) st.push_back(0);
    else fail("expand", "cannot expand " + x.desc() + " to " + shape.str() + " (dim " + std::to_string(i) + ")");
  }
  Tensor out = make_view(x, shape, st, x.offset());
  if (should_record(x))
    record("expand", {x}, out, {}, [from = x.shape()](Node&, const Tensor& g) -> RuleGrads { return {sum_to(g, from)}; });
  return out;
}

namespace {
void normalise_slice(const Tensor& x, int dim, int64_t& start, int64_t& end, int64_t step, const char* op) {
  if (step <= 0) fail(op, "step must be positive, got " + std::to_string(step));
  const int64_t n = x.shape()[dim];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
}
}  // namespace

Tensor slice(const Tensor& x, int64_t dim_in, int64_t start, int64_t end, int64_t step) {
  METALOSS_PROFILE_SCOPE("slice", "op");
  check_defined(x, "slice");
  if (x.dim() == 0) fail("slice", "cannot slice a 0-d tensor");
  const int dim = wrap_dim(dim_in, x.dim(), "slice");
  normalise_slice(x, dim, start, end, step, "slice");
  Shape s = x.shape(), st = x.strides();
  s[dim] = (end - start + step - 1) / step;
  st[dim] *= step;
  Tensor out = make_view(x, s, st, x.offset() + start * x.strides()[dim]);
  if (should_record(x))
    record("slice", {x}, out, {}, [from = x.shape(), dim, start, end, step](Node&, const Tensor& g) -> RuleGrads {
      return {slice_backward(g, from, dim, start, end, step)};
    });
  return out;
}

Tensor slice_backward(const Tensor& x, const Shape& shape, int64_t dim_in, int64_t start, int64_t end, int64_t step) {
  METALOSS_PROFILE_SCOPE("slice_backward", "op");
  check_defined(x, "slice_backward");
  Tensor out = Tensor::zeros(shape, x.dtype(), x.device());
  const int dim = wrap_dim(dim_in, shape.size(), "slice_backward");
  Tensor window = slice(out, dim, start, end, step);
  if (window.shape() != x.shape())
    fail("slice_backward", "gradient " + x.desc() + " does not match the slice " + window.shape().str());
  kernels::copy(x.view(), window.view());
  if (should_record(x))
    record("slice_backward", {x}, out, {}, [dim, start, end, step](Node&, const Tensor& g) -> RuleGrads {
      return {slice(g, dim, start, end, step)};
    });
  return out;
}

Tensor squeeze(const Tensor& x, int64_t dim_in) {
  METALOSS_PROFILE_SCOPE("squeeze", "op");
  check_defined(x, "squeeze");
  const int dim = wrap_dim(dim_in, x.dim(), "squeeze");
  if (x.dim() == 0 || x.shape()[dim] != 1) return x;
  Shape s = x.shape();
  s.erase(dim);
  return reshape_to(x, s);
}
Tensor squeeze(const Tensor& x) {
  METALOSS_PROFILE_SCOPE("squeeze", "op");
  check_defined(x, "squeeze");
  Shape s;
  for (int64_t d : x.shape())
    if (d != 1) s.push_back(d);
  return reshape_to(x, s);
}
Tensor unsqueeze(const Tensor& x, int64_t dim_in) {
  METALOSS_PROFILE_SCOPE("unsqueeze", "op");
  check_defined(x, "unsqueeze");
  const int dim = wrap_dim(dim_in, x.dim() + 1, "unsqueeze");
  Shape s = x.shape();
  s.insert(dim, 1);
  return reshape_to(x, s);
}
Tensor flatten(const Tensor& x, int64_t start_in, int64_t end_in) {
  METALOSS_PROFILE_SCOPE("flatten", "op");
  check_defined(x, "flatten");
  if (x.dim() == 0) return reshape(x, {1});
  const int a = wrap_dim(start_in, x.dim(), "flatten"), b = wrap_dim(end_in, x.dim(), "flatten");
  if (a > b) fail("flatten", "start_dim " + std::to_string(a) + " is after end_dim " + std::to_string(b));
  Shape s;
  for (int i = 0; i < a; ++i) s.push_back(x.shape()[i]);
  int64_t m = 1;
  for (int i = a; i <= b; ++i) m *= x.shape()[i];
  s.push_back(m);
  for (int i = b + 1; i < x.dim(); ++i) s.push_back(x.shape()[i]);
  return reshape_to(x, s);
}

Tensor contiguous(const Tensor& x) {
  METALOSS_PROFILE_SCOPE("contiguous", "op");
  check_defined(x, "contiguous");
  if (x.is_contiguous()) return x;
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  kernels::copy(x.view(), out.view());
  if (should_record(x)) record("contiguous", {x}, out, {}, [](Node&, const Tensor& g) -> RuleGrads { return {g}; });
  return out;
}

Tensor cat(const std::vector<Tensor>& xs, int64_t dim_in) {
  METALOSS_PROFILE_SCOPE("cat", "op");
  if (xs.empty()) fail("cat", "expected at least one tensor");
  for (size_t i = 0; i < xs.size(); ++i) check_defined(xs[i], "cat");
  const Tensor& first = xs[0];
  for (size_t i = 0; i < xs.size(); ++i)
    if (xs[i].dim() == 0) fail("cat", "tensor " + std::to_string(i) + " is 0-d; 0-d tensors cannot be concatenated (use stack)");
  const int dim = wrap_dim(dim_in, first.dim(), "cat");
  Shape s = first.shape();
  s[dim] = 0;
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& t = xs[i];
    if (t.dtype() != first.dtype() || t.device() != first.device())
      fail("cat", "tensor " + std::to_string(i) + " is " + t.desc() + " but tensor 0 is " + first.desc());
    bool ok = t.dim() == first.dim();
    for (int d = 0; ok && d < t.dim(); ++d)
      if (d != dim && t.shape()[d] != first.shape()[d]) ok = false;
    if (!ok)
      fail("cat", "tensor " + std::to_string(i) + " has shape " + t.shape().str() + ", incompatible with " +
                      first.shape().str() + " along dim " + std::to_string(dim));
    s[dim] += t.shape()[dim];
    sizes.push_back(t.shape()[dim]);
  }
  Tensor out = Tensor::empty(s, first.dtype(), first.device());
  int64_t at = 0;
  for (const Tensor& t : xs) {
    kernels::copy(t.view(), slice(out, dim, at, at + t.shape()[dim]).view());
    at += t.shape()[dim];
  }
  if (should_record(xs))
    record("cat", xs, out, {}, [dim, sizes](Node& n, const Tensor& g) -> RuleGrads {
      RuleGrads gs;
      int64_t at = 0;
      for (size_t i = 0; i < sizes.size(); ++i) {
        gs.push_back(n.needs_grad(i) ? slice(g, dim, at, at + sizes[i]) : Tensor());
        at += sizes[i];
      }
      return gs;
    });
  return out;
}

Tensor to_device(const Tensor& x, Device device) {
  METALOSS_PROFILE_SCOPE("to_device", "op");
  check_defined(x, "to");
  if (x.device() == device) return x;
  kernels::cuda::check_device(device, "to");
  const Tensor src = contiguous(x.detach());
  Tensor out = Tensor::empty(x.shape(), x.dtype(), device);
  const size_t bytes = size_t(x.numel()) * dtype_size(x.dtype());
  if (device.is_cpu() && src.device().is_cpu())
    std::memcpy(out.raw_data(), src.raw_data(), bytes);  // cpu <-> cpu:N: both host memory
  else
    kernels::cuda::memcpy(out.raw_data(), device, src.raw_data(), src.device(), bytes);
  if (is_floating(x.dtype()) && should_record(x))
    record("to_device", {x}, out, {}, [from = x.device()](Node&, const Tensor& g) -> RuleGrads { return {to_device(g, from)}; });
  return out;
}

Tensor stack(const std::vector<Tensor>& xs, int64_t dim_in) {
  METALOSS_PROFILE_SCOPE("stack", "op");
  if (xs.empty()) fail("stack", "expected at least one tensor");
  const int dim = wrap_dim(dim_in, xs[0].dim() + 1, "stack");
  std::vector<Tensor> us;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (xs[i].defined() && xs[i].shape() != xs[0].shape())
      fail("stack", "tensor " + std::to_string(i) + " has shape " + xs[i].shape().str() + " but tensor 0 has " +
                        xs[0].shape().str());
    us.push_back(unsqueeze(xs[i], dim));
  }
  return cat(us, dim);
}

}  // namespace metaloss
