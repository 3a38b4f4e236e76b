#include "meta/search/outcome.h"

namespace metaloss::search {

namespace {
constexpr Outcome kAll[] = {Outcome::Trained, Outcome::Rejected, Outcome::Failed, Outcome::Cached, Outcome::Equivalent};
}

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::Trained: return "trained";
    case Outcome::Rejected: return "rejected";
    case Outcome::Failed: return "failed";
    case Outcome::Cached: return "cached";
    case Outcome::Equivalent: return "equivalent";
  }
  return "failed";
}

Outcome parse_outcome(const std::string& name, const std::string& where) {
  for (Outcome o : kAll)
    if (name == outcome_name(o)) return o;
  throw std::runtime_error(where + ": outcome '" + name + "', expected trained, rejected, failed, cached or equivalent");
}

// The rules the console and `runs export` applied to those stores' text: a cache hit copying a
// gradient-equivalent genome's result, any other cache hit, a training, a rejection (its reason
// began "rejected:"), anything else.
const char* const kLegacyOutcomeSql =
    "CASE WHEN cached = 1 AND reason LIKE 'gradient-equivalent%' THEN 'equivalent' "
    "WHEN cached = 1 THEN 'cached' WHEN status = 'ok' THEN 'trained' "
    "WHEN reason LIKE 'rejected:%' THEN 'rejected' ELSE 'failed' END";

}  // namespace metaloss::search
