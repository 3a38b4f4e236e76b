#include "meta/search/run_export.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "meta/search/method.h"
#include "meta/search/outcome.h"

namespace metaloss::search {

bool run_in_use(const std::string& db) {
  const int fd = ::open((db + ".lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool busy = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
  ::close(fd);
  return busy;
}

namespace {
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char ch : s) o += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return o + "\"";
}

std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') o += '\\', o += ch;
    else if (ch == '\n') o += "\\n";
    else if (static_cast<unsigned char>(ch) < 0x20) o += ' ';
    else o += ch;
  }
  return o + "\"";
}
}  // namespace



// The run's results (the meta-test, its status), one row per key.
Table results_table(const std::map<std::string, std::string>& results) {
  Table t;
  t.columns = {"key", "value"};
  t.numeric = {false, false};
  for (const auto& [k, v] : results) t.rows.push_back({k, v});
  return t;
}

Table candidate_table(const std::vector<CandidateRecord>& cs) {
  Table t;
  t.columns = {"generation", "index", "genome", "params", "fitness", "status", "reason", "seed", "seconds", "worker",
               "session", "cached", "device", "outcome"};
  t.numeric = {true, true, false, true, true, false, false, true, true, false, true, true, false, false};
  for (const auto& c : cs)
    t.rows.push_back({std::to_string(c.generation + 1), std::to_string(c.index), c.genome, c.params, config_number(c.fitness), c.status,
                      c.reason, std::to_string(c.seed), config_number(c.seconds), c.worker, std::to_string(c.session),
                      c.cached ? "1" : "0", c.device, outcome_name(c.outcome)});
  return t;
}

Table generation_table(const std::vector<GenerationRecord>& gs) {
  Table t;
  t.columns = {"generation", "best", "mean", "failed", "cached", "evaluated", "seconds", "session", "rng_state"};
  t.numeric = {true, true, true, true, true, true, true, true, false};
  for (const auto& g : gs)
    t.rows.push_back({std::to_string(g.generation + 1), config_number(g.best), config_number(g.mean), std::to_string(g.failed),
                      std::to_string(g.cached), std::to_string(g.evaluated), config_number(g.seconds), std::to_string(g.session),
                      g.rng_state});
  return t;
}

void write_table(std::ostream& os, const Table& t, const std::string& format) {
  if (format == "csv") {
    for (size_t i = 0; i < t.columns.size(); ++i) os << (i ? "," : "") << t.columns[i];
    os << "\n";
    for (const auto& r : t.rows) {
      for (size_t i = 0; i < r.size(); ++i) os << (i ? "," : "") << csv_field(r[i]);
      os << "\n";
    }
    return;
  }
  os << "[\n";
  for (size_t k = 0; k < t.rows.size(); ++k) {
    os << "  {";
    for (size_t i = 0; i < t.columns.size(); ++i) {
      const std::string& v = t.rows[k][i];
      const bool finite_number = t.numeric[i] && v != "nan" && v != "inf" && v != "-inf";
      os << (i ? ", " : "") << json_string(t.columns[i]) << ": " << (finite_number ? v : json_string(v));
    }
    os << "}" << (k + 1 < t.rows.size() ? "," : "") << "\n";
  }
  os << "]\n";
}


}  // namespace metaloss::search
