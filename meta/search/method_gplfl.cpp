// GP-LFL: EvoMAL's genetic programming and filters without the local search (the thesis'
// ablation): every candidate trains with unit edge weights.
#include "meta/search/gp_settings.h"

namespace metaloss::search {

std::unique_ptr<SearchMethod> make_gplfl_method() {
  return std::make_unique<GPMethod>("gplfl", "GP only", /*local_search=*/false);
}

}  // namespace metaloss::search
