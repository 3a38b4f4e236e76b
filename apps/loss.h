// `metaloss loss show FILE`, `metaloss loss export FILE --format c|latex|pytorch|json` and
// `metaloss loss eval FILE`: a learned-loss file (meta/losses/loss_file.h) read, described,
// converted, and evaluated by the engine on random inputs (JSON: what the exports are checked
// against, bench/compare/check_loss_export.py).
#pragma once
#include <CLI/CLI.hpp>

#include <string>

namespace metaloss::app {

struct LossArgs {
  std::string file, format = "c", name = "metaloss_loss", out;
  int64_t batch = 4, classes = 5;  // loss eval
  uint64_t seed = 0;
};

CLI::App* add_loss_command(CLI::App& app, LossArgs& a);
int run_loss(const LossArgs& a, const CLI::App& command);

}  // namespace metaloss::app
