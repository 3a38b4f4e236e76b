#include "meta/search/population.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cmath>
#include <map>
#include <stdexcept>

namespace metaloss::search {

uint64_t candidate_seed(uint64_t run_seed, int generation, int index) {
  auto mix = [](uint64_t z) {  // splitmix64
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  return mix(mix(mix(run_seed) ^ uint64_t(uint32_t(generation))) ^ (uint64_t(uint32_t(index)) << 32));
}

Evaluation guarded_evaluation(uint64_t seed, const std::function<void(Evaluation&)>& body) {
  Evaluation e;
  e.seed = seed;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    body(e);
    e.status = "ok";
  } catch (const CandidateRejected& ex) {
    e.fitness = 1;
    e.status = "failed";
    e.rejected = true;
    e.reason = ex.what();
    e.params.clear();
  } catch (const std::exception& ex) {
    e.fitness = 1;
    e.status = "failed";
    e.reason = ex.what();
    e.params.clear();
  }
  e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return e;
}

void SerialEvaluator::evaluate(const std::vector<EvalJob>& jobs,
                               const std::function<void(size_t, const Evaluation&)>& done) {
  for (size_t i = 0; i < jobs.size(); ++i) {
    Evaluation e = fn_(jobs[i].genome, jobs[i].seed);
    e.seed = jobs[i].seed;
    if (e.worker.empty()) e.worker = "local";
    e.device = device_;
    done(i, e);
  }
}

std::string exact_numbers(const std::vector<double>& v, const char* sep) {
  std::string s;
  char buf[40];
  for (size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%.17g", v[i]);
    s += (i ? sep : "") + std::string(buf);
  }
  return s;
}

namespace {

std::string params_json(const std::vector<double>& p) { return "[" + exact_numbers(p) + "]"; }

constexpr const char* kSame = "same genome as";
constexpr const char* kSymbolic = "symbolically equal to";
constexpr const char* kEquivalent = "gradient-equivalent to";

bool same_signature(const std::vector<double>& a, const std::vector<double>& b, double tol) {
  if (a.empty() || a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return false;
    // Relative, with a tiny absolute floor: components that are zero up to rounding still match.
    if (std::abs(a[i] - b[i]) > tol * std::max(std::abs(a[i]), std::abs(b[i])) + 1e-9) return false;
  }
  return true;
}

// Results worth reusing for an equivalent genome: trainings only. (A rejection is left to each
// candidate's own rejection protocol, and a time-out or crash says nothing about the loss.)
bool archivable(const CandidateRecord& r) { return !r.cached && r.status == "ok"; }

GenerationLog summarise(int g, const std::vector<CandidateRecord>& recs, double seconds) {
  GenerationLog log;
  log.generation = g;
  log.seconds = seconds;
  double sum = 0;
  int ok = 0;
  log.best = 1;
  for (const auto& r : recs) {
    log.best = std::min(log.best, r.fitness);
    if (r.cached) ++log.cached;
    else ++log.evaluated;
    if (r.status != "ok") ++log.failed;
    else {
      sum += r.fitness;
      ++ok;
    }
  }
  log.mean = ok ? sum / ok : 1;
  return log;
}

}  // namespace

SearchOutcome run_population_search(PopulationOptimizer& opt, Evaluator& ev, RunStore& store,
                                    const SearchLoopOptions& opts,
                                    const std::function<void(const CandidateRecord&)>& on_candidate,
                                    const std::function<void(const GenerationLog&)>& on_generation) {
  if (opts.generations < 1) throw std::invalid_argument("population search: generations must be >= 1");
  SearchOutcome out;
  const std::vector<GenerationRecord> done = store.generations();
  for (size_t i = 0; i < done.size(); ++i)
    if (done[i].generation != int(i))
      throw std::runtime_error("run store " + store.path() + ": generation " + std::to_string(i) +
                               " is missing (found " + std::to_string(done[i].generation) + ")");
  if (!done.empty()) opt.load_state(done.back().optimizer_state);
  out.resumed_from = int(done.size());
  for (const auto& g : done)
    out.generations.push_back({g.generation, g.best, g.mean, g.failed, g.cached, g.evaluated, g.seconds});
  out.session = store.begin_session(opts.command);

  // The cache key of a genome (opts.cache_key, memoised: it may be a symbolic simplification).
  std::map<std::string, std::string> keys;
  auto key_of = [&](const std::string& genome) -> const std::string& {
    auto it = keys.find(genome);
    if (it == keys.end()) it = keys.emplace(genome, opts.cache_key ? opts.cache_key(genome) : genome).first;
    return it->second;
  };
  // The fitness cache: key -> the first evaluation (in (generation, index) order).
  std::map<std::string, CandidateRecord> cache;
  std::map<int, std::vector<CandidateRecord>> recorded;  // generations not completed yet
  for (auto& c : store.candidates()) {
    if (c.generation >= int(done.size())) {
      recorded[c.generation].push_back(c);
      continue;
    }
    if (!c.cached) cache.emplace(key_of(c.genome), c);
  }
  for (const auto& kv : recorded)
    if (kv.first != int(done.size()))
      throw std::runtime_error("run store " + store.path() + ": candidates of generation " + std::to_string(kv.first) +
                               " but generation " + std::to_string(done.size()) + " is the first incomplete one");

  // The gradient-equivalence archive, in (generation, index) order: rebuilt on resume from the
  // store, so a resumed run filters exactly like an uninterrupted one.
  std::vector<std::pair<std::vector<double>, CandidateRecord>> archive;
  if (opts.signature)
    for (const auto& c : store.candidates())
      if (c.generation < int(done.size()) && archivable(c)) archive.emplace_back(opts.signature(c.genome), c);
  auto equivalent = [&](const std::vector<double>& sig) -> const CandidateRecord* {
    for (const auto& [a, r] : archive)
      if (same_signature(sig, a, opts.signature_tolerance)) return &r;
    return nullptr;
  };

  int64_t session_evaluations = 0;
  for (int g = int(done.size()); g < opts.generations; ++g) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<Candidate> pop = opt.ask();
    const size_t n = pop.size();
    std::vector<CandidateRecord> recs(n);
    std::vector<bool> have(n, false);
    for (const auto& c : recorded[g]) {  // an interrupted generation: what was already recorded
      if (c.index < 0 || size_t(c.index) >= n || pop[size_t(c.index)].genome != c.genome)
        throw std::runtime_error("run store " + store.path() + ": recorded candidate " + std::to_string(g) + "/" +
                                 std::to_string(c.index) +
                                 " does not match the resumed optimiser's population (was the store edited?)");
      recs[size_t(c.index)] = c;
      have[size_t(c.index)] = true;
      ++out.reused;
    }
    // Each remaining candidate: a cache hit, a duplicate of an earlier one in this generation, or a job.
    std::vector<EvalJob> jobs;
    std::vector<int> duplicate_of(n, -1);
    std::map<std::string, int> first_here;  // key -> the first candidate of this generation with it
    std::vector<std::vector<double>> sigs(n);  // of the candidates sent as jobs
    std::vector<int> sent;  // candidates evaluated in this generation so far (recorded or jobs), in order
    auto commit = [&](size_t k, CandidateRecord r) {
      r.session = out.session;
      store.add_candidate(r);
      recs[k] = r;
      have[k] = true;
      if (on_candidate) on_candidate(r);
    };
    auto base_record = [&](size_t k) {
      CandidateRecord r;
      r.generation = g;
      r.index = int(k);
      r.genome = pop[k].genome;
      r.params = params_json(pop[k].params);
      r.seed = candidate_seed(opts.seed, g, int(k));
      return r;
    };
    auto copy_of = [&](size_t k, const CandidateRecord& src, const char* how) {
      CandidateRecord r = base_record(k);
      r.fitness = src.fitness;
      r.status = src.status;
      if (src.genome == r.genome) r.params = src.params;  // another tree's edge weights would not fit this one
      r.outcome = how == kEquivalent ? Outcome::Equivalent : Outcome::Cached;
      r.reason = std::string(how) + " candidate " + std::to_string(src.generation) + "/" + std::to_string(src.index) +
                 (src.reason.empty() ? "" : ": " + src.reason);
      r.worker = "cache";
      r.device = "";  // trained nowhere
      r.cached = true;
      return r;
    };
    for (size_t k = 0; k < n; ++k) {
      const std::string& key = key_of(pop[k].genome);
      const auto here = first_here.find(key);
      if (here == first_here.end()) first_here.emplace(key, int(k));
      if (have[k]) {  // recorded before an interruption: a job then, so later candidates compare with it
        if (opts.signature && !recs[k].cached) {
          sigs[k] = opts.signature(pop[k].genome);
          sent.push_back(int(k));
        }
        continue;
      }
      if (auto it = cache.find(key); it != cache.end()) {
        commit(k, copy_of(k, it->second, it->second.genome == pop[k].genome ? kSame : kSymbolic));
        continue;
      }
      if (here != first_here.end()) {
        duplicate_of[k] = here->second;
        continue;
      }
      if (opts.signature) {
        sigs[k] = opts.signature(pop[k].genome);
        if (const CandidateRecord* eq = equivalent(sigs[k])) {
          commit(k, copy_of(k, *eq, kEquivalent));
          continue;
        }
        bool dup = false;  // equivalent to an earlier job of this generation: wait for its result
        for (int j : sent)
          if (same_signature(sigs[k], sigs[size_t(j)], opts.signature_tolerance)) {
            duplicate_of[k] = j;
            dup = true;
            break;
          }
        if (dup) continue;
      }
      jobs.push_back({g, int(k), pop[k].genome, candidate_seed(opts.seed, g, int(k))});
      sent.push_back(int(k));
    }
    ev.evaluate(jobs, [&](size_t j, const Evaluation& e) {
      const size_t k = size_t(jobs[j].index);
      CandidateRecord r = base_record(k);
      r.fitness = e.fitness;
      r.status = e.status;
      r.reason = e.reason;
      r.seconds = e.seconds;
      r.worker = e.worker;
      r.device = e.device.empty() ? "cpu" : e.device;
      r.outcome = e.status == "ok" ? Outcome::Trained : e.rejected ? Outcome::Rejected : Outcome::Failed;
      if (!e.params.empty()) r.params = e.params;
      commit(k, r);
      ++out.evaluations;
      if (opts.kill_after_evaluations > 0 && ++session_evaluations == opts.kill_after_evaluations) {
        std::fprintf(stderr, "metaloss: fault injection: SIGKILL after %lld evaluations\n",
                     static_cast<long long>(session_evaluations));
        std::raise(SIGKILL);
      }
    });
    for (size_t k = 0; k < n; ++k)
      if (duplicate_of[k] >= 0 && !have[k]) {
        const CandidateRecord& src = recs[size_t(duplicate_of[k])];
        const char* how = src.genome == pop[k].genome                  ? kSame
                          : key_of(src.genome) == key_of(pop[k].genome) ? kSymbolic
                                                                        : kEquivalent;
        commit(k, copy_of(k, src, how));
      }
    for (size_t k = 0; k < n; ++k)
      if (!have[k]) throw std::logic_error("population search: candidate " + std::to_string(k) + " was not evaluated");
    for (const auto& r : recs) {
      if (!r.cached) cache.emplace(key_of(r.genome), r);
      if (opts.signature && archivable(r))
        archive.emplace_back(sigs[size_t(r.index)].empty() ? opts.signature(r.genome) : sigs[size_t(r.index)], r);
    }
    std::vector<double> fitness;
    for (const auto& r : recs) fitness.push_back(r.fitness);
    opt.tell(fitness);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    GenerationLog log = summarise(g, recs, secs);
    GenerationRecord gr{g, log.best, log.mean, log.failed, log.cached, log.evaluated, secs, opt.save_state(),
                        opt.rng_state(), out.session};
    store.complete_generation(gr, opts.hall_of_fame);
    out.generations.push_back(log);
    if (on_generation) on_generation(log);
  }
  store.end_session(out.session);
  const auto hof = store.hall_of_fame();
  if (!hof.empty()) out.best = hof.front();
  else {
    out.best.fitness = 1;
    out.best.status = "failed";
  }
  return out;
}

}  // namespace metaloss::search
