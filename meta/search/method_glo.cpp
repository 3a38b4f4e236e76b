// GLO (Gonzalez & Miikkulainen 2020): GP-LFL's search for --generations, then CMA-ES on the edge
// weights of the best tree for --glo-generations, as one optimiser (meta/search/glo.h).
#include "meta/search/gp_settings.h"
#include "meta/search/glo.h"

namespace metaloss::search {
namespace {

class GLOMethod : public GPMethod {
 public:
  GLOMethod() : GPMethod("glo", "GP, then CMA-ES on the best tree's edge weights", /*local_search=*/false) {}
  void write_config(const SearchSettings& s, RunConfig& c) const override {
    GPMethod::write_config(s, c);
    c["glo_generations"] = std::to_string(s.glo_generations);
    c["glo_sigma"] = config_number(s.glo_sigma);
  }
  void validate(const SearchSetup& s) const override {
    GPMethod::validate(s);
    need_int(s.config, "glo_generations");
    need_double(s.config, "glo_sigma");
  }
  int loop_generations(const RunConfig& c) const override {
    return int(need_int(c, "generations") + need_int(c, "glo_generations"));
  }
  std::string why_not_extendable(const RunConfig& c) const override {
    return "a glo run switches to CMA-ES after its " + need(c, "generations") +
           " GP generations, so they cannot change; start a new run";
  }
  std::unique_ptr<PopulationOptimizer> optimizer(const SearchSetup& s) const override {
    GLOConfig g;
    g.gp = gp_config(s);
    g.gp_generations = s.generations;
    g.cmaes_generations = int(need_int(s.config, "glo_generations"));
    g.sigma = need_double(s.config, "glo_sigma");
    return std::make_unique<GLOOptimizer>(g);
  }
};

}  // namespace

std::unique_ptr<SearchMethod> make_glo_method() { return std::make_unique<GLOMethod>(); }

}  // namespace metaloss::search
