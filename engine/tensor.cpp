#include "engine/tensor.h"

#include <cmath>
#include <stdexcept>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "kernels/cuda/runtime.h"
#include "kernels/kernels.h"

namespace metaloss {

// ---- Shape helpers ------------------------------------------------------------------------
std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < n_; ++i) s += (i ? ", " : "") + std::to_string(d_[i]);
  return s + "]";
}

Shape contiguous_strides(const Shape& s) {
  Shape st = Shape::filled(s.size(), 1);
  int64_t acc = 1;
  for (int i = s.size() - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const int n = std::max(a.size(), b.size());
  Shape out = Shape::filled(n, 1);
  for (int i = 0; i < n; ++i) {
    const int ia = a.size() - n + i, ib = b.size() - n + i;
    const int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1)
      throw std::invalid_argument(std::string(op) + ": shapes " + a.str() + " and " + b.str() +
                                  " cannot be broadcast together (dim " + std::to_string(i) + ": " +
                                  std::to_string(da) + " vs " + std::to_string(db) + ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int wrap_dim(int64_t dim, int ndim, const char* op) {
  const int64_t n = ndim == 0 ? 1 : ndim;  // a 0-d tensor accepts dim 0 / -1
  if (dim < -n || dim >= n)
    throw std::invalid_argument(std::string(op) + ": dim " + std::to_string(dim) + " out of range for a " +
                                std::to_string(ndim) + "-d tensor (expected in [" + std::to_string(-n) + ", " +
                                std::to_string(n - 1) + "])");
  return int(dim < 0 ? dim + n : dim);
}

Storage::Storage(size_t bytes, Device dev) : nbytes(bytes), device(dev) {
  data = dev.is_cuda() ? kernels::cuda::allocate(dev.index, bytes) : Allocator::allocate(bytes);
}
Storage::~Storage() {
  if (device.is_cuda())
    kernels::cuda::release(device.index, data, nbytes);
  else
    Allocator::release(data, nbytes);
}

void Tensor::require_defined(const char* method) const {
  if (!impl_) throw std::invalid_argument(std::string("Tensor::") + method + ": the tensor is undefined (e.g. the .grad of a "
                                          "parameter no backward pass reached)");
}

// ---- creation -------------------------------------------------------------------------
Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  kernels::cuda::check_device(device, "empty");
  int64_t bytes = int64_t(dtype_size(dtype));
  for (int64_t d : shape) {
    if (d < 0) throw std::invalid_argument("empty: negative dimension in shape " + shape.str());
    if (__builtin_mul_overflow(bytes, d, &bytes))
      throw std::invalid_argument("empty: shape " + shape.str() + " of " + dtype_name(dtype) + " overflows 64-bit sizes");
  }
  auto impl = std::allocate_shared<TensorImpl>(PoolAllocator<TensorImpl>{});
  impl->storage = std::allocate_shared<Storage>(PoolAllocator<Storage>{}, size_t(shape.numel()) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}
Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  kernels::fill(t.view(), value);
  return t;
}
Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0, dtype, device); }
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1, dtype, device); }
Tensor Tensor::scalar(double value, DType dtype, Device device) { return full(Shape{}, value, dtype, device); }

Tensor Tensor::arange(double start, double end, double step, DType dtype) {
  if (step == 0 || (end - start) / step < 0)
    throw std::invalid_argument("arange: step " + std::to_string(step) + " cannot reach " + std::to_string(end) +
                                " from " + std::to_string(start));
  const int64_t n = int64_t(std::ceil((end - start) / step));
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = start + double(i) * step;
  return from_vector(v, Shape{n}, dtype);
}

Tensor Tensor::eye(int64_t n, DType dtype) {
  Tensor t = zeros(Shape{n, n}, dtype);
  for (int64_t i = 0; i < n; ++i) {
    Tensor d = make_view(t, Shape{}, Shape{}, i * n + i);
    d.fill_(1);
  }
  t.impl()->storage->version = 0;
  return t;
}

