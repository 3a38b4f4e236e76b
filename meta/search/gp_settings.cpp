#include "meta/search/gp_settings.h"

#include <sstream>
#include <stdexcept>

#include "meta/losses/expression.h"
#include "meta/losses/simplify.h"

namespace metaloss::search {

void write_gp_config(const SearchSettings& s, bool local_search, RunConfig& c) {
  c["local_search"] = local_search ? "on" : "off";
  if (local_search) c["meta_steps"] = std::to_string(s.meta_steps);
  c["rejection_steps"] = std::to_string(s.rejection_steps);
  c["rejection_samples"] = std::to_string(s.rejection_samples);
  c["rejection_lr"] = config_number(s.rejection_lr);
  c["equivalence_tol"] = config_number(s.equivalence_tol);
  c["crossover"] = config_number(s.crossover);
  c["mutation"] = config_number(s.mutation);
  c["elitism"] = config_number(s.elitism);
  c["max_height"] = std::to_string(s.max_height);
  std::string seeds;
  for (const auto& e : s.seed_exprs) {
    std::string text;
    try {
      text = losses::Expression::parse(e).str();
    } catch (const std::invalid_argument& err) {
      throw std::invalid_argument(std::string("--seed-expr: ") + err.what());
    }
    seeds += (seeds.empty() ? "" : "; ") + text;
  }
  c["seed_exprs"] = seeds;
  // The fitness cache's keys: simplified by GiNaC (recorded with its version and key scheme), or
  // the canonical text (--simplify canonical, or a build without GiNaC). Runs made before this
  // key existed used the canonical text (search_run.cpp: simplify_mode).
  const std::string simplify = s.simplify.empty() ? losses::simplify_backend() : s.simplify;
  if (simplify != "ginac" && simplify != "canonical")
    throw std::invalid_argument("--simplify: expected ginac or canonical, got '" + simplify + "'");
  if (simplify == "ginac" && std::string(losses::simplify_backend()) != "ginac")
    throw std::invalid_argument("--simplify ginac: this metaloss was built without GiNaC (METALOSS_GINAC=OFF)");
  c["simplify"] = simplify == "ginac" ? losses::simplify_key_scheme() : "canonical";
}

GPConfig gp_config(const SearchSetup& s) {
  const RunConfig& c = s.config;
  GPConfig g;
  g.population = s.population;
  g.crossover = need_double(c, "crossover");
  g.mutation = need_double(c, "mutation");
  g.elitism = need_double(c, "elitism");
  g.max_height = int(need_int(c, "max_height"));
  g.seed = s.seed;
  std::stringstream ss(need(c, "seed_exprs"));
  std::string e;
  while (std::getline(ss, e, ';'))
    if (e.find_first_not_of(' ') != std::string::npos) g.seeds.push_back(e);
  g.validate();
  return g;
}

EvoMALConfig evomal_config(const SearchSetup& s) {
  const RunConfig& c = s.config;
  EvoMALConfig e;
  e.fitness_steps = s.steps;
  e.local_search = need(c, "local_search") == "on";
  if (e.local_search) e.meta_steps = need_int(c, "meta_steps");
  e.lr = s.lr;
  e.batch_size = s.batch_size;
  e.rejection_steps = need_int(c, "rejection_steps");
  e.rejection_samples = need_int(c, "rejection_samples");
  e.rejection_lr = need_double(c, "rejection_lr");
  e.time_limit = s.time_limit;
  e.validate();
  return e;
}

}  // namespace metaloss::search
