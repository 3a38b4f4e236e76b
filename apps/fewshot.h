// `metaloss fewshot`: episodic meta-training and meta-testing of MAML, Meta-SGD and NPBML on
// Kanji (rendered from Debian's python3-kanjidraw), Omniglot folders, image folders or the
// mini-ImageNet pickles; a run folder with a run store and a checkpoint, so the same command
// resumes a killed run.
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace CLI {
class App;
}

namespace metaloss::app {

struct FewShotArgs {
  std::string method = "maml", dataset = "kanji", data, out;
  int64_t ways = 5, shots = 1, queries = 15, hidden = 32, image_size = 0, samples_per_class = 20;  // image_size 0: by dataset
  int inner_steps = 5, second_order_steps = -1;
  double inner_lr = 0.01, meta_lr = 1e-3, meta_lr_min = 1e-5, clip = 10;
  int64_t iterations = 1000, meta_batch = 0, val_every = 100, val_tasks = 100, test_tasks = 600, checkpoint_every = 25;
  bool first_order = false, no_learned_loss = false, no_warp = false, no_film = false, transductive = false;
  uint64_t seed = 0, task_seed = 0;
  int threads = 1;
  std::string device = "cpu";  // not part of the configuration: a run may resume on another device
  // Neither is part of the configuration (they do not change the run):
  std::string metrics;         // JSON lines ("": RUN/metrics.jsonl)
  int64_t log_every = 10;      // meta-steps between metrics lines
};

CLI::App* add_fewshot_command(CLI::App& app, FewShotArgs& a);
int run_fewshot(const FewShotArgs& a, const std::string& command_line);
// The options a few-shot run was made with, from its recorded configuration (for `metaloss
// resume RUN_DIR`); throws naming a missing or malformed entry.
FewShotArgs fewshot_args_from_config(const std::map<std::string, std::string>& config, const std::string& dir);
// Whether `dir` holds a few-shot run (its run store says kind "fewshot"): `metaloss resume`
// then continues it with run_fewshot instead of the search.
bool is_fewshot_run(const std::string& dir);
// `metaloss resume DIR` of a few-shot run, on `device` (device_given: --device was on the command
// line; otherwise a change from the device it last ran on is said).
int resume_fewshot(const std::string& dir, const std::string& device, bool device_given, const std::string& metrics,
                   const std::string& command_line);

}  // namespace metaloss::app
