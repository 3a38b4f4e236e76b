#include "apps/search.h"
#include "apps/usage_error.h"

#include <CLI/CLI.hpp>

#include "apps/cli_checks.h"
#include <unistd.h>  // isatty

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "apps/mpi_search.h"
#include "engine/runtime.h"
#include "meta/progress.h"
#include "meta/data/io.h"
#include "meta/losses/loss_file.h"
#include "meta/learn/plot.h"
#include "meta/losses/simplify.h"
#include "meta/search/run_store.h"
#include "meta/search/run_export.h"
#include "meta/search/search_run.h"
#include "meta/search/workers.h"
#include "meta/train.h"
#include "meta/seeds.h"

namespace metaloss::app {

namespace {

namespace fs = std::filesystem;
using search::RunConfig;
using search::RunStore;

std::string pct(double f) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100 * f);
  return buf;
}

search::EvalFn eval_fn_from_init(const std::string& init, Device device) {
  std::shared_ptr<search::SearchSetup> s = search::build_setup(search::parse_config_json(init), device);
  auto fn = s->method->eval_fn(*s);
  return [s, fn](const std::string& genome, uint64_t seed) { return fn(genome, seed); };
}

// Where the worker processes come from: this very executable, through /proc/self/exe (not the
// path it resolves to) so that a replacement worker runs the same code even if the file was
// rebuilt or removed since the search started.
std::string self_exe() { return "/proc/self/exe"; }

void write_fitness_plot(const std::string& dir, const std::string& what, int population,
                        const std::vector<search::GenerationLog>& gens) {
  if (gens.size() < 2) return;  // a line needs two points
  learn::LossPlot p;
  p.title = what + ": validation error per generation (" + std::to_string(population) + " candidates each)";
  p.xlabel = "generation";
  p.ylabel = "validation error (%)";
  // The running best as a line, each generation's best as points on it (visible where it is
  // worse than the best so far), the generation mean dashed.
  p.names = {"best so far", "best in generation", "mean of successful candidates"};
  p.values.assign(3, {});
  p.group = {0, 1, 2};
  p.dashed = {false, false, true};
  p.points = {false, true, false};
  p.integer_x = true;
  double best = INFINITY;
  for (const auto& g : gens) {
    p.x.push_back(g.generation + 1);
    best = std::min(best, g.best);
    p.values[0].push_back(100 * best);
    p.values[1].push_back(100 * g.best);
    p.values[2].push_back(100 * g.mean);
  }
  learn::write_plot(p, dir + "/fitness");
}

// The best expression with its learned edge weights: LaTeX, a standalone C header (forward and
// gradient), and a plot of L(y, f) for y = 1 and y = 0.
void write_expression_outputs(const std::string& dir, const losses::Expression& e, const std::vector<double>& w) {
  // Second line: the simplified form of the tree (GiNaC; without it the canonical text), which
  // leaves out the learned edge weights when there are any other than 1.
  const losses::Simplified simple = losses::simplify(e);
  const bool unit = std::all_of(w.begin(), w.end(), [](double v) { return v == 1; });
  const std::string note = std::string(simple.symbolic ? "simplified by GiNaC" : "canonical form, no GiNaC") +
                           (unit ? "" : ", without the learned edge weights");
  data::write_file(dir + "/best_loss.tex", "L(y, f(x)) = " + e.latex(w) + "\n" + "L(y, f) = " + simple.latex + "  % " +
                                              note + "\n");
  data::write_file(dir + "/best_loss.h", losses::export_c_header(e, "metaloss_learned", w));
  learn::LossPlot p;
  p.title = "learned loss " + e.str();
  p.xlabel = "predicted probability f of the class";
  p.ylabel = "L(y, f) (learned edge weights)";
  p.names = {"y = 1", "y = 0"};
  p.values.assign(2, {});
  p.group = {0, 0};
  p.dashed = {false, true};
  const Tensor wt = Tensor::from_vector(w, Shape{int64_t(w.size())}, DType::Float64);
  std::vector<double> grid;
  for (int i = 0; i <= 100; ++i) grid.push_back(0.001 + 0.998 * i / 100.0);
  const Tensor f = Tensor::from_vector(grid, Shape{101}, DType::Float64);
  p.x = grid;
  for (int k = 0; k < 2; ++k) {
    NoGrad ng;
    p.values[size_t(k)] = e.evaluate(Tensor::full(Shape{101}, k == 0 ? 1.0 : 0.0, DType::Float64), f,
                                     w.empty() ? Tensor() : wt).to_vector();
  }
  learn::write_plot(p, dir + "/best_loss");
  std::printf("best loss, LaTeX: L(y, f(x)) = %s\n", e.latex(w).c_str());
  std::printf("best loss, simplified (%s): %s\n", note.c_str(), simple.text.c_str());
}

std::string store_path(const std::string& dir) { return (fs::path(dir) / RunStore::kFileName).string(); }

// Workers beyond the cores only compete for them (the pool bounds their memory itself).
void warn_workers(int workers) {
  const unsigned cores = std::thread::hardware_concurrency();
  if (cores > 0 && unsigned(workers) > cores)
    std::fprintf(stderr, "warning: --workers %d exceeds the %u CPU cores of this machine: the workers compete for cores\n",
                 workers, cores);
}

