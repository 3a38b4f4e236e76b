// Tensor: a reference-counted handle to a strided view of shared storage, plus the autodiff
// state (requires_grad, grad, grad_fn). Copying a Tensor copies the handle, not the data.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/allocator.h"
#include "engine/small_pool.h"
#include "engine/shape.h"
#include "kernels/cpu/view.h"
#include "kernels/device.h"
#include "kernels/dtype.h"

namespace metaloss {

struct Node;

// Memory shared by a tensor and all its views, on one device. `version` counts in-place
// modifications so that autodiff can detect a saved tensor that changed after it was saved.
struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  uint32_t version = 0;
  Device device;
  explicit Storage(size_t bytes, Device dev = Device::cpu());
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // elements
  Shape shape, strides;
  DType dtype = DType::Float32;
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;          // the op that produced this tensor (null for leaves)
  std::shared_ptr<Node> grad_accumulator; // leaves that require grad: where their gradient lands
  std::shared_ptr<TensorImpl> grad;       // accumulated by backward()
  std::string name;                       // optional label, shown by to_dot()
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation -------------------------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor scalar(double value, DType dtype = DType::Float32, Device device = Device::cpu());  // 0-d
  static Tensor arange(double start, double end, double step = 1, DType dtype = DType::Float32);
  static Tensor eye(int64_t n, DType dtype = DType::Float32);
  // Copies values (row-major) into a new tensor of the given shape.
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype = DType::Float32);
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);
  static Tensor from_vector(const std::vector<int64_t>& values, const Shape& shape);

  // ---- metadata ---------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl_->shape; }
  const Shape& strides() const { return impl_->strides; }
  int64_t size(int64_t dim) const;
  int dim() const { return impl_->shape.size(); }
  int64_t numel() const { return impl_->shape.numel(); }
  DType dtype() const { return impl_->dtype; }
  Device device() const { return impl_->storage->device; }
  bool is_cuda() const { return device().is_cuda(); }
  int64_t offset() const { return impl_->offset; }
  bool is_contiguous() const;
  std::string desc() const;  // "float32[2, 3]" (and " on cuda:0" off the CPU) for error messages
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }
  const std::shared_ptr<Storage>& storage() const { return impl_->storage; }
  uint32_t version() const { return impl_->storage->version; }

  // Raw element access. data<T>() points at element 0 of the view (mind the strides); for a CUDA
  // tensor that is device memory. item(), at() and to_vector() work on any device (they copy).
  template <class T> T* data() const {
    return static_cast<T*>(impl_->storage->data) + impl_->offset;
  }
  void* raw_data() const {
    return static_cast<char*>(impl_->storage->data) + impl_->offset * int64_t(dtype_size(impl_->dtype));
  }
  double item() const;  // value of a one-element tensor
  double at(std::initializer_list<int64_t> index) const;
  std::vector<double> to_vector() const;  // row-major values
  kernels::View view() const;             // what kernels take

  // ---- autodiff ---------------------------------------------------------------------------
  bool requires_grad() const { return impl_ && impl_->requires_grad; }
  // Marks a leaf as a parameter whose gradient backward() accumulates. Returns *this.
  Tensor& set_requires_grad(bool on = true);
  bool is_leaf() const { return !impl_->grad_fn; }
  Tensor grad() const { return Tensor(impl_->grad); }
  void set_grad(const Tensor& g) { impl_->grad = g.impl_; }
  void zero_grad() { impl_->grad.reset(); }
  const std::shared_ptr<Node>& grad_fn() const { return impl_->grad_fn; }
  // Same data, cut from the graph.
  Tensor detach() const;
  // backward(): accumulates d(this)/d(leaf) into every leaf's .grad (see autograd.h).
  void backward(const Tensor& grad_output = Tensor(), bool retain_graph = false, bool create_graph = false) const;
  // Calls hook(grad) when the gradient with respect to this tensor is computed; a defined return
  // value replaces the gradient.
  void register_hook(std::function<Tensor(const Tensor&)> hook) const;
  Tensor& set_name(std::string name) {
    impl_->name = std::move(name);
    return *this;
  }
  const std::string& name() const { return impl_->name; }

  // ---- conversions and in-place updates (in-place ops bump the version counter) ----------
  Tensor contiguous() const;
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;  // differentiable; the same tensor when already there
  Tensor cpu() const { return to(Device::cpu()); }
  Tensor cuda(int index = 0) const { return to(Device::cuda(index)); }
  Tensor clone() const;
  // A Tensor is a handle: these change the shared data, not the handle, so they are const.
  const Tensor& copy_(const Tensor& src) const;
  const Tensor& fill_(double value) const;
  const Tensor& zero_() const { return fill_(0); }
  const Tensor& add_(const Tensor& other, double alpha = 1) const;
  const Tensor& mul_(double value) const;
  // this = scale * this + alpha * other in one pass (momentum buffers, Adam moments).
  const Tensor& mul_add_(double scale, const Tensor& other, double alpha) const;

 private:
  void require_defined(const char* method) const;  // throws std::invalid_argument when undefined
  std::shared_ptr<TensorImpl> impl_;
};

// A new tensor impl that aliases x's storage with another shape/strides/offset (no autodiff).
Tensor make_view(const Tensor& x, const Shape& shape, const Shape& strides, int64_t offset);

std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace metaloss
