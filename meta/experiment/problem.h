// The problem a loss is learned for, as every command states it: a dataset (its files), the
// validation split and the base model. `metaloss train`, `learn` and `search` all build their
// data, splits and base models through these functions, so a seed means the same split, init,
// batch order and dropout masks in each of them (meta/seeds.h names the streams).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "meta/data/data.h"
#include "meta/learn/task.h"
#include "meta/train.h"

namespace metaloss::experiment {

bool is_regression(const std::string& dataset);  // boston, diabetes
// logistic for the image sets (allcnn_c for cifar10), mlp for regression.
std::string default_model(const std::string& dataset);

struct Problem {
  std::string dataset = "fashion-mnist";
  std::string data_dir;  // empty: the dataset's packaged location (fashion-mnist, the sklearn CSVs)
  std::string model;     // empty: default_model(dataset)
  double val_fraction = 0.1;  // classification: the stratified validation split

  bool regression() const { return is_regression(dataset); }
  std::string model_name() const { return model.empty() ? default_model(dataset) : model; }
};

// The data as its files give it, loaded once per command: the train/test files of an image set,
// or the one table of a regression set. std::invalid_argument (naming --dataset / --data-dir)
// when the dataset needs files that were not given.
struct ProblemData {
  data::TrainTest files;  // classification
  data::Dataset table;    // regression
  const data::Dataset& example_split() const { return table.size() > 0 ? table : files.train; }
};
ProblemData load_problem_data(const Problem& p);

// One seed's splits: classification takes a stratified validation split from the training files
// (the test files stay the test set), regression a 60/20/20 random split; inputs (and regression
// targets) standardised with training-split statistics only.
data::Splits make_splits(const Problem& p, const ProblemData& d, Generator& gen);

// The base-model factory, after checking that the model fits the data (std::invalid_argument
// naming --model and the shapes otherwise).
learn::ModelFactory model_factory(const Problem& p, const data::Dataset& train);

// Test error (classification) or test MSE in standardised units (regression).
double test_score(Module& m, const data::Dataset& test);

// A fresh model of `seed` trained with SGD and options `o`, scored on the validation and test
// splits. Every run of one seed uses the same streams (init, batch order, dropout masks; the
// default generator is reseeded, so no seed depends on the seeds before it in a list).
struct SeededRun {
  double valid, test, seconds;
};
SeededRun train_and_score(const learn::ModelFactory& factory, uint64_t seed, const data::Splits& sp,
                          const TrainOptions& o, double lr, double momentum, MetricsWriter* metrics = nullptr,
                          const std::string& run = "");

// "0,1,2" -> {0, 1, 2}: non-negative integers, none twice; std::invalid_argument naming
// `option` for anything else.
std::vector<uint64_t> parse_seed_list(const std::string& text, const std::string& option);
// "0.003,0.01,0.1" -> positive finite rates, none twice, in the given order ("" -> {}).
std::vector<double> parse_lr_grid(const std::string& text, const std::string& option);

}  // namespace metaloss::experiment