// The devices of a command's --device / --devices: this process's, and its workers' in turn.
struct Devices {
  Device main;
  std::vector<std::string> workers;  // empty: every worker on `main`
};
Devices resolve_placement(const Placement& p, int workers, bool mpi) {
  Devices d{parse_device_option(p.device, "--device"), {}};
  if (!p.devices.empty()) {
    if (workers < 2 && !mpi)
      throw UsageError("--devices " + p.devices + ": places worker processes (--workers N or --mpi); in this process "
                       "use --device");
    for (Device w : parse_devices_option(p.devices, "--devices")) d.workers.push_back(w.str());
  } else if (d.main != Device::cpu()) {
    d.workers = {d.main.str()};
  }
  return d;
}
// The device of MPI rank r >= 1 (the same rule on every rank and on the master).
std::string rank_device(const Devices& d, int rank) {
  return d.workers.empty() ? std::string("cpu") : d.workers[size_t(rank - 1) % d.workers.size()];
}

// The search (new or continued) and its meta-test, on an open store with its configuration set.
// `setup_is_usage`: a new search, whose configuration came from the command line, so a model that
// does not fit the data or a missing --data-dir is a usage error (exit 2); on resume it is the
// stored configuration's (exit 1).
int drive(RunStore& store, const RunConfig& c, const std::string& dir, int workers, bool mpi, const Devices& devices,
          const std::string& command_line, const std::string& metrics_path, bool setup_is_usage) {
  const auto setup = setup_is_usage ? as_usage("", [&] { return search::build_setup(c, devices.main); })
                                    : search::build_setup(c, devices.main);
  const search::SearchMethod& method = *setup->method;
  std::unique_ptr<search::Evaluator> ev;
  const std::string init = search::config_json(c);
  const double time_limit = setup->time_limit;
  if (mpi) {
    std::vector<std::string> ranks;
    for (int r = 1; r < mpi_size(); ++r) ranks.push_back(rank_device(devices, r));
    ev = make_mpi_evaluator(init, ranks);
  } else if (workers > 1) {
    warn_workers(workers);
    ev = as_usage("--workers", [&] {
      return std::make_unique<search::ProcessPoolEvaluator>(workers, std::vector<std::string>{self_exe(), "search-worker"},
                                                            init, time_limit > 0 ? 2 * time_limit + 60 : 0,
                                                            devices.workers);
    });
  } else {
    ev = std::make_unique<search::SerialEvaluator>(method.eval_fn(*setup), devices.main.str());
  }
  const std::unique_ptr<search::PopulationOptimizer> optimizer = method.optimizer(*setup);
  search::SearchLoopOptions lo = search::loop_options(*setup, dir, command_line);
  if (const char* k = std::getenv("METALOSS_TEST_SIGKILL_AFTER")) lo.kill_after_evaluations = std::atoll(k);
  const int generations = lo.generations, population = setup->population;
  const std::string& name = search::need(c, "method");
  const int done_before = int(store.generations().size());
  const int recorded = int(store.candidates(done_before).size());
  std::fprintf(stderr, "metaloss search: %s on %s with %s, seed %s, %d generations x %d candidates x %s steps, %s, run %s\n",
               name.c_str(), search::need(c, "dataset").c_str(), setup->model.c_str(), search::need(c, "seed").c_str(),
               generations, population, search::need(c, "steps").c_str(), ev->describe().c_str(), dir.c_str());
  if (done_before > 0 || recorded > 0)
    std::fprintf(stderr, "resuming: %d of %d generations complete, %d candidates of generation %d already recorded\n",
                 done_before, generations, recorded, done_before + 1);
  // JSON lines: a fresh run starts the file anew, a resumed one appends (candidates recorded
  // before the resume are not written again).
  MetricsWriter metrics(metrics_path.empty() ? (fs::path(dir) / "metrics.jsonl").string() : metrics_path,
                        done_before > 0 || recorded > 0);
  metrics.write({{"generations", double(generations)}, {"population", double(population)},
                 {"generations_done", double(done_before)}},
                {{"event", "start"}, {"method", name}, {"dataset", search::need(c, "dataset")}, {"model", setup->model},
                 {"run", dir}},
                {{"resumed", done_before > 0 || recorded > 0}});
  const bool tty = isatty(2) && !Progress::quiet();  // the in-place candidate counter
  int in_generation = 0;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<search::GenerationLog> all;  // every completed generation, for the fitness plot
  for (const auto& r : store.generations()) all.push_back({r.generation, r.best, r.mean, r.failed, r.cached, r.evaluated, r.seconds});
  const search::SearchOutcome o = search::run_population_search(
      *optimizer, *ev, store, lo,
      [&](const search::CandidateRecord& r) {
        ++in_generation;
        metrics.write({{"generation", double(r.generation + 1)}, {"index", double(r.index)}, {"fitness", r.fitness},
                       {"seconds", r.seconds}},
                      {{"event", "candidate"}, {"outcome", search::outcome_name(r.outcome)}, {"genome", r.genome}, {"worker", r.worker},
                       {"device", r.device}});
        if (r.outcome == search::Outcome::Failed || r.outcome == search::Outcome::Rejected)
          std::fprintf(stderr, "%scandidate %d/%d failed: %s\n", tty ? "\r\033[K" : "", r.generation + 1, r.index,
                       r.reason.c_str());
        if (tty) std::fprintf(stderr, "\r\033[Kgeneration %d: %d/%d candidates", r.generation + 1, in_generation, population);
      },
      [&](const search::GenerationLog& g) {
        in_generation = 0;
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const int left = generations - g.generation - 1;
        const int run_here = g.generation + 1 - done_before;
        int trained = 0, rejected = 0, other = 0, equivalent = 0;  // rejected: filtered before any training
        for (const auto& r : store.candidates(g.generation)) switch (r.outcome) {
            case search::Outcome::Trained: ++trained; break;
            case search::Outcome::Rejected: ++rejected; break;
            case search::Outcome::Failed: ++other; break;
            case search::Outcome::Equivalent: ++equivalent; break;
            case search::Outcome::Cached: break;
          }
        std::fprintf(stderr, "%sgeneration %d/%d: best %s mean %s trained %d, rejected %d, failed %d, cached %d (%d gradient-equivalent) (%.1f s, ETA %.0f s)\n",
                     tty ? "\r\033[K" : "", g.generation + 1, generations, pct(g.best).c_str(), pct(g.mean).c_str(),
                     trained, rejected, other, g.cached, equivalent, g.seconds,
                     run_here > 0 ? elapsed / run_here * left : 0.0);
        metrics.write({{"generation", double(g.generation + 1)}, {"best", g.best}, {"mean", g.mean},
                       {"trained", double(trained)}, {"rejected", double(rejected)}, {"failed", double(other)},
                       {"cached", double(g.cached)}, {"equivalent", double(equivalent)}, {"seconds", g.seconds}},
                      {{"event", "generation"}});
        all.push_back(g);
        write_fitness_plot(dir, name + " on " + search::need(c, "dataset") + " / " + setup->model, population, all);
      });
  ev.reset();  // workers exit before the meta-test uses this machine
  double search_seconds = 0;
  for (const auto& g : o.generations) search_seconds += g.seconds;
  if (o.best.genome.empty()) {
    store.set_result("status", "no candidate succeeded");
    throw std::runtime_error("every candidate of the search failed (see `metaloss runs show " + dir +
                             "`); nothing to meta-test");
  }
  // The best loss as a loss file (best_loss.safetensors: `metaloss train --loss` takes it) and as
  // the training loss of the meta-test, through the same function, so that training with the file
  // reproduces the meta-test.
  const losses::LossFile best_file = search::candidate_loss(o.best, c, dir);
  losses::save_loss_file(dir + "/best_loss.safetensors", best_file);
  if (method.symbolic()) write_expression_outputs(dir, best_file.expression, best_file.weights);
  const bool tested = search::meta_test(*setup, store, o.best, best_file.function(), [&](const search::MetaTestSeed& m) {
    std::fprintf(stderr, "meta-test seed %llu: %s %s, cross entropy %s\n", (unsigned long long)m.seed, name.c_str(),
                 pct(m.test_error).c_str(), pct(m.ce_test_error).c_str());
    metrics.write({{"seed", double(m.seed)}, {"test_error", m.test_error}, {"ce_test_error", m.ce_test_error}},
                  {{"event", "meta-test"}, {"genome", o.best.genome}});
  });
  if (!tested) std::fprintf(stderr, "meta-test already recorded in the run store\n");
  auto results = store.results();
  int64_t evaluations = 0;
  for (const auto& r : store.candidates())
    if (!r.cached) ++evaluations;
  std::printf("best loss: %s (candidate %d/%d)\n", o.best.genome.c_str(), o.best.generation + 1, o.best.index);
  std::printf("validation error %s after %s steps; %lld trainings in all, %lld by this session (%lld recorded ones reused), search %.1f s\n",
              pct(o.best.fitness).c_str(), search::need(c, "steps").c_str(), (long long)evaluations,
              (long long)o.evaluations, (long long)o.reused, search_seconds);
  std::printf("test error, %s steps from scratch, mean over seeds %s: %s %s, cross entropy %s\n",
              search::need(c, "test_steps").c_str(), search::need(c, "test_seeds").c_str(), name.c_str(),
              pct(std::stod(results["test_error"])).c_str(), pct(std::stod(results["ce_test_error"])).c_str());
  std::fprintf(stderr, "run store %s; `metaloss runs show %s` for details, fitness plot %s/fitness.{gp,svg}\n",
               store.path().c_str(), dir.c_str(), dir.c_str());
  return 0;
}

