#include "meta/search/run_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <set>
#include <stdexcept>

namespace metaloss::search {

namespace {

// Version 2 added candidates.device; a version-1 store is migrated when opened for writing (its
// candidates ran on the CPU: no earlier metaloss could search elsewhere) and read as it is.
// Version 3 added candidates.outcome (search::Outcome); older stores get it from their status,
// reason and cached columns (kLegacyOutcomeSql), stored when migrated, computed when only read.
constexpr int kSchemaVersion = 3;

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS run (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS config (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
  id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT, command TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS candidates (
  generation INTEGER NOT NULL, idx INTEGER NOT NULL, genome TEXT NOT NULL, params TEXT NOT NULL,
  fitness REAL NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL, seed TEXT NOT NULL,
  seconds REAL NOT NULL, worker TEXT NOT NULL, session INTEGER NOT NULL, cached INTEGER NOT NULL,
  recorded TEXT NOT NULL, device TEXT NOT NULL DEFAULT 'cpu', outcome TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (generation, idx));
CREATE INDEX IF NOT EXISTS candidates_genome ON candidates (genome);
CREATE TABLE IF NOT EXISTS generations (
  generation INTEGER PRIMARY KEY, best REAL NOT NULL, mean REAL NOT NULL, failed INTEGER NOT NULL,
  cached INTEGER NOT NULL, evaluated INTEGER NOT NULL, seconds REAL NOT NULL,
  optimizer_state TEXT NOT NULL, rng_state TEXT NOT NULL, session INTEGER NOT NULL, completed TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hall_of_fame (
  rank INTEGER PRIMARY KEY, generation INTEGER NOT NULL, idx INTEGER NOT NULL, genome TEXT NOT NULL,
  params TEXT NOT NULL, fitness REAL NOT NULL);
CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value TEXT NOT NULL);
)sql";

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// One prepared statement; binds by position (1-based), steps, reads columns.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& path, const char* sql) : db_(db), path_(path), sql_(sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) fail("prepare");
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt& bind(int i, const std::string& v) {
    check(sqlite3_bind_text(s_, i, v.c_str(), int(v.size()), SQLITE_TRANSIENT), "bind");
    return *this;
  }
  Stmt& bind(int i, double v) {
    check(sqlite3_bind_double(s_, i, v), "bind");
    return *this;
  }
  Stmt& bind(int i, int64_t v) {
    check(sqlite3_bind_int64(s_, i, v), "bind");
    return *this;
  }
  Stmt& bind(int i, int v) { return bind(i, int64_t(v)); }
  bool step() {  // true while there is a row
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail("step");
  }
  std::string text(int i) const {
    const unsigned char* t = sqlite3_column_text(s_, i);
    return t ? std::string(reinterpret_cast<const char*>(t), size_t(sqlite3_column_bytes(s_, i))) : std::string();
  }
  double real(int i) const { return sqlite3_column_double(s_, i); }
  int64_t integer(int i) const { return sqlite3_column_int64(s_, i); }

 private:
  sqlite3* db_;
  const std::string& path_;
  const char* sql_;
  sqlite3_stmt* s_ = nullptr;
  void check(int rc, const char* what) {
    if (rc != SQLITE_OK) fail(what);
  }
  [[noreturn]] void fail(const char* what) {
    throw std::runtime_error("run store " + path_ + ": " + what + " failed: " + sqlite3_errmsg(db_) + " (in: " + sql_ +
                             ")");
  }
};

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\', o += c;
    else if (c == '\n') o += "\\n";
    else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      o += buf;
    } else o += c;
  }
  return o;
}

// The candidate columns read_candidate expects (of table alias `t`, "c." or ""); `device` is the
// literal 'cpu' for a version-1 store, `outcome` derived for a store before version 3.
std::string candidate_columns(bool has_device, bool has_outcome, const std::string& t = "") {
  std::string legacy = kLegacyOutcomeSql;
  if (!t.empty())
    for (const char* col : {"cached", "reason", "status"})
      for (size_t p = 0; (p = legacy.find(std::string(" ") + col + " ", p)) != std::string::npos; p += t.size() + 2)
        legacy.insert(p + 1, t);
  std::string cols;
  for (const char* col : {"generation", "idx", "genome", "params", "fitness", "status", "reason", "seed", "seconds", "worker",
                          "session", "cached"})
    cols += t + col + ", ";
  return cols + (has_device ? t + "device" : std::string("'cpu'")) + ", " + (has_outcome ? t + "outcome" : "(" + legacy + ")");
}

