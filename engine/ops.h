// The engine's ops. Every op runs forward on the kernels of its operands' device and, when recording, adds a node whose
// backward rule is written with these same ops (see engine/ops/*.cpp, one place per op).
// Errors are std::invalid_argument naming the op, shapes and dtypes involved.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"

namespace metaloss {

// ---- elementwise, broadcasting (NumPy rules); both operands must share a dtype ------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);  // ties: gradient split equally, as PyTorch
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor add(const Tensor& a, const Tensor& b, double alpha);  // a + alpha * b in one pass (SGD steps)
Tensor mul(const Tensor& a, double s);
Tensor pow(const Tensor& a, double exponent);
Tensor rsub(double s, const Tensor& a);  // s - a
Tensor rdiv(double s, const Tensor& a);  // s / a

Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);    // d/dx at 0 is 0
Tensor sign(const Tensor& x);   // gradient 0
Tensor square(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);   // d/dx at 0 is 0
// The fused backward rules of tanh, sigmoid and relu, recorded ops of their own (differentiable
// again): g (1 - y^2) with y = tanh(x); g y (1 - y) with y = sigmoid(x); x > 0 ? g : 0.
Tensor tanh_backward(const Tensor& g, const Tensor& y);
Tensor sigmoid_backward(const Tensor& g, const Tensor& y);
Tensor relu_backward(const Tensor& g, const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor softplus(const Tensor& x, double beta = 1, double threshold = 20);
Tensor clamp(const Tensor& x, double lo, double hi);  // gradient passes on (lo, hi): 0 at a bound, as PyTorch 2.x
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// Comparisons give bool tensors (no gradient).
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, double s);
Tensor lt(const Tensor& a, double s);
Tensor le(const Tensor& a, double s);
Tensor gt(const Tensor& a, double s);
Tensor ge(const Tensor& a, double s);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }
inline Tensor operator+(double s, const Tensor& a) { return add(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return add(a, -s); }
inline Tensor operator-(double s, const Tensor& a) { return rsub(s, a); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, double s) { return mul(a, 1.0 / s); }
inline Tensor operator/(double s, const Tensor& a) { return rdiv(s, a); }

// ---- reductions --------------------------------------------------------------------------
// `dims` empty means all dims.
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);  // ties share
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// Index (int64, no gradient) of the first maximum along dim.
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// Sums a broadcast gradient back down to `shape` (the adjoint of expand).
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- linear algebra ----------------------------------------------------------------------
// matmul: 1-d and 2-d operands as NumPy; >= 3-d is batched with broadcast batch dims.
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());  // x W^T + b
// Eigendecomposition of a symmetric matrix (its lower triangle is read): eigenvalues ascending,
// eigenvectors as the columns of `vectors`. No gradient (the result is detached); CPU tensors.
struct SymmetricEigen {
  Tensor values;   // [n]
  Tensor vectors;  // [n, n]
};
SymmetricEigen symmetric_eigen(const Tensor& a);

// ---- shape and views (share storage with their input) --------------------------------------
Tensor reshape(const Tensor& x, const std::vector<int64_t>& shape);  // one -1 allowed; copies if needed
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor contiguous(const Tensor& x);
Tensor cast(const Tensor& x, DType dtype);  // differentiable between float types
// Copy to another device (differentiable: the gradient goes back to x's device). Returns x
// itself when it is already there; throws when the device is not available.
Tensor to_device(const Tensor& x, Device device);
Tensor cat(const std::vector<Tensor>& xs, int64_t dim);
Tensor stack(const std::vector<Tensor>& xs, int64_t dim);
// Adjoint of slice: zeros of `shape` with x written into the slice.
Tensor slice_backward(const Tensor& x, const Shape& shape, int64_t dim, int64_t start, int64_t end, int64_t step);

// ---- indexing ----------------------------------------------------------------------------
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter_add(const Tensor& base, int64_t dim, const Tensor& index, const Tensor& src);
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor index_add(const Tensor& base, int64_t dim, const Tensor& index, const Tensor& src);
Tensor one_hot(const Tensor& labels, int64_t num_classes, DType dtype = DType::Float32);