// ---- runs list / show / export ---------------------------------------------------------

std::string run_dir_of(const std::string& dir) {
  if (!fs::exists(store_path(dir)))
    throw UsageError("'" + dir + "' is not a search run: no " + store_path(dir));
  return dir;
}

// The string value of "key" in one JSON-lines record (the flat ones metaloss writes); "" if absent.
std::string json_field(const std::string& line, const std::string& key) {
  const std::string pat = "\"" + key + "\": \"";
  const size_t at = line.find(pat);
  if (at == std::string::npos) return "";
  const size_t from = at + pat.size(), to = line.find('"', from);
  return to == std::string::npos ? "" : line.substr(from, to - from);
}

// A `metaloss learn` folder: its metrics file opens with the run's start event.
bool is_learn_run(const fs::path& d, std::string& start_line) {
  std::ifstream in(d / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line))
    if (json_field(line, "event") == "start") {
      const std::string m = json_field(line, "method");
      if (m != "ml3" && m != "adalfl" && json_field(line, "meta_test").empty()) return false;
      start_line = line;  // (the last start: a resumed run appends one per session)
    }
  return !start_line.empty();
}

// One runs-list line of a learn run: seeds done of those asked, and the mean test errors.
void list_learn_run(const fs::path& d, const std::string& start) {
  const std::string seeds = json_field(start, "seeds");
  int64_t asked = seeds.empty() ? 0 : 1 + int64_t(std::count(seeds.begin(), seeds.end(), ','));
  int64_t done = 0;
  if (fs::is_directory(d / "seeds"))
    for (const auto& e : fs::directory_iterator(d / "seeds")) done += e.path().extension() == ".txt";
  std::string state = fs::exists(d / "results.csv") ? "complete" : "incomplete";
  if (fs::exists(d / "results.csv")) {  // columns: seed, baseline_test_error, METHOD_test_error, ...
    std::ifstream in(d / "results.csv");
    std::string line;
    double base = 0, learned = 0;
    int64_t n = 0;
    std::getline(in, line);
    while (std::getline(in, line)) {
      std::stringstream ss(line);
      std::string seed, b, l;
      if (std::getline(ss, seed, ',') && std::getline(ss, b, ',') && std::getline(ss, l, ',')) {
        base += std::atof(b.c_str());
        learned += std::atof(l.c_str());
        ++n;
      }
    }
    if (n > 0)
      state += ", test err " + pct(learned / double(n)) + " vs baseline " + pct(base / double(n));
  }
  std::printf("%-44s %-10s %-14s %-9s %-12s %8s %12s  %s\n", d.string().c_str(), json_field(start, "method").c_str(),
              json_field(start, "dataset").c_str(), json_field(start, "model").c_str(),
              ("seeds " + std::to_string(done) + "/" + std::to_string(asked)).c_str(), "-", "-", state.c_str());
}

