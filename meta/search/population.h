// The population-search loop shared by TaylorGLO, GLO and EvoMAL: an ask/tell optimiser proposes
// candidates (canonical genome text + numeric parameters), an Evaluator scores them (here, in
// worker processes, or over MPI), and the RunStore records each result as it arrives and the
// optimiser's state after each generation. Resuming is running the loop again on the same store:
// it loads the state of the last completed generation, re-asks the (identical) population of the
// interrupted one, takes the candidates that were already recorded, and evaluates only the rest.
//
// What makes a result independent of who evaluates what, and when:
//   - candidate (g, k) is trained from its own seed candidate_seed(run seed, g, k);
//   - a genome seen before (in an earlier generation, or earlier in this one) is not trained
//     again: it gets the first evaluation's fitness and status (a cache hit, recorded as such);
//   - the optimiser only sees the fitness vector in candidate order once the generation is done.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "meta/search/run_store.h"

namespace metaloss::search {

struct Candidate {
  std::string genome;          // canonical text (one line): equal genomes are the same loss
  std::vector<double> params;  // its numeric parameters, for export and plots
};

class PopulationOptimizer {
 public:
  virtual ~PopulationOptimizer() = default;
  virtual std::vector<Candidate> ask() = 0;
  virtual void tell(const std::vector<double>& fitness) = 0;  // in the order of ask()
  virtual std::string save_state() const = 0;                 // everything, RNG included
  virtual void load_state(const std::string& state) = 0;
  virtual std::string rng_state() const = 0;                  // readable summary of its RNG
};

struct Evaluation {
  double fitness = 1;  // validation error in [0, 1]; 1 for a failed candidate
  std::string status;  // "ok" or "failed"
  std::string reason;  // why it failed (empty when ok)
  uint64_t seed = 0;
  double seconds = 0;
  std::string worker;  // who evaluated it
  std::string device;  // where it trained ("cpu", "cuda:1", ...): set by the evaluator, which chose it
  std::string params;  // parameters the evaluation produced (JSON array, e.g. EvoMAL's edge weights); "" if none
  bool cached = false;
  bool rejected = false;  // status "failed" because the evaluation refused it (CandidateRejected), untrained
};

// Runs `body` on a fresh Evaluation of `seed` and times it: status "ok" when it returns, and when
// it throws, status "failed", fitness 1 and the exception's message as the reason (a bad
// candidate is a result, not an error of the search). Every method's evaluation goes through it.
Evaluation guarded_evaluation(uint64_t seed, const std::function<void(Evaluation&)>& body);

// Trains with the loss `genome` from `seed` and scores it. Never throws for a bad candidate: a
// failure is an Evaluation with status "failed" and the reason.
using EvalFn = std::function<Evaluation(const std::string& genome, uint64_t seed)>;

struct EvalJob {
  int generation = 0, index = 0;
  std::string genome;
  uint64_t seed = 0;
};

class Evaluator {
 public:
  virtual ~Evaluator() = default;
  // Evaluates every job; calls done(job position, evaluation) on the calling thread as each one
  // finishes, in any order.
  virtual void evaluate(const std::vector<EvalJob>& jobs,
                        const std::function<void(size_t, const Evaluation&)>& done) = 0;
  virtual std::string describe() const = 0;  // "serial", "2 worker processes", ...
};

class SerialEvaluator : public Evaluator {
 public:
  explicit SerialEvaluator(EvalFn fn, std::string device = "cpu") : fn_(std::move(fn)), device_(std::move(device)) {}
  void evaluate(const std::vector<EvalJob>& jobs, const std::function<void(size_t, const Evaluation&)>& done) override;
  std::string describe() const override { return "serial (in process)"; }

 private:
  EvalFn fn_;
  std::string device_;
};

// The seed of candidate `index` of generation `generation` (splitmix64 of the three).
uint64_t candidate_seed(uint64_t run_seed, int generation, int index);

// Numbers joined by `sep` with 17 significant digits (text that reads back to the same doubles).
std::string exact_numbers(const std::vector<double>& v, const char* sep = ", ");

struct GenerationLog {
  int generation = 0;
  double best = 1, mean = 1;  // fitness of this generation (mean over successful candidates)
  int failed = 0, cached = 0, evaluated = 0;
  double seconds = 0;
};

struct SearchLoopOptions {
  uint64_t seed = 0;
  int generations = 50;
  int hall_of_fame = 10;
  std::string command;  // recorded with the session
  // Gradient-equivalence filter (EvoMAL): a cheap numeric signature of a genome, computed here in
  // the master before any job is sent. A candidate whose signature matches (every component
  // within signature_tolerance, relative) that of an earlier trained or rejected candidate takes
  // its result as a cache hit ("gradient-equivalent to candidate g/k"). Empty: no filter.
  std::function<std::vector<double>(const std::string& genome)> signature;
  double signature_tolerance = 1e-2;
  // The fitness cache's key of a genome (empty: the genome text itself). Genomes with equal keys
  // are the same loss: the later ones take the first one's result ("same genome as" when the texts
  // are equal, "symbolically equal to" otherwise), in the cache, among the candidates of one
  // generation, and when the cache is rebuilt from the store on resume. EvoMAL / GP-LFL / GLO set
  // it to losses::equivalence_key (GiNaC simplification). Must be deterministic across processes.
  std::function<std::string(const std::string& genome)> cache_key;
  // Fault injection for the kill-and-resume test: SIGKILL this process right after the n-th
  // evaluation of this session is committed (0: never).
  int64_t kill_after_evaluations = 0;
};

struct SearchOutcome {
  CandidateRecord best;            // fitness 1 and empty genome if no candidate ever succeeded
  std::vector<GenerationLog> generations;  // every completed generation, resumed ones included
  int resumed_from = 0;            // completed generations found in the store at the start
  int64_t evaluations = 0;         // trainings run by this session (cache hits and recorded ones excluded)
  int64_t reused = 0;              // candidates of an interrupted generation taken from the store
  int session = 0;
};

// Runs (or resumes) the search until opts.generations are complete. on_candidate and
// on_generation (optional) see each record as it is committed.
SearchOutcome run_population_search(PopulationOptimizer& opt, Evaluator& ev, RunStore& store,
                                    const SearchLoopOptions& opts,
                                    const std::function<void(const CandidateRecord&)>& on_candidate = {},
                                    const std::function<void(const GenerationLog&)>& on_generation = {});

}  // namespace metaloss::search
