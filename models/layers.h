// Layers. Parameter names, layouts and default initialisation follow torch.nn, so a state_dict
// moves between the two (see models/safetensors.h).
#pragma once
#include "models/module.h"

namespace metaloss {

class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias = true, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Tensor weight() const { return param(w_); }
  Tensor bias() const { return has_bias_ ? param(b_) : Tensor(); }
  int64_t in_features, out_features;

 private:
  size_t w_, b_ = 0;
  bool has_bias_;
};

struct Conv2dOptions {
  Pair2 stride = 1, padding = 0, dilation = 1;
  int64_t groups = 1;
  bool bias = true;
};
class Conv2d : public Module {
 public:
  Conv2d(int64_t in, int64_t out, Pair2 kernel, Conv2dOptions o = {}, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Tensor weight() const { return param(w_); }
  Tensor bias() const { return opt_.bias ? param(b_) : Tensor(); }
  int64_t in_channels, out_channels;
  Pair2 kernel;

 private:
  Conv2dOptions opt_;
  size_t w_, b_ = 0;
};

// BatchNorm over dim 1 of [n, c] (1d) or [n, c, h, w] (2d) inputs. Buffers running_mean,
// running_var and num_batches_tracked as PyTorch; eval mode uses the running statistics.
class BatchNorm : public Module {
 public:
  BatchNorm(int64_t features, int dims, double eps = 1e-5, double momentum = 0.1, bool affine = true);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  int64_t features;

 private:
  int dims_;
  double eps_, momentum_;
  bool affine_;
  size_t w_ = 0, b_ = 0, mean_, var_, count_;
};
inline std::shared_ptr<BatchNorm> batchnorm1d(int64_t c) { return std::make_shared<BatchNorm>(c, 1); }
inline std::shared_ptr<BatchNorm> batchnorm2d(int64_t c) { return std::make_shared<BatchNorm>(c, 2); }

class MaxPool2d : public Module {
 public:
  MaxPool2d(Pair2 kernel, Pair2 stride = 0, Pair2 padding = 0) : k_(kernel), s_(stride), p_(padding) {}
  Tensor forward(const Tensor& x) override { return max_pool2d(x, k_, s_, p_); }
  std::string describe() const override;

 private:
  Pair2 k_, s_, p_;
};
class AvgPool2d : public Module {
 public:
  AvgPool2d(Pair2 kernel, Pair2 stride = 0, Pair2 padding = 0) : k_(kernel), s_(stride), p_(padding) {}
  Tensor forward(const Tensor& x) override { return avg_pool2d(x, k_, s_, p_); }
  std::string describe() const override;

 private:
  Pair2 k_, s_, p_;
};
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(Pair2 out) : out_(out) {}
  Tensor forward(const Tensor& x) override { return adaptive_avg_pool2d(x, out_); }
  std::string describe() const override;

 private:
  Pair2 out_;
};

class Dropout : public Module {
 public:
  explicit Dropout(double p, Generator& gen = default_generator()) : p_(p), gen_(&gen) {}
  Tensor forward(const Tensor& x) override { return dropout(x, p_, is_training(), *gen_); }
  std::string describe() const override;
  void set_p(double p) { p_ = p; }

 private:
  double p_;
  Generator* gen_;
};

class Flatten : public Module {
 public:
  Tensor forward(const Tensor& x) override { return flatten(x, 1); }
  std::string describe() const override { return "Flatten"; }
};

// Activations.
class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return relu(x); }
  std::string describe() const override { return "ReLU"; }
};
class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double slope = 0.01) : slope_(slope) {}
  Tensor forward(const Tensor& x) override { return leaky_relu(x, slope_); }
  std::string describe() const override;

 private:
  double slope_;
};
class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x) override { return tanh(x); }
  std::string describe() const override { return "Tanh"; }
};
class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) override { return sigmoid(x); }
  std::string describe() const override { return "Sigmoid"; }
};
class Softplus : public Module {
 public:
  explicit Softplus(double beta = 1, double threshold = 20) : beta_(beta), threshold_(threshold) {}
  Tensor forward(const Tensor& x) override { return softplus(x, beta_, threshold_); }
  std::string describe() const override;

 private:
  double beta_, threshold_;
};
// Smooth leaky ReLU (AdaLFL's loss network): g*x + (1-g) * softplus(b*x)/b.
Tensor smooth_leaky_relu(const Tensor& x, double beta = 2, double gamma = 0.25);
class SmoothLeakyReLU : public Module {
 public:
  explicit SmoothLeakyReLU(double beta = 2, double gamma = 0.25) : beta_(beta), gamma_(gamma) {}
  Tensor forward(const Tensor& x) override { return smooth_leaky_relu(x, beta_, gamma_); }
  std::string describe() const override;

 private:
  double beta_, gamma_;
};

// ResNet basic block: conv3x3-BN-ReLU-conv3x3-BN + shortcut (1x1 conv + BN when the shape
// changes), then ReLU. Names as torchvision: conv1, bn1, conv2, bn2, shortcut.0, shortcut.1.
class BasicBlock : public Module {
 public:
  BasicBlock(int64_t in, int64_t out, int64_t stride, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  std::shared_ptr<Conv2d> conv1_, conv2_;
  std::shared_ptr<BatchNorm> bn1_, bn2_;
  std::shared_ptr<Sequential> shortcut_;
  int64_t in_, out_, stride_;
};

}  // namespace metaloss