int runs_list(const std::string& root) {
  if (!fs::is_directory(root)) throw UsageError("runs list: '" + root + "' is not a folder");
  std::vector<fs::path> dirs;
  std::map<fs::path, std::string> learn_runs;  // folder -> its start event
  for (const auto& e : fs::directory_iterator(root)) {
    if (!e.is_directory()) continue;
    std::string start;
    if (fs::exists(e.path() / RunStore::kFileName)) dirs.push_back(e.path());
    else if (is_learn_run(e.path(), start)) dirs.push_back(e.path()), learn_runs[e.path()] = start;
  }
  std::sort(dirs.begin(), dirs.end());
  if (dirs.empty()) {
    std::printf("no search, few-shot or learn runs under %s\n", root.c_str());
    return 0;
  }
  // "progress": generations (search), meta-steps (fewshot) or seeds (learn) done of those asked;
  // "best (valid.)": the best validation error of a search, the best validation accuracy of a
  // few-shot run, said as such.
  std::printf("%-44s %-10s %-14s %-9s %-12s %8s %12s  %s\n", "run", "method", "dataset", "model", "progress",
              "trained", "best (valid.)", "state");
  for (const auto& d : dirs) {
    if (learn_runs.count(d)) {
      list_learn_run(d, learn_runs[d]);
      continue;
    }
    const std::string db = (d / RunStore::kFileName).string();
    try {
      RunStore s(db, false);
      const RunConfig c = s.config();
      auto get = [&](const char* k) { return c.count(k) ? c.at(k) : std::string("?"); };
      const auto gens = s.generations();
      const auto hof = s.hall_of_fame();
      int64_t trained = 0;
      for (const auto& r : s.candidates())
        if (!r.cached) ++trained;
      if (get("kind") == "fewshot") {  // few-shot runs: meta-steps, best validation accuracy, test accuracy
        auto res = s.results();
        auto r = [&](const char* k) { return res.count(k) ? res.at(k) : std::string("0"); };
        std::string state = search::run_in_use(db) ? "running" : res.count("status") ? "complete" : "interrupted";
        if (res.count("test_accuracy")) state += ", test " + pct(std::stod(res.at("test_accuracy"))) + " accuracy";
        const std::string best =
            res.count("best_validation_accuracy") ? "acc " + pct(std::stod(res.at("best_validation_accuracy"))) : "-";
        std::printf("%-44s %-10s %-14s %-9s %-12s %8s %12s  %s\n", d.string().c_str(), get("method").c_str(),
                    (get("dataset") + " " + get("ways") + "w" + get("shots") + "s").c_str(), ("conv4-" + get("hidden")).c_str(),
                    (r("meta_steps_done") + "/" + get("iterations")).c_str(), "-", best.c_str(), state.c_str());
        continue;
      }
      std::string total = get("generations");
      if (c.count("glo_generations"))  // glo: the GP generations plus the CMA-ES ones
        total = std::to_string(std::stoll(total) + std::stoll(c.at("glo_generations")));
      std::string state = search::run_in_use(db) ? "running" : (std::to_string(gens.size()) == total ? "complete" : "interrupted");
      if (state == "complete" && !s.results().count("test_error")) state = "complete (no meta-test)";
      std::printf("%-44s %-10s %-14s %-9s %-12s %8lld %12s  %s\n", d.string().c_str(), get("method").c_str(),
                  get("dataset").c_str(), get("model").c_str(), (std::to_string(gens.size()) + "/" + total).c_str(),
                  (long long)trained, hof.empty() ? "-" : ("err " + pct(hof.front().fitness)).c_str(), state.c_str());
    } catch (const std::exception& e) {
      std::printf("%-44s unreadable: %s\n", d.string().c_str(), e.what());
    }
  }
  return 0;
}