CandidateRecord read_candidate(const Stmt& s, int first = 0) {
  CandidateRecord c;
  c.generation = int(s.integer(first + 0));
  c.index = int(s.integer(first + 1));
  c.genome = s.text(first + 2);
  c.params = s.text(first + 3);
  c.fitness = s.real(first + 4);
  c.status = s.text(first + 5);
  c.reason = s.text(first + 6);
  c.seed = std::stoull(s.text(first + 7));
  c.seconds = s.real(first + 8);
  c.worker = s.text(first + 9);
  c.session = int(s.integer(first + 10));
  c.cached = s.integer(first + 11) != 0;
  c.device = s.text(first + 12);
  c.outcome = parse_outcome(s.text(first + 13), "run store candidate " + std::to_string(c.generation + 1) + "/" +
                                                    std::to_string(c.index));
  return c;
}

}  // namespace

std::string config_json(const RunConfig& c) {
  std::string o = "{";
  for (const auto& [k, v] : c) o += (o.size() > 1 ? ", \"" : "\"") + json_escape(k) + "\": \"" + json_escape(v) + "\"";
  return o + "}";
}

std::string config_hash(const RunConfig& c) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : config_json(c)) h = (h ^ ch) * 0x100000001b3ull;
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

RunConfig parse_config_json(const std::string& text) {
  size_t i = 0;
  auto fail = [&](const std::string& what) {
    return std::invalid_argument("run configuration JSON: expected " + what + " at offset " + std::to_string(i) + " of '" +
                                 text.substr(0, 200) + "'");
  };
  auto ws = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
  };
  auto str = [&] {
    ws();
    if (i >= text.size() || text[i] != '"') throw fail("'\"'");
    std::string out;
    for (++i; i < text.size() && text[i] != '"'; ++i) {
      if (text[i] != '\\') {
        out += text[i];
        continue;
      }
      if (++i >= text.size()) break;
      const char e = text[i];
      if (e == 'n') out += '\n';
      else if (e == 't') out += '\t';
      else if (e == 'u') {
        const std::string hex = i + 4 < text.size() ? text.substr(i + 1, 4) : "";
        if (hex.size() != 4 || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
          throw fail("four hex digits after \\u");
        out += char(std::stoi(hex, nullptr, 16));
        i += 4;
      } else out += e;
    }
    if (i >= text.size()) throw fail("a closing '\"'");
    ++i;
    return out;
  };
  RunConfig c;
  ws();
  if (i >= text.size() || text[i] != '{') throw fail("'{'");
  ++i;
  ws();
  if (i < text.size() && text[i] == '}') return c;
  for (;;) {
    const std::string k = str();
    ws();
    if (i >= text.size() || text[i] != ':') throw fail("':'");
    ++i;
    c[k] = str();
    ws();
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    if (i < text.size() && text[i] == '}') break;
    throw fail("',' or '}'");
  }
  return c;
}

namespace {
// A path as the file part of an SQLite URI: %, ?, # and non-ASCII bytes percent-encoded.
std::string uri_escape(const std::string& path) {
  std::string out;
  for (unsigned char c : path) {
    if (c == '%' || c == '?' || c == '#' || c < 0x21 || c >= 0x7f) {
      char b[4];
      std::snprintf(b, sizeof b, "%%%02X", c);
      out += b;
    } else {
      out += char(c);
    }
  }
  return out;
}
}  // namespace

