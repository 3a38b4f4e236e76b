// Indexing ops: gather <-> scatter_add and index_select <-> index_add are adjoint pairs, each
// the other's backward rule; one_hot builds a constant.
#include "engine/ops/common.h"

namespace metaloss {
using namespace detail;

namespace {
void check_bounds(const Tensor& index, int64_t size, const char* op, int dim) {
  Tensor ic = index.is_contiguous() ? index : contiguous(index);
  const int64_t bad = kernels::find_bad_index(ic.view(), size);
  if (bad >= 0)
    fail(op, "index " + std::to_string(int64_t(reshape(ic, {-1}).at({bad}))) + " at position " + std::to_string(bad) +
                 " is out of range for dim " + std::to_string(dim) + " of size " + std::to_string(size));
}
void check_gather_shapes(const Tensor& x, int dim, const Tensor& index, const char* op) {
  if (index.dim() != x.dim())
    fail(op, "index " + index.desc() + " must have as many dims as " + x.desc());
  for (int d = 0; d < x.dim(); ++d)
    if (d != dim && index.shape()[d] > x.shape()[d])
      fail(op, "index " + index.desc() + " is larger than " + x.desc() + " in dim " + std::to_string(d));
}
}  // namespace

Tensor gather(const Tensor& x, int64_t dim_in, const Tensor& index) {
  METALOSS_PROFILE_SCOPE("gather", "op");
  check_defined(x, "gather");
  check_index(index, "gather");
  const int dim = wrap_dim(dim_in, x.dim(), "gather");
  check_gather_shapes(x, dim, index, "gather");
  check_same_device(x, index, "gather");
  check_bounds(index, x.dim() ? x.shape()[dim] : 1, "gather", dim);
  Tensor out = Tensor::empty(index.shape(), x.dtype(), x.device());
  kernels::gather(x.view(), dim, index.view(), out.view());
  if (should_record(x))
    record("gather", {x}, out, {index}, [shape = x.shape(), dim](Node& n, const Tensor& g) -> RuleGrads {
      return {scatter_add(Tensor::zeros(shape, g.dtype(), g.device()), dim, n.saved_tensor(0), g)};
    });
  return out;
}

Tensor scatter_add(const Tensor& base, int64_t dim_in, const Tensor& index, const Tensor& src) {
  METALOSS_PROFILE_SCOPE("scatter_add", "op");
  check_same_dtype(base, src, "scatter_add");
  check_index(index, "scatter_add");
  const int dim = wrap_dim(dim_in, base.dim(), "scatter_add");
  check_gather_shapes(base, dim, index, "scatter_add");
  check_same_device(base, index, "scatter_add");
  if (src.shape() != index.shape())
    fail("scatter_add", "source " + src.desc() + " must have the index's shape " + index.shape().str());
  check_bounds(index, base.dim() ? base.shape()[dim] : 1, "scatter_add", dim);
  Tensor out = base.clone();
  kernels::scatter_add(out.view(), dim, index.view(), src.view());
  if (should_record(base, src))
    record("scatter_add", {base, src}, out, {index}, [dim](Node& n, const Tensor& g) -> RuleGrads {
      return {n.needs_grad(0) ? g : Tensor(), n.needs_grad(1) ? gather(g, dim, n.saved_tensor(0)) : Tensor()};
    });
  return out;
}

Tensor index_select(const Tensor& x, int64_t dim_in, const Tensor& index) {
  METALOSS_PROFILE_SCOPE("index_select", "op");
  check_defined(x, "index_select");
  check_index(index, "index_select");
  if (index.dim() != 1) fail("index_select", "index must be 1-d, got " + index.desc());
  const int dim = wrap_dim(dim_in, x.dim(), "index_select");
  check_same_device(x, index, "index_select");
  check_bounds(index, x.shape()[dim], "index_select", dim);
  Tensor ic = index.is_contiguous() ? index : contiguous(index);
  Shape s = x.shape();
  s[dim] = ic.numel();
  Tensor out = Tensor::empty(s, x.dtype(), x.device());
  kernels::index_select(x.view(), dim, ic.data<int64_t>(), ic.numel(), out.view());
  if (should_record(x))
    record("index_select", {x}, out, {ic}, [shape = x.shape(), dim](Node& n, const Tensor& g) -> RuleGrads {
      return {index_add(Tensor::zeros(shape, g.dtype(), g.device()), dim, n.saved_tensor(0), g)};
    });
  return out;
}

Tensor index_add(const Tensor& base, int64_t dim_in, const Tensor& index, const Tensor& src) {
  METALOSS_PROFILE_SCOPE("index_add", "op");
  check_same_dtype(base, src, "index_add");
  check_index(index, "index_add");
  if (index.dim() != 1) fail("index_add", "index must be 1-d, got " + index.desc());
  const int dim = wrap_dim(dim_in, base.dim(), "index_add");
  Shape want = base.shape();
  want[dim] = index.numel();
  if (src.shape() != want) fail("index_add", "source " + src.desc() + " should have shape " + want.str());
  check_same_device(base, index, "index_add");
  check_bounds(index, base.shape()[dim], "index_add", dim);
  Tensor ic = index.is_contiguous() ? index : contiguous(index);
  Tensor out = base.clone();
  kernels::index_add(out.view(), dim, ic.data<int64_t>(), ic.numel(), src.view());
  if (should_record(base, src))
    record("index_add", {base, src}, out, {ic}, [dim](Node& n, const Tensor& g) -> RuleGrads {
      return {n.needs_grad(0) ? g : Tensor(), n.needs_grad(1) ? index_select(g, dim, n.saved_tensor(0)) : Tensor()};
    });
  return out;
}

Tensor one_hot(const Tensor& labels, int64_t num_classes, DType dtype) {
  METALOSS_PROFILE_SCOPE("one_hot", "op");
  check_index(labels, "one_hot");
  if (num_classes <= 0) fail("one_hot", "num_classes must be positive, got " + std::to_string(num_classes));
  check_bounds(labels, num_classes, "one_hot", labels.dim());
  Shape s = labels.shape();
  s.push_back(num_classes);
  Tensor out = Tensor::zeros(s, dtype, labels.device());
  Tensor idx = unsqueeze(labels, -1);
  kernels::scatter_add(out.view(), s.size() - 1, idx.view(), Tensor::ones(idx.shape(), dtype, idx.device()).view());
  return out;
}

}  // namespace metaloss