Tensor Tensor::from_vector(const std::vector<double>& values, const Shape& shape, DType dtype) {
  if (int64_t(values.size()) != shape.numel())
    throw std::invalid_argument("from_vector: " + std::to_string(values.size()) + " values do not fill shape " +
                                shape.str() + " (" + std::to_string(shape.numel()) + " elements)");
  Tensor src = empty(shape, DType::Float64);
  std::copy(values.begin(), values.end(), src.data<double>());
  return dtype == DType::Float64 ? src : src.to(dtype);
}
Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape) {
  if (int64_t(values.size()) != shape.numel())
    throw std::invalid_argument("from_vector: " + std::to_string(values.size()) + " values do not fill shape " +
                                shape.str());
  Tensor t = empty(shape, DType::Float32);
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}
Tensor Tensor::from_vector(const std::vector<int64_t>& values, const Shape& shape) {
  if (int64_t(values.size()) != shape.numel())
    throw std::invalid_argument("from_vector: " + std::to_string(values.size()) + " values do not fill shape " +
                                shape.str());
  Tensor t = empty(shape, DType::Int64);
  std::copy(values.begin(), values.end(), t.data<int64_t>());
  return t;
}

Tensor make_view(const Tensor& x, const Shape& shape, const Shape& strides, int64_t offset) {
  auto impl = std::allocate_shared<TensorImpl>(PoolAllocator<TensorImpl>{});
  impl->storage = x.storage();
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = x.dtype();
  return Tensor(std::move(impl));
}

// ---- metadata ---------------------------------------------------------------------------
int64_t Tensor::size(int64_t dim) const { return shape()[wrap_dim(dim, this->dim(), "size")]; }

bool Tensor::is_contiguous() const {
  int64_t s = 1;
  for (int i = dim() - 1; i >= 0; --i) {
    if (shape()[i] != 1 && strides()[i] != s) return false;
    s *= shape()[i];
  }
  return true;
}

std::string Tensor::desc() const {
  if (!defined()) return "undefined";
  std::string s = std::string(dtype_name(dtype())) + shape().str();
  return device() == Device::cpu() ? s : s + " on " + device().str();
}

kernels::View Tensor::view() const {
  kernels::View v;
  v.data = raw_data();
  v.dtype = dtype();
  v.device = device();
  v.ndim = dim();
  for (int i = 0; i < v.ndim; ++i) {
    v.shape[i] = shape()[i];
    v.strides[i] = strides()[i];
  }
  return v;
}

double Tensor::item() const {
  require_defined("item");
  if (numel() != 1)
    throw std::invalid_argument("item: expected a tensor with one element, got " + desc());
  if (is_cuda()) return detach().cpu().item();
  return dispatch_dtype(dtype(), [&](auto t) { return double(*data<decltype(t)>()); });
}

double Tensor::at(std::initializer_list<int64_t> index) const {
  require_defined("at");
  if (int(index.size()) != dim())
    throw std::invalid_argument("at: " + std::to_string(index.size()) + " indices for tensor " + desc());
  int64_t off = 0;
  int i = 0;
  for (int64_t v : index) {
    if (v < 0 || v >= shape()[i])
      throw std::invalid_argument("at: index " + std::to_string(v) + " out of range for dim " + std::to_string(i) +
                                  " of tensor " + desc());
    off += v * strides()[i++];
  }
  if (is_cuda()) return make_view(*this, Shape{}, Shape{}, offset() + off).item();
  return dispatch_dtype(dtype(), [&](auto t) { return double(data<decltype(t)>()[off]); });
}

std::vector<double> Tensor::to_vector() const {
  require_defined("to_vector");
  Tensor c = metaloss::contiguous(detach()).to(DType::Float64).to(Device::cpu());
  const double* p = c.data<double>();
  return std::vector<double>(p, p + numel());
}

// ---- autodiff glue ----------------------------------------------------------------------
Tensor& Tensor::set_requires_grad(bool on) {
  require_defined("set_requires_grad");
  if (on && !is_floating(dtype()))
    throw std::invalid_argument("set_requires_grad: only floating-point tensors can require grad, got " + desc());
  if (!is_leaf())
    throw std::invalid_argument("set_requires_grad: tensor " + desc() + " is the output of op '" +
                                impl_->grad_fn->name + "'; only leaves can be marked (use detach() first)");
  impl_->requires_grad = on;
  if (!on) impl_->grad_accumulator.reset();
  return *this;
}

Tensor Tensor::detach() const {
  require_defined("detach");
  Tensor t = make_view(*this, shape(), strides(), offset());
  t.impl()->name = impl_->name;
  return t;
}

void Tensor::backward(const Tensor& grad_output, bool retain_graph, bool create_graph) const {
  GradOptions o;
  o.create_graph = create_graph;
  o.retain_graph = retain_graph ? 1 : -1;
  detail::backward_single(*this, grad_output, o);
}

