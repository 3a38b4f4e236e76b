// The loss-search methods of `metaloss search`, by name. A method turns the settings of the
// command line into its part of the run's stored configuration, and that configuration back into
// a population optimiser and a candidate evaluation; everything else (the problem, the population
// loop, the run store, the cache, the evaluators, the meta-test) is shared and lives in
// meta/search/search_run.h. Adding a method is one file `method_NAME.cpp` defining a SearchMethod
// and one line in meta/search/methods.inc (docs/adding-a-method.md).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "meta/experiment/problem.h"
#include "meta/search/population.h"
#include "meta/search/run_store.h"

namespace metaloss::search {

// What `metaloss search` is told that decides a run's result (not where it runs: workers, MPI
// and devices are not part of it). Each method reads the settings it uses.
struct SearchSettings {
  std::string method = "taylorglo";
  experiment::Problem problem;
  uint64_t seed = 0;
  int generations = 50, population = 0, threads = 1;  // population 0: the method's default
  double lr = 0.01, time_limit = 0;
  int64_t steps = 0, test_steps = 0, batch_size = 128;  // steps 0: the method's default
  std::string test_seeds;                               // meta-test seeds (default: the run seed)
  double sigma = 1.2;                                   // CMA-ES (taylorglo)
  // genetic programming (evomal, gplfl, glo)
  int64_t meta_steps = 250, rejection_steps = 100, rejection_samples = 100;
  double rejection_lr = 10, crossover = 0.7, mutation = 0.25, elitism = 0.05, equivalence_tol = 1e-2;
  int max_height = 10;
  int glo_generations = 10;  // glo: CMA-ES generations on the best tree's edge weights
  double glo_sigma = 0.2;
  std::vector<std::string> seed_exprs;
  std::string simplify;  // ginac | canonical; empty: ginac when built with GiNaC
};

// A configured run's problem, built from its stored configuration (search_run.h: build_setup).
struct SearchSetup {
  RunConfig config;
  const class SearchMethod* method = nullptr;
  std::string model;
  data::Splits splits;
  learn::ModelFactory factory;
  learn::LearnTask task;
  uint64_t seed = 0;
  int generations = 0, population = 0;
  int64_t steps = 0, batch_size = 0;
  double lr = 0, time_limit = 0;
};

class SearchMethod {
 public:
  virtual ~SearchMethod() = default;
  virtual std::string name() const = 0;
  virtual std::string summary() const = 0;  // one phrase for --help
  virtual int default_population() const = 0;
  virtual int64_t default_steps() const = 0;  // base-training steps of a candidate's fitness run
  // Candidates are expression trees: their cache keys may be simplified (GiNaC), the
  // gradient-equivalence filter applies, and the best loss is also written as LaTeX, C and a plot.
  virtual bool symbolic() const = 0;
  // Writes this method's keys of the stored configuration; std::invalid_argument naming the option.
  virtual void write_config(const SearchSettings& s, RunConfig& c) const = 0;
  // Generations of the population loop (glo: both of its phases).
  virtual int loop_generations(const RunConfig& c) const;
  // Why `resume --generations` cannot extend a run of this method ("" when it can).
  virtual std::string why_not_extendable(const RunConfig&) const { return ""; }
  // Checks the method's settings in a configuration (std::invalid_argument naming the value), so a
  // bad one fails when the run starts, in this process, before any worker is started.
  virtual void validate(const SearchSetup&) const {}
  virtual std::unique_ptr<PopulationOptimizer> optimizer(const SearchSetup& s) const = 0;
  virtual EvalFn eval_fn(const SearchSetup& s) const = 0;
};

// The registered method of that name; std::invalid_argument listing the names otherwise.
const SearchMethod& find_method(const std::string& name);
std::vector<std::string> method_names();

// The stored configuration's values (std::runtime_error naming the key when missing or malformed:
// a run store is data, not a command line).
const std::string& need(const RunConfig& c, const std::string& key);
double need_double(const RunConfig& c, const std::string& key);
int64_t need_int(const RunConfig& c, const std::string& key);
uint64_t need_seed(const RunConfig& c);
// A number as the configuration stores it: %.17g, so the text round-trips exactly.
std::string config_number(double v);

}  // namespace metaloss::search
