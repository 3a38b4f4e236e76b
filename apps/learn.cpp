#include "apps/learn.h"
#include "apps/usage_error.h"
#include "meta/data/io.h"
#include "meta/losses/loss_file.h"

#include <CLI/CLI.hpp>

#include "apps/cli_checks.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <tuple>
#include <set>
#include <sstream>

#include "engine/runtime.h"
#include "meta/data/data.h"
#include "meta/experiment/problem.h"
#include "meta/learn/adalfl.h"
#include "meta/learn/ml3.h"
#include "meta/learn/plot.h"
#include "meta/stats/stats.h"
#include "meta/train.h"
#include "models/zoo.h"
#include "meta/seeds.h"

namespace metaloss::app {

namespace {

namespace fs = std::filesystem;
using losses::LearnedLoss;
using Mode = losses::LearnedLossConfig::Mode;

// The thesis' MNIST-like budgets (250 meta steps, 10,000 base steps). With them
// `learn --method adalfl --dataset fashion-mnist --model logistic --seeds 0` (offline init,
// online run and baseline) takes about two minutes on 2 cores; bigger models take longer.
constexpr int64_t kDefaultSteps = 10000;
constexpr int64_t kDefaultMetaSteps = 250;          // ML3 (the thesis)
constexpr int64_t kDefaultAdaLFLOfflineSteps = 2500;  // AdaLFL's S_init (arXiv 2301.13247)
// Adam's lr on phi: ML3's 1e-3; for AdaLFL (offline and online) the paper is silent: on
// classification 1e-4 had the lower validation error of the candidates, on regression 1e-3
// (scripts/adalfl_selection.sh, scripts/adalfl_selection_regression.sh, docs/results.md).
constexpr double kDefaultMetaLr = 1e-3, kDefaultAdaLFLMetaLr = 1e-4;

using experiment::is_regression;
using experiment::SeededRun;
using experiment::test_score;
using experiment::train_and_score;

std::vector<uint64_t> parse_seeds(const std::string& text) {
  return as_usage("", [&] { return experiment::parse_seed_list(text, "--seeds"); });
}

// The problem the options describe (dataset, files, validation split, base model).
experiment::Problem problem_of(const LearnArgs& a) {
  experiment::Problem p;
  p.dataset = a.dataset;
  p.data_dir = a.data_dir;
  p.model = a.model;
  p.val_fraction = a.val_fraction;
  return p;
}

}  // namespace

namespace {

using stats::mean_std;
using stats::MeanStd;

// One base training run of a seed: its learning rate and scores.
struct Arm {
  double lr = NAN, valid = NAN, test = NAN, seconds = 0;
};

struct SeedResult {
  uint64_t seed;
  Arm base, learned;              // the thesis protocol: --inner-lr
  Arm base_tuned, learned_tuned;  // the lr of --base-lr-grid with the lower validation error
  int64_t skipped = 0;
  std::vector<double> extra, extra_seconds;  // one per --extra-baselines loss
};

// The learned loss's network: the method's default with the --loss-* options applied.
losses::LearnedLossConfig loss_config(const LearnArgs& a, Mode mode) {
  losses::LearnedLossConfig c =
      a.method == "ml3" ? losses::LearnedLossConfig::ml3(mode) : losses::LearnedLossConfig::adalfl(mode);
  if (!a.loss_hidden.empty()) {
    c.hidden.clear();
    for (size_t b = 0; a.loss_hidden != "none" && b <= a.loss_hidden.size();) {
      const size_t e = std::min(a.loss_hidden.find(',', b), a.loss_hidden.size());
      const std::string item = a.loss_hidden.substr(b, e - b);
      const bool digits = !item.empty() && item.size() <= 4 && std::all_of(item.begin(), item.end(), ::isdigit);
      if (!digits || std::stoi(item) < 1 || std::stoi(item) > 4096)
        throw UsageError("--loss-hidden: expected comma-separated widths in [1, 4096] or 'none', got '" + item +
                                    "' in '" + a.loss_hidden + "'");
      c.hidden.push_back(std::stoi(item));
      b = e + 1;
    }
  }
  if (!a.loss_activation.empty()) c.activation = a.loss_activation;
  if (!a.loss_output.empty()) c.output = a.loss_output;
  if (!std::isnan(a.slrelu_beta)) c.slrelu_beta = a.slrelu_beta;
  if (!std::isnan(a.slrelu_gamma)) c.slrelu_gamma = a.slrelu_gamma;
  try {
    c.validate();
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--loss-*: ") + e.what());
  }
  return c;
}

// The arm with the lowest validation score (the first of equals).
Arm best_on_validation(const std::vector<Arm>& arms) {
  Arm best;
  for (const Arm& r : arms)
    if (std::isnan(best.valid) || r.valid < best.valid) best = r;
  return best;
}

// Everything one seed needs to train and score base models.
struct SeedSetup {
  const LearnArgs& a;
  uint64_t seed;
  const data::Splits& sp;
  learn::ModelFactory factory;
  TrainOptions to;
  std::vector<double> grid;
  MetricsWriter& metrics;

