// A `metaloss search` run apart from its command line: the stored configuration made from the
// settings, the problem rebuilt from it, the population loop's options, the best candidate as a
// loss file, and the meta-test of the best loss against cross entropy. The CLI (apps/search.cpp)
// parses options, chooses evaluators (in process, worker processes, MPI) and prints.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/runtime.h"
#include "meta/losses/loss_file.h"
#include "meta/search/method.h"

namespace metaloss::search {

// Everything that decides the run's result, as stored in its run store (RunConfig is a sorted map;
// its hash identifies the run). std::invalid_argument naming the option for a bad setting.
RunConfig make_run_config(const SearchSettings& s);

// The run's problem (the seed's split, standardised; the base model), on `device`. Sets the
// thread count the configuration records. std::runtime_error for a configuration that does not
// name a registered method.
std::unique_ptr<SearchSetup> build_setup(const RunConfig& c, Device device);

// The population loop's options for the run in `dir`: seed, generations, and for the symbolic
// methods the gradient-equivalence signature and the cache key scheme (a run keyed by another
// GiNaC version is refused, naming both).
SearchLoopOptions loop_options(const SearchSetup& s, const std::string& dir, const std::string& command);

// A recorded candidate as a loss file: TaylorGLO parameters, or an expression with the edge weights
// its evaluation learned (EvoMAL) or its genome carries (GLO's second phase); with provenance.
losses::LossFile candidate_loss(const CandidateRecord& r, const RunConfig& c, const std::string& dir);

// The meta-test: for each test seed of the configuration, the best loss and cross entropy trained
// from the same fresh init, batches and budget (test_steps) on the run's split, scored on the test
// files. Results go to the store (test_error_seed_S, ce_test_error_seed_S, the means, best_genome,
// status); a store that already holds them for this best genome is left as it is. `on_seed` sees
// each seed's two test errors as they finish. Returns false when the store already held them.
struct MetaTestSeed {
  uint64_t seed;
  double test_error, ce_test_error;
};
bool meta_test(const SearchSetup& s, RunStore& store, const CandidateRecord& best,
               const std::function<Tensor(const Tensor&, const Tensor&)>& best_loss,
               const std::function<void(const MetaTestSeed&)>& on_seed);

}  // namespace metaloss::search
