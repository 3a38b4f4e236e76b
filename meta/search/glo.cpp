#include "meta/search/glo.h"

#include <algorithm>
#include <cstdio>
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
  // The best tree of the GP phase (first of equals, in population order).
  const auto& pop = gp_.population();
  const auto& fit = gp_.fitness();
  const size_t best = size_t(std::min_element(fit.begin(), fit.end()) - fit.begin());
  tree_ = pop[best].canonical();
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
  if (generation_ < cfg_.gp_generations) gp_.tell(fitness);
  else es_->tell(fitness);
  ++generation_;
}

std::string GLOOptimizer::save_state() const {
  std::string s = "glo 1\ngeneration " + std::to_string(generation_) + "\n";
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
  if (!std::getline(in, line) || line.rfind("tree ", 0) != 0) throw bad("bad tree line");
  const std::string tree = line.substr(5);
  int gp_lines = 0;
  if (!std::getline(in, line) || std::sscanf(line.c_str(), "gp %d", &gp_lines) != 1) throw bad("bad gp line");
  std::string gp;
  for (int i = 0; i < gp_lines && std::getline(in, line); ++i) gp += line + "\n";
  std::string rest((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  gp_.load_state(gp);
  generation_ = generation;
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