int runs_show(const std::string& dir) {
  const std::string db = store_path(run_dir_of(dir));
  RunStore s(db, false);
  std::printf("run %s (%s), configuration hash %s\n", dir.c_str(), search::run_in_use(db) ? "running" : "not running",
              s.config_hash().c_str());
  for (const auto& [k, v] : s.config()) std::printf("  %-13s %s\n", k.c_str(), v.c_str());
  std::printf("\nsessions:\n");
  for (const auto& ss : s.sessions())
    std::printf("  %d  %s .. %s  %s\n", ss.id, ss.started.c_str(), ss.finished.empty() ? "(did not finish)" : ss.finished.c_str(),
                ss.command.c_str());
  {  // where the candidates were trained, per session (a run may be resumed on other devices)
    std::map<int, std::map<std::string, int>> where;
    for (const auto& r : s.candidates())
      if (!r.cached) ++where[r.session][r.device];
    for (const auto& [session, devs] : where) {
      std::string line;
      for (const auto& [d, n] : devs) line += (line.empty() ? "" : ", ") + d + " " + std::to_string(n);
      std::printf("  session %d trained on: %s\n", session, line.c_str());
    }
  }
  const auto gens = s.generations();
  std::printf("\n%-10s %9s %9s %9s %9s %7s %7s %9s %8s\n", "generation", "best", "mean", "evaluated", "rejected",
              "failed", "cached", "seconds", "session");
  // Of the candidates trained or filtered here (not cache hits): rejected by the rejection protocol
  // (GP methods, before any training), or failed otherwise (diverged, timed out, worker died).
  std::map<int, int> rejected, failed;
  for (const auto& r : s.candidates()) {
    if (r.outcome == search::Outcome::Rejected) ++rejected[r.generation];
    if (r.outcome == search::Outcome::Failed) ++failed[r.generation];
  }
  for (const auto& g : gens)
    std::printf("%-10d %9s %9s %9d %9d %7d %7d %9.1f %8d\n", g.generation + 1, pct(g.best).c_str(), pct(g.mean).c_str(),
                g.evaluated, rejected[g.generation], failed[g.generation], g.cached, g.seconds, g.session);
  const auto partial = s.candidates(int(gens.size()));
  if (!partial.empty())
    std::printf("(generation %zu interrupted with %zu candidates recorded)\n", gens.size() + 1, partial.size());
  std::printf("\nhall of fame (best distinct losses):\n");
  int rank = 0;
  bool gp = false;  // a symbolic method's hall of fame is also shown simplified
  try {
    gp = s.config().count("method") && search::find_method(s.config().at("method")).symbolic();
  } catch (const std::invalid_argument&) {
  }
  for (const auto& h : s.hall_of_fame()) {
    std::printf("  %2d  %8s  candidate %d/%d  %s\n", ++rank, pct(h.fitness).c_str(), h.generation + 1, h.index,
                h.genome.c_str());
    if (!gp) continue;
    // GLO's CMA-ES phase: "TREE @ [weights per edge]"; the tree is simplified with the weights
    // left out (and says so), as best_loss.tex does.
    const size_t at = h.genome.find(" @ ");
    const std::string tree = h.genome.substr(0, at);
    try {
      const std::string simple = losses::simplify(losses::Expression::parse(tree)).text;
      if (at != std::string::npos) std::printf("%16s simplified, edge weights left out: %s\n", "", simple.c_str());
      else if (simple != h.genome) std::printf("%16s simplified: %s\n", "", simple.c_str());
    } catch (const std::exception&) {
    }
  }
  const auto results = s.results();
  if (!results.empty()) {
    std::printf("\nresults:\n");
    for (const auto& [k, v] : results) std::printf("  %-22s %s\n", k.c_str(), v.c_str());
  }
  return 0;
}