RunStore::RunStore(const std::string& path, bool writer) : path_(path) {
  if (writer && path != ":memory:") {
    const std::string lock = path + ".lock";
    lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0)
      throw std::runtime_error("run store " + path + ": cannot open the lock file " + lock + ": " + std::strerror(errno));
    // A few tries: `metaloss runs list/show` probe this lock for a moment.
    bool locked = false;
    for (int t = 0; t < 20 && !(locked = ::flock(lock_fd_, LOCK_EX | LOCK_NB) == 0); ++t) ::usleep(100000);
    if (!locked) {
      ::close(lock_fd_);
      throw std::runtime_error("run store " + path + " is in use by another metaloss process (lock " + lock +
                               "); wait for it to finish or stop it first");
    }
  }
  writer_ = writer && path != ":memory:";
  // A reader where it cannot write (read-only media, another user's run): SQLite would need to
  // create run.db-shm beside a WAL-mode database and fails with "unable to open database file".
  // A run closed cleanly is in rollback-journal mode (see the destructor) and opens as it is; one
  // killed mid-run is opened immutable, which reads run.db as checkpointed (the end of its last
  // generation) and ignores a run.db-wal it cannot recover.
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const bool read_only_place = !writer && path != ":memory:" && ::access(dir.empty() ? "." : dir.c_str(), W_OK) != 0;
  const int flags = writer ? (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) : (SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
  std::string target = path;
  if (read_only_place && std::filesystem::exists(path + "-wal")) target = "file:" + uri_escape(path) + "?immutable=1";
  if (sqlite3_open_v2(target.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    if (lock_fd_ >= 0) ::close(lock_fd_);
    throw std::runtime_error("run store " + path + ": cannot open: " + msg);
  }
  try {
    sqlite3_busy_timeout(db_, 10000);
    if (writer) {
      // WAL: a reader (`metaloss runs show`) never blocks the search; synchronous=NORMAL keeps
      // every committed transaction across a killed process (only a power cut can lose the last).
      exec("PRAGMA journal_mode=WAL");
      exec("PRAGMA synchronous=NORMAL");
      exec(kSchema);
      Stmt s(db_, path_, "INSERT OR IGNORE INTO run (key, value) VALUES ('schema', ?)");
      s.bind(1, std::to_string(kSchemaVersion)).step();
    }
    std::string version;
    {
      Stmt v(db_, path_, "SELECT value FROM run WHERE key = 'schema'");
      if (!v.step()) throw std::runtime_error("run store " + path + ": not a metaloss run store (no schema version)");
      version = v.text(0);
    }
    if (version == "1" && writer) {  // migrate: the device column, 'cpu' for every earlier candidate
      exec("BEGIN IMMEDIATE; ALTER TABLE candidates ADD COLUMN device TEXT NOT NULL DEFAULT 'cpu'; "
           "UPDATE candidates SET device = '' WHERE cached = 1; UPDATE run SET value = '2' WHERE key = 'schema'; COMMIT");
      version = "2";
    }
    if (version == "2" && writer) {  // migrate: the outcome column, from what the rows say
      exec(std::string("BEGIN IMMEDIATE; ALTER TABLE candidates ADD COLUMN outcome TEXT NOT NULL DEFAULT ''; "
                       "UPDATE candidates SET outcome = ") + kLegacyOutcomeSql +
           "; UPDATE run SET value = '3' WHERE key = 'schema'; COMMIT");
      version = "3";
    }
    if (version != "1" && version != "2" && version != std::to_string(kSchemaVersion))
      throw std::runtime_error("run store " + path + ": schema version " + version + ", this metaloss reads versions 1 to " +
                               std::to_string(kSchemaVersion));
    has_device_ = version != "1";
    has_outcome_ = version == std::to_string(kSchemaVersion);
  } catch (const std::exception& e) {
    sqlite3_close(db_);
    if (lock_fd_ >= 0) ::close(lock_fd_);
    // A reader opening something that is not a database gets SQLite's "file is not a database".
    throw;
  }
}

RunStore::~RunStore() {
  if (writer_) {
    // A clean close leaves one self-contained file: the WAL folded in and the database back in
    // rollback-journal mode, so run.db alone is the whole run (copied, archived, or opened on
    // read-only media). Best effort: a reader still holding the WAL keeps it for the next writer.
    sqlite3_exec(db_, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
    sqlite3_exec(db_, "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr);
  }
  sqlite3_close(db_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

void RunStore::rollback() noexcept {
  // After SQLITE_FULL / IOERR SQLite may have rolled back already; a failing ROLLBACK must not
  // replace the error that brought us here.
  if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void RunStore::exec(const std::string& sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    throw std::runtime_error("run store " + path_ + ": " + msg + " (in: " + sql.substr(0, 80) + ")");
  }
}

bool RunStore::has_config() const {
  Stmt s(db_, path_, "SELECT count(*) FROM config");
  s.step();
  return s.integer(0) > 0;
}

void RunStore::set_config(const RunConfig& c) {
  if (has_config()) {
    const RunConfig old = config();
    std::string diff;
    std::set<std::string> keys;
    for (const auto& kv : old) keys.insert(kv.first);
    for (const auto& kv : c) keys.insert(kv.first);
    for (const auto& k : keys) {
      const auto a = old.find(k), b = c.find(k);
      const std::string va = a == old.end() ? "(unset)" : a->second, vb = b == c.end() ? "(unset)" : b->second;
      if (va != vb) diff += "\n  " + k + ": " + va + " in the run, " + vb + " now";
    }
    if (!diff.empty())
      throw std::invalid_argument("run store " + path_ + " was made with a different configuration (hash " +
                                  config_hash() + ", now " + search::config_hash(c) + "):" + diff);
    return;
  }
  exec("BEGIN IMMEDIATE");
  try {
    for (const auto& [k, v] : c) Stmt(db_, path_, "INSERT INTO config (key, value) VALUES (?, ?)").bind(1, k).bind(2, v).step();
    Stmt(db_, path_, "INSERT OR REPLACE INTO run (key, value) VALUES ('config_hash', ?)").bind(1, search::config_hash(c)).step();
    Stmt(db_, path_, "INSERT OR REPLACE INTO run (key, value) VALUES ('created', ?)").bind(1, now_utc()).step();
    exec("COMMIT");
  } catch (...) {
    rollback();
    throw;
  }
}

void RunStore::amend_config(const std::string& key, const std::string& value) {
  RunConfig c = config();
  const auto it = c.find(key);
  if (it == c.end()) throw std::invalid_argument("run store " + path_ + ": no configuration value '" + key + "' to amend");
  const std::string old = it->second;
  it->second = value;
  exec("BEGIN IMMEDIATE");
  try {
    Stmt(db_, path_, "UPDATE config SET value = ? WHERE key = ?").bind(1, value).bind(2, key).step();
    Stmt(db_, path_, "INSERT OR REPLACE INTO run (key, value) VALUES ('config_hash', ?)").bind(1, search::config_hash(c)).step();
    // One row per amendment (the key carries the time), so a second one keeps the first.
    const std::string when = now_utc();
    Stmt(db_, path_, "INSERT OR REPLACE INTO run (key, value) VALUES (?, ?)").bind(1, "amended_" + key + " " + when)
        .bind(2, old + " -> " + value).step();
    exec("COMMIT");
  } catch (...) {
    rollback();
    throw;
  }
}

RunConfig RunStore::config() const {
  RunConfig c;
  Stmt s(db_, path_, "SELECT key, value FROM config");
  while (s.step()) c[s.text(0)] = s.text(1);
  return c;
}

std::string RunStore::config_hash() const {
  Stmt s(db_, path_, "SELECT value FROM run WHERE key = 'config_hash'");
  return s.step() ? s.text(0) : std::string();
}

int RunStore::begin_session(const std::string& command) {
  Stmt s(db_, path_, "INSERT INTO sessions (started, command) VALUES (?, ?)");
  s.bind(1, now_utc()).bind(2, command).step();
  return int(sqlite3_last_insert_rowid(db_));
}

void RunStore::end_session(int id) {
  Stmt(db_, path_, "UPDATE sessions SET finished = ? WHERE id = ?").bind(1, now_utc()).bind(2, id).step();
}

std::vector<SessionRecord> RunStore::sessions() const {
  std::vector<SessionRecord> out;
  Stmt s(db_, path_, "SELECT id, started, coalesce(finished, ''), command FROM sessions ORDER BY id");
  while (s.step()) out.push_back({int(s.integer(0)), s.text(1), s.text(2), s.text(3)});
  return out;
}

void RunStore::add_candidate(const CandidateRecord& c) {
  Stmt s(db_, path_,
         "INSERT INTO candidates (generation, idx, genome, params, fitness, status, reason, seed, seconds, worker, "
         "session, cached, recorded, device, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  s.bind(1, c.generation).bind(2, c.index).bind(3, c.genome).bind(4, c.params.empty() ? "[]" : c.params);
  s.bind(5, c.fitness).bind(6, c.status).bind(7, c.reason).bind(8, std::to_string(c.seed)).bind(9, c.seconds);
  s.bind(10, c.worker).bind(11, c.session).bind(12, int(c.cached)).bind(13, now_utc()).bind(14, c.device);
  s.bind(15, outcome_name(c.outcome));
  s.step();
}

std::vector<CandidateRecord> RunStore::candidates(int generation) const {
  const std::string sql = "SELECT " + candidate_columns(has_device_, has_outcome_) + " FROM candidates" +
                          (generation >= 0 ? " WHERE generation = ?" : "") + " ORDER BY generation, idx";
  Stmt s(db_, path_, sql.c_str());
  if (generation >= 0) s.bind(1, generation);
  std::vector<CandidateRecord> out;
  while (s.step()) out.push_back(read_candidate(s));
  return out;
}

void RunStore::complete_generation(const GenerationRecord& g, int hall_size) {
  exec("BEGIN IMMEDIATE");
  try {
    Stmt s(db_, path_,
           "INSERT INTO generations (generation, best, mean, failed, cached, evaluated, seconds, optimizer_state, "
           "rng_state, session, completed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, g.generation).bind(2, g.best).bind(3, g.mean).bind(4, g.failed).bind(5, g.cached).bind(6, g.evaluated);
    s.bind(7, g.seconds).bind(8, g.optimizer_state).bind(9, g.rng_state).bind(10, g.session).bind(11, now_utc());
    s.step();
    exec("DELETE FROM hall_of_fame");
    Stmt best(db_, path_,
              "SELECT generation, idx, genome, params, fitness FROM candidates WHERE status = 'ok' AND cached = 0 "
              "ORDER BY fitness, generation, idx");
    std::set<std::string> seen;
    int rank = 0;
    while (rank < hall_size && best.step()) {
      if (!seen.insert(best.text(2)).second) continue;
      Stmt ins(db_, path_, "INSERT INTO hall_of_fame (rank, generation, idx, genome, params, fitness) VALUES (?, ?, ?, ?, ?, ?)");
      ins.bind(1, ++rank).bind(2, int(best.integer(0))).bind(3, int(best.integer(1))).bind(4, best.text(2));
      ins.bind(5, best.text(3)).bind(6, best.real(4)).step();
    }
    exec("COMMIT");
  } catch (...) {
    rollback();
    throw;
  }
  // A safe point: fold the WAL into run.db, so that a copy of run.db alone (without run.db-wal)
  // holds every completed generation even if the process is killed later.
  sqlite3_exec(db_, "PRAGMA wal_checkpoint(PASSIVE)", nullptr, nullptr, nullptr);
}

std::vector<GenerationRecord> RunStore::generations() const {
  std::vector<GenerationRecord> out;
  Stmt s(db_, path_,
         "SELECT generation, best, mean, failed, cached, evaluated, seconds, optimizer_state, rng_state, session "
         "FROM generations ORDER BY generation");
  while (s.step()) {
    GenerationRecord g;
    g.generation = int(s.integer(0));
    g.best = s.real(1);
    g.mean = s.real(2);
    g.failed = int(s.integer(3));
    g.cached = int(s.integer(4));
    g.evaluated = int(s.integer(5));
    g.seconds = s.real(6);
    g.optimizer_state = s.text(7);
    g.rng_state = s.text(8);
    g.session = int(s.integer(9));
    out.push_back(std::move(g));
  }
  return out;
}

std::vector<CandidateRecord> RunStore::hall_of_fame() const {
  std::vector<CandidateRecord> out;
  // Genome, parameters and fitness from the hall of fame, the rest from the candidate it names.
  std::string cols = candidate_columns(has_device_, has_outcome_, "c.");
  for (const char* col : {"generation", "idx", "genome", "params", "fitness"}) {  // these five from h
    const std::string from = std::string("c.") + col + ",", to = std::string("h.") + col + ",";
    cols.replace(cols.find(from), from.size(), to);
  }
  const std::string sql = "SELECT " + cols + " FROM hall_of_fame h JOIN candidates c ON c.generation = h.generation AND "
                          "c.idx = h.idx ORDER BY h.rank";
  Stmt s(db_, path_, sql.c_str());
  while (s.step()) out.push_back(read_candidate(s));
  return out;
}

void RunStore::set_result(const std::string& key, const std::string& value) {
  Stmt(db_, path_, "INSERT OR REPLACE INTO results (key, value) VALUES (?, ?)").bind(1, key).bind(2, value).step();
}

std::map<std::string, std::string> RunStore::results() const {
  std::map<std::string, std::string> out;
  Stmt s(db_, path_, "SELECT key, value FROM results");
  while (s.step()) out[s.text(0)] = s.text(1);
  return out;
}

}  // namespace metaloss::search
