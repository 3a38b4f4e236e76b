#include "meta/fewshot/meta_train.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>

#include "engine/allocator.h"
#include "meta/progress.h"
#include "models/optim.h"
#include "models/safetensors.h"

namespace metaloss::fewshot {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string num(double v) {
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

NamedTensors clone_all(const NamedTensors& src) {
  NamedTensors out;
  for (const auto& [k, t] : src) out.emplace_back(k, t.detach().clone());
  return out;
}

// Everything a resumed run needs, in one safetensors file written atomically (temp file, fsync,
// rename): the meta-parameters, the best state so far, Adam's moments, the counters.
struct Checkpoint {
  int64_t iteration = 0, best_iteration = 0, adam_t = 0;
  double best_val = -1, train_seconds = 0;
  std::vector<ValidationPoint> validation;
};

std::string checkpoint_path(const std::string& dir) { return (std::filesystem::path(dir) / "checkpoint.safetensors").string(); }

void save_checkpoint(const std::string& dir, const Learner& l, const NamedTensors& best, const AdamState& adam,
                     const Checkpoint& c, const std::string& config_hash) {
  NamedTensors t;
  const NamedTensors& meta = l.meta_parameters();
  for (size_t i = 0; i < meta.size(); ++i) {
    t.emplace_back("meta/" + meta[i].first, meta[i].second);
    t.emplace_back("best/" + meta[i].first, best[i].second);
    if (adam.m[i].defined()) {
      t.emplace_back("adam_m/" + meta[i].first, adam.m[i]);
      t.emplace_back("adam_v/" + meta[i].first, adam.v[i]);
    }
  }
  std::string val;
  for (const ValidationPoint& v : c.validation) {  // "step:accuracy:ci95;..."
    if (!val.empty()) val += ';';
    val.append(std::to_string(v.step)).append(":").append(num(v.accuracy)).append(":").append(num(v.ci95));
  }
  save_safetensors(checkpoint_path(dir), t,
                   {{"config_hash", config_hash}, {"iteration", std::to_string(c.iteration)},
                    {"best_iteration", std::to_string(c.best_iteration)}, {"adam_t", std::to_string(adam.t)},
                    {"best_val", num(c.best_val)}, {"train_seconds", num(c.train_seconds)}, {"validation", val}},
                   /*checksum=*/true);
}

// Loads a checkpoint into the learner, `best` and `adam`; false when there is none. A checkpoint
// of another configuration is an error (it would silently continue a different experiment).
bool load_checkpoint(const std::string& dir, Learner& l, NamedTensors& best, Adam& adam, Checkpoint& c,
                     const std::string& config_hash) {
  const std::string path = checkpoint_path(dir);
  if (!std::filesystem::exists(path)) return false;
  const SafetensorsFile f = load_safetensors(path);
  auto meta = [&](const std::string& k) {
    const auto it = f.metadata.find(k);
    if (it == f.metadata.end()) throw std::runtime_error("few-shot checkpoint " + path + ": no metadata '" + k + "'");
    return it->second;
  };
  if (meta("config_hash") != config_hash)
    throw std::invalid_argument("few-shot checkpoint " + path + " was written by another configuration (hash " +
                                meta("config_hash") + ", now " + config_hash + ")");
  std::map<std::string, Tensor> by;
  for (const auto& [k, t] : f.tensors) by[k] = t;
  auto group = [&](const std::string& prefix, bool required) {
    NamedTensors out;
    for (const auto& [name, t] : l.meta_parameters()) {
      const auto it = by.find(prefix + name);
      if (it == by.end()) {
        if (required) throw std::runtime_error("few-shot checkpoint " + path + ": no tensor '" + prefix + name + "'");
        out.emplace_back(name, Tensor());
      } else {
        out.emplace_back(name, it->second);
      }
    }
    return out;
  };
  l.load_meta_parameters(group("meta/", true));
  best = clone_all(group("best/", true));
  // Adam's moments exist only for the tensors it has stepped; any other name in the file (a
  // renamed tensor) is an error, not a moment silently left undefined.
  {
    std::set<std::string> known;
    for (const auto& [name, t] : l.meta_parameters())
      for (const char* prefix : {"meta/", "best/", "adam_m/", "adam_v/"}) known.insert(prefix + name);
    for (const auto& [k, t] : by)
      if (!known.count(k))
        throw std::runtime_error("few-shot checkpoint " + path + ": unexpected tensor '" + k +
                                 "' (not a meta-parameter of this learner, its best state or its Adam moments)");
  }
  AdamState s;
  for (const auto& [name, t] : group("adam_m/", false)) s.m.push_back(t);
  for (const auto& [name, t] : group("adam_v/", false)) s.v.push_back(t);
  s.t = std::stoll(meta("adam_t"));
  adam.load_state(s);
  c.iteration = std::stoll(meta("iteration"));
  c.best_iteration = std::stoll(meta("best_iteration"));
  c.best_val = std::stod(meta("best_val"));
  c.train_seconds = std::stod(meta("train_seconds"));
  const std::string v = meta("validation");
  for (size_t p = 0; p < v.size();) {
    size_t e = v.find(';', p);
    if (e == std::string::npos) e = v.size();
    const std::string item = v.substr(p, e - p);
    const size_t colon = item.find(':'), colon2 = item.find(':', colon + 1);
    if (colon == std::string::npos) throw std::runtime_error("few-shot checkpoint " + path + ": bad validation entry '" + item + "'");
    // Checkpoints before the confidence interval was kept hold "step:accuracy".
    c.validation.push_back({std::stoll(item.substr(0, colon)), std::stod(item.substr(colon + 1, colon2 - colon - 1)),
                            colon2 == std::string::npos ? NAN : std::stod(item.substr(colon2 + 1))});
    p = e + 1;
  }
  return true;
}

}  // namespace

Evaluation evaluate(const Learner& learner, const data::EpisodeSampler& sampler, int64_t tasks) {
  Evaluation e;
  double loss = 0;
  for (int64_t i = 0; i < tasks; ++i) {
    const data::Episode ep = data::to_device(sampler.episode(i), learner.device());
    const Adapted a = learner.adapt(ep, false);
    NoGrad ng;
    const QueryResult q = learner.query(a, ep);
    e.accuracies.push_back(q.accuracy);
    loss += q.loss.item();
  }
  double s = 0;
  for (double a : e.accuracies) s += a;
  e.accuracy = tasks > 0 ? s / double(tasks) : 0;
  e.loss = tasks > 0 ? loss / double(tasks) : 0;
  e.ci95 = ci95(e.accuracies);
  return e;
}

std::pair<double, double> meta_gradient(const Learner& learner, const data::EpisodeSampler& train, int64_t first,
                                        int64_t meta_batch) {
  double loss = 0, acc = 0;
  for (int64_t t = 0; t < meta_batch; ++t) {
    const data::Episode ep = data::to_device(train.episode(first + t), learner.device());
    const Adapted a = learner.adapt(ep, true);
    const QueryResult q = learner.query(a, ep);
    // One backward per task: only one task's unrolled graph is alive at a time.
    backward({mul(q.loss, 1.0 / double(meta_batch))});
    loss += q.loss.item() / double(meta_batch);
    acc += q.accuracy / double(meta_batch);
  }
  return {loss, acc};
}

MetaTrainResult meta_train(Learner& learner, const data::EpisodeSampler& train, const data::EpisodeSampler& valid,
                           const data::EpisodeSampler& test, const MetaTrainOptions& o, const std::string& config_hash,
                           search::RunStore* store) {
  if (o.iterations < 0 || o.meta_batch < 1 || o.val_tasks < 1 || o.test_tasks < 1)
    throw std::invalid_argument("meta_train: need iterations >= 0, meta_batch >= 1, val_tasks >= 1, test_tasks >= 1");
  MetaTrainResult r;
  AdamOptions ao;
  ao.lr = o.meta_lr;
  Adam adam(learner.meta_tensors(), ao);
  NamedTensors best = clone_all(learner.meta_parameters());
  Checkpoint c;
  if (!o.run_dir.empty() && load_checkpoint(o.run_dir, learner, best, adam, c, config_hash))
    std::fprintf(stderr, "resuming from %s: meta-step %lld of %lld, best validation accuracy %.2f%% (meta-step %lld)\n",
                 checkpoint_path(o.run_dir).c_str(), (long long)c.iteration, (long long)o.iterations,
                 100 * std::max(0.0, c.best_val), (long long)c.best_iteration);
  auto validate = [&](int64_t it) {
    const Evaluation v = evaluate(learner, valid, o.val_tasks);
    if (!std::isfinite(v.loss))  // NaN logits would score chance accuracy and could even be kept
      throw std::runtime_error("meta-step " + std::to_string(it) + ": the meta-validation query loss is " + num(v.loss) +
                               " (the learner diverged)");
    c.validation.push_back({it, v.accuracy, v.ci95});
    const bool better = v.accuracy > c.best_val;
    if (better) {
      c.best_val = v.accuracy;
      c.best_iteration = it;
      best = clone_all(learner.meta_parameters());
    }
    std::fprintf(stderr, "%smeta-step %lld: validation accuracy %.2f%% +- %.2f%% over %lld tasks%s\n",
                 Progress::is_terminal(stderr) ? "\r\033[K" : "", (long long)it, 100 * v.accuracy, 100 * v.ci95,
                 (long long)o.val_tasks, better ? " (best so far, kept)" : "");
    if (store) store->set_result("validation_accuracy_step_" + std::to_string(it), num(v.accuracy));
    if (o.metrics)
      o.metrics->write({{"meta_step", double(it)}, {"accuracy", v.accuracy}, {"ci95", v.ci95}, {"loss", v.loss},
                        {"tasks", double(o.val_tasks)}, {"best", better ? 1.0 : 0.0}},
                       {{"event", "validation"}});
  };
  const auto t0 = Clock::now();
  const double seconds_before = c.train_seconds;
  auto checkpoint = [&](int64_t it) {
    c.iteration = it;
    c.train_seconds = seconds_before + since(t0);
    if (!o.run_dir.empty()) save_checkpoint(o.run_dir, learner, best, adam.state(), c, config_hash);
    if (store) store->set_result("meta_steps_done", std::to_string(it));  // progress for `runs list`
  };
  const int64_t start = c.iteration;
  double interval_loss = 0, interval_acc = 0;
  int64_t interval_n = 0;
  {
    Progress bar("meta-train " + learner.config().method, o.iterations, std::max<int64_t>(1, o.iterations / 20));
    for (int64_t it = start; it < o.iterations; ++it) {
      // Cosine decay from meta_lr to meta_lr_min over the run.
      const double cosv = 0.5 * (1 + std::cos(M_PI * double(it) / double(std::max<int64_t>(1, o.iterations))));
      adam.set_lr(o.meta_lr_min + (o.meta_lr - o.meta_lr_min) * cosv);
      adam.zero_grad();
      if (it == start) Allocator::reset_peak();
      const auto [loss, acc] = meta_gradient(learner, train, it * o.meta_batch, o.meta_batch);
      if (it == start) r.peak_meta_step_bytes = Allocator::stats().peak_bytes_in_use;
      // A non-finite loss or meta-gradient stops the run before it reaches the parameters (and
      // a checkpoint): the last checkpoint stays the last good state.
      const double norm = clip_grad_norm_(learner.meta_tensors(), o.clip > 0 ? o.clip : INFINITY);
      if (!std::isfinite(loss) || !std::isfinite(norm))
        throw std::runtime_error("meta-step " + std::to_string(it + 1) + ": the query loss is " + num(loss) +
                                 " and the meta-gradient norm " + num(norm) +
                                 (o.run_dir.empty() ? std::string() : "; the last checkpoint in " + o.run_dir + " is kept") +
                                 " (a smaller --meta-lr or --inner-lr may help, in a new --out folder)");
      adam.step();
      bar.update(it + 1, loss);
      const int64_t done = it + 1;
      interval_loss += loss;
      interval_acc += acc;
      ++interval_n;
      if (o.metrics && (done % std::max<int64_t>(1, o.log_every) == 0 || done == o.iterations)) {
        o.metrics->write({{"meta_step", double(done)}, {"query_loss", interval_loss / double(interval_n)},
                          {"query_accuracy", interval_acc / double(interval_n)}, {"meta_grad_norm", norm},
                          {"meta_lr", adam.lr()}, {"seconds", seconds_before + since(t0)}},
                         {{"event", "meta-train"}});
        interval_loss = interval_acc = 0;
        interval_n = 0;
      }
      if (o.val_every > 0 && done % o.val_every == 0) validate(done);
      if (done % std::max<int64_t>(1, o.checkpoint_every) == 0 || done == o.iterations) checkpoint(done);
      if (o.stop_after > 0 && done - start >= o.stop_after && done < o.iterations) {
        checkpoint(done);
        r.stopped = true;
        r.iterations_done = done;
        r.train_seconds = seconds_before + since(t0);
        return r;
      }
    }
    bar.finish();
  }
  if (c.validation.empty() || c.validation.back().step != o.iterations) {
    validate(o.iterations);
    checkpoint(o.iterations);
  }
  r.train_seconds = seconds_before + since(t0);
  r.iterations_done = o.iterations;
  r.best_val_accuracy = c.best_val;
  r.best_iteration = c.best_iteration;
  r.validation = c.validation;
  learner.load_meta_parameters(best);
  const auto t1 = Clock::now();
  r.test = evaluate(learner, test, o.test_tasks);
  r.test_seconds = since(t1);
  if (store) {
    store->set_result("test_accuracy", num(r.test.accuracy));
    store->set_result("test_ci95", num(r.test.ci95));
    store->set_result("test_tasks", std::to_string(o.test_tasks));
    store->set_result("best_validation_accuracy", num(r.best_val_accuracy));
    store->set_result("best_iteration", std::to_string(r.best_iteration));
    store->set_result("train_seconds", num(r.train_seconds));
    store->set_result("test_seconds", num(r.test_seconds));
    store->set_result("status", "complete");
  }
  return r;
}

}  // namespace metaloss::fewshot