int runs_export(const RunsArgs& a) {
  RunStore s(store_path(run_dir_of(a.run)), false);
  if (a.loss_rank > 0) {  // one hall-of-fame entry as a loss file
    const auto hall = s.hall_of_fame();
    if (size_t(a.loss_rank) > hall.size())
      throw UsageError("runs export --loss " + std::to_string(a.loss_rank) + ": the hall of fame of " + a.run + " holds " +
                       std::to_string(hall.size()) + " entries");
    if (a.out.empty()) throw UsageError("runs export --loss needs -o FILE (a .safetensors loss file)");
    const losses::LossFile f = search::candidate_loss(hall[size_t(a.loss_rank - 1)], s.config(), run_dir_of(a.run));
    losses::save_loss_file(a.out, f);
    std::fprintf(stderr, "wrote %s: hall-of-fame rank %d, %s\n", a.out.c_str(), a.loss_rank, f.formula().c_str());
    return 0;
  }
  search::Table t = a.table == "generations"   ? search::generation_table(s.generations())
            : a.table == "hall_of_fame" ? search::candidate_table(s.hall_of_fame())
            : a.table == "results"      ? search::results_table(s.results())
                                        : search::candidate_table(s.candidates());
  if (!a.columns.empty()) {  // keep the named columns, in the order given
    search::Table k;
    std::stringstream ss(a.columns);
    std::string name;
    std::vector<size_t> pick;
    while (std::getline(ss, name, ',')) {
      const auto it = std::find(t.columns.begin(), t.columns.end(), name);
      if (it == t.columns.end()) {
        std::string known;
        for (const auto& col : t.columns) known += (known.empty() ? "" : ", ") + col;
        throw UsageError("runs export --columns: no column '" + name + "' in table " + a.table + " (columns: " +
                                    known + ")");
      }
      pick.push_back(size_t(it - t.columns.begin()));
      k.columns.push_back(name);
      k.numeric.push_back(t.numeric[pick.back()]);
    }
    for (const auto& r : t.rows) {
      std::vector<std::string> row;
      for (size_t i : pick) row.push_back(r[i]);
      k.rows.push_back(std::move(row));
    }
    t = std::move(k);
  }
  if (a.out.empty()) {
    search::write_table(std::cout, t, a.format);
    return 0;
  }
  std::ostringstream f;
  search::write_table(f, t, a.format);
  data::write_file(a.out, f.str());
  std::fprintf(stderr, "wrote %zu rows to %s\n", t.rows.size(), a.out.c_str());
  return 0;
}

void add_placement_options(CLI::App* c, Placement& p) {
  c->add_option("--device", p.device, std::string(kDeviceHelp) + "; also the workers' device unless --devices is given")
      ->capture_default_str();
  c->add_option("--devices", p.devices,
                "the worker processes' (or MPI ranks') devices in turn, comma-separated (e.g. cuda:0,cuda:1), or "
                "cuda for every visible GPU; where each candidate ran is recorded in the run store");
}

}  // namespace

