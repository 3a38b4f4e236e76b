#include "meta/search/glo.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include "meta/search/evomal.h"

namespace metaloss::search {

using losses::Expression;

std::string weighted_genome(const Expression& e, const std::vector<double>& weights) {
  return e.str() + " @ " + weights_json(weights);
}

bool split_weighted_genome(const std::string& genome, Expression& e, std::vector<double>& weights) {
  const size_t at = genome.find(" @ ");
  if (at == std::string::npos) return false;
  Expression t = Expression::parse(genome.substr(0, at));
  std::vector<double> w = parse_weights_json(genome.substr(at + 3));
  if (w.size() != t.size() - 1)
    throw std::invalid_argument("weighted genome: " + std::to_string(w.size()) + " weights for " +
                                std::to_string(t.size() - 1) + " edges in '" + genome + "'");
  e = std::move(t);
  weights = std::move(w);
  return true;
}

GLOOptimizer::GLOOptimizer(GLOConfig cfg) : cfg_(std::move(cfg)), gp_(cfg_.gp) {
  if (cfg_.gp_generations < 1 || cfg_.cmaes_generations < 0)
    throw std::invalid_argument("GLO: gp_generations must be >= 1 and cmaes_generations >= 0");
}

void GLOOptimizer::start_phase2() {
  if (!have_best_) throw std::logic_error("GLO: no GP generation was told before the CMA-ES phase");
  tree_ = best_.canonical();
  const size_t edges = tree_.size() - 1;
  if (edges == 0) throw std::logic_error("GLO: the best tree has no edges to weight");
  es_ = std::make_unique<CMAES>(std::vector<double>(edges, 1.0), CMAESOptions{cfg_.sigma, cfg_.cmaes_population},
                                cfg_.gp.seed ^ 0x9E3779B97F4A7C15ull);
}

std::vector<Candidate> GLOOptimizer::ask() {
  if (generation_ < cfg_.gp_generations) return gp_.ask();
  if (!es_) start_phase2();
  std::vector<Candidate> out;
  for (const auto& w : es_->ask()) out.push_back({weighted_genome(tree_, w), w});
  return out;
}

void GLOOptimizer::tell(const std::vector<double>& fitness) {
  if (generation_ < cfg_.gp_generations) {
    gp_.tell(fitness);
    const auto& pop = gp_.population();
    const auto& fit = gp_.fitness();
    for (size_t k = 0; k < pop.size(); ++k)
      if (!have_best_ || fit[k] < best_fitness_) {
        best_ = pop[k];
        best_fitness_ = fit[k];
        have_best_ = true;
      }
  } else {
    es_->tell(fitness);
  }
  ++generation_;
}

std::string GLOOptimizer::save_state() const {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%a", best_fitness_);
  std::string s = "glo 1\ngeneration " + std::to_string(generation_) + "\n";
  s += "best " + (have_best_ ? std::string(buf) + " " + best_.str() : std::string("-")) + "\n";
  s += "tree " + (es_ ? tree_.str() : std::string("-")) + "\n";
  const std::string gp = gp_.save_state();
  s += "gp " + std::to_string(std::count(gp.begin(), gp.end(), '\n')) + "\n" + gp;
  if (es_) s += es_->save_state();
  return s;
}

void GLOOptimizer::load_state(const std::string& state) {
  std::istringstream in(state);
  std::string line;
  auto bad = [](const std::string& w) { return std::invalid_argument("GLO::load_state: " + w); };
  if (!std::getline(in, line) || line != "glo 1") throw bad("not a GLO state (first line '" + line + "')");
  int generation = 0;
  if (!std::getline(in, line) || std::sscanf(line.c_str(), "generation %d", &generation) != 1) throw bad("bad generation line");
  if (!std::getline(in, line) || line.rfind("best ", 0) != 0) throw bad("expected 'best FITNESS TREE', got '" + line + "'");
  const std::string best = line.substr(5);
  if (!std::getline(in, line) || line.rfind("tree ", 0) != 0) throw bad("expected 'tree TREE', got '" + line + "'");
  const std::string tree = line.substr(5);
  int gp_lines = 0;
  if (!std::getline(in, line) || std::sscanf(line.c_str(), "gp %d", &gp_lines) != 1)
    throw bad("expected 'gp LINES', got '" + line + "'");
  std::string gp;
  int got = 0;
  for (; got < gp_lines && std::getline(in, line); ++got) gp += line + "\n";
  if (got != gp_lines) throw bad("the GP state has " + std::to_string(got) + " of its " + std::to_string(gp_lines) + " lines");
  std::string rest((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  gp_.load_state(gp);
  generation_ = generation;
  have_best_ = best != "-";
  if (have_best_) {
    const size_t sp = best.find(' ');
    if (sp == std::string::npos) throw bad("bad best line 'best " + best + "'");
    best_fitness_ = std::strtod(best.substr(0, sp).c_str(), nullptr);
    best_ = Expression::parse(best.substr(sp + 1));
  }
  es_.reset();
  if (tree != "-") {
    tree_ = Expression::parse(tree);
    es_ = std::make_unique<CMAES>(std::vector<double>(tree_.size() - 1, 1.0), CMAESOptions{cfg_.sigma, cfg_.cmaes_population}, 0);
    es_->load_state(rest);
  }
}

std::string GLOOptimizer::rng_state() const {
  return "gp " + gp_.rng_state() +
         (es_ ? "; cmaes philox seed " + std::to_string(es_->generator().seed()) + " offset " +
                    std::to_string(es_->generator().offset())
              : std::string());
}

}  // namespace metaloss::search
