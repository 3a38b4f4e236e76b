// `metaloss learn`: meta-learn a loss function (ML3 offline, AdaLFL online), meta-test it against
// a cross-entropy / MSE baseline over several seeds, and write the learned losses, plots, metrics
// and a results table. Kept apart from metaloss.cpp, which only registers the subcommand.
#pragma once
#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace metaloss::app {

struct LearnArgs {
  std::string method, dataset = "fashion-mnist", data_dir, model, seeds = "0", out, metrics, config;
  std::string extra_baselines;  // comma-separated fixed losses trained like the baseline (e.g. lsr,sparse_lsr)
  int64_t meta_steps = -1;  // -1: the method's default (see --help)
  int64_t inner_steps = 1, steps = 0, epochs = 0, batch_size = 128, snapshots = 4, log_every = 100;
  double inner_lr = 0.01, meta_lr = 1e-3, momentum = 0, clip_norm = 10, val_fraction = 0.1;
  bool learn_lr = false;
  int threads = 0;
};

// `metaloss search --method taylorglo`: a population search over loss functions (issue 7; TaylorGLO
// only so far, local and serial, no run store yet).
struct SearchArgs {
  std::string method = "taylorglo", dataset = "fashion-mnist", data_dir, model, out;
  uint64_t seed = 0;
  int generations = 50, population = 20, threads = 0;
  double sigma = 1.2, lr = 0.01, val_fraction = 0.1;
  int64_t steps = 1000, test_steps = 0, batch_size = 128;
};
CLI::App* add_search_command(CLI::App& app, SearchArgs& a);
int run_search(const SearchArgs& a);

// Registers the subcommand (options write into `a`); returns it so main can test `*learn`.
CLI::App* add_learn_command(CLI::App& app, LearnArgs& a);
// Runs it. Bad option combinations throw std::invalid_argument (exit 2), failures while running
// other exceptions (exit 1).
int run_learn(const LearnArgs& a);

}  // namespace metaloss::app