// ---- convolution, pooling, normalisation ---------------------------------------------------
struct Pair2 {
  int64_t h, w;
  Pair2(int64_t v) : h(v), w(v) {}  // NOLINT: implicit on purpose, conv2d(x, w, b, 2, 1)
  Pair2(int64_t h_, int64_t w_) : h(h_), w(w_) {}
};
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), Pair2 stride = 1,
              Pair2 padding = 0, Pair2 dilation = 1, int64_t groups = 1);
// Convolution as one op (groups 1, no bias): cuDNN on a CUDA device when cudnn_enabled(), else
// im2col + GEMM. Its backward rules are the two adjoints below, whose backward rules are again
// these three ops, so derivatives of any order work on both paths.
Tensor conv2d_direct(const Tensor& x, const Tensor& weight, Pair2 stride = 1, Pair2 padding = 0, Pair2 dilation = 1);
// d<gy, conv2d_direct(x, w)>/dx for an input of shape x_shape, and .../dw for a weight of w_shape.
Tensor conv2d_input_grad(const Tensor& gy, const Tensor& weight, const Shape& x_shape, Pair2 stride = 1,
                         Pair2 padding = 0, Pair2 dilation = 1);
Tensor conv2d_weight_grad(const Tensor& x, const Tensor& gy, const Shape& w_shape, Pair2 stride = 1, Pair2 padding = 0,
                          Pair2 dilation = 1);
// conv2d on CUDA tensors goes through cuDNN (conv2d_direct) when built with it and enabled
// (default on; off with METALOSS_NO_CUDNN=1 or set_cudnn_enabled(false): im2col + cuBLAS).
void set_cudnn_enabled(bool on);
bool cudnn_enabled();
// conv2d on CPU tensors with at most this many input taps (c * kh * kw) runs the direct kernels
// (conv2d_direct; default 64, so LeNet-5's conv1 but not conv2), else im2col + GEMM; 0 turns
// them off. METALOSS_DIRECT_CONV_MAX_TAPS sets it at start-up. The two paths agree to rounding.
void set_direct_conv_max_taps(int64_t taps);
int64_t direct_conv_max_taps();
// Memory for time on the CPU: with recompute on, a recorded conv2d saves only its input and
// weight (conv2d_direct) and its backward rebuilds the im2col columns, instead of keeping them
// (9.6 MiB for LeNet-5's first layer at batch 128) until the backward pass. Pays off when many
// forward passes stay alive at once (unrolled inner loops: the 5-step ML3 LeNet-5 meta step
// peaks at ~95 instead of ~160 MiB); costs one extra im2col per conv in backward. Default off;
// METALOSS_CONV_RECOMPUTE=1 turns it on at start-up. Values and gradients are the same.
void set_conv_recompute(bool on);
bool conv_recompute();
// Columns [n, c*kh*kw, oh*ow] of images [n, c, h, w]; col2im is its adjoint. With k_major the
// columns are laid out [c*kh*kw, n, oh*ow] (the whole batch as one matrix: conv2d's single GEMM).
Tensor im2col(const Tensor& x, Pair2 kernel, Pair2 stride, Pair2 padding, Pair2 dilation, bool k_major = false);
Tensor col2im(const Tensor& cols, const Shape& image_shape, Pair2 kernel, Pair2 stride, Pair2 padding,
              Pair2 dilation, bool k_major = false);
Tensor max_pool2d(const Tensor& x, Pair2 kernel, Pair2 stride = 0, Pair2 padding = 0);  // stride 0: = kernel
Tensor avg_pool2d(const Tensor& x, Pair2 kernel, Pair2 stride = 0, Pair2 padding = 0);
Tensor adaptive_avg_pool2d(const Tensor& x, Pair2 output_size);
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen = default_generator());

// ---- losses (composites of the ops above) -------------------------------------------------
Tensor cross_entropy(const Tensor& logits, const Tensor& labels);  // mean over the batch
Tensor mse_loss(const Tensor& pred, const Tensor& target);

}  // namespace metaloss
