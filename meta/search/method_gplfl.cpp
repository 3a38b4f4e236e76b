// GP-LFL: EvoMAL's genetic programming and filters without the local search (the thesis'
// ablation): every candidate trains with unit edge weights.
#include "meta/search/gp_settings.h"

namespace metaloss::search {
namespace {

class GPLFLMethod : public SearchMethod {
 public:
  std::string name() const override { return "gplfl"; }
  std::string summary() const override { return "GP only"; }
  int default_population() const override { return 25; }
  int64_t default_steps() const override { return 500; }
  bool symbolic() const override { return true; }
  void write_config(const SearchSettings& s, RunConfig& c) const override { write_gp_config(s, false, c); }
  void validate(const SearchSetup& s) const override {
    evomal_config(s);
    gp_config(s);
  }
  std::unique_ptr<PopulationOptimizer> optimizer(const SearchSetup& s) const override {
    return std::make_unique<GPOptimizer>(gp_config(s));
  }
  EvalFn eval_fn(const SearchSetup& s) const override { return evomal_eval_fn(s.task, evomal_config(s)); }
};

}  // namespace

std::unique_ptr<SearchMethod> make_gplfl_method() { return std::make_unique<GPLFLMethod>(); }

}  // namespace metaloss::search
