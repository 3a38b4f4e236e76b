// Loads a model saved by `metaloss train --save FILE` (or any safetensors file with a zoo
// model's state_dict) and reports its accuracy on the Fashion-MNIST test set.
//   evaluate MODEL.safetensors [zoo-name] [data-dir]
// The zoo name defaults to the file's "model" metadata entry.
#include <cstdio>
#include <exception>
#include <sstream>
#include <string>
#include <vector>

#include "meta/data/data.h"
#include "meta/train.h"
#include "models/safetensors.h"
#include "models/zoo.h"

// "0.2860,0.3530" -> {0.286, 0.353}
std::vector<double> numbers(const std::string& csv) {
  std::vector<double> out;
  std::stringstream ss(csv);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(std::stod(item));
  return out;
}

int main(int argc, char** argv) {
  using namespace metaloss;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.safetensors [zoo-name] [data-dir]\n", argv[0]);
    return 2;
  }
  try {
    SafetensorsFile file = load_safetensors(argv[1]);
    std::string name = argc > 2 ? argv[2] : file.metadata["model"];
    if (name.empty()) throw std::invalid_argument("no model name given and none recorded in the file");

    data::TrainTest data = argc > 3 ? data::load_idx_dataset(argv[3]) : data::load_fashion_mnist();
    data::Dataset test = data.test;
    // Standardise with the statistics the model was trained with (recorded by `metaloss train`).
    std::vector<double> mean = numbers(file.metadata["input_mean"]), std = numbers(file.metadata["input_std"]);
    if (!mean.empty()) {
      const int64_t c = test.inputs.size(1);
      test.inputs = div(sub(test.inputs, reshape(Tensor::from_vector(mean, {c}), {1, c, 1, 1})),
                        reshape(Tensor::from_vector(std, {c}), {1, c, 1, 1}));
    }

    Generator gen(0);
    auto model = make_model(name, test.num_classes, gen);
    model->load_state_dict(file.tensors);
    const double acc = evaluate_accuracy(*model, test);
    std::printf("%s (%lld parameters): test accuracy %.4f on %lld examples\n", name.c_str(),
                static_cast<long long>(model->num_parameters()), acc, static_cast<long long>(test.size()));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "evaluate: %s\n", e.what());
    return 1;
  }
}