SearchCommands add_search_commands(CLI::App& app, SearchArgs& a, ResumeArgs& r, RunsArgs& runs) {
  SearchCommands sc{};
  auto* c = sc.search = app.add_subcommand(
      "search", "Search a population of loss functions (TaylorGLO: CMA-ES over a Taylor polynomial; EvoMAL, GP-LFL, GLO: genetic programming over expressions) with a crash-safe run store");
  std::string methods;  // "taylorglo (CMA-ES over a Taylor polynomial), evomal (GP + local search), ..."
  for (const std::string& m : search::method_names())
    methods += (methods.empty() ? "" : ", ") + m + " (" + search::find_method(m).summary() + ")";
  c->add_option("--method", a.s.method, methods)->check(CLI::IsMember(search::method_names()))->capture_default_str();
  c->add_option("--glo-generations", a.s.glo_generations, "glo: CMA-ES generations after the GP generations")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--glo-sigma", a.s.glo_sigma, "glo: CMA-ES step size around unit weights")->check(CLI::PositiveNumber)->capture_default_str();
  c->add_option("--dataset", a.s.problem.dataset, "fashion-mnist, mnist or cifar10 (the last two need --data-dir)")
      ->check(CLI::IsMember({"fashion-mnist", "mnist", "cifar10"}))->capture_default_str();
  c->add_option("--data-dir", a.s.problem.data_dir, "folder with the dataset files");
  c->add_option("--model", a.s.problem.model, "base model from the zoo (default logistic; allcnn_c for cifar10)");
  c->add_option("--seed", a.s.seed, "run seed: split, CMA-ES, and every candidate's seed (from seed, generation, index)")->check(kSeedCheck)->capture_default_str();
  c->add_option("--generations", a.s.generations, "CMA-ES generations")->check(CLI::PositiveNumber)->capture_default_str();
  c->add_option("--population", a.s.population, "candidates per generation (default 20 taylorglo, 25 evomal/gplfl)")
      ->check(CLI::Range(2, 100000));
  c->add_option("--sigma", a.s.sigma, "CMA-ES initial step size")->check(CLI::PositiveNumber)->capture_default_str();
  c->add_option("--steps", a.s.steps, "base-training steps per candidate: the fitness run (default 1000 taylorglo, 500 evomal/gplfl)")
      ->check(CLI::PositiveNumber);
  c->add_option("--meta-steps", a.s.meta_steps, "evomal: local-search steps (Adam on the edge weights, unrolled)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--rejection-steps", a.s.rejection_steps, "evomal/gplfl: steps of the rejection protocol (0: off)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--rejection-samples", a.s.rejection_samples, "evomal/gplfl: predictions the rejection protocol optimises")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--rejection-lr", a.s.rejection_lr, "evomal/gplfl: SGD step on those predictions")->check(CLI::PositiveNumber)->capture_default_str();
  c->add_option("--simplify", a.s.simplify,
                "evomal/gplfl/glo: fitness-cache key: ginac (symbolically equal trees share a result, as the "
                "thesis; for evomal their edge-weight families differ, so this is an approximation) or canonical "
                "(exact: only argument order of add/mul/min/max ignored); default ginac when built with GiNaC")
      ->check(CLI::IsMember({"ginac", "canonical"}));
  c->add_option("--equivalence-tol", a.s.equivalence_tol, "evomal/gplfl: gradient-equivalence filter tolerance (0: off)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--crossover", a.s.crossover, "GP crossover probability")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  c->add_option("--mutation", a.s.mutation, "GP mutation probability")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  c->add_option("--elitism", a.s.elitism, "GP: fraction of the best kept unchanged")->check(CLI::Range(0.0, 0.99))->capture_default_str();
  c->add_option("--max-height", a.s.max_height, "GP: tree height limit")->check(CLI::Range(4, 40))->capture_default_str();
  c->add_option("--seed-expr", a.s.seed_exprs, "GP: an expression for the initial population, e.g. \"mul(-1, mul(y, log(f)))\" (repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  c->add_option("--test-steps", a.s.test_steps, "steps of the final from-scratch training with the best loss and with CE (default: --steps)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--test-seeds", a.s.test_seeds, "seeds of the meta-test, comma-separated (default: --seed)");
  c->add_option("--lr", a.s.lr, "base SGD learning rate")->check(kFiniteCheck)->check(CLI::PositiveNumber)->capture_default_str();
  c->add_option("--batch-size", a.s.batch_size, "examples per step")->check(CLI::PositiveNumber)->capture_default_str();
  c->add_option("--val-fraction", a.s.problem.val_fraction, "stratified validation split scoring the candidates")->check(kFiniteCheck)
      ->check(CLI::Range(0.01, 0.9))->capture_default_str();
  c->add_option("--threads", a.s.threads, "CPU threads per evaluation (part of the configuration: results are identical "
                                        "for any --workers)")->check(CLI::PositiveNumber)->capture_default_str();
  c->add_option("--time-limit", a.s.time_limit, "seconds of training per candidate; over it the candidate fails (0: none)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--workers", a.workers, "local worker processes evaluating candidates in parallel (1: in this process)")
      ->check(CLI::Range(1, 1024))->capture_default_str();
  c->add_flag("--mpi", a.mpi, "evaluate on MPI ranks 1..N-1 (start with mpirun -np N); needs a METALOSS_MPI build");
  add_placement_options(c, a.place);
  c->add_option("--out", a.out, "run folder (default runs/search-METHOD-DATASET-MODEL); an existing run there with "
                                "the same configuration is continued, a different one refused");
  c->add_option("--metrics", a.metrics, "JSON-lines metrics file: every candidate, generation and meta-test (default "
                                        "RUN/metrics.jsonl; a resumed run appends, a fresh one starts it anew)")->check(kWritableFileCheck);

  sc.resume = app.add_subcommand("resume", "Continue an interrupted search from its run store (RUN_DIR/run.db)");
  sc.resume->add_option("run", r.dir, "the run folder")->required();
  sc.resume->add_option("--workers", r.workers, "local worker processes")->check(CLI::Range(1, 1024))->capture_default_str();
  sc.resume->add_flag("--mpi", r.mpi, "evaluate on MPI ranks (start with mpirun -np N)");
  add_placement_options(sc.resume, r.place);
  sc.resume->add_option("--metrics", r.metrics, "JSON-lines metrics file (default RUN/metrics.jsonl, appended)")->check(kWritableFileCheck);
  sc.resume->add_option("--generations", r.generations,
                        "extend the run to this many generations (more than recorded; not for glo)")
      ->check(CLI::PositiveNumber);

  sc.worker = app.add_subcommand("search-worker", "");  // hidden: started by `search --workers N`
  sc.worker->group("");
  sc.worker->add_option("--device", a.place.device, "where this worker trains");

  sc.runs = app.add_subcommand("runs", "Inspect search runs: `runs list [DIR]`, `runs show RUN_DIR`, `runs export RUN_DIR`");
  sc.runs->require_subcommand(1);
  sc.runs_list = sc.runs->add_subcommand("list", "One line per run under DIR (default runs)");
  sc.runs_list->add_option("dir", runs.dir, "folder holding run folders")->capture_default_str();
  sc.runs_show = sc.runs->add_subcommand("show", "Configuration, sessions, fitness per generation, hall of fame, results");
  sc.runs_show->add_option("run", runs.run, "the run folder")->required();
  sc.runs_export = sc.runs->add_subcommand("export", "Write a table of the run as CSV or JSON");
  sc.runs_export->add_option("run", runs.run, "the run folder")->required();
  sc.runs_export->add_option("--format", runs.format, "csv or json")->check(CLI::IsMember({"csv", "json"}))->capture_default_str();
  sc.runs_export->add_option("--table", runs.table, "candidates (with each one's outcome: trained, rejected, failed, cached, equivalent), generations, hall_of_fame or results (the meta-test)")
      ->check(CLI::IsMember({"candidates", "generations", "hall_of_fame", "results"}))->capture_default_str();
  sc.runs_export->add_option("-o,--out", runs.out, "output file (default: standard output)");
  sc.runs_export->add_option("--columns", runs.columns, "comma-separated columns to keep (default: all)");
  sc.runs_export->add_option("--loss", runs.loss_rank, "write hall-of-fame entry RANK (1 = best) as a loss file to -o FILE "
                                                       "instead of a table")->check(CLI::PositiveNumber);
  return sc;
}

bool wants_mpi(const SearchCommands& c, const SearchArgs& s, const ResumeArgs& r) {
  return (c.search->parsed() && s.mpi) || (c.resume->parsed() && r.mpi);
}

int run_search_command(const SearchCommands& c, const SearchArgs& a, const ResumeArgs& r, const RunsArgs& runs,
                       const std::string& command_line) {
  if (c.worker->parsed()) {
    const Device d = parse_device_option(a.place.device, "search-worker --device");
    return search::serve_worker(0, 1, [d](const std::string& init) { return eval_fn_from_init(init, d); },
                                "search-worker");
  }
  if (c.runs_list->parsed()) return runs_list(runs.dir);
  if (c.runs_show->parsed()) return runs_show(runs.run);
  if (c.runs_export->parsed()) return runs_export(runs);
  const bool mpi = wants_mpi(c, a, r);
  if (mpi && mpi_rank() > 0) {  // this rank's device, by the rule the master uses (rank_device)
    const Placement& p = c.resume->parsed() ? r.place : a.place;
    std::string mine = p.device;  // only this rank's own device is checked here, not the master's
    if (!p.devices.empty()) {
      const std::vector<Device> list = parse_devices_option(p.devices, "--devices");
      mine = list[size_t(mpi_rank() - 1) % list.size()].str();
    }
    const Device d = parse_device_option(mine, "--device");
    return mpi_serve([d](const std::string& init) { return eval_fn_from_init(init, d); });
  }
  if (mpi && mpi_size() < 2)
    throw UsageError("--mpi needs at least 2 ranks (rank 0 runs the search, the others evaluate): "
                                "start it with mpirun -np N, N >= 2");
  if (c.search->parsed()) {
    if (a.mpi && a.workers > 1) throw UsageError("--workers and --mpi exclude each other");
    const Devices devices = resolve_placement(a.place, a.workers, a.mpi);
    RunConfig cfg = as_usage("", [&] { return search::make_run_config(a.s); });
    const std::string dir = a.out.empty() ? "runs/search-" + a.s.method + "-" + a.s.problem.dataset + "-" + cfg.at("model") : a.out;
    fs::create_directories(dir);
    RunStore store(store_path(dir), true);
    // A run from before the "simplify" key keyed its cache by the canonical text: the same as
    // "canonical" now (a GiNaC build differs, and is refused below with the difference named).
    if (store.has_config() && cfg.count("simplify") && cfg.at("simplify") == "canonical" &&
        !store.config().count("simplify"))
      cfg.erase("simplify");
    try {
      store.set_config(cfg);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string(e.what()) + "\nresume it as it was with `metaloss resume " + dir +
                                  "`, or choose another --out");
    }
    return drive(store, cfg, dir, a.workers, a.mpi, devices, command_line, a.metrics, /*setup_is_usage=*/true);
  }
  // resume
  if (r.mpi && r.workers > 1) throw UsageError("--workers and --mpi exclude each other");
  const Devices devices = resolve_placement(r.place, r.workers, r.mpi);
  RunStore store(store_path(run_dir_of(r.dir)), true);
  if (!store.has_config()) throw std::runtime_error("run " + r.dir + " has no configuration recorded: nothing to resume");
  RunConfig cfg = store.config();
  if (c.resume->count("--device") == 0 && c.resume->count("--devices") == 0) {  // a silent change of device is said
    std::string last;
    for (const auto& x : store.candidates())
      if (!x.cached && !x.device.empty()) last = x.device;
    if (!last.empty() && last != devices.main.str())
      std::fprintf(stderr, "note: %s last trained on %s; resuming on %s (--device or --devices to choose)\n",
                   r.dir.c_str(), last.c_str(), devices.main.str().c_str());
  }
  if (search::config_hash(cfg) != store.config_hash())
    throw std::runtime_error("run " + r.dir + ": its configuration no longer matches its hash " + store.config_hash() +
                                " (was the store edited?); refusing to resume");
  if (r.generations > 0 && std::to_string(r.generations) != cfg.at("generations")) {
    // More generations continue the same trajectory: the optimisers' ask/tell and every candidate's
    // seed depend on the generation index only, never on the total. GLO switches from GP to CMA-ES
    // at the GP total, so its generations cannot change; fewer generations would orphan records.
    const int had = int(search::need_int(cfg, "generations"));
    const std::string why = as_usage("", [&] { return search::find_method(search::need(cfg, "method")).why_not_extendable(cfg); });
    if (!why.empty()) throw UsageError("resume --generations: " + why);
    if (r.generations < had)
      throw UsageError("resume --generations " + std::to_string(r.generations) + ": the run has " +
                                  std::to_string(had) + " generations; a run can only be extended");
    store.amend_config("generations", std::to_string(r.generations));
    if (store.results().count("status")) store.set_result("status", "extending");  // not final until it ends
    cfg = store.config();
    std::fprintf(stderr, "extending %s from %d to %d generations\n", r.dir.c_str(), had, r.generations);
  }

  return drive(store, cfg, r.dir, r.workers, r.mpi, devices, command_line, r.metrics, /*setup_is_usage=*/false);
}

}  // namespace metaloss::app
