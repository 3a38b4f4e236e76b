// EvoMAL (Raymond et al., TPAMI 2023): genetic programming over loss expressions, each candidate
// filtered (rejection protocol, gradient equivalence), its edge weights tuned by an unrolled local
// search, then scored by a fitness run (meta/search/evomal.h).
#include "meta/search/gp_settings.h"

namespace metaloss::search {
namespace {

class EvoMALMethod : public SearchMethod {
 public:
  std::string name() const override { return "evomal"; }
  std::string summary() const override { return "GP + local search"; }
  int default_population() const override { return 25; }
  int64_t default_steps() const override { return 500; }
  bool symbolic() const override { return true; }
  void write_config(const SearchSettings& s, RunConfig& c) const override { write_gp_config(s, true, c); }
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

std::unique_ptr<SearchMethod> make_evomal_method() { return std::make_unique<EvoMALMethod>(); }

}  // namespace metaloss::search