  void report(const char* what, const Arm& r) const {
    std::fprintf(stderr, "seed %llu: %s at lr %g: validation %.4g, test %.4g\n", (unsigned long long)seed, what, r.lr,
                 r.valid, r.test);
    metrics.write({{"seed", double(seed)}, {"lr", r.lr}, {"valid", r.valid}, {"test", r.test}, {"seconds", r.seconds}},
                  {{"event", "grid"}, {"run", what}});
  }
  // run(lr) for --inner-lr (the thesis protocol), then for every other rate of the grid; the
  // tuned arm is the grid's rate with the lowest validation score. A grid run that diverges
  // (train_supervised throws) scores +inf on validation and is never chosen; a diverging thesis
  // run still ends the command, as without a grid.
  template <class Run>
  std::pair<Arm, Arm> thesis_and_tuned(const char* what, Run&& run) const {
    const Arm thesis = run(a.inner_lr);
    if (grid.empty()) return {thesis, Arm{}};
    report(what, thesis);
    std::vector<Arm> arms;
    for (double lr : grid) {
      if (lr == a.inner_lr) {
        arms.push_back(thesis);
        continue;
      }
      Arm r{lr, INFINITY, NAN, 0};
      try {
        r = run(lr);
      } catch (const std::runtime_error& e) {
        std::fprintf(stderr, "seed %llu: %s at lr %g: %s (not a candidate)\n", (unsigned long long)seed, what, lr, e.what());
      }
      report(what, r);
      arms.push_back(r);
    }
    const Arm best = best_on_validation(arms);
    if (!std::isfinite(best.valid))
      throw std::runtime_error(std::string(what) + ": every rate of --base-lr-grid " + a.base_lr_grid + " diverged");
    return {thesis, best};
  }
};

Arm baseline_arm(const SeedSetup& s, const std::string& loss, double lr) {
  TrainOptions o = s.to;
  o.loss = loss;
  const SeededRun r = train_and_score(s.factory, s.seed, s.sp, o, lr, s.a.momentum, &s.metrics, "baseline " + loss);
  return {lr, r.valid, r.test, r.seconds};
}

// ML3: meta-train phi once (at --inner-lr), then meta-test the frozen loss at each rate with the
// baseline's init, masks and batches.
void run_ml3(const SeedSetup& s, const learn::LearnTask& task, const std::shared_ptr<LearnedLoss>& loss,
             SeedResult& r, std::vector<learn::LossSnapshot>& snaps) {
  const LearnArgs& a = s.a;
  learn::ML3Config c;
  c.meta_steps = a.meta_steps;
  c.inner_steps = a.inner_steps;
  c.inner_lr = a.inner_lr;
  c.meta_lr = a.meta_lr;
  c.batch_size = a.batch_size;
  c.clip_norm = a.clip_norm;
  c.seed = s.seed;
  const auto t0 = std::chrono::steady_clock::now();
  learn::ML3 ml3(task, loss, c);
  r.skipped = ml3.run(&s.metrics).skipped;
  const double meta_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  snaps.push_back(learn::snapshot(*loss, "meta-trained", a.meta_steps));
  TrainOptions lt = s.to;
  lt.loss = "learned";
  lt.loss_fn = learn::frozen_loss(*loss);
  std::fprintf(stderr, "seed %llu: meta-test (frozen learned loss)\n", (unsigned long long)s.seed);
  auto meta_test = [&](double lr) {
    const SeededRun m = train_and_score(s.factory, s.seed, s.sp, lt, lr, a.momentum, &s.metrics, "ml3 meta-test");
    return Arm{lr, m.valid, m.test, meta_seconds + m.seconds};
  };
  std::tie(r.learned, r.learned_tuned) = s.thesis_and_tuned("ml3 meta-test", meta_test);
}

// The online meta-gradient norm over training (log scale): where it collapses, phi stopped learning.
void write_grad_norm_plot(const learn::AdaLFLReport& rep, uint64_t seed, const std::string& out) {
  if (rep.meta_grad_norms.empty()) return;
  learn::LossPlot p;
  p.title = "AdaLFL online meta-gradient norm (mean per log interval), seed " + std::to_string(seed);
  p.xlabel = "base step";
  p.ylabel = "||grad_phi L_task||";
  p.log_y = true;
  p.names = {"meta-gradient norm"};
  p.values.resize(1);
  p.group = {0};
  p.dashed = {false};
  for (const auto& [step, norm] : rep.meta_grad_norms) {
    p.x.push_back(double(step));
    p.values[0].push_back(norm);
  }
  const learn::PlotFiles pf = learn::write_plot(p, out + "/meta-grad-norm-seed" + std::to_string(seed));
  if (!pf.note.empty()) std::fprintf(stderr, "metaloss learn: %s\n", pf.note.c_str());
}

// AdaLFL: the offline init once (at --inner-lr), then the online run (base training with one meta
// step after every base step) from that phi at each rate. The offline phase and the online run
// share no state but phi (and alpha with --learn-lr), so this equals one uninterrupted AdaLFL::run.
// Returns the phi of the tuned run (empty without a grid).
NamedTensors run_adalfl(const SeedSetup& s, const learn::LearnTask& task, const std::shared_ptr<LearnedLoss>& loss,
                        SeedResult& r, std::vector<learn::LossSnapshot>& snaps, const std::string& out) {
  const LearnArgs& a = s.a;
  learn::AdaLFLConfig c;
  c.offline_steps = a.meta_steps;
  c.offline_inner_steps = a.inner_steps;
  c.steps = a.steps;
  c.epochs = a.epochs;
  c.lr = a.inner_lr;
  c.momentum = a.momentum;
  c.learn_lr = a.learn_lr;
  c.meta_lr = a.meta_lr;
  c.batch_size = a.batch_size;
  c.clip_norm = a.clip_norm;
  c.snapshots = a.snapshots;
  c.seed = s.seed;
  c.log_every = a.log_every;
  const auto t0 = std::chrono::steady_clock::now();
  double offline_lr = a.inner_lr;
  seeds::seed_dropout(s.seed);  // dropout masks, as for the baseline
  if (a.meta_steps > 0) {
    learn::AdaLFL offline(task, loss, c);
    r.skipped = offline.offline_init(&s.metrics).skipped;
    offline_lr = offline.lr();
    snaps.push_back(learn::snapshot(*loss, "offline init", 0));
  }
  const double offline_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const NamedTensors phi0 = snaps.back().phi;
  const Generator masks = default_generator();  // the online runs continue the dropout stream from here
  std::map<double, NamedTensors> phi_at;  // the phi each online run ended with, by rate
  auto online = [&](double lr) {
    loss->load_state_dict(phi0);
    default_generator() = masks;
    learn::AdaLFLConfig oc = c;
    oc.offline_steps = 0;
    oc.lr = lr == a.inner_lr ? offline_lr : lr;  // with --learn-lr: alpha as the offline phase left it
    Generator init = seeds::derive(s.seed, seeds::Stream::Init), order = seeds::derive(s.seed, seeds::Stream::Order);
    auto m = s.factory(init);
    learn::AdaLFL ada(task, loss, oc);
    const bool thesis = lr == a.inner_lr;
    const learn::AdaLFLReport rep = ada.run(*m, order, thesis ? &s.metrics : nullptr);
    Arm arm{lr, test_score(*m, s.sp.valid), test_score(*m, s.sp.test), offline_seconds + rep.seconds};
    if (thesis) {
      r.skipped += rep.skipped_base + rep.skipped_meta;
      snaps.insert(snaps.end(), rep.snapshots.begin() + 1, rep.snapshots.end());  // [0] is phi0 again
      if (a.learn_lr) std::fprintf(stderr, "seed %llu: learned lr %.5g\n", (unsigned long long)s.seed, rep.lr);
      write_grad_norm_plot(rep, s.seed, out);
    }
    phi_at[lr] = learn::snapshot(*loss, "", 0).phi;
    return arm;
  };
  std::tie(r.learned, r.learned_tuned) = s.thesis_and_tuned("adalfl online", online);
  if (s.grid.empty()) return {};
  // Leave the thesis run's phi in `loss` (the one saved as learned-loss-seedN.safetensors).
  loss->load_state_dict(phi_at.at(a.inner_lr));
  return phi_at.at(r.learned_tuned.lr);
}

// "17.54%" (classification error) or "0.5190" (regression MSE); differences in points / MSE.
struct Formatter {
  bool regression;
  std::string score(double v) const {
    char b[32];
    if (regression) std::snprintf(b, sizeof b, "%.4f", v);
    else std::snprintf(b, sizeof b, "%.2f%%", 100 * v);
    return b;
  }
  std::string diff(double v) const {
    char b[48];
    if (regression) std::snprintf(b, sizeof b, "%+.4f MSE", v);
    else std::snprintf(b, sizeof b, "%+.2f points", 100 * v);
    return b;
  }
  std::string mean_std(const MeanStd& s) const {
    return score(s.mean) + " ± " + (std::isnan(s.std) ? std::string("n/a") : score(s.std));
  }
  std::string tuned(const Arm& r) const {
    char b[32];
    std::snprintf(b, sizeof b, " (lr %g)", r.lr);
    return score(r.test) + b;
  }
};

// One comparison of the learned loss against the baseline over the seeds, in words.
std::string verdict(const std::string& what, const std::string& method, const std::string& base_loss,
                    const std::vector<double>& learned, const std::vector<double>& base, const Formatter& f) {
  const stats::PairedTest t = stats::paired_t_test(learned, base);
  const bool finite = std::all_of(learned.begin(), learned.end(), [](double v) { return std::isfinite(v); }) &&
                      std::all_of(base.begin(), base.end(), [](double v) { return std::isfinite(v); });
  char p[80];
  if (!finite) std::snprintf(p, sizeof p, "no test: a run ended with a non-finite score");
  else if (std::isnan(t.p)) std::snprintf(p, sizeof p, "one seed, no test (give --seeds 0,1,2,3,4 for a p-value)");
  else std::snprintf(p, sizeof p, "paired t-test over %zu seeds: p = %.3g", t.n, t.p);
  std::string reading;
  if (!finite) reading = method + " failed on at least one seed (see the skipped column)";
  else if (std::isnan(t.p)) reading = t.mean_diff < 0 ? "ahead on this seed" : "behind on this seed";
  else if (t.p >= 0.05) reading = "no significant difference at the 5% level";
  else reading = t.mean_diff < 0 ? method + " is better" : method + " is worse";
  return what + ": " + method + " - " + base_loss + " = " + f.diff(t.mean_diff) + " (" + p + "): " + reading;
}

}  // namespace

CLI::App* add_learn_command(CLI::App& app, LearnArgs& a) {
  auto* c = app.add_subcommand("learn", "Meta-learn a loss function (ML3 or AdaLFL) and compare it with CE/MSE over seeds");
  c->add_option("--method", a.method, "ml3 (offline, Bechtle et al.) or adalfl (online, Raymond et al.); required unless --meta-test")
      ->check(CLI::IsMember({"ml3", "adalfl"}));
  c->add_option("--meta-test", a.meta_test,
                "instead of learning a loss, meta-test the one in FILE (a search's best_loss.safetensors, `runs export "
                "--loss`, a learn run's learned-loss-seedN.safetensors) against the baseline: the same seeds, splits, "
                "inits, batches, budget and --base-lr-grid, with the same table and paired tests");
  c->add_option("--dataset", a.dataset, "fashion-mnist (Debian's package), mnist or cifar10 (need --data-dir), boston or diabetes (regression, python3-sklearn's CSVs)")
      ->check(CLI::IsMember({"fashion-mnist", "mnist", "cifar10", "boston", "diabetes"}))->capture_default_str();
  c->add_option("--data-dir", a.data_dir, "folder with the dataset files");
  c->add_option("--model", a.model, "base model: a zoo model for images (default logistic; allcnn_c for cifar10), linear or mlp for regression (default mlp)");
  c->add_option("--seeds", a.seeds, "comma-separated seeds; each gives its own split, init, batch order and loss init")->capture_default_str();
  c->add_option("--meta-steps", a.meta_steps, "ML3 meta steps (default " + std::to_string(kDefaultMetaSteps) +
                                                  ", the thesis) / AdaLFL offline-init meta steps S_init (default " +
                                                  std::to_string(kDefaultAdaLFLOfflineSteps) + ", the paper)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--inner-steps", a.inner_steps, "unrolled SGD steps per meta step (ML3 and the AdaLFL offline init)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  c->add_option("--inner-lr", a.inner_lr, "alpha: SGD lr of the unrolled steps and of base training (baseline, meta-test, AdaLFL online): the thesis protocol")->check(kFiniteCheck)
      ->check(CLI::PositiveNumber)->capture_default_str();
  c->add_option("--base-lr-grid", a.base_lr_grid,
                "also train the baseline and the learned loss (ML3: meta-test; AdaLFL: the online run from the same offline init) at each "
                "of these rates, e.g. 0.003,0.01,0.03,0.1,0.3, and report each at the rate with the lower validation error");
  c->add_option("--meta-lr", a.meta_lr, "Adam lr on the loss network (default: ml3 1e-3; adalfl 1e-4, regression 1e-3)")->check(kFiniteCheck)->check(CLI::PositiveNumber);
  c->add_option("--momentum", a.momentum, "base SGD momentum (baseline, ML3 meta-test, AdaLFL online: its look-ahead uses it with the old buffer "
                    "held constant); ML3's unrolled steps are plain SGD")
      ->check(kFiniteCheck)->check(CLI::Range(0.0, 0.999))->capture_default_str();
  c->add_flag("--learn-lr", a.learn_lr, "AdaLFL: meta-learn alpha too (log-parameter, offline and online)");
  c->add_option("--clip-norm", a.clip_norm, "meta-gradient clipping by global norm (0: off); non-finite ones are skipped and counted")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--loss-hidden", a.loss_hidden, "hidden widths of the loss network, e.g. 40,40 or none (default: ml3 50,50; adalfl 40,40)");
  c->add_option("--loss-activation", a.loss_activation, "hidden activation (default: ml3 relu; adalfl smooth_leaky_relu)")
      ->check(CLI::IsMember({"relu", "smooth_leaky_relu"}));
  c->add_option("--loss-output", a.loss_output, "output activation (default: ml3 softplus; adalfl none, regression softplus)")
      ->check(CLI::IsMember({"softplus", "none"}));
  c->add_option("--slrelu-beta", a.slrelu_beta, "smooth leaky ReLU smoothness beta (default 2)")->check(CLI::PositiveNumber);
  c->add_option("--slrelu-gamma", a.slrelu_gamma, "smooth leaky ReLU leak gamma (default 0.25)")->check(CLI::Range(0.0, 1.0));
  c->add_option("--steps", a.steps, "base training steps of the baseline, the meta-test and AdaLFL's online run (default " +
                                        std::to_string(kDefaultSteps) + ")")->check(CLI::NonNegativeNumber);
  c->add_option("--epochs", a.epochs, "passes over the training split instead of --steps")->check(CLI::NonNegativeNumber);
  c->add_option("--batch-size", a.batch_size, "examples per base / meta batch")->check(CLI::PositiveNumber)->capture_default_str();
  c->add_option("--val-fraction", a.val_fraction, "stratified validation split (classification) for the meta-objective and the lr choice")->check(kFiniteCheck)
      ->check(CLI::Range(0.01, 0.9))->capture_default_str();
  c->add_option("--snapshots", a.snapshots, "AdaLFL: plot phi at this many points of online training")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--extra-baselines", a.extra_baselines,
                "more fixed losses trained exactly like the baseline, as extra table columns: "
                "lsr, sparse_lsr, focal, mse (classification), l1 (regression)");
  c->add_option("--threads", a.threads, "CPU threads (default: all cores)")->check(CLI::PositiveNumber);
  c->add_option("--device", a.device, kDeviceHelp)->capture_default_str();
  c->add_option("--out", a.out, "output folder (default runs/learn-METHOD-DATASET-MODEL)");
  c->add_option("--metrics", a.metrics, "JSON-lines metrics file (default OUT/metrics.jsonl; a resumed run appends, a fresh one starts it anew)");
  c->add_option("--log-every", a.log_every, "base steps between metrics lines")->check(CLI::PositiveNumber)->capture_default_str();
  // Read by main's expand_config before parsing; registered so that --help lists it.
  c->add_option("--config", a.config, "JSON or YAML (.yaml, .yml) file of options, e.g. {\"method\": \"ml3\", \"meta-steps\": 100} (command-line options win)");
  return c;
}

namespace {

// The table: stdout, results.md, results.csv; then the paired tests and their reading.
void write_tables(const LearnArgs& a, const std::string& model, const std::string& out, bool regression,
                  const std::vector<std::string>& extras, const std::vector<SeedResult>& results, bool tuned) {
  const Formatter f{regression};
  const std::string base_loss = regression ? "mse" : "ce", score = regression ? "test MSE" : "test error";
  const std::string metric = regression ? "test_mse" : "test_error";
  char lr[32];
  std::snprintf(lr, sizeof lr, "lr %g", a.inner_lr);
  // Columns: name, then the value of each seed and the mean ± std.
  struct Column {
    std::string name;
    std::vector<std::string> cells;
    std::vector<double> values;
  };
  std::vector<Column> cols;
  auto column = [&](const std::string& name, auto&& cell, auto&& value) {
    Column c{name, {}, {}};
    for (const auto& r : results) {
      c.cells.push_back(cell(r));
      c.values.push_back(value(r));
    }
    c.cells.push_back(f.mean_std(mean_std(c.values)));
    cols.push_back(std::move(c));
  };
  column(base_loss + " (" + lr + ") " + score, [&](const SeedResult& r) { return f.score(r.base.test); },
         [](const SeedResult& r) { return r.base.test; });
  if (tuned)
    column(base_loss + " tuned " + score, [&](const SeedResult& r) { return f.tuned(r.base_tuned); },
           [](const SeedResult& r) { return r.base_tuned.test; });
  column(a.method + " (" + lr + ") " + score, [&](const SeedResult& r) { return f.score(r.learned.test); },
         [](const SeedResult& r) { return r.learned.test; });
  if (tuned)
    column(a.method + " tuned " + score, [&](const SeedResult& r) { return f.tuned(r.learned_tuned); },
           [](const SeedResult& r) { return r.learned_tuned.test; });
  for (size_t i = 0; i < extras.size(); ++i)
    column(extras[i] + " (" + lr + ") " + score, [&, i](const SeedResult& r) { return f.score(r.extra[i]); },
           [i](const SeedResult& r) { return r.extra[i]; });

  std::vector<std::string> reading{
      verdict("thesis protocol (" + std::string(lr) + ")", a.method, base_loss, cols[tuned ? 2 : 1].values,
              cols[0].values, f)};
  if (tuned)
    reading.push_back(verdict("each tuned on validation over lr " + a.base_lr_grid, a.method, base_loss,
                              cols[3].values, cols[1].values, f));

  // stdout: fixed-width columns (printf pads by bytes: one more per "±", which takes two).
  const size_t w = tuned ? 28 : 24;
  auto pad = [](const std::string& s, size_t width) {
    size_t len = 0;
    for (unsigned char ch : s) len += (ch & 0xC0) != 0x80;  // count UTF-8 characters
    return len >= width ? s : std::string(width - len, ' ') + s;
  };
  std::printf("%-12s", "seed");
  for (const auto& c : cols) std::printf(" %s", pad(c.name, w).c_str());
  std::printf(" %10s\n", "skipped");
  for (size_t i = 0; i <= results.size(); ++i) {
    const bool last = i == results.size();
    std::printf("%-12s", last ? "mean ± std" : std::to_string(results[i].seed).c_str());
    if (last) std::printf(" ");  // "±" is two bytes
    for (const auto& c : cols) std::printf(" %s", pad(c.cells[i], w).c_str());
    if (!last) std::printf(" %10lld", (long long)results[i].skipped);
    std::printf("\n");
  }
  for (const auto& line : reading) std::printf("%s\n", line.c_str());

  std::ostringstream md, csv;
  md << "# metaloss learn: " << a.method << " on " << a.dataset << " with " << model << "\n\n";
  if (a.meta_test.empty())
    md << "meta steps " << a.meta_steps << ", inner steps " << a.inner_steps << ", alpha " << a.inner_lr << ", meta lr "
       << a.meta_lr << ", ";
  else
    md << "meta-test of the loss in " << a.meta_test << " (nothing learned), alpha " << a.inner_lr << ", ";
  md << (a.epochs > 0 ? "epochs " + std::to_string(a.epochs) : "steps " + std::to_string(a.steps))
     << ", batch " << a.batch_size << ", momentum " << a.momentum;
  if (tuned) md << ", lr grid " << a.base_lr_grid << " (chosen per seed on the validation split)";
  md << "\n\n| seed |";
  for (const auto& c : cols) md << " " << c.name << " |";
  md << " skipped |\n|---:|";
  for (size_t i = 0; i <= cols.size(); ++i) md << "---:|";
  md << "\n";
  for (size_t i = 0; i <= results.size(); ++i) {
    const bool last = i == results.size();
    md << "| " << (last ? std::string("mean ± std") : std::to_string(results[i].seed)) << " |";
    for (const auto& c : cols) md << " " << c.cells[i] << " |";
    md << " " << (last ? std::string() : std::to_string(results[i].skipped)) << " |\n";
  }
  md << "\n";
  for (const auto& line : reading) md << "- " << line << "\n";

  csv << "seed,baseline_" << metric << "," << a.method << "_" << metric
      << ",skipped,baseline_seconds,learned_seconds,baseline_valid,learned_valid";
  if (tuned)
    csv << ",baseline_tuned_lr,baseline_tuned_valid,baseline_tuned_" << metric << ",learned_tuned_lr,learned_tuned_valid,learned_tuned_"
        << metric;
  for (const auto& e : extras) csv << "," << e << "_" << metric << "," << e << "_seconds";
  csv << "\n";
  csv.precision(17);
  for (const auto& r : results) {
    csv << r.seed << "," << r.base.test << "," << r.learned.test << "," << r.skipped << "," << r.base.seconds << ","
        << r.learned.seconds << "," << r.base.valid << "," << r.learned.valid;
    if (tuned)
      csv << "," << r.base_tuned.lr << "," << r.base_tuned.valid << "," << r.base_tuned.test << "," << r.learned_tuned.lr
          << "," << r.learned_tuned.valid << "," << r.learned_tuned.test;
    for (size_t i = 0; i < extras.size(); ++i) csv << "," << r.extra[i] << "," << r.extra_seconds[i];
    csv << "\n";
  }
  data::write_file(out + "/results.md", md.str());
  data::write_file(out + "/results.csv", csv.str());
}

// ---- per-seed results on disk: a killed `learn` keeps its finished seeds --------------------
// OUT/seeds/seed-S.txt holds one seed's numbers (17 significant digits) under the options that
// shape them. Running the same command again takes the seeds whose file matches and trains the
// rest; a file written under other options is trained again and replaced.
std::string seed_fingerprint(const LearnArgs& a, const std::string& model, const losses::LearnedLossConfig& lcfg) {
  char b[512];
  std::snprintf(b, sizeof b,
                "method=%s dataset=%s data_dir=%s model=%s meta_steps=%lld inner_steps=%lld inner_lr=%.17g meta_lr=%.17g "
                "momentum=%.17g clip_norm=%.17g steps=%lld epochs=%lld batch=%lld val_fraction=%.17g learn_lr=%d",
                a.method.c_str(), a.dataset.c_str(), a.data_dir.c_str(), model.c_str(), (long long)a.meta_steps,
                (long long)a.inner_steps, a.inner_lr, a.meta_lr, a.momentum, a.clip_norm, (long long)a.steps,
                (long long)a.epochs, (long long)a.batch_size, a.val_fraction, int(a.learn_lr));
  return std::string(b) + " grid=" + a.base_lr_grid + " extras=" + a.extra_baselines + " loss=" + lcfg.to_json();
}

// A short digest of a file's bytes (FNV-1a, 64 bits): seeds finished with one loss file are not
// taken for another file written to the same path, and a copy of the file elsewhere resumes them.
std::string file_digest(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  uint64_t h = 1469598103934665603ull;
  char buf[1 << 14];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    for (std::streamsize i = 0; i < in.gcount(); ++i) h = (h ^ uint64_t(uint8_t(buf[i]))) * 1099511628211ull;
    if (!in) break;
  }
  char out[20];
  std::snprintf(out, sizeof out, "%016llx", (unsigned long long)h);
  return out;
}

// --meta-test: only what shapes a meta-test's numbers (no meta-learning options), and the loss
// file's bytes rather than its path.
std::string meta_test_fingerprint(const LearnArgs& a, const std::string& model) {
  char b[512];
  std::snprintf(b, sizeof b,
                "meta-test dataset=%s data_dir=%s model=%s inner_lr=%.17g momentum=%.17g steps=%lld epochs=%lld "
                "batch=%lld val_fraction=%.17g",
                a.dataset.c_str(), a.data_dir.c_str(), model.c_str(), a.inner_lr, a.momentum, (long long)a.steps,
                (long long)a.epochs, (long long)a.batch_size, a.val_fraction);
  return std::string(b) + " grid=" + a.base_lr_grid + " extras=" + a.extra_baselines + " file=" + file_digest(a.meta_test);
}

std::string seed_file(const std::string& out, uint64_t seed) { return out + "/seeds/seed-" + std::to_string(seed) + ".txt"; }

void save_seed(const std::string& out, const std::string& fingerprint, const SeedResult& r) {
  fs::create_directories(out + "/seeds");
  {
    std::ostringstream f;
    f.precision(17);
    f << "metaloss-learn-seed 1\n" << fingerprint << "\n" << r.skipped << "\n";
    for (const Arm* arm : {&r.base, &r.base_tuned, &r.learned, &r.learned_tuned})
      f << arm->lr << " " << arm->valid << " " << arm->test << " " << arm->seconds << "\n";
    f << r.extra.size();
    for (size_t i = 0; i < r.extra.size(); ++i) f << " " << r.extra[i] << " " << r.extra_seconds[i];
    f << "\n";
    data::write_file(seed_file(out, r.seed), f.str());
  }
}

// Whether the seed's file exists and was written under `fingerprint` (it is then taken, not retrained).
bool seed_on_disk(const std::string& out, const std::string& fingerprint, uint64_t seed) {
  std::ifstream f(seed_file(out, seed));
  std::string magic, fp;
  return f && std::getline(f, magic) && std::getline(f, fp) && magic == "metaloss-learn-seed 1" && fp == fingerprint;
}

// The seed's earlier result when its file exists and was written under `fingerprint`.
bool load_seed(const std::string& out, const std::string& fingerprint, SeedResult& r) {
  std::ifstream f(seed_file(out, r.seed));
  if (!f) return false;
  std::string magic, fp;
  std::getline(f, magic);
  std::getline(f, fp);
  if (magic != "metaloss-learn-seed 1" || fp != fingerprint) {
    std::fprintf(stderr, "seed %llu: %s was written under other options: training this seed again\n",
                 (unsigned long long)r.seed, seed_file(out, r.seed).c_str());
    return false;
  }
  // Numbers as written by operator<< (nan, inf included); strtod reads them back exactly.
  auto num = [&f](double& v) {
    std::string t;
    if (!(f >> t)) return false;
    char* end = nullptr;
    v = std::strtod(t.c_str(), &end);
    return end == t.c_str() + t.size();
  };
  SeedResult x{r.seed, {}, {}, {}, {}, 0, {}, {}};
  bool ok = bool(f >> x.skipped);
  for (Arm* arm : {&x.base, &x.base_tuned, &x.learned, &x.learned_tuned})
    ok = ok && num(arm->lr) && num(arm->valid) && num(arm->test) && num(arm->seconds);
  size_t n = 0;
  ok = ok && bool(f >> n) && n < 64;
  for (size_t i = 0; ok && i < n; ++i) {
    double v = 0, sec = 0;
    ok = num(v) && num(sec);
    x.extra.push_back(v);
    x.extra_seconds.push_back(sec);
  }
  if (!ok) {
    std::fprintf(stderr, "seed %llu: %s is damaged: training this seed again\n", (unsigned long long)r.seed,
                 seed_file(out, r.seed).c_str());
    return false;
  }
  r = x;
  return true;
}

// --meta-test: the file's loss at --inner-lr and over the grid, from the baseline's init, masks
// and batches (a network is used frozen, as ML3's meta-test uses its learned loss).
void meta_test_file(const SeedSetup& s, const losses::LossFile& f, SeedResult& r) {
  TrainOptions lt = s.to;
  lt.loss = s.a.method;
  lt.loss_fn = f.function();
  std::fprintf(stderr, "seed %llu: meta-test of %s (%s)\n", (unsigned long long)s.seed, s.a.meta_test.c_str(),
               f.formula().c_str());
  std::tie(r.learned, r.learned_tuned) = s.thesis_and_tuned("meta-test", [&](double lr) {
    const SeededRun m = train_and_score(s.factory, s.seed, s.sp, lt, lr, s.a.momentum, &s.metrics, "meta-test " + s.a.method);
    return Arm{lr, m.valid, m.test, m.seconds};
  });
}

// ML3 or AdaLFL for one seed (after its baselines): learns phi, meta-tests it at each rate, and
// writes the learned losses (final, tuned, AdaLFL's snapshots) as loss files and the loss plot.
void learn_loss(const SeedSetup& s, const learn::LearnTask& task, const losses::LearnedLossConfig& lcfg, Device device,
                const std::string& out, const std::string& model, SeedResult& r) {
  const LearnArgs& a = s.a;
  const uint64_t seed = s.seed;
  const bool regression = is_regression(a.dataset);
  Generator loss_gen = seeds::derive(seed, seeds::Stream::LossInit);
  auto loss = std::make_shared<LearnedLoss>(lcfg, loss_gen);
  loss->to(device);  // phi, its Adam state and alpha live on the device
  std::vector<learn::LossSnapshot> snaps{learn::snapshot(*loss, "initial", 0)};
  NamedTensors tuned_phi;
  if (a.method == "ml3") run_ml3(s, task, loss, r, snaps);
  else tuned_phi = run_adalfl(s, task, loss, r, snaps, out);
  const std::string tag = out + "/learned-loss-seed" + std::to_string(seed);
  // Loss files (meta/losses/loss_file.h): `metaloss train --loss FILE` trains with them.
  auto save_loss = [&](std::shared_ptr<LearnedLoss> net, const std::string& path, const Arm& arm, int64_t step) {
    losses::LossFile lf;
    lf.kind = losses::LossFile::Kind::Network;
    lf.network = std::move(net);
    lf.regression = regression;
    auto num17 = [](double v) {
      char b[32];
      std::snprintf(b, sizeof b, "%.17g", v);
      return std::string(b);
    };
    lf.provenance = {{"method", a.method}, {"run", out}, {"seed", std::to_string(seed)},
                     {"step", std::to_string(step)}, {"dataset", a.dataset}, {"model", model},
                     {"base_lr", num17(arm.lr)}, {"test_" + std::string(regression ? "mse" : "error"), num17(arm.test)}};
    losses::save_loss_file(path, lf);
  };
  // The step of the final state: ML3's meta-steps, or AdaLFL's offline steps plus one online step per base step.
  const int64_t final_step = a.method == "ml3" ? a.meta_steps : a.meta_steps + a.steps;
  save_loss(loss, tag + ".safetensors", r.learned, final_step);
  if (a.snapshots > 0) {  // AdaLFL's phi along online training, each a loss file of its own
    fs::create_directories(out + "/snapshots");
    for (const learn::LossSnapshot& sn : snaps) {
      auto net = std::make_shared<LearnedLoss>(lcfg, loss_gen);
      net->to(loss->parameters().front().dtype());
      net->load_state_dict(sn.phi);
      Arm at = r.learned;
      at.test = NAN;  // a snapshot has no test score of its own
      const std::string path = out + "/snapshots/seed" + std::to_string(seed) + "-step" + std::to_string(sn.step) + ".safetensors";
      save_loss(net, path, at, sn.step);
    }
  }
  if (!tuned_phi.empty()) {  // AdaLFL: each online run ends with its own phi
    auto tuned = std::make_shared<LearnedLoss>(lcfg, loss_gen);
    tuned->to(loss->parameters().front().dtype());
    tuned->load_state_dict(tuned_phi);
    save_loss(tuned, tag + "-tuned.safetensors", r.learned_tuned, final_step);
  }
  const learn::PlotFiles pf = learn::write_plot(
      learn::sample_learned_loss(loss->config(), snaps, a.method + " learned loss, " + a.dataset + " / " + model + ", seed " + std::to_string(seed)),
      out + "/loss-seed" + std::to_string(seed));
  if (!pf.note.empty()) std::fprintf(stderr, "metaloss learn: %s\n", pf.note.c_str());
}

std::vector<std::string> parse_extras(const LearnArgs& a, bool regression) {
  std::vector<std::string> extras;
  for (size_t b = 0; b < a.extra_baselines.size();) {
    size_t e = a.extra_baselines.find(',', b);
    if (e == std::string::npos) e = a.extra_baselines.size();
    const std::string name = a.extra_baselines.substr(b, e - b);
    const bool ok = regression ? name == "l1" : (name == "lsr" || name == "sparse_lsr" || name == "focal" || name == "mse");
    if (!ok)
      throw UsageError("--extra-baselines: '" + name + "' is not a fixed loss for this dataset (expected " +
                                  (regression ? "l1" : "lsr, sparse_lsr, focal or mse") + ")");
    extras.push_back(name);
    b = e + 1;
  }
  return extras;
}

}  // namespace

