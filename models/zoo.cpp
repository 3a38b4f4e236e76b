#include "models/zoo.h"

#include <stdexcept>

#include "models/init.h"

namespace metaloss {

namespace {
using M = std::shared_ptr<Module>;
template <class T, class... A>
M mk(A&&... a) {
  return std::make_shared<T>(std::forward<A>(a)...);
}

enum class Init { Torch, XavierZero, KaimingNormalZero };

// Re-initialises every Linear/Conv weight (and zeroes biases) of a model as the reference code does.
void apply_init(Module& m, Init how, Generator& gen) {
  if (how == Init::Torch) return;
  for (auto& [name, t] : m.named_parameters()) {
    const bool is_bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
    if (t.dim() < 2) {
      if (is_bias) init::zeros_(t);  // BatchNorm weights (dim 1, not bias) keep their ones
      continue;
    }
    if (how == Init::XavierZero) init::xavier_uniform_(t, gen);
    else init::kaiming_normal_(t, gen);
  }
}

std::shared_ptr<Sequential> seq(std::vector<M> layers) { return std::make_shared<Sequential>(std::move(layers)); }

M logistic(int64_t classes, Generator& gen) {
  auto m = seq({mk<Flatten>(), mk<Linear>(784, classes, true, gen)});
  apply_init(*m, Init::XavierZero, gen);
  return m;
}

M mlp(int64_t classes, Generator& gen) {
  auto m = seq({mk<Flatten>(), mk<Linear>(784, 1000, true, gen), mk<ReLU>(), mk<Linear>(1000, 1000, true, gen), mk<ReLU>(),
                mk<Linear>(1000, classes, true, gen)});
  apply_init(*m, Init::XavierZero, gen);
  return m;
}

M lenet5(int64_t classes, Generator& gen) {
  auto m = seq({mk<Conv2d>(1, 6, 5, Conv2dOptions{}, gen), mk<Tanh>(), mk<AvgPool2d>(2),
                mk<Conv2d>(6, 16, 5, Conv2dOptions{}, gen), mk<Tanh>(), mk<AvgPool2d>(2), mk<Flatten>(),
                mk<Linear>(256, 120, true, gen), mk<Tanh>(), mk<Linear>(120, 84, true, gen), mk<Tanh>(),
                mk<Linear>(84, classes, true, gen)});
  apply_init(*m, Init::XavierZero, gen);
  return m;
}

// conv -> BN -> ReLU, the AllCNN-C / VGG building block.
void conv_bn_relu(Sequential& s, int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad, Generator& gen,
                  bool relu = true) {
  s.push_back(mk<Conv2d>(in, out, k, Conv2dOptions{stride, pad, 1, 1, true}, gen));
  s.push_back(batchnorm2d(out));
  if (relu) s.push_back(mk<ReLU>());
}

M allcnn_c(int64_t classes, Generator& gen) {
  auto m = std::make_shared<Sequential>();
  conv_bn_relu(*m, 3, 96, 3, 1, 1, gen);
  conv_bn_relu(*m, 96, 96, 3, 1, 1, gen);
  conv_bn_relu(*m, 96, 96, 3, 2, 1, gen);
  m->push_back(mk<Dropout>(0.5));
  conv_bn_relu(*m, 96, 192, 3, 1, 1, gen);
  conv_bn_relu(*m, 192, 192, 3, 1, 1, gen);
  conv_bn_relu(*m, 192, 192, 3, 2, 1, gen);
  m->push_back(mk<Dropout>(0.5));
  conv_bn_relu(*m, 192, 192, 3, 1, 0, gen);
  conv_bn_relu(*m, 192, 192, 1, 1, 0, gen);
  conv_bn_relu(*m, 192, classes, 1, 1, 0, gen, /*relu=*/false);
  m->push_back(mk<AdaptiveAvgPool2d>(1));
  m->push_back(mk<Flatten>());
  apply_init(*m, Init::KaimingNormalZero, gen);
  return m;
}

M alexnet(int64_t classes, Generator& gen) {
  auto conv = [&](int64_t in, int64_t out, int64_t stride) {
    return mk<Conv2d>(in, out, 3, Conv2dOptions{stride, 1, 1, 1, true}, gen);
  };
  auto m = seq({conv(3, 64, 2), mk<ReLU>(), mk<MaxPool2d>(2), conv(64, 192, 1), mk<ReLU>(), mk<MaxPool2d>(2),
                conv(192, 384, 1), mk<ReLU>(), conv(384, 256, 1), mk<ReLU>(), conv(256, 256, 1), mk<ReLU>(),
                mk<MaxPool2d>(2), mk<Flatten>(), mk<Linear>(1024, 4096, true, gen), mk<ReLU>(),
                mk<Linear>(4096, 4096, true, gen), mk<ReLU>(), mk<Linear>(4096, classes, true, gen)});
  apply_init(*m, Init::KaimingNormalZero, gen);
  return m;
}

M vgg16(int64_t classes, Generator& gen) {
  const int64_t cfg[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};
  auto m = std::make_shared<Sequential>();
  int64_t in = 3;
  for (int64_t c : cfg) {
    if (c == 0) {
      m->push_back(mk<MaxPool2d>(2));
    } else {
      conv_bn_relu(*m, in, c, 3, 1, 1, gen);
      in = c;
    }
  }
  m->push_back(mk<Flatten>());
  m->push_back(mk<Linear>(512, classes, true, gen));
  return m;
}

M resnet18(int64_t classes, Generator& gen) {
  auto m = std::make_shared<Sequential>();
  m->push_back(mk<Conv2d>(3, 64, 3, Conv2dOptions{1, 1, 1, 1, false}, gen));
  m->push_back(batchnorm2d(64));
  m->push_back(mk<ReLU>());
  int64_t in = 64;
  for (int64_t stage = 0; stage < 4; ++stage) {
    const int64_t out = 64 << stage;
    for (int64_t b = 0; b < 2; ++b) {
      m->push_back(mk<BasicBlock>(in, out, (stage > 0 && b == 0) ? 2 : 1, gen));
      in = out;
    }
  }
  m->push_back(mk<AdaptiveAvgPool2d>(1));
  m->push_back(mk<Flatten>());
  m->push_back(mk<Linear>(512, classes, true, gen));
  return m;
}

// Four blocks of conv3x3(64) - BN - ReLU - max-pool 2, then a linear head (28x28 -> 1x1x64).
M conv4(int64_t classes, Generator& gen) {
  auto m = std::make_shared<Sequential>();
  int64_t in = 1;
  for (int i = 0; i < 4; ++i) {
    conv_bn_relu(*m, in, 64, 3, 1, 1, gen);
    m->push_back(mk<MaxPool2d>(2));
    in = 64;
  }
  m->push_back(mk<Flatten>());
  m->push_back(mk<Linear>(64, classes, true, gen));
  return m;
}

}  // namespace

const std::vector<ModelSpec>& model_zoo() {
  static const std::vector<ModelSpec> zoo = {
      {"logistic", "logistic regression 784 -> classes (Xavier-uniform, zero bias)", Shape{1, 28, 28}, 10, logistic},
      {"mlp", "MLP 784-1000-1000-classes, ReLU (Xavier-uniform, zero bias)", Shape{1, 28, 28}, 10, mlp},
      {"lenet5", "LeNet-5, thesis variant: tanh, average pooling, no padding", Shape{1, 28, 28}, 10, lenet5},
      {"allcnn_c", "AllCNN-C with batch norm (CIFAR, Kaiming-normal)", Shape{3, 32, 32}, 10, allcnn_c},
      {"alexnet", "AlexNet, CIFAR variant (Kaiming-normal, zero bias)", Shape{3, 32, 32}, 10, alexnet},
      {"vgg16", "VGG-16 with batch norm, CIFAR variant", Shape{3, 32, 32}, 10, vgg16},
      {"resnet18", "ResNet-18, CIFAR variant (3x3 stem, no max-pool)", Shape{3, 32, 32}, 10, resnet18},
      {"conv4", "Conv-4 few-shot backbone (4 x conv3x3-64, BN, ReLU, max-pool 2)", Shape{1, 28, 28}, 5, conv4},
  };
  return zoo;
}

const ModelSpec& model_spec(const std::string& name) {
  std::string known;
  for (const auto& s : model_zoo()) {
    if (s.name == name) return s;
    known += (known.empty() ? "" : ", ") + s.name;
  }
  throw std::invalid_argument("unknown model '" + name + "' (known: " + known + ")");
}

std::shared_ptr<Module> make_model(const std::string& name, int64_t classes, Generator& gen) {
  const ModelSpec& s = model_spec(name);
  if (classes <= 0) classes = s.default_classes;
  return s.make(classes, gen);
}

}  // namespace metaloss
