// The population-search machinery: CMA-ES state save/load, the SQLite run store, the search loop's
// resume and cache, the worker line protocol, and the process pool (with stand-in worker scripts,
// so these tests do not need the metaloss program; tests/search_test.sh runs the real thing).
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include "engine/metaloss.h"
#include <sqlite3.h>

#include "meta/search/cmaes.h"
#include "meta/search/population.h"
#include "meta/search/run_store.h"
#include "meta/search/taylor_glo_search.h"
#include "meta/search/workers.h"
#include "models/layers.h"
#include "tasks.h"
#include "temp_dir.h"

using namespace metaloss;
using namespace metaloss::search;
using metaloss::testing::TempDir;

namespace {

double sphere(const std::vector<double>& x) {
  double s = 0;
  for (double v : x) s += (v - 1) * (v - 1);
  return s;
}

std::vector<double> fitness_of(const std::vector<std::vector<double>>& pop) {
  std::vector<double> f;
  for (const auto& x : pop) f.push_back(sphere(x));
  return f;
}

learn::LearnTask blob_task() { return metaloss::testing::blob_task(256, 128); }

// An evaluator that stops the search (like a killed process) after `limit` evaluations.
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};
class StoppingEvaluator : public Evaluator {
 public:
  StoppingEvaluator(EvalFn fn, int limit) : fn_(std::move(fn)), limit_(limit) {}
  void evaluate(const std::vector<EvalJob>& jobs, const std::function<void(size_t, const Evaluation&)>& done) override {
    for (size_t i = 0; i < jobs.size(); ++i) {
      if (limit_ >= 0 && calls >= limit_) throw Interrupted();
      ++calls;
      done(i, fn_(jobs[i].genome, jobs[i].seed));
    }
  }
  std::string describe() const override { return "stopping"; }
  int calls = 0;

 private:
  EvalFn fn_;
  int limit_;
};

}  // namespace

