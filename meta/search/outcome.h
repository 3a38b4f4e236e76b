// What became of a population-search candidate. One type from the evaluation to the run store's
// `outcome` column, the console's per-generation counts, `runs show` and `runs export`, instead of
// prefixes of the reason text parsed back.
#pragma once
#include <stdexcept>
#include <string>

namespace metaloss::search {

enum class Outcome {
  Trained,     // trained and scored
  Rejected,    // refused before any training (EvoMAL's rejection protocol)
  Failed,      // training failed: diverged, timed out, a crashed worker
  Cached,      // the same (or a symbolically equal) genome was trained before: its result reused
  Equivalent,  // a gradient-equivalent genome was trained before: its result reused
};

const char* outcome_name(Outcome o);  // "trained", "rejected", "failed", "cached", "equivalent"
// The inverse; std::runtime_error naming `where` and the value for anything else.
Outcome parse_outcome(const std::string& name, const std::string& where);

// Thrown by an evaluation that refuses a candidate before training it; the search records the
// candidate as Outcome::Rejected with the message as its reason.
struct CandidateRejected : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The outcome of a candidate recorded by a metaloss before the column existed (run stores of
// schema 1 and 2), from its status, reason and cached flag: SQL for the migration and for readers
// of such stores, which are not migrated.
extern const char* const kLegacyOutcomeSql;

}  // namespace metaloss::search
