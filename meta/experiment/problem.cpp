#include "meta/experiment/problem.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "meta/seeds.h"
#include "models/zoo.h"

namespace metaloss::experiment {

bool is_regression(const std::string& dataset) { return dataset == "boston" || dataset == "diabetes"; }

std::string default_model(const std::string& dataset) {
  if (is_regression(dataset)) return "mlp";
  return dataset == "cifar10" ? "allcnn_c" : "logistic";
}

ProblemData load_problem_data(const Problem& p) {
  ProblemData d;
  const std::string& name = p.dataset;
  if (is_regression(name)) {
    const std::string dir = p.data_dir.empty() ? data::kSklearnDataDir : p.data_dir;
    d.table = name == "boston" ? data::load_boston(dir) : data::load_diabetes(dir);
  } else if (name == "fashion-mnist") {
    d.files = p.data_dir.empty() ? data::load_fashion_mnist() : data::load_fashion_mnist(p.data_dir);
  } else if (name == "mnist" || name == "idx") {
    if (p.data_dir.empty()) throw std::invalid_argument("--dataset " + name + " needs --data-dir with the IDX files");
    d.files = data::load_idx_dataset(p.data_dir);
  } else if (name == "cifar10" || name == "cifar100") {
    if (p.data_dir.empty()) throw std::invalid_argument("--dataset " + name + " needs --data-dir with the binary files");
    d.files = name == "cifar10" ? data::load_cifar10(p.data_dir) : data::load_cifar100(p.data_dir);
  } else {
    throw std::invalid_argument("unknown dataset '" + name +
                                "' (expected fashion-mnist, mnist, idx, cifar10, cifar100, boston or diabetes)");
  }
  return d;
}

data::Splits make_splits(const Problem& p, const ProblemData& d, Generator& gen) {
  data::Splits s = p.regression() ? data::random_split(d.table, gen, 0.6, 0.2)
                                  : data::stratified_split(d.files, gen, p.val_fraction);
  data::normalize(s);
  return s;
}

learn::ModelFactory model_factory(const Problem& p, const data::Dataset& train) {
  const std::string model = p.model_name();
  if (p.regression()) {
    const auto& names = learn::regression_model_names();
    if (std::find(names.begin(), names.end(), model) == names.end())
      throw std::invalid_argument("--model " + model + " is not a regression model; --dataset " + p.dataset +
                                  " takes linear or mlp (in -> 100 -> 100 -> 1)");
    const int64_t in = train.inputs.size(1);
    return [model, in](Generator& g) { return learn::make_regression_model(model, in, g); };
  }
  if (model == "linear")
    throw std::invalid_argument("--model linear is for the regression datasets (boston, diabetes); try logistic");
  const ModelSpec* spec = nullptr;
  try {
    spec = &model_spec(model);  // its message lists the names
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    throw std::invalid_argument(m.rfind("--model", 0) == 0 ? m : "--model: " + m);
  }
  Shape example;
  for (int i = 1; i < train.inputs.dim(); ++i) example.push_back(train.inputs.size(i));
  if (example != spec->input)
    throw std::invalid_argument("model '" + model + "' takes inputs " + spec->input.str() + " but dataset '" +
                                p.dataset + "' has " + example.str());
  const int64_t classes = train.num_classes;
  return [model, classes](Generator& g) { return make_model(model, classes, g); };
}

double test_score(Module& m, const data::Dataset& test) {
  return test.is_classification() ? 1 - evaluate_accuracy(m, test) : evaluate_loss(m, test, "mse");
}

SeededRun train_and_score(const learn::ModelFactory& factory, uint64_t seed, const data::Splits& sp,
                          const TrainOptions& o, double lr, double momentum, MetricsWriter* metrics,
                          const std::string& run) {
  seeds::seed_dropout(seed);
  Generator init = seeds::derive(seed, seeds::Stream::Init), order = seeds::derive(seed, seeds::Stream::Order);
  auto m = factory(init);
  SGD opt(m->parameters(), SGDOptions{lr, momentum});
  TrainOptions labelled = o;  // its training curve, told apart from the other runs of the command
  labelled.metrics_labels = {{"event", "train"}, {"run", run}};
  labelled.metrics_numbers = {{"seed", double(seed)}, {"base_lr", lr}};
  const double seconds = train_supervised(*m, opt, sp.train, labelled, order, metrics).seconds;
  return {test_score(*m, sp.valid), test_score(*m, sp.test), seconds};
}

namespace {
// The comma-separated items of `text` (an empty item included: "1,,2" has three).
std::vector<std::string> items(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}
}  // namespace

std::vector<uint64_t> parse_seed_list(const std::string& text, const std::string& option) {
  std::vector<uint64_t> out;
  for (const std::string& item : items(text)) {
    const bool digits = !item.empty() && std::all_of(item.begin(), item.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || item.size() > 19)
      throw std::invalid_argument(option + ": expected comma-separated non-negative integers, got '" + item + "' in '" +
                                  text + "'");
    const uint64_t s = std::stoull(item);
    if (std::find(out.begin(), out.end(), s) != out.end())
      throw std::invalid_argument(option + ": seed " + item + " appears twice");
    out.push_back(s);
  }
  return out;
}

std::vector<double> parse_lr_grid(const std::string& text, const std::string& option) {
  std::vector<double> out;
  if (text.empty()) return out;
  for (const std::string& item : items(text)) {
    char* end = nullptr;
    const double v = item.empty() ? NAN : std::strtod(item.c_str(), &end);
    if (item.empty() || end != item.c_str() + item.size() || !std::isfinite(v) || !(v > 0))
      throw std::invalid_argument(option + ": expected comma-separated positive learning rates, got '" + item +
                                  "' in '" + text + "'");
    if (std::find(out.begin(), out.end(), v) != out.end())
      throw std::invalid_argument(option + ": rate " + item + " appears twice");
    out.push_back(v);
  }
  return out;
}

}  // namespace metaloss::experiment