TEST_CASE("CMA-ES: save_state/load_state continues exactly; bad states are refused") {
  CMAES a(std::vector<double>(5, 0.0), CMAESOptions{1.2, 8}, 42);
  for (int g = 0; g < 3; ++g) a.tell(fitness_of(a.ask()));
  const std::string s = a.save_state();
  CMAES b(std::vector<double>(5, 0.0), CMAESOptions{1.2, 8}, 7);  // another seed: the state carries the RNG
  b.load_state(s);
  CHECK(b.save_state() == s);
  for (int g = 0; g < 3; ++g) {
    const auto pa = a.ask(), pb = b.ask();
    CHECK(pa == pb);  // bit for bit
    a.tell(fitness_of(pa));
    b.tell(fitness_of(pb));
  }
  CHECK(a.mean() == b.mean());
  CHECK(a.sigma() == b.sigma());
  // Saved between ask and tell: the pending population comes back too.
  const auto pending = a.ask();
  CMAES c(std::vector<double>(5, 0.0), CMAESOptions{1.2, 8}, 0);
  c.load_state(a.save_state());
  CHECK_NOTHROW(c.tell(fitness_of(pending)));
  CMAES wrong(std::vector<double>(4, 0.0), CMAESOptions{1.2, 8}, 0);
  CHECK_THROWS_WITH_AS(wrong.load_state(s), doctest::Contains("dimension 5 and population 8"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(b.load_state("hello"), doctest::Contains("not a CMA-ES state"), std::invalid_argument);
  std::string broken = s;
  broken.replace(broken.find("sigma "), 8, "sigma zz");
  CHECK_THROWS_WITH_AS(b.load_state(broken), doctest::Contains("bad number"), std::invalid_argument);
}

TEST_CASE("run store: config and hash, candidates, generations, hall of fame, lock, reader") {
  TempDir dir("store");
  const std::string db = dir / "run.db";
  RunConfig cfg{{"method", "taylorglo"}, {"seed", "3"}, {"note", "a \"quoted\", multi\nline value"}};
  CHECK(parse_config_json(config_json(cfg)) == cfg);
  CHECK(config_hash(cfg).size() == 16);
  RunConfig other = cfg;
  other["seed"] = "4";
  CHECK(config_hash(other) != config_hash(cfg));
  CHECK_THROWS_WITH_AS(parse_config_json("{\"a\": 1}"), doctest::Contains("expected '\"' at offset 6"),
                       std::invalid_argument);
  {
    RunStore s(db, true);
    CHECK_FALSE(s.has_config());
    s.set_config(cfg);
    CHECK(s.config_hash() == config_hash(cfg));
    CHECK_NOTHROW(s.set_config(cfg));  // the same again: fine
    CHECK_THROWS_WITH_AS(s.set_config(other), doctest::Contains("seed: 3 in the run, 4 now"), std::invalid_argument);
    // A second writer on the same run is refused while the first holds it.
    CHECK_THROWS_WITH_AS(RunStore(db, true), doctest::Contains("in use by another metaloss process"), std::runtime_error);
    const int session = s.begin_session("test");
    CHECK(session == 1);
    const double fit[] = {0.5, 0.25, 0.25, 0.75};
    for (int k = 0; k < 4; ++k) {
      CandidateRecord c;
      c.index = k;
      c.genome = k == 2 ? "g1" : "g" + std::to_string(k);  // 2 repeats 1's genome
      c.params = "[1, 2]";
      c.fitness = fit[k];
      c.status = k == 3 ? "failed" : "ok";
      c.reason = k == 3 ? "diverged" : "";
      c.seed = 0xFFFFFFFFFFFFFFFFull - uint64_t(k);  // full 64-bit seeds survive
      c.worker = "local";
      c.session = session;
      c.cached = k == 2;
      s.add_candidate(c);
    }
    CHECK_THROWS_AS(s.add_candidate(s.candidates()[0]), std::runtime_error);  // (generation, index) is unique
    GenerationRecord g;
    g.optimizer_state = "state";
    g.rng_state = "rng";
    g.session = session;
    s.complete_generation(g);
    s.set_result("test_error", "0.1");
  }
  RunStore r(db, false);  // a reader: no lock needed
  CHECK(r.config() == cfg);
  const auto cs = r.candidates();
  REQUIRE(cs.size() == 4);
  CHECK(cs[0].seed == 0xFFFFFFFFFFFFFFFFull);
  CHECK(cs[3].reason == "diverged");
  CHECK(cs[2].cached);
  const auto hof = r.hall_of_fame();  // successful, distinct, not cache copies, best first
  REQUIRE(hof.size() == 2);
  CHECK(hof[0].genome == "g1");
  CHECK(hof[0].fitness == 0.25);
  CHECK(hof[1].genome == "g0");
  REQUIRE(r.generations().size() == 1);
  CHECK(r.generations()[0].optimizer_state == "state");
  CHECK(r.results().at("test_error") == "0.1");
  CHECK(r.sessions().size() == 1);
  CHECK_THROWS_WITH_AS(RunStore(dir / "missing.db", false), doctest::Contains("missing.db"), std::runtime_error);
  std::ofstream(dir / "junk.db") << "this is not a database, not even close to one.............................";
  CHECK_THROWS_AS(RunStore(dir / "junk.db", false), std::runtime_error);
}

TEST_CASE("population search: an interrupted run resumes to the identical result without repeating work") {
  const auto task = blob_task();
  TaylorGLOConfig cfg;
  cfg.steps = 20;
  cfg.lr = 0.5;
  cfg.generations = 3;
  cfg.population = 5;
  cfg.seed = 5;
  SearchLoopOptions lo;
  lo.seed = cfg.seed;
  lo.generations = cfg.generations;
  TempDir dir("resume");
  // Uninterrupted.
  std::vector<CandidateRecord> full;
  {
    RunStore s(dir / "a.db", true);
    TaylorGLOOptimizer opt(cfg);
    StoppingEvaluator ev(taylor_glo_eval_fn(task, cfg), -1);
    const auto o = run_population_search(opt, ev, s, lo);
    CHECK(o.generations.size() == 3);
    CHECK(ev.calls == 15);
    full = s.candidates();
  }
  // Stopped after 7 evaluations (in the middle of generation 2), then resumed in a new process's shoes.
  {
    RunStore s(dir / "b.db", true);
    TaylorGLOOptimizer opt(cfg);
    StoppingEvaluator ev(taylor_glo_eval_fn(task, cfg), 7);
    CHECK_THROWS_AS(run_population_search(opt, ev, s, lo), Interrupted);
    CHECK(s.generations().size() == 1);
    CHECK(s.candidates().size() == 7);
  }
  RunStore s(dir / "b.db", true);
  TaylorGLOOptimizer opt(cfg);
  StoppingEvaluator ev(taylor_glo_eval_fn(task, cfg), -1);
  int logged = 0;
  const auto o = run_population_search(opt, ev, s, lo, {}, [&](const GenerationLog&) { ++logged; });
  CHECK(o.resumed_from == 1);
  CHECK(o.reused == 2);       // generation 2's first two candidates came from the store
  CHECK(ev.calls == 15 - 7);  // nothing recorded was evaluated again
  CHECK(logged == 2);
  const auto resumed = s.candidates();
  REQUIRE(resumed.size() == full.size());
  for (size_t i = 0; i < full.size(); ++i) {
    CHECK(resumed[i].genome == full[i].genome);
    CHECK(resumed[i].fitness == full[i].fitness);
    CHECK(resumed[i].seed == full[i].seed);
    CHECK(resumed[i].session == (i < 7 ? 1 : 2));
  }
  const auto gens = s.generations();
  REQUIRE(gens.size() == 3);
  RunStore a(dir / "a.db", false);
  CHECK(gens.back().optimizer_state == a.generations().back().optimizer_state);
  CHECK(s.hall_of_fame()[0].genome == a.hall_of_fame()[0].genome);
  // Running it again finds nothing to do.
  StoppingEvaluator idle(taylor_glo_eval_fn(task, cfg), 0);
  TaylorGLOOptimizer opt2(cfg);
  CHECK_NOTHROW(run_population_search(opt2, idle, s, lo));
}

namespace {
// Proposes the same few genomes over and over: exercises the cache.
class RepeatingOptimizer : public PopulationOptimizer {
 public:
  std::vector<Candidate> ask() override {
    return {{"a", {1}}, {"b", {2}}, {"a", {1}}, {"c", {3}}};
  }
  void tell(const std::vector<double>& f) override { told.push_back(f); }
  std::string save_state() const override { return "n=" + std::to_string(told.size()); }
  void load_state(const std::string&) override {}
  std::string rng_state() const override { return "none"; }
  std::vector<std::vector<double>> told;
};
}  // namespace

TEST_CASE("population search: the fitness cache trains each distinct genome once; all-failed generations") {
  std::map<std::string, int> trained;
  SerialEvaluator ev([&](const std::string& genome, uint64_t) {
    ++trained[genome];
    Evaluation e;
    e.status = genome == "c" ? "failed" : "ok";
    e.reason = genome == "c" ? "diverged" : "";
    e.fitness = genome == "a" ? 0.1 : genome == "b" ? 0.2 : 1.0;
    return e;
  });
  RepeatingOptimizer opt;
  RunStore s(":memory:", true);
  SearchLoopOptions lo;
  lo.generations = 3;
  const auto o = run_population_search(opt, ev, s, lo);
  CHECK(trained == std::map<std::string, int>{{"a", 1}, {"b", 1}, {"c", 1}});
  CHECK(o.evaluations == 3);
  CHECK(o.best.genome == "a");
  REQUIRE(opt.told.size() == 3);
  for (const auto& f : opt.told) CHECK(f == std::vector<double>{0.1, 0.2, 0.1, 1.0});
  const auto cs = s.candidates();
  CHECK(cs[2].cached);
  CHECK(cs[2].reason.find("same genome as candidate 0/0") != std::string::npos);
  CHECK(cs[7].cached);
  CHECK(cs[7].status == "failed");  // a cached failure stays a failure
  CHECK(o.generations[1].cached == 4);

  SerialEvaluator failing([](const std::string&, uint64_t) {
    Evaluation e;
    e.status = "failed";
    e.reason = "NaN loss";
    return e;
  });
  RepeatingOptimizer opt2;
  RunStore s2(":memory:", true);
  const auto o2 = run_population_search(opt2, failing, s2, lo);
  CHECK(o2.generations.size() == 3);
  CHECK(o2.best.genome.empty());
  CHECK(o2.best.fitness == 1.0);
  CHECK(o2.generations[0].failed == 4);
}

TEST_CASE("population search: gradient-equivalent genomes take the first one's result") {
  // Signature: the genome's length, so "ab" and "cd" are equivalent and "xyz" is not.
  std::map<std::string, int> trained;
  SerialEvaluator ev([&](const std::string& genome, uint64_t) {
    ++trained[genome];
    Evaluation e;
    e.status = "ok";
    e.fitness = genome == "xyz" ? 0.5 : 0.25;
    return e;
  });
  class Opt : public PopulationOptimizer {
   public:
    int g = 0;
    std::vector<Candidate> ask() override {
      return g == 0 ? std::vector<Candidate>{{"ab", {}}, {"cd", {}}, {"xyz", {}}}
                    : std::vector<Candidate>{{"ef", {}}, {"xyz", {}}, {"uvw", {}}};
    }
    void tell(const std::vector<double>&) override { ++g; }
    std::string save_state() const override { return std::to_string(g); }
    void load_state(const std::string& s) override { g = std::stoi(s); }
    std::string rng_state() const override { return ""; }
  } opt;
  RunStore s(":memory:", true);
  SearchLoopOptions lo;
  lo.generations = 2;
  lo.signature = [](const std::string& genome) { return std::vector<double>{double(genome.size())}; };
  run_population_search(opt, ev, s, lo);
  CHECK(trained == std::map<std::string, int>{{"ab", 1}, {"xyz", 1}});
  const auto cs = s.candidates();
  REQUIRE(cs.size() == 6);
  CHECK(cs[1].cached);
  CHECK(cs[1].reason.find("gradient-equivalent to candidate 0/0") == 0);
  CHECK(cs[3].reason.find("gradient-equivalent to candidate 0/0") == 0);  // ef ~ ab, from the archive
  CHECK(cs[4].reason.find("same genome as candidate 0/2") == 0);
  CHECK(cs[5].reason.find("gradient-equivalent to candidate 0/2") == 0);  // uvw ~ xyz
  CHECK(cs[5].fitness == 0.5);
}

TEST_CASE("worker protocol: exact round trips, one-line reasons, malformed lines") {
  EvalJob j{3, 4, "taylorglo(1, 2)", 0xFEDCBA9876543210ull};
  size_t job = 0;
  uint64_t seed = 0;
  std::string genome;
  std::string line = encode_job(17, j);
  line.pop_back();
  decode_job(line, job, seed, genome);
  CHECK(job == 17);
  CHECK(seed == j.seed);
  CHECK(genome == j.genome);
  Evaluation e;
  e.status = "failed";
  e.fitness = 0.1 + 0.2;  // not exactly representable in decimal with few digits
  e.seconds = 1.0 / 3;
  e.reason = "two\nlines";
  e.params = "[0.10000000000000001, -2]";
  line = encode_result(9, e);
  line.pop_back();
  Evaluation d;
  decode_result(line, job, d);
  CHECK(job == 9);
  CHECK(d.fitness == e.fitness);
  CHECK(d.seconds == e.seconds);
  CHECK(d.status == "failed");
  CHECK(d.reason == "two lines");
  CHECK(d.params == "[0.10000000000000001,-2]");  // one token: spaces dropped, numbers kept exactly
  CHECK_FALSE(d.rejected);
  Evaluation rej;  // a rejection crosses the wire as one: status "failed", rejected
  rej.status = "failed";
  rej.rejected = true;
  rej.reason = "rejected: optimising 100 predictions with it ...";
  line = encode_result(3, rej);
  line.pop_back();
  CHECK(line.rfind("result 3 rejected ", 0) == 0);
  Evaluation rd;
  decode_result(line, job, rd);
  CHECK(rd.status == "failed");
  CHECK(rd.rejected);
  Evaluation ok;
  ok.status = "ok";
  ok.rejected = true;  // (meaningless with ok: the status wins)
  line = encode_result(4, ok);
  CHECK(line.rfind("result 4 ok ", 0) == 0);
  CHECK_THROWS_WITH_AS(decode_result("result x", job, d), doctest::Contains("malformed result line"), std::runtime_error);
  CHECK_THROWS_AS(encode_job(0, EvalJob{0, 0, "two\nlines", 1}), std::logic_error);
}

TEST_CASE("process pool: jobs spread over workers, a dying worker fails its candidate and is replaced") {
  TempDir dir("pool");
  // A stand-in worker: answers ready, then fitness 0.5 for every job, except that it exits
  // (status 3) when asked to evaluate the genome "crash".
  const std::string script = dir / "worker.sh";
  std::ofstream(script) << "read init\n"
                           "[ \"$init\" = '{\"x\": \"1\"}' ] || { echo \"error bad init $init\"; exit 1; }\n"
                           "echo ready\n"
                           "while read tag job seed genome; do\n"
                           "  [ \"$genome\" = crash ] && exit 3\n"
                           "  echo \"result $job ok 0x1p-1 0x0p+0 - \"\n"
                           "done\n";
  ProcessPoolEvaluator pool(2, {"/bin/sh", script}, "{\"x\": \"1\"}");
  CHECK(pool.describe() == "2 worker processes");
  std::vector<EvalJob> jobs;
  for (int k = 0; k < 6; ++k) jobs.push_back({0, k, k == 2 ? "crash" : "g" + std::to_string(k), uint64_t(100 + k)});
  std::map<size_t, Evaluation> got;
  pool.evaluate(jobs, [&](size_t j, const Evaluation& e) { got[j] = e; });
  REQUIRE(got.size() == 6);
  std::set<std::string> workers;
  for (const auto& [j, e] : got) {
    CHECK(e.seed == 100 + j);
    workers.insert(e.worker);
    if (j == 2) {
      CHECK(e.status == "failed");
      CHECK(e.reason.find("exited with status 3 while evaluating") != std::string::npos);
    } else {
      CHECK(e.status == "ok");
      CHECK(e.fitness == 0.5);
    }
  }
  CHECK(workers == std::set<std::string>{"proc:1", "proc:2"});
  got.clear();  // the replacement worker carries on
  pool.evaluate({jobs[0], jobs[1]}, [&](size_t j, const Evaluation& e) { got[j] = e; });
  CHECK(got.size() == 2);
  CHECK(got[0].status == "ok");
  // A worker that cannot start says why.
  CHECK_THROWS_WITH_AS(ProcessPoolEvaluator(1, {"/bin/sh", script}, "{}"), doctest::Contains("bad init"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(ProcessPoolEvaluator(1, {dir / "no-such-program"}, "{}"), doctest::Contains("cannot start"),
                       std::runtime_error);
}

TEST_CASE("process pool: the hard time limit kills a stuck worker and fails only its candidate") {
  TempDir dir("pool_timeout");
  const std::string script = dir / "worker.sh";
  std::ofstream(script) << "read init\necho ready\n"
                           "while read tag job seed genome; do\n"
                           "  [ \"$genome\" = hang ] && exec sleep 5\n"
                           "  echo \"result $job ok 0x1p-2 0x0p+0 - \"\n"
                           "done\n";
  ProcessPoolEvaluator pool(1, {"/bin/sh", script}, "{}", /*hard_timeout=*/0.5);
  std::map<size_t, Evaluation> got;
  pool.evaluate({{0, 0, "hang", 1}, {0, 1, "fine", 2}}, [&](size_t j, const Evaluation& e) { got[j] = e; });
  REQUIRE(got.size() == 2);
  CHECK(got[0].status == "failed");
  CHECK(got[0].reason.find("hard time limit") != std::string::npos);
  CHECK(got[1].status == "ok");
  CHECK(got[1].fitness == 0.25);
}

TEST_CASE("run store: a version-1 store (no device column) is read as it is and migrated by a writer") {
  TempDir dir("store_v1");
  const std::string db = dir / "run.db";
  auto candidate = [](int k, const std::string& device) {
    CandidateRecord c;
    c.index = k;
    c.genome = "g" + std::to_string(k);
    c.status = "ok";
    c.fitness = 0.5;
    c.worker = "local";
    c.session = 1;
    c.device = device;
    return c;
  };
  {
    RunStore s(db, true);
    s.begin_session("test");
    s.add_candidate(candidate(0, "cpu"));
  }
  {  // as metaloss before the device column wrote it
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
    REQUIRE(sqlite3_exec(h, "ALTER TABLE candidates DROP COLUMN device; ALTER TABLE candidates DROP COLUMN outcome; "
                         "UPDATE run SET value = '1' WHERE key = 'schema'", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(h);
  }
  {
    const RunStore reader(db, false);
    REQUIRE(reader.candidates().size() == 1);
    CHECK(reader.candidates()[0].device == "cpu");  // every earlier candidate ran on the CPU
  }
  {
    RunStore writer(db, true);  // migrates
    writer.add_candidate(candidate(1, "cuda:1"));
    const auto cs = writer.candidates();
    REQUIRE(cs.size() == 2);
    CHECK(cs[0].device == "cpu");
    CHECK(cs[1].device == "cuda:1");
  }
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, "SELECT value FROM run WHERE key = 'schema'", -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "3");  // (through 2)
  sqlite3_finalize(st);
  sqlite3_close(h);
}

TEST_CASE("run store: a version-2 store (no outcome column) derives each outcome, and a writer stores them") {
  TempDir dir("store_v2");
  const std::string db = dir / "run.db";
  // One candidate of each kind, as a metaloss before the column recorded them: the outcome only
  // in the status, the cached flag and the reason's first words.
  struct Kind {
    const char* status;
    bool cached;
    const char* reason;
    Outcome want;
  };
  const Kind kinds[] = {{"ok", false, "", Outcome::Trained},
                        {"failed", false, "rejected: optimising 100 predictions with it ...", Outcome::Rejected},
                        {"failed", false, "training diverged", Outcome::Failed},
                        {"ok", true, "same genome as candidate 0/0", Outcome::Cached},
                        {"ok", true, "gradient-equivalent to candidate 0/0", Outcome::Equivalent}};
  {
    RunStore s(db, true);
    s.begin_session("test");
    for (int k = 0; k < 5; ++k) {
      CandidateRecord c;
      c.index = k;
      c.genome = "g" + std::to_string(k);
      c.status = kinds[k].status;
      c.cached = kinds[k].cached;
      c.reason = kinds[k].reason;
      c.fitness = 0.1 * (k + 1);
      c.session = 1;
      c.outcome = Outcome::Failed;  // (dropped below)
      s.add_candidate(c);
    }
    s.complete_generation(GenerationRecord{0, 0.1, 0.3, 2, 2, 3, 1.0, "{}", "{}", 1}, 5);
  }
  {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
    REQUIRE(sqlite3_exec(h, "ALTER TABLE candidates DROP COLUMN outcome; UPDATE run SET value = '2' WHERE key = 'schema'",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(h);
  }
  auto check = [&](const RunStore& s) {
    const auto cs = s.candidates(0);
    REQUIRE(cs.size() == 5);
    for (int k = 0; k < 5; ++k) CHECK(outcome_name(cs[size_t(k)].outcome) == std::string(outcome_name(kinds[k].want)));
    const auto hof = s.hall_of_fame();
    REQUIRE(!hof.empty());
    CHECK(hof.front().outcome == Outcome::Trained);  // the best, g0
  };
  check(RunStore(db, false));  // read as it is
  {
    RunStore writer(db, true);  // migrated
    check(writer);
    CandidateRecord c;
    c.generation = 1;
    c.genome = "new";
    c.status = "failed";
    c.reason = "whatever the text says";
    c.outcome = Outcome::Rejected;  // the type decides, not the text
    c.session = 2;
    writer.add_candidate(c);
    CHECK(writer.candidates(1).at(0).outcome == Outcome::Rejected);
  }
  check(RunStore(db, false));
  CHECK_THROWS_WITH_AS(parse_outcome("skipped", "here"), doctest::Contains("here: outcome 'skipped', expected trained"),
                       std::runtime_error);
}
