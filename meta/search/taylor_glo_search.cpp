#include "meta/search/taylor_glo_search.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "meta/train.h"
#include "models/optim.h"

namespace metaloss::search {

uint64_t candidate_seed(uint64_t run_seed, int generation, int index) {
  auto mix = [](uint64_t z) {  // splitmix64
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  return mix(mix(mix(run_seed) ^ uint64_t(uint32_t(generation))) ^ (uint64_t(uint32_t(index)) << 32));
}

Evaluation evaluate_candidate(const TaylorParams& theta, const learn::LearnTask& task, const TaylorGLOConfig& cfg,
                              uint64_t seed) {
  Evaluation e;
  e.seed = seed;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    for (double v : theta)
      if (!std::isfinite(v)) throw std::runtime_error("non-finite TaylorGLO parameter");
    manual_seed(learn::derive_generator(seed, 4).seed());  // dropout masks, as in metaloss learn
    Generator init = learn::derive_generator(seed, 0), order = learn::derive_generator(seed, 2);
    auto model = task.make_model(init);
    SGD opt(model->parameters(), SGDOptions{cfg.lr, 0});
    TrainOptions to;
    to.steps = cfg.steps;
    to.batch_size = cfg.batch_size;
    to.progress = false;
    to.loss = "taylorglo";
    to.loss_fn = [&theta](const Tensor& out, const Tensor& y) { return losses::taylor_glo(out, y, theta); };
    train_supervised(*model, opt, task.train, to, order);  // throws on a non-finite loss
    const double err = 1 - evaluate_accuracy(*model, task.valid);
    if (!std::isfinite(err)) throw std::runtime_error("non-finite validation error");
    e.fitness = err;
    e.status = "ok";
  } catch (const std::exception& ex) {  // a bad candidate is a result, not an error of the search
    e.fitness = 1;
    e.status = "failed";
    e.reason = ex.what();
  }
  e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return e;
}

TaylorGLOResult taylor_glo_search(const learn::LearnTask& task, const TaylorGLOConfig& cfg,
                                  const std::function<void(const GenerationLog&)>& on_generation) {
  task.validate();
  if (task.num_classes() == 0) throw std::invalid_argument("taylor_glo_search: needs a classification task");
  if (cfg.generations < 1 || cfg.steps < 1)
    throw std::invalid_argument("taylor_glo_search: generations and steps must be >= 1");
  for (double v : cfg.initial)
    if (!std::isfinite(v)) throw std::invalid_argument("taylor_glo_search: the initial parameters must be finite");
  CMAES es(std::vector<double>(cfg.initial.begin(), cfg.initial.end()), CMAESOptions{cfg.sigma, cfg.population}, cfg.seed);
  TaylorGLOResult r;
  r.best = cfg.initial;
  r.best_fitness = INFINITY;  // the first candidate sets it (fitness is at most 1)
  std::map<std::array<uint64_t, losses::kTaylorGLOParams>, Evaluation> cache;  // exact bits -> result
  for (int g = 0; g < cfg.generations; ++g) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto pop = es.ask();
    std::vector<double> fitness;
    GenerationLog log;
    log.generation = g;
    double sum = 0;
    int ok = 0;
    for (size_t k = 0; k < pop.size(); ++k) {
      TaylorParams theta;
      std::array<uint64_t, losses::kTaylorGLOParams> key;
      for (size_t i = 0; i < theta.size(); ++i) {
        theta[i] = pop[k][i];
        std::memcpy(&key[i], &theta[i], sizeof(double));
      }
      Evaluation e;
      if (auto it = cache.find(key); it != cache.end()) {
        e = it->second;
        e.cached = true;
        ++log.cached;
      } else {
        e = evaluate_candidate(theta, task, cfg, candidate_seed(cfg.seed, g, int(k)));
        cache.emplace(key, e);
        ++r.evaluations;
      }
      if (e.status != "ok") ++log.failed;
      else {
        sum += e.fitness;
        ++ok;
      }
      if (e.fitness < r.best_fitness) {
        r.best_fitness = e.fitness;
        r.best = theta;
      }
      fitness.push_back(e.fitness);
    }
    es.tell(fitness);
    log.best = *std::min_element(fitness.begin(), fitness.end());
    log.mean = ok ? sum / ok : 1;
    log.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.generations.push_back(log);
    if (on_generation) on_generation(log);
  }
  return r;
}

}  // namespace metaloss::search
