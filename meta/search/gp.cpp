#include "meta/search/gp.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <sstream>
#include <stdexcept>

namespace metaloss::search {

using losses::Expression;
using losses::Prim;

namespace {

double uniform01(Generator& gen) { return rand(Shape{}, DType::Float64, gen).item(); }
size_t below(Generator& gen, size_t n) {  // uniform in [0, n)
  return std::min(n - 1, size_t(uniform01(gen) * double(n)));
}
template <class T>
const T& pick(Generator& gen, const std::vector<T>& v) {
  return v[below(gen, v.size())];
}

void grow(std::vector<Prim>& out, Generator& gen, int depth, int min_height, int height, bool full) {
  const auto& fs = losses::functions();
  const auto& ts = losses::terminals();
  // DEAP genGrow: from depth min_height on, a node is a terminal with probability
  // |terminals| / (|terminals| + |functions|); at the drawn height always (genFull: only there).
  const bool terminal = depth == height || (!full && depth >= min_height &&
                                            uniform01(gen) < double(ts.size()) / double(ts.size() + fs.size()));
  if (terminal) {
    out.push_back(pick(gen, ts));
    return;
  }
  const Prim p = pick(gen, fs);
  out.push_back(p);
  for (int a = 0; a < losses::arity(p); ++a) grow(out, gen, depth + 1, min_height, height, full);
}

void splice(Expression& e, size_t at, const std::vector<Prim>& sub) {
  const size_t end = e.subtree_end(at);
  std::vector<Prim> n(e.nodes.begin(), e.nodes.begin() + long(at));
  n.insert(n.end(), sub.begin(), sub.end());
  n.insert(n.end(), e.nodes.begin() + long(end), e.nodes.end());
  e.nodes = std::move(n);
}

}  // namespace

void GPConfig::validate() const {
  auto bad = [](const std::string& w) { throw std::invalid_argument("GP: " + w); };
  if (population < 2) bad("population must be >= 2, got " + std::to_string(population));
  if (!(crossover >= 0 && crossover <= 1) || !(mutation >= 0 && mutation <= 1))
    bad("crossover and mutation are probabilities, got " + std::to_string(crossover) + " and " + std::to_string(mutation));
  if (tournament < 1) bad("tournament size must be >= 1");
  if (!(parsimony >= 1 && parsimony <= 2)) bad("parsimony must be in [1, 2]");
  if (init_min < 1 || init_max < init_min) bad("initial heights must satisfy 1 <= min <= max");
  if (mut_min < 0 || mut_max < mut_min) bad("mutation heights must satisfy 0 <= min <= max");
  if (max_height < init_max) bad("max_height must be >= the largest initial height");
  if (!(elitism >= 0 && elitism < 1)) bad("elitism must be in [0, 1)");
  if (int(seeds.size()) > population) bad("more seed expressions than the population holds");
  for (const auto& s : seeds) {
    const int h = losses::Expression::parse(s).height();
    if (h > max_height)
      bad("seed expression '" + s + "' has height " + std::to_string(h) + ", over the limit " + std::to_string(max_height));
  }
}

Expression random_tree(Generator& gen, int min_height, int max_height, bool full) {
  const int h = min_height + int(below(gen, size_t(max_height - min_height + 1)));
  Expression e;
  grow(e.nodes, gen, 0, min_height, h, full);
  return e;
}

void repair(Expression& e, Generator& gen) {
  static const std::vector<Prim> arith{Prim::Add, Prim::Sub, Prim::Mul, Prim::Div};
  for (int guard = 0; guard < 64 && !(e.uses_y() && e.uses_f()); ++guard) {
    std::vector<size_t> leaves;
    for (size_t i = 0; i < e.nodes.size(); ++i)
      if (losses::arity(e.nodes[i]) == 0) leaves.push_back(i);
    const size_t at = pick(gen, leaves);
    const bool y_first = uniform01(gen) < 0.5;
    splice(e, at, {pick(gen, arith), y_first ? Prim::Y : Prim::F, y_first ? Prim::F : Prim::Y});
  }
}

void crossover(Expression& a, Expression& b, Generator& gen) {
  if (a.size() < 2 || b.size() < 2) return;  // DEAP: no crossover point in a lone terminal
  const size_t i = 1 + below(gen, a.size() - 1), j = 1 + below(gen, b.size() - 1);
  const std::vector<Prim> sa(a.nodes.begin() + long(i), a.nodes.begin() + long(a.subtree_end(i)));
  const std::vector<Prim> sb(b.nodes.begin() + long(j), b.nodes.begin() + long(b.subtree_end(j)));
  splice(a, i, sb);
  splice(b, j, sa);
}

void mutate(Expression& e, Generator& gen, int min_height, int max_height) {
  const size_t at = below(gen, e.size());
  splice(e, at, random_tree(gen, min_height, max_height, true).nodes);
}

GPOptimizer::GPOptimizer(GPConfig cfg) : cfg_(std::move(cfg)), gen_(cfg_.seed) { cfg_.validate(); }

size_t GPOptimizer::select_one() {
  auto fitness_winner = [&] {
    size_t best = below(gen_, pop_.size());
    for (int t = 1; t < cfg_.tournament; ++t) {
      const size_t c = below(gen_, pop_.size());
      if (fit_[c] < fit_[best]) best = c;
    }
    return best;
  };
  const size_t a = fitness_winner(), b = fitness_winner();
  // Size tournament (DEAP selDoubleTournament, fitness first): the smaller with probability parsimony / 2.
  const double prob = cfg_.parsimony / 2;
  const size_t sa = pop_[a].size(), sb = pop_[b].size();
  const double u = uniform01(gen_);
  if (sa == sb) return u < 0.5 ? a : b;
  const size_t smaller = sa < sb ? a : b, larger = sa < sb ? b : a;
  return u < prob ? smaller : larger;
}

std::vector<Candidate> GPOptimizer::ask() {
  if (!asked_.empty()) throw std::logic_error("GP: the previous population has not been told its fitness yet");
  std::vector<Expression> next;
  if (pop_.empty()) {  // ramped half-and-half
    for (const auto& s : cfg_.seeds) {
      Expression e = Expression::parse(s);
      repair(e, gen_);
      next.push_back(e);
    }
    for (int k = int(next.size()); k < cfg_.population; ++k) {
      Expression e = random_tree(gen_, cfg_.init_min, cfg_.init_max, k % 2 == 0);
      repair(e, gen_);
      next.push_back(e);
    }
  } else {
    std::vector<size_t> order(pop_.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return fit_[a] < fit_[b]; });
    const int elite = cfg_.elitism > 0 ? std::max(1, int(std::round(cfg_.elitism * cfg_.population))) : 0;
    for (int k = 0; k < elite; ++k) next.push_back(pop_[order[size_t(k)]]);
    std::vector<Expression> parents, kids;
    while (int(parents.size()) < cfg_.population - elite) parents.push_back(pop_[select_one()]);
    kids = parents;
    for (size_t k = 0; k + 1 < kids.size(); k += 2)
      if (uniform01(gen_) < cfg_.crossover) crossover(kids[k], kids[k + 1], gen_);
    for (auto& kid : kids)
      if (uniform01(gen_) < cfg_.mutation) mutate(kid, gen_, cfg_.mut_min, cfg_.mut_max);
    for (size_t k = 0; k < kids.size(); ++k) {
      if (kids[k].height() > cfg_.max_height) kids[k] = parents[k];  // DEAP staticLimit
      repair(kids[k], gen_);
      if (kids[k].height() > cfg_.max_height) kids[k] = parents[k];  // a repair can add a level
      next.push_back(kids[k]);
    }
  }
  asked_ = next;
  std::vector<Candidate> out;
  for (const auto& e : next) out.push_back({e.canonical().str(), {}});  // the cache sees add(a, b) = add(b, a)
  return out;
}

