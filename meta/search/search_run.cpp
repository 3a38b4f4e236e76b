#include "meta/search/search_run.h"

#include <algorithm>
#include <stdexcept>

#include "engine/runtime.h"
#include "meta/losses/simplify.h"
#include "meta/search/evomal.h"
#include "meta/seeds.h"

namespace metaloss::search {

RunConfig make_run_config(const SearchSettings& s) {
  const SearchMethod& m = find_method(s.method);
  RunConfig c;
  c["method"] = s.method;
  c["dataset"] = s.problem.dataset;
  c["data_dir"] = s.problem.data_dir;
  c["model"] = s.problem.model_name();
  c["seed"] = std::to_string(s.seed);
  c["generations"] = std::to_string(s.generations);
  c["population"] = std::to_string(s.population > 0 ? s.population : m.default_population());
  const int64_t steps = s.steps > 0 ? s.steps : m.default_steps();
  c["steps"] = std::to_string(steps);
  c["test_steps"] = std::to_string(s.test_steps > 0 ? s.test_steps : steps);
  m.write_config(s, c);
  std::string seeds;
  for (uint64_t t : experiment::parse_seed_list(s.test_seeds.empty() ? std::to_string(s.seed) : s.test_seeds,
                                                "--test-seeds"))
    seeds += (seeds.empty() ? std::string() : std::string(",")) + std::to_string(t);
  c["test_seeds"] = seeds;
  c["batch_size"] = std::to_string(s.batch_size);
  c["lr"] = config_number(s.lr);
  c["val_fraction"] = config_number(s.problem.val_fraction);
  c["threads"] = std::to_string(s.threads);
  c["time_limit"] = config_number(s.time_limit);
  return c;
}

std::unique_ptr<SearchSetup> build_setup(const RunConfig& c, Device device) {
  auto s = std::make_unique<SearchSetup>();
  s->config = c;
  try {
    s->method = &find_method(need(c, "method"));
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(std::string("run configuration: ") + e.what());
  }
  experiment::Problem p;
  p.dataset = need(c, "dataset");
  p.data_dir = need(c, "data_dir");
  p.val_fraction = need_double(c, "val_fraction");
  p.model = need(c, "model");
  s->model = p.model;
  set_num_threads(int(need_int(c, "threads")));
  const experiment::ProblemData data = experiment::load_problem_data(p);
  s->seed = need_seed(c);
  Generator split_gen = seeds::derive(s->seed, seeds::Stream::Split);
  // Split and standardised on the host (the same split everywhere), then on the device once.
  s->splits = data::to_device(experiment::make_splits(p, data, split_gen), device);
  s->factory = learn::on_device(experiment::model_factory(p, s->splits.train), device);
  s->task = learn::LearnTask{s->splits.train, s->splits.valid, s->factory};
  s->task.validate();
  s->generations = int(need_int(c, "generations"));
  s->population = int(need_int(c, "population"));
  s->steps = need_int(c, "steps");
  s->batch_size = need_int(c, "batch_size");
  s->lr = need_double(c, "lr");
  s->time_limit = need_double(c, "time_limit");
  s->method->validate(*s);
  return s;
}

namespace {
// How a symbolic run keys its fitness cache: a GiNaC key scheme or "canonical" (also when the key
// is missing: a run made before simplification existed).
std::string simplify_mode(const RunConfig& c) {
  const auto it = c.find("simplify");
  return it == c.end() ? "canonical" : it->second;
}
}  // namespace

SearchLoopOptions loop_options(const SearchSetup& s, const std::string& dir, const std::string& command) {
  SearchLoopOptions lo;
  lo.seed = s.seed;
  lo.generations = s.method->loop_generations(s.config);
  lo.command = command;
  if (!s.method->symbolic()) return lo;
  const double tol = need_double(s.config, "equivalence_tol");
  if (tol > 0) {
    lo.signature = gradient_signature(s.task, s.seed, 100);  // 100 examples, whatever the rejection protocol uses
    lo.signature_tolerance = tol;
  }
  const std::string mode = simplify_mode(s.config);
  if (mode.rfind("ginac", 0) == 0) {
    if (mode != losses::simplify_key_scheme())
      throw std::runtime_error("run " + dir + " keys its fitness cache by simplification '" + mode +
                               "', this metaloss by '" + losses::simplify_key_scheme() +
                               "': other keys would change which candidates count as repeats; continue it "
                               "with the build that made it");
    lo.cache_key = losses::equivalence_key;  // GLO's weighted genomes keep their text
  } else if (mode != "canonical") {
    throw std::runtime_error("run configuration: 'simplify' is '" + mode + "', expected ginac or canonical");
  }
  return lo;
}

losses::LossFile candidate_loss(const CandidateRecord& r, const RunConfig& c, const std::string& dir) {
  losses::LossFile f;
  if (r.genome.rfind("taylorglo(", 0) == 0 || r.genome.find(" @ ") != std::string::npos) {
    f = losses::parse_loss_spec(r.genome);
  } else {
    f.expression = losses::Expression::parse(r.genome);
    f.weights = parse_weights_json(r.params.empty() ? "[]" : r.params);
    if (!f.weights.empty() && f.weights.size() != f.expression.size() - 1)
      throw std::runtime_error("run " + dir + ": candidate " + std::to_string(r.generation) + "/" + std::to_string(r.index) +
                               " has " + std::to_string(f.weights.size()) + " edge weights for " +
                               std::to_string(f.expression.size() - 1) + " edges");
  }
  f.provenance = {{"method", need(c, "method")},     {"run", dir},
                  {"seed", need(c, "seed")},         {"generation", std::to_string(r.generation + 1)},
                  {"candidate", std::to_string(r.index)}, {"dataset", need(c, "dataset")},
                  {"model", need(c, "model")},       {"validation_error", config_number(r.fitness)}};
  return f;
}

bool meta_test(const SearchSetup& s, RunStore& store, const CandidateRecord& best,
               const std::function<Tensor(const Tensor&, const Tensor&)>& best_loss,
               const std::function<void(const MetaTestSeed&)>& on_seed) {
  const RunConfig& c = s.config;
  const std::vector<uint64_t> test_seeds = experiment::parse_seed_list(need(c, "test_seeds"), "test_seeds");
  const auto results = store.results();
  if (results.count("best_genome") && results.at("best_genome") == best.genome && results.count("test_error")) {
    store.set_result("status", "complete");  // (an extended run whose best loss did not change)
    return false;
  }
  TrainOptions to;
  to.steps = need_int(c, "test_steps");
  to.batch_size = s.batch_size;
  to.log_every = std::max<int64_t>(100, to.steps / 10);
  TrainOptions bo = to;
  bo.loss = need(c, "method");
  bo.loss_fn = best_loss;
  double sum_test = 0, sum_ce = 0;
  for (uint64_t seed : test_seeds) {
    const double test = experiment::train_and_score(s.factory, seed, s.splits, bo, s.lr, 0).test;
    const double ce = experiment::train_and_score(s.factory, seed, s.splits, to, s.lr, 0).test;
    if (on_seed) on_seed({seed, test, ce});
    store.set_result("test_error_seed_" + std::to_string(seed), config_number(test));
    store.set_result("ce_test_error_seed_" + std::to_string(seed), config_number(ce));
    sum_test += test;
    sum_ce += ce;
  }
  store.set_result("best_genome", best.genome);
  store.set_result("best_validation_error", config_number(best.fitness));
  store.set_result("test_error", config_number(sum_test / double(test_seeds.size())));
  store.set_result("ce_test_error", config_number(sum_ce / double(test_seeds.size())));
  store.set_result("status", "complete");
  return true;
}

}  // namespace metaloss::search
