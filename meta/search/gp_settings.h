// What the genetic-programming methods (evomal, gplfl, glo) share: their keys of the stored
// configuration and the GP and candidate-evaluation settings read back from it.
#pragma once
#include <memory>
#include <string>
#include <utility>

#include "meta/search/evomal.h"
#include "meta/search/gp.h"
#include "meta/search/method.h"

namespace metaloss::search {

// The GP keys (local_search "on" for evomal, with its meta_steps), the rejection protocol, the
// equivalence filter, the seed expressions and the fitness-cache key scheme ("simplify").
void write_gp_config(const SearchSettings& s, bool local_search, RunConfig& c);
GPConfig gp_config(const SearchSetup& s);
EvoMALConfig evomal_config(const SearchSetup& s);

// A GP method over expression genomes, evaluated by evomal_eval_fn: EvoMAL (local_search on),
// GP-LFL (off); GLO derives from it for its second phase.
class GPMethod : public SearchMethod {
 public:
  GPMethod(std::string name, std::string summary, bool local_search)
      : name_(std::move(name)), summary_(std::move(summary)), local_search_(local_search) {}
  std::string name() const override { return name_; }
  std::string summary() const override { return summary_; }
  int default_population() const override { return 25; }
  int64_t default_steps() const override { return 500; }
  bool symbolic() const override { return true; }
  void write_config(const SearchSettings& s, RunConfig& c) const override { write_gp_config(s, local_search_, c); }
  void validate(const SearchSetup& s) const override {
    evomal_config(s);
    gp_config(s);
  }
  std::unique_ptr<PopulationOptimizer> optimizer(const SearchSetup& s) const override {
    return std::make_unique<GPOptimizer>(gp_config(s));
  }
  EvalFn eval_fn(const SearchSetup& s) const override { return evomal_eval_fn(s.task, evomal_config(s)); }

 private:
  std::string name_, summary_;
  bool local_search_;
};

}  // namespace metaloss::search
