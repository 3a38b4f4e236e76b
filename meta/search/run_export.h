// A run store's tables for `metaloss runs export` (and the lock check of `runs list`): the
// candidates (with each one's outcome), the generations and the results as rows of text, written
// as CSV or as a JSON array of objects (numbers as numbers, nan/inf as strings).
#pragma once
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "meta/search/run_store.h"

namespace metaloss::search {

struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  std::vector<bool> numeric;  // per column: a number (JSON writes it bare)
};

Table results_table(const std::map<std::string, std::string>& results);  // key, value
Table candidate_table(const std::vector<CandidateRecord>& cs);
Table generation_table(const std::vector<GenerationRecord>& gs);
// format: "csv" or "json".
void write_table(std::ostream& os, const Table& t, const std::string& format);

// Whether a process holds the store's lock (a search or resume is running on it).
bool run_in_use(const std::string& db);

}  // namespace metaloss::search
