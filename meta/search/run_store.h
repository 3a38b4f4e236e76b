// The run store of a population search: one SQLite database per run (RUN_DIR/run.db) in WAL
// mode, written as the search goes so that a killed run loses at most the evaluations that were
// still in flight. It holds
//   - the run's configuration (key/value, canonical JSON) and its hash,
//   - every candidate: canonical genome, parameters, fitness, status, reason, seed, timings,
//     worker, device, and the session (process run) that recorded it,
//   - one row per completed generation with the optimiser's full state and RNG state after tell,
//   - the hall of fame (best distinct genomes), rewritten with each completed generation,
//   - sessions (each start or resume) and free-form results (the meta-test).
// Every SQLite failure becomes std::runtime_error naming the database and the statement.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "meta/search/outcome.h"

struct sqlite3;

namespace metaloss::search {

struct CandidateRecord {
  int generation = 0, index = 0;
  std::string genome;       // canonical form: the fitness cache key
  std::string params;       // JSON array of the numeric parameters ("[]" when none)
  double fitness = 1;       // lower is better; 1 (every validation example wrong) for a failure
  std::string status;       // "ok" or "failed"
  std::string reason;       // why it failed; for a cache hit, which candidate it copies
  uint64_t seed = 0;        // the candidate's own seed (run seed, generation, index)
  double seconds = 0;       // evaluation wall-clock (0 for a cache hit)
  std::string worker;       // "local", "proc:N", "mpi:N", or "cache"
  int session = 0;
  bool cached = false;
  std::string device = "cpu";  // where it was trained ("cpu", "cuda:0", ...; "" for a cache hit)
  Outcome outcome = Outcome::Failed;  // what became of it (status and cached say less: a rejection is "failed")
};

struct GenerationRecord {
  int generation = 0;
  double best = 1, mean = 1;      // fitness of this generation (mean over successful candidates)
  int failed = 0, cached = 0, evaluated = 0;
  double seconds = 0;
  std::string optimizer_state;    // after tell(): what resume loads
  std::string rng_state;          // the optimiser's generator (seed, offset), readable
  int session = 0;
};

struct SessionRecord {
  int id = 0;
  std::string started, finished, command;
};

// A configuration is a flat map of option name -> value text.
using RunConfig = std::map<std::string, std::string>;
std::string config_json(const RunConfig& c);  // canonical: keys sorted, values as JSON strings
std::string config_hash(const RunConfig& c);
// Reads config_json's output back (a flat object of string values); throws std::invalid_argument
// naming the offset and what was expected.
RunConfig parse_config_json(const std::string& text);  // FNV-1a 64 of config_json, 16 hex digits

class RunStore {
 public:
  static constexpr const char* kFileName = "run.db";
  // Opens the database at `path` (":memory:" for a store that dies with the object), creating the
  // schema when new. `writer`: also take an exclusive lock (PATH.lock) so that two processes
  // never extend the same run; a second writer gets an error naming the run.
  RunStore(const std::string& path, bool writer);
  ~RunStore();
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  const std::string& path() const { return path_; }
  bool has_config() const;
  // Records the configuration of a new run. On a store that has one already, checks it is the
  // same and otherwise throws std::invalid_argument listing each differing key with both values.
  void set_config(const RunConfig& c);
  RunConfig config() const;
  std::string config_hash() const;
  // Changes one configuration value of an existing run (and its hash), recording the change in
  // the run table as "amended_<key> <UTC time>" = "old -> new". For the one change that keeps every recorded
  // result valid: more generations of a search whose per-generation steps do not depend on the
  // total (the caller checks that).
  void amend_config(const std::string& key, const std::string& value);

  int begin_session(const std::string& command);  // 1 for the first process run, then 2, ...
  void end_session(int id);
  std::vector<SessionRecord> sessions() const;

  void add_candidate(const CandidateRecord& c);
  std::vector<CandidateRecord> candidates(int generation = -1) const;  // -1: all; by (generation, index)
  // One transaction: the generation row and the hall of fame (best `hall_size` distinct genomes
  // among successful evaluations, ties by generation then index).
  void complete_generation(const GenerationRecord& g, int hall_size = 10);
  std::vector<GenerationRecord> generations() const;  // completed, in order
  std::vector<CandidateRecord> hall_of_fame() const;

  void set_result(const std::string& key, const std::string& value);
  std::map<std::string, std::string> results() const;

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
  int lock_fd_ = -1;
  bool writer_ = false;
  bool has_device_ = true;   // candidates.device exists (schema 2; a version-1 store read as it is lacks it)
  bool has_outcome_ = true;  // candidates.outcome exists (schema 3; older stores read as they are derive it)
  void exec(const std::string& sql) const;
  void rollback() noexcept;
};

}  // namespace metaloss::search
