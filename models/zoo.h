// The thesis' base models. Structures and initialisation follow the thesis' reference code
// (C. Raymond, 2024: logistic, MLP, LeNet-5, AllCNN-C, AlexNet); VGG-16 and
// ResNet-18 are the usual CIFAR variants with PyTorch's default initialisation; Conv-4 is the
// few-shot backbone. Every model is a Sequential, so its state_dict names match an nn.Sequential
// built with the same layers (bench/compare/zoo.py builds the PyTorch twins).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "models/layers.h"

namespace metaloss {

struct ModelSpec {
  std::string name;
  std::string description;
  Shape input;  // one example: [c, h, w]
  int64_t default_classes;
  std::function<std::shared_ptr<Module>(int64_t classes, Generator& gen)> make;
};

const std::vector<ModelSpec>& model_zoo();
// Throws std::invalid_argument listing the known names when `name` is unknown.
const ModelSpec& model_spec(const std::string& name);
std::shared_ptr<Module> make_model(const std::string& name, int64_t classes, Generator& gen);

}  // namespace metaloss
