// `metaloss learn`: meta-learn a loss function (ML3 offline, AdaLFL online), meta-test it against
// a cross-entropy / MSE baseline over several seeds, and write the learned losses, plots, metrics
// and a results table. Kept apart from metaloss.cpp, which only registers the subcommand.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>


namespace CLI {
class App;
}

namespace metaloss::app {

struct LearnArgs {
  std::string method, dataset = "fashion-mnist", data_dir, model, seeds = "0", out, metrics, config;
  std::string extra_baselines;  // comma-separated fixed losses trained like the baseline (e.g. lsr,sparse_lsr)
  int64_t meta_steps = -1;  // -1: the method's default (see --help)
  int64_t inner_steps = 1, steps = 0, epochs = 0, batch_size = 128, snapshots = 4, log_every = 100;
  double inner_lr = 0.01, meta_lr = NAN /* the method's default */, momentum = 0, clip_norm = 10, val_fraction = 0.1;
  bool learn_lr = false;
  int threads = 0;
  // The learned loss's network; empty / NaN: the method's default (LearnedLossConfig::ml3/adalfl).
  std::string loss_hidden, loss_activation, loss_output;
  double slrelu_beta = NAN, slrelu_gamma = NAN;
  // Base learning rates to tune over on the validation split ("0.003,0.01,0.03"): the baseline and
  // the learned loss are each also trained at every rate, and the rate with the lower validation
  // error is reported beside the thesis protocol's fixed --inner-lr.
  std::string base_lr_grid;
  std::string device = "cpu";  // where the splits, base models and loss network live
  // A loss file (a search's best_loss.safetensors, `runs export --loss`, a learned network) to
  // meta-test exactly as a learned loss is, instead of learning one (--method is then not given).
  std::string meta_test;
};

// Registers the subcommand (options write into `a`); returns it so main can test `*learn`.
CLI::App* add_learn_command(CLI::App& app, LearnArgs& a);
// Runs it. Bad option combinations throw std::invalid_argument (exit 2), failures while running
// other exceptions (exit 1).
int run_learn(const LearnArgs& a);

}  // namespace metaloss::app