int run_learn(const LearnArgs& in) {
  LearnArgs a = in;
  // ---- option combinations (std::invalid_argument: exit 2) ----
  const bool regression = is_regression(a.dataset);
  // --meta-test FILE: the loss is read first (a damaged file exits 1 before any data or training).
  std::optional<losses::LossFile> given;
  if (!a.meta_test.empty()) {
    if (!a.method.empty()) throw UsageError("--meta-test tests the loss in a file; --method learns one: give one of them");
    given = losses::load_loss_file(a.meta_test);
    if (given->regression != regression)
      throw UsageError("--meta-test " + a.meta_test + ": a " + (given->regression ? "regression" : "classification") +
                       " loss (" + given->formula() + "), but --dataset " + a.dataset + " is " +
                       (regression ? "regression" : "classification"));
    // Named after the method that made it (a word: it names the columns and the output folder).
    const auto m = given->provenance.find("method");
    const bool word = m != given->provenance.end() && !m->second.empty() && m->second.size() <= 32 &&
                      std::all_of(m->second.begin(), m->second.end(), [](unsigned char ch) { return std::isalnum(ch) || ch == '_' || ch == '-'; });
    a.method = word ? m->second : "file";
    if (a.meta_steps < 0) a.meta_steps = 0;
    if (a.learn_lr) throw UsageError("--learn-lr is for --method adalfl (--meta-test trains with a fixed lr)");
  } else if (a.method.empty()) {
    throw UsageError("give --method ml3 or adalfl to learn a loss, or --meta-test FILE to test one");
  }
  if (a.steps > 0 && a.epochs > 0) throw UsageError("give either --steps or --epochs, not both");
  if (a.steps == 0 && a.epochs == 0) a.steps = kDefaultSteps;
  if (a.meta_steps < 0) a.meta_steps = a.method == "ml3" ? kDefaultMetaSteps : kDefaultAdaLFLOfflineSteps;
  if (std::isnan(a.meta_lr)) a.meta_lr = a.method == "ml3" || regression ? kDefaultMetaLr : kDefaultAdaLFLMetaLr;
  if (a.method == "ml3" && a.meta_steps == 0 && !given) throw UsageError("--method ml3 needs --meta-steps >= 1");
  if (a.method == "ml3" && a.learn_lr && !given) throw UsageError("--learn-lr is for --method adalfl (ML3 meta-tests with a fixed lr)");
  if (regression && !a.data_dir.empty() && !fs::is_directory(a.data_dir))
    throw UsageError("--data-dir " + a.data_dir + ": no such directory");
  const std::vector<uint64_t> seeds = parse_seeds(a.seeds);
  const std::vector<double> grid = as_usage("", [&] { return experiment::parse_lr_grid(a.base_lr_grid, "--base-lr-grid"); });
  if (!grid.empty() && a.learn_lr)
    throw UsageError("--base-lr-grid tunes the base lr; --learn-lr meta-learns it: give one of them");
  const std::vector<std::string> extras = parse_extras(a, regression);
  const Mode mode = regression ? Mode::Regression : Mode::Classification;
  const losses::LearnedLossConfig lcfg = loss_config(a, mode);
  const experiment::Problem problem = problem_of(a);
  const std::string model = problem.model_name();
  if (a.threads > 0) set_num_threads(a.threads);
  const Device device = parse_device_option(a.device, "--device");

  // ---- data (loaded once, split per seed) ----
  const experiment::ProblemData pdata = as_usage("", [&] { return experiment::load_problem_data(problem); });
  // fail on a model that does not fit the data before any long work
  as_usage("", [&] { return experiment::model_factory(problem, pdata.example_split()); });
  const std::string base_loss = regression ? "mse" : "ce";
  const std::string out =
      !a.out.empty() ? a.out : (given ? "runs/meta-test-" : "runs/learn-") + a.method + "-" + a.dataset + "-" + model;
  fs::create_directories(out);
  const std::string fingerprint = given ? meta_test_fingerprint(a, model) : seed_fingerprint(a, model, lcfg);
  if (given && given->network && device != Device::cpu()) given->network->to(device);  // once, for every seed
  // A run that resumes (a seed already done under these options) appends to its metrics file;
  // a fresh one starts it anew, so no older run's lines are mixed in.
  const bool resuming = std::any_of(seeds.begin(), seeds.end(), [&](uint64_t s) { return seed_on_disk(out, fingerprint, s); });
  MetricsWriter metrics(a.metrics.empty() ? out + "/metrics.jsonl" : a.metrics, resuming);
  metrics.write({{"meta_steps", double(a.meta_steps)}, {"inner_steps", double(a.inner_steps)}, {"inner_lr", a.inner_lr},
                 {"meta_lr", a.meta_lr}, {"steps", double(a.steps)}, {"epochs", double(a.epochs)},
                 {"batch_size", double(a.batch_size)}, {"momentum", a.momentum}},
                {{"event", "start"}, {"method", a.method}, {"dataset", a.dataset}, {"model", model}, {"seeds", a.seeds},
                 {"loss_network", lcfg.to_json()}, {"base_lr_grid", a.base_lr_grid}, {"device", device.str()},
                 {"meta_test", a.meta_test}},
                {{"resumed", resuming}});
  const std::string budget = (a.epochs > 0 ? "epochs " : "steps ") + std::to_string(a.epochs > 0 ? a.epochs : a.steps);
  const std::string what = given ? budget + ", the loss of " + a.meta_test + ": " + given->formula()
                                 : std::to_string(a.meta_steps) + " meta steps, " + budget + ", loss network " + lcfg.to_json();
  std::fprintf(stderr, "metaloss learn: %s on %s with %s, seeds %s, %s%s, output in %s\n", a.method.c_str(),
               a.dataset.c_str(), model.c_str(), a.seeds.c_str(), what.c_str(),
               grid.empty() ? "" : (", lr grid " + a.base_lr_grid).c_str(), out.c_str());

  std::vector<SeedResult> results;
  for (uint64_t seed : seeds) {
    // The same streams as `metaloss train --seed`: 0 init, 1 split, 2 batch order; 3 loss init.
    Generator split_gen = seeds::derive(seed, seeds::Stream::Split);
    // Split and standardised on the host, then moved to the device once for the whole seed.
    const data::Splits sp = data::to_device(experiment::make_splits(problem, pdata, split_gen), device);
    const learn::ModelFactory factory = learn::on_device(experiment::model_factory(problem, sp.train), device);
    const learn::LearnTask task{sp.train, sp.valid, factory};
    TrainOptions to;
    to.steps = a.steps;
    to.epochs = a.epochs;
    to.batch_size = a.batch_size;
    to.loss = base_loss;
    // Progress and metrics lines ("event": "train", one curve per baseline and meta-test run):
    // at least about every twentieth step.
    const int64_t budget = a.epochs > 0 ? a.epochs * ((sp.train.size() + a.batch_size - 1) / a.batch_size) : a.steps;
    to.log_every = std::max<int64_t>(a.log_every, budget / 20);
    const SeedSetup setup{a, seed, sp, factory, to, grid, metrics};
    SeedResult r{seed, {}, {}, {}, {}, 0, {}, {}};
    if (load_seed(out, fingerprint, r)) {
      std::fprintf(stderr, "seed %llu: done in an earlier run (%s): not trained again\n", (unsigned long long)seed,
                   seed_file(out, seed).c_str());
      results.push_back(r);
      continue;
    }

    // Baselines: CE / MSE (at --inner-lr and over the grid), then any --extra-baselines, each with
    // the init, masks, batches and budget of the learned loss's base training.
    std::fprintf(stderr, "seed %llu: baseline (%s)\n", (unsigned long long)seed, base_loss.c_str());
    std::tie(r.base, r.base_tuned) =
        setup.thesis_and_tuned("baseline", [&](double lr) { return baseline_arm(setup, base_loss, lr); });
    for (const std::string& e : extras) {
      std::fprintf(stderr, "seed %llu: baseline (%s)\n", (unsigned long long)seed, e.c_str());
      const Arm x = baseline_arm(setup, e, a.inner_lr);
      r.extra.push_back(x.test);
      r.extra_seconds.push_back(x.seconds);
    }

    if (given) meta_test_file(setup, *given, r);  // --meta-test: the file's loss, trained at each rate
    else learn_loss(setup, task, lcfg, device, out, model, r);
    metrics.write({{"seed", double(seed)}, {"baseline", r.base.test}, {"learned", r.learned.test}, {"skipped", double(r.skipped)},
                   {"baseline_seconds", r.base.seconds}, {"learned_seconds", r.learned.seconds},
                   {"baseline_tuned", r.base_tuned.test}, {"baseline_tuned_lr", r.base_tuned.lr},
                   {"learned_tuned", r.learned_tuned.test}, {"learned_tuned_lr", r.learned_tuned.lr}},
                  {{"event", "seed-end"}, {"metric", regression ? "test_mse" : "test_error"}});
    save_seed(out, fingerprint, r);
    results.push_back(r);
  }
  write_tables(a, model, out, regression, extras, results, !grid.empty());
  std::fprintf(stderr, "wrote %s/: results.md, results.csv, metrics, learned-loss-seed*.safetensors, loss-seed*.{gp,dat,svg}\n",
               out.c_str());
  return 0;
}

}  // namespace metaloss::app