void GPOptimizer::tell(const std::vector<double>& fitness) {
  if (asked_.empty()) throw std::logic_error("GP::tell: nothing was asked");
  if (fitness.size() != asked_.size())
    throw std::invalid_argument("GP::tell: expected " + std::to_string(asked_.size()) + " fitness values, got " +
                                std::to_string(fitness.size()));
  pop_ = std::move(asked_);
  asked_.clear();
  fit_ = fitness;
  for (double& f : fit_)
    if (!std::isfinite(f)) f = std::numeric_limits<double>::max();
  ++generation_;
}

std::string GPOptimizer::save_state() const {
  if (!asked_.empty()) throw std::logic_error("GP::save_state: between ask and tell");
  std::string s = "gp 1\ngeneration " + std::to_string(generation_) + "\ngenerator " + std::to_string(gen_.seed()) +
                  " " + std::to_string(gen_.offset()) + "\n";
  char buf[40];
  for (size_t k = 0; k < pop_.size(); ++k) {
    std::snprintf(buf, sizeof buf, "%a", fit_[k]);
    s += std::string("ind ") + buf + " " + pop_[k].str() + "\n";
  }
  return s;
}

void GPOptimizer::load_state(const std::string& state) {
  std::istringstream in(state);
  std::string line;
  auto bad = [](const std::string& w) { return std::invalid_argument("GP::load_state: " + w); };
  if (!std::getline(in, line) || line != "gp 1") throw bad("not a GP state (first line '" + line + "')");
  int generation = 0;
  unsigned long long seed = 0, offset = 0;
  if (!std::getline(in, line) || std::sscanf(line.c_str(), "generation %d", &generation) != 1) throw bad("bad generation line");
  if (!std::getline(in, line) || std::sscanf(line.c_str(), "generator %llu %llu", &seed, &offset) != 2)
    throw bad("bad generator line");
  std::vector<Expression> pop;
  std::vector<double> fit;
  while (std::getline(in, line)) {
    if (line.rfind("ind ", 0) != 0) throw bad("expected 'ind FITNESS EXPRESSION', got '" + line + "'");
    const size_t sp = line.find(' ', 4);
    if (sp == std::string::npos) throw bad("no expression in '" + line + "'");
    char* end = nullptr;
    const std::string f = line.substr(4, sp - 4);
    fit.push_back(std::strtod(f.c_str(), &end));
    if (*end) throw bad("bad fitness '" + f + "'");
    pop.push_back(Expression::parse(line.substr(sp + 1)));
  }
  if (int(pop.size()) != cfg_.population)
    throw bad("state holds " + std::to_string(pop.size()) + " individuals, the population is " +
              std::to_string(cfg_.population));
  generation_ = generation;
  gen_ = Generator(seed);
  gen_.set_offset(offset);
  pop_ = std::move(pop);
  fit_ = std::move(fit);
  asked_.clear();
}

std::string GPOptimizer::rng_state() const {
  return "philox seed " + std::to_string(gen_.seed()) + " offset " + std::to_string(gen_.offset());
}

}  // namespace metaloss::search
