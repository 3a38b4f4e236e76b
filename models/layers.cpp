#include "models/layers.h"

#include <cmath>
#include <sstream>

#include "models/init.h"

namespace metaloss {

namespace {
std::string pair_str(Pair2 p) { return p.h == p.w ? std::to_string(p.h) : std::to_string(p.h) + "x" + std::to_string(p.w); }
std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
// PyTorch's default for Linear/Conv: weight kaiming_uniform(a = sqrt(5)), bias U(-1/sqrt(fan_in), ..).
void torch_default_init(const Tensor& w, const Tensor& b, Generator& gen) {
  init::kaiming_uniform_(w, std::sqrt(5.0), gen);
  if (b.defined()) {
    const double bound = 1.0 / std::sqrt(double(init::fans(w.shape()).in));
    init::uniform_(b, -bound, bound, gen);
  }
}
}  // namespace

Linear::Linear(int64_t in, int64_t out, bool bias, Generator& gen) : in_features(in), out_features(out), has_bias_(bias) {
  if (in <= 0 || out <= 0)
    throw std::invalid_argument("Linear: features must be positive, got " + std::to_string(in) + " -> " + std::to_string(out));
  Tensor w = Tensor::empty({out, in}), b = bias ? Tensor::empty({out}) : Tensor();
  torch_default_init(w, b, gen);
  w_ = register_parameter("weight", w);
  if (bias) b_ = register_parameter("bias", b);
}
Tensor Linear::forward(const Tensor& x) { return linear(x, weight(), bias()); }
std::string Linear::describe() const {
  return "Linear(" + std::to_string(in_features) + " -> " + std::to_string(out_features) + (has_bias_ ? "" : ", no bias") + ")";
}

Conv2d::Conv2d(int64_t in, int64_t out, Pair2 k, Conv2dOptions o, Generator& gen)
    : in_channels(in), out_channels(out), kernel(k), opt_(o) {
  if (in <= 0 || out <= 0 || o.groups <= 0 || in % o.groups || out % o.groups)
    throw std::invalid_argument("Conv2d: channels " + std::to_string(in) + " -> " + std::to_string(out) +
                                " must be positive and divisible by groups " + std::to_string(o.groups));
  Tensor w = Tensor::empty({out, in / o.groups, k.h, k.w}), b = o.bias ? Tensor::empty({out}) : Tensor();
  torch_default_init(w, b, gen);
  w_ = register_parameter("weight", w);
  if (o.bias) b_ = register_parameter("bias", b);
}
Tensor Conv2d::forward(const Tensor& x) {
  return conv2d(x, weight(), bias(), opt_.stride, opt_.padding, opt_.dilation, opt_.groups);
}
std::string Conv2d::describe() const {
  std::string s = "Conv2d(" + std::to_string(in_channels) + " -> " + std::to_string(out_channels) + ", kernel " + pair_str(kernel);
  if (opt_.stride.h != 1 || opt_.stride.w != 1) s += ", stride " + pair_str(opt_.stride);
  if (opt_.padding.h || opt_.padding.w) s += ", padding " + pair_str(opt_.padding);
  if (opt_.dilation.h != 1 || opt_.dilation.w != 1) s += ", dilation " + pair_str(opt_.dilation);
  if (opt_.groups != 1) s += ", groups " + std::to_string(opt_.groups);
  if (!opt_.bias) s += ", no bias";
  return s + ")";
}

BatchNorm::BatchNorm(int64_t c, int dims, double eps, double momentum, bool affine)
    : features(c), dims_(dims), eps_(eps), momentum_(momentum), affine_(affine) {
  if (c <= 0) throw std::invalid_argument("BatchNorm: features must be positive, got " + std::to_string(c));
  if (affine) {
    w_ = register_parameter("weight", Tensor::ones({c}));
    b_ = register_parameter("bias", Tensor::zeros({c}));
  }
  mean_ = register_buffer("running_mean", Tensor::zeros({c}));
  var_ = register_buffer("running_var", Tensor::ones({c}));
  count_ = register_buffer("num_batches_tracked", Tensor::zeros(Shape{}, DType::Int64));
}
Tensor BatchNorm::forward(const Tensor& x) {
  const int want = dims_ == 1 ? 2 : 4;
  if (x.dim() != want && !(dims_ == 1 && x.dim() == 3))
    throw std::invalid_argument("BatchNorm" + std::to_string(dims_) + "d: expected a " + std::to_string(want) +
                                "-d input [n, " + std::to_string(features) + (dims_ == 1 ? "]" : ", h, w]") + ", got " +
                                x.desc());
  if (is_training()) {
    NoGrad ng;
    buffer(count_).add_(Tensor::ones(Shape{}, DType::Int64, buffer(count_).device()));
  }
  return batch_norm(x, buffer(mean_), buffer(var_), affine_ ? param(w_) : Tensor(), affine_ ? param(b_) : Tensor(),
                    is_training(), momentum_, eps_);
}
std::string BatchNorm::describe() const { return "BatchNorm" + std::to_string(dims_) + "d(" + std::to_string(features) + ")"; }

std::string MaxPool2d::describe() const { return "MaxPool2d(" + pair_str(k_) + (s_.h ? ", stride " + pair_str(s_) : "") + ")"; }
std::string AvgPool2d::describe() const { return "AvgPool2d(" + pair_str(k_) + (s_.h ? ", stride " + pair_str(s_) : "") + ")"; }
std::string AdaptiveAvgPool2d::describe() const { return "AdaptiveAvgPool2d(" + pair_str(out_) + ")"; }
std::string Dropout::describe() const { return "Dropout(" + num(p_) + ")"; }
std::string LeakyReLU::describe() const { return "LeakyReLU(" + num(slope_) + ")"; }
std::string Softplus::describe() const { return "Softplus(beta " + num(beta_) + ")"; }
std::string SmoothLeakyReLU::describe() const { return "SmoothLeakyReLU(beta " + num(beta_) + ", gamma " + num(gamma_) + ")"; }

Tensor smooth_leaky_relu(const Tensor& x, double beta, double gamma) {
  return add(mul(x, gamma), mul(softplus(x, beta), 1.0 - gamma));
}

BasicBlock::BasicBlock(int64_t in, int64_t out, int64_t stride, Generator& gen) : in_(in), out_(out), stride_(stride) {
  conv1_ = register_module("conv1", std::make_shared<Conv2d>(in, out, 3, Conv2dOptions{stride, 1, 1, 1, false}, gen));
  bn1_ = register_module("bn1", batchnorm2d(out));
  conv2_ = register_module("conv2", std::make_shared<Conv2d>(out, out, 3, Conv2dOptions{1, 1, 1, 1, false}, gen));
  bn2_ = register_module("bn2", batchnorm2d(out));
  if (stride != 1 || in != out) {
    shortcut_ = register_module("shortcut", std::make_shared<Sequential>());
    shortcut_->push_back(std::make_shared<Conv2d>(in, out, 1, Conv2dOptions{stride, 0, 1, 1, false}, gen));
    shortcut_->push_back(batchnorm2d(out));
  }
}
Tensor BasicBlock::forward(const Tensor& x) {
  Tensor h = relu(bn1_->forward(conv1_->forward(x)));
  h = bn2_->forward(conv2_->forward(h));
  return relu(add(h, shortcut_ ? shortcut_->forward(x) : x));
}
std::string BasicBlock::describe() const {
  return "BasicBlock(" + std::to_string(in_) + " -> " + std::to_string(out_) + ", stride " + std::to_string(stride_) + ")";
}

}  // namespace metaloss
