// What the genetic-programming methods (evomal, gplfl, glo) share: their keys of the stored
// configuration and the GP and candidate-evaluation settings read back from it.
#pragma once
#include "meta/search/evomal.h"
#include "meta/search/gp.h"
#include "meta/search/method.h"

namespace metaloss::search {

// The GP keys (local_search "on" for evomal, with its meta_steps), the rejection protocol, the
// equivalence filter, the seed expressions and the fitness-cache key scheme ("simplify").
void write_gp_config(const SearchSettings& s, bool local_search, RunConfig& c);
GPConfig gp_config(const SearchSetup& s);
EvoMALConfig evomal_config(const SearchSetup& s);

}  // namespace metaloss::search
