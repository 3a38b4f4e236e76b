// Helpers shared by the op definitions (not part of the public API).
#pragma once
#include <stdexcept>
#include <string>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "kernels/cuda/runtime.h"
#include "kernels/kernels.h"
#include "kernels/profiler.h"

namespace metaloss::detail {

[[noreturn]] inline void fail(const char* op, const std::string& what) {
  throw std::invalid_argument(std::string(op) + ": " + what);
}
inline void check_defined(const Tensor& t, const char* op, const char* arg = "input") {
  if (!t.defined()) fail(op, std::string(arg) + " is an undefined tensor");
}
inline void check_float(const Tensor& t, const char* op) {
  check_defined(t, op);
  if (!is_floating(t.dtype())) fail(op, "expected a float32 or float64 tensor, got " + t.desc());
}
inline void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  if (a.device() != b.device())
    fail(op, std::string("device mismatch: ") + a.desc() + " and " + b.desc() + " (move one with .to(device))");
}
inline void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  check_defined(a, op, "first operand");
  check_defined(b, op, "second operand");
  if (a.dtype() != b.dtype())
    fail(op, std::string("dtype mismatch: ") + a.desc() + " and " + b.desc() + " (convert one with .to())");
  check_same_device(a, b, op);
}
inline void check_index(const Tensor& t, const char* op) {
  check_defined(t, op, "index");
  if (t.dtype() != DType::Int64) fail(op, "index must be int64, got " + t.desc());
}

// x's view broadcast (right-aligned, zero strides) to `shape`.
inline kernels::View broadcast_view(const Tensor& x, const Shape& shape) {
  kernels::View v;
  v.data = x.raw_data();
  v.dtype = x.dtype();
  v.device = x.device();
  v.ndim = shape.size();
  const int off = shape.size() - x.dim();
  for (int i = 0; i < shape.size(); ++i) {
    v.shape[i] = shape[i];
    v.strides[i] = (i < off || x.shape()[i - off] == 1) ? 0 : x.strides()[i - off];
  }
  return v;
}

inline Tensor zeros_like(const Tensor& x) { return Tensor::zeros(x.shape(), x.dtype(), x.device()); }
inline Tensor ones_like(const Tensor& x) { return Tensor::ones(x.shape(), x.dtype(), x.device()); }
// A bool mask as 0/1 in dtype t (a constant: no gradient flows through comparisons).
inline Tensor mask_as(const Tensor& mask, DType t) { return cast(mask, t); }

// Reduction dims held inline (at most kMaxDims), so reductions and their backward rules, which
// run in every training step, do not allocate.
class DimList {
 public:
  DimList() = default;
  explicit DimList(int d) { push_back(d); }  // one dim
  void push_back(int d) { d_[n_++] = d; }
  int size() const { return n_; }
  bool empty() const { return n_ == 0; }
  void clear() { n_ = 0; }
  int operator[](int i) const { return d_[i]; }
  const int* begin() const { return d_; }
  const int* end() const { return d_ + n_; }
  int* begin() { return d_; }
  int* end() { return d_ + n_; }

 private:
  int d_[kMaxDims] = {};
  int n_ = 0;
};

// Normalised, sorted, unique reduction dims ("all" when empty).
DimList reduction_dims(const Tensor& x, const std::vector<int64_t>& dims, const char* op);
// x's shape with the reduced dims set to 1 (keepdim) or removed.
Shape reduced_shape(const Shape& s, const DimList& dims, bool keepdim);
// sum over already-normalised dims (what sum() and sum_to() run).
Tensor sum_dims(const Tensor& x, const DimList& dims, bool keepdim);
// reshape to a shape with no -1 (the engine's internal form of reshape(): no vector argument).
Tensor reshape_to(const Tensor& x, const Shape& shape);
// permute with dims[0..n) (no vector argument).
Tensor permute_dims(const Tensor& x, const int64_t* dims, int n);

}  // namespace metaloss::detail
