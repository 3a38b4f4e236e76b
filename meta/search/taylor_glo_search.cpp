#include "meta/search/taylor_glo_search.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "meta/train.h"
#include "models/optim.h"
#include "meta/seeds.h"

namespace metaloss::search {

std::string taylor_glo_genome(const TaylorParams& theta) {
  return "taylorglo(" + exact_numbers(std::vector<double>(theta.begin(), theta.end())) + ")";
}

double fitness_run(const learn::LearnTask& task, uint64_t seed,
                   const std::function<Tensor(const Tensor&, const Tensor&)>& loss, int64_t steps, int64_t batch_size,
                   double lr, double time_limit) {
  seeds::seed_dropout(seed);  // dropout masks, as in metaloss learn and train
  Generator init = seeds::derive(seed, seeds::Stream::Init), order = seeds::derive(seed, seeds::Stream::Order);
  auto model = task.make_model(init);
  SGD opt(model->parameters(), SGDOptions{lr, 0});
  TrainOptions to;
  to.steps = steps;
  to.batch_size = batch_size;
  to.progress = false;
  to.loss = "candidate";
  to.time_limit = time_limit;
  to.loss_fn = loss;
  train_supervised(*model, opt, task.train, to, order);  // throws on a non-finite loss
  const double err = 1 - evaluate_accuracy(*model, task.valid);
  if (!std::isfinite(err)) throw std::runtime_error("non-finite validation error");
  return err;
}

TaylorParams parse_taylor_glo_genome(const std::string& genome) {
  auto bad = [&](const std::string& why) {
    return std::invalid_argument("not a TaylorGLO genome (" + why + "): '" + genome +
                                 "' (expected taylorglo(t0, ..., t7) with 8 numbers)");
  };
  const std::string head = "taylorglo(";
  if (genome.compare(0, head.size(), head) != 0 || genome.empty() || genome.back() != ')') throw bad("form");
  TaylorParams theta{};
  const char* p = genome.c_str() + head.size();
  for (size_t i = 0; i < theta.size(); ++i) {
    char* end = nullptr;
    theta[i] = std::strtod(p, &end);
    if (end == p) throw bad("number " + std::to_string(i + 1));
    p = end;
    if (i + 1 < theta.size()) {
      if (*p != ',') throw bad("missing ',' after number " + std::to_string(i + 1));
      ++p;
    }
  }
  if (std::string(p) != ")") throw bad("trailing text");
  return theta;
}

Evaluation evaluate_candidate(const TaylorParams& theta, const learn::LearnTask& task, const TaylorGLOConfig& cfg,
                              uint64_t seed) {
  return guarded_evaluation(seed, [&](Evaluation& e) {
    for (double v : theta)
      if (!std::isfinite(v)) throw std::runtime_error("non-finite TaylorGLO parameter");
    // On the task's device once, not copied there every step.
    const Tensor th = Tensor::from_vector(std::vector<double>(theta.begin(), theta.end()),
                                          Shape{int64_t(theta.size())}, DType::Float64).to(task.device());
    e.fitness = fitness_run(
        task, seed, [&th](const Tensor& out, const Tensor& y) { return losses::taylor_glo(out, y, th); },
        cfg.steps, cfg.batch_size, cfg.lr, cfg.time_limit);
  });
}

EvalFn taylor_glo_eval_fn(const learn::LearnTask& task, const TaylorGLOConfig& cfg) {
  return [task, cfg](const std::string& genome, uint64_t seed) {
    TaylorParams theta;
    Evaluation bad = guarded_evaluation(seed, [&](Evaluation&) { theta = parse_taylor_glo_genome(genome); });
    return bad.status == "ok" ? evaluate_candidate(theta, task, cfg, seed) : bad;
  };
}

TaylorGLOOptimizer::TaylorGLOOptimizer(const TaylorGLOConfig& cfg)
    : es_(std::vector<double>(cfg.initial.begin(), cfg.initial.end()), CMAESOptions{cfg.sigma, cfg.population},
          cfg.seed) {
  for (double v : cfg.initial)
    if (!std::isfinite(v)) throw std::invalid_argument("TaylorGLO search: the initial parameters must be finite");
}

std::vector<Candidate> TaylorGLOOptimizer::ask() {
  std::vector<Candidate> out;
  for (const auto& x : es_.ask()) {
    TaylorParams theta;
    std::copy(x.begin(), x.end(), theta.begin());
    out.push_back({taylor_glo_genome(theta), x});
  }
  return out;
}

std::string TaylorGLOOptimizer::rng_state() const {
  return "philox seed " + std::to_string(es_.generator().seed()) + " offset " + std::to_string(es_.generator().offset());
}

TaylorGLOResult taylor_glo_search(const learn::LearnTask& task, const TaylorGLOConfig& cfg,
                                  const std::function<void(const GenerationLog&)>& on_generation) {
  task.validate();
  if (task.num_classes() == 0) throw std::invalid_argument("taylor_glo_search: needs a classification task");
  if (cfg.generations < 1 || cfg.steps < 1)
    throw std::invalid_argument("taylor_glo_search: generations and steps must be >= 1");
  TaylorGLOOptimizer opt(cfg);
  SerialEvaluator ev(taylor_glo_eval_fn(task, cfg));
  RunStore store(":memory:", true);
  SearchLoopOptions lo;
  lo.seed = cfg.seed;
  lo.generations = cfg.generations;
  const SearchOutcome o = run_population_search(opt, ev, store, lo, {}, on_generation);
  TaylorGLOResult r;
  r.best = o.best.genome.empty() ? cfg.initial : parse_taylor_glo_genome(o.best.genome);
  r.best_fitness = o.best.fitness;
  r.generations = o.generations;
  r.evaluations = o.evaluations;
  return r;
}

}  // namespace metaloss::search
