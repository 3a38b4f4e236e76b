// `metaloss search`, `metaloss resume`, `metaloss runs` and the hidden `metaloss search-worker`:
// population searches over loss functions (TaylorGLO so far) on the shared machinery of
// meta/search (run store, cache, evaluators), with local worker processes or MPI ranks.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace metaloss::app {

// Where a search's candidates train: --device for this process (serial evaluation, the meta-test)
// and, unless --devices says otherwise, its workers; --devices: the workers' devices in turn.
// Not part of the run's configuration: a run may be resumed on other devices, and the run store
// records where each candidate ran.
struct Placement {
  std::string device = "cpu", devices;
};

struct SearchArgs {
  std::string method = "taylorglo", dataset = "fashion-mnist", data_dir, model, out;
  std::string test_seeds;  // meta-test seeds, comma-separated (default: the run seed)
  uint64_t seed = 0;
  int generations = 50, population = 0, threads = 1, workers = 1;  // population 0: 20 (taylorglo), 25 (GP)
  double sigma = 1.2, lr = 0.01, val_fraction = 0.1, time_limit = 0;
  int64_t steps = 0, test_steps = 0, batch_size = 128;  // steps 0: 1000 (taylorglo), 500 (evomal, gplfl)
  bool mpi = false;
  // evomal / gplfl
  int64_t meta_steps = 250, rejection_steps = 100, rejection_samples = 100;
  double rejection_lr = 10, crossover = 0.7, mutation = 0.25, elitism = 0.05, equivalence_tol = 1e-2;
  int max_height = 10;
  int glo_generations = 10;  // glo: CMA-ES generations on the best tree's edge weights
  double glo_sigma = 0.2;
  std::vector<std::string> seed_exprs;
  std::string simplify;  // ginac | canonical; empty: ginac when built with GiNaC
  Placement place;       // (also the hidden search-worker's --device)
  std::string metrics;   // JSON lines ("": RUN/metrics.jsonl); not part of the configuration
};

struct ResumeArgs {
  std::string dir;
  int workers = 1;
  bool mpi = false;
  int generations = 0;  // > 0: extend the run to this many generations
  Placement place;
  std::string metrics;
};

struct RunsArgs {
  std::string dir = "runs", run, format = "csv", table = "candidates", out, columns;
  int loss_rank = 0;  // runs export --loss RANK
};

struct SearchCommands {
  CLI::App *search, *resume, *worker, *runs, *runs_list, *runs_show, *runs_export;
};

SearchCommands add_search_commands(CLI::App& app, SearchArgs& s, ResumeArgs& r, RunsArgs& runs);
// Whether the parsed command asked for MPI (`search --mpi` / `resume --mpi`).
bool wants_mpi(const SearchCommands& c, const SearchArgs& s, const ResumeArgs& r);
// Runs the parsed command. `command_line` is recorded with the run's session. Under MPI, ranks
// other than 0 serve evaluations and return.
int run_search_command(const SearchCommands& c, const SearchArgs& s, const ResumeArgs& r, const RunsArgs& runs,
                       const std::string& command_line);

}  // namespace metaloss::app