void Tensor::register_hook(std::function<Tensor(const Tensor&)> hook) const {
  require_defined("register_hook");
  auto node = gradient_edge(*this);
  if (!node)
    throw std::invalid_argument("register_hook: tensor " + desc() + " does not require grad");
  node->hooks.push_back(std::move(hook));
}

// ---- conversions and in-place updates ----------------------------------------------------
Tensor Tensor::contiguous() const { return metaloss::contiguous(*this); }
Tensor Tensor::to(DType dtype) const { return cast(*this, dtype); }
Tensor Tensor::to(Device device) const { return to_device(*this, device); }
Tensor Tensor::clone() const {
  require_defined("clone");
  Tensor out = empty(shape(), dtype(), device());
  kernels::copy(view(), out.view());
  return out;
}

namespace {
void check_inplace(const Tensor& self, const char* op, const Tensor* other = nullptr) {
  if (!self.defined()) throw std::invalid_argument(std::string(op) + ": called on an undefined tensor");
  if (other && !other->defined()) throw std::invalid_argument(std::string(op) + ": the other tensor is undefined");
  for (int d = 0; d < self.dim(); ++d)
    if (self.strides()[d] == 0 && self.shape()[d] > 1)
      throw std::invalid_argument(std::string(op) + ": in-place update of the expanded tensor " + self.desc() +
                                  " (several elements share one memory location); clone() it first");
  if (grad_mode_enabled() && (self.requires_grad() || (other && other->requires_grad())))
    throw std::invalid_argument(std::string(op) + ": in-place update of " + self.desc() +
                                " while recording a graph that involves it; wrap it in NoGrad (e.g. an "
                                "optimizer step) or use the out-of-place op");
}
}  // namespace

const Tensor& Tensor::copy_(const Tensor& src) const {
  check_inplace(*this, "copy_", &src);
  if (src.shape() != shape()) {
    Shape b = broadcast_shapes(shape(), src.shape(), "copy_");
    if (b != shape())
      throw std::invalid_argument("copy_: source " + src.desc() + " does not broadcast to destination " + desc());
  }
  // A source that shares memory with this tensor (x.copy_(transpose(x))) is read before writing.
  Tensor from = src.storage() == storage() ? src.detach().clone() : src.detach();
  if (from.device() != device()) from = to_device(from, device());
  kernels::copy(expand(from, shape()).view(), view());
  ++impl_->storage->version;
  return *this;
}

const Tensor& Tensor::fill_(double value) const {
  check_inplace(*this, "fill_");
  kernels::fill(view(), value);
  ++impl_->storage->version;
  return *this;
}

namespace {
// The operand of a one-pass in-place update: read element i before element i is written is only
// safe when `other` is this very view (p.add_(p)); any other view of the same memory (a row of
// it broadcast, its transpose, a shifted slice) is copied first.
Tensor update_operand(const Tensor& self, const Tensor& other) {
  const bool shares = other.storage() == self.storage();
  const bool identical = shares && other.offset() == self.offset() && other.shape() == self.shape() &&
                         other.strides() == self.strides();
  return expand(shares && !identical ? other.detach().clone() : other.detach(), self.shape());
}
}  // namespace

const Tensor& Tensor::add_(const Tensor& other, double alpha) const {
  check_inplace(*this, "add_", &other);
  if (other.dtype() != dtype() || other.device() != device())
    throw std::invalid_argument("add_: dtype/device mismatch: " + desc() + " and " + other.desc());
  Tensor o = update_operand(*this, other);
  if (alpha == 1 || !is_floating(dtype()))
    kernels::binary(kernels::BinaryOp::Add, view(), (alpha == 1 ? o : mul(o, alpha)).view(), view());
  else
    kernels::axpby(view(), o.view(), view(), 1.0, alpha);
  ++impl_->storage->version;
  return *this;
}

const Tensor& Tensor::mul_add_(double scale, const Tensor& other, double alpha) const {
  check_inplace(*this, "mul_add_", &other);
  if (other.dtype() != dtype() || other.device() != device() || !is_floating(dtype()))
    throw std::invalid_argument("mul_add_: needs two floating tensors of one dtype and device, got " + desc() + " and " +
                                other.desc());
  kernels::axpby(view(), update_operand(*this, other).view(), view(), scale, alpha);
  ++impl_->storage->version;
  return *this;
}

const Tensor& Tensor::mul_(double value) const {
  check_inplace(*this, "mul_");
  kernels::unary(kernels::UnaryOp::MulScalar, view(), view(), value);
  ++impl_->storage->version;
  return *this;
}

}  // namespace metaloss
