// EvoMAL (Raymond et al., TPAMI 2023): genetic programming over loss expressions, each candidate
// filtered (rejection protocol, gradient equivalence), its edge weights tuned by an unrolled local
// search, then scored by a fitness run (meta/search/evomal.h).
#include "meta/search/gp_settings.h"

namespace metaloss::search {

std::unique_ptr<SearchMethod> make_evomal_method() {
  return std::make_unique<GPMethod>("evomal", "GP + local search", /*local_search=*/true);
}

}  // namespace metaloss::search
