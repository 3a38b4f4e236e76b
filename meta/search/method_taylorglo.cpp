// TaylorGLO (Gonzalez & Miikkulainen 2021): CMA-ES over the 8 parameters of a third-order Taylor
// loss (meta/search/taylor_glo_search.h).
#include "meta/search/method.h"
#include "meta/search/taylor_glo_search.h"

namespace metaloss::search {
namespace {

TaylorGLOConfig taylor_config(const SearchSetup& s) {
  TaylorGLOConfig t;
  t.seed = s.seed;
  t.generations = s.generations;
  t.population = s.population;
  t.sigma = need_double(s.config, "sigma");
  t.steps = s.steps;
  t.batch_size = s.batch_size;
  t.lr = s.lr;
  t.time_limit = s.time_limit;
  return t;
}

class TaylorGLOMethod : public SearchMethod {
 public:
  std::string name() const override { return "taylorglo"; }
  std::string summary() const override { return "CMA-ES over a Taylor polynomial"; }
  int default_population() const override { return 20; }
  int64_t default_steps() const override { return 1000; }
  bool symbolic() const override { return false; }
  void write_config(const SearchSettings& s, RunConfig& c) const override {
    if (!s.seed_exprs.empty()) throw std::invalid_argument("--seed-expr is for --method evomal or gplfl");
    c["sigma"] = config_number(s.sigma);
  }
  void validate(const SearchSetup& s) const override { taylor_config(s); }
  std::unique_ptr<PopulationOptimizer> optimizer(const SearchSetup& s) const override {
    return std::make_unique<TaylorGLOOptimizer>(taylor_config(s));
  }
  EvalFn eval_fn(const SearchSetup& s) const override { return taylor_glo_eval_fn(s.task, taylor_config(s)); }
};

}  // namespace

std::unique_ptr<SearchMethod> make_taylorglo_method() { return std::make_unique<TaylorGLOMethod>(); }

}  // namespace metaloss::search
