// `metaloss search`, `metaloss resume`, `metaloss runs` and the hidden `metaloss search-worker`:
// population searches over loss functions (the methods of meta/search/method.h) on the shared
// machinery of meta/search (run store, cache, evaluators), with local worker processes or MPI ranks.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "meta/search/method.h"

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
  search::SearchSettings s;  // what decides the run's result (the stored configuration)
  std::string out;
  int workers = 1;
  bool mpi = false;
  Placement place;      // (also the hidden search-worker's --device)
  std::string metrics;  // JSON lines ("": RUN/metrics.jsonl); not part of the configuration
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
