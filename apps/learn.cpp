#include "apps/learn.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "kernels/cpu/view.h"
#include "meta/data/data.h"
#include "meta/learn/adalfl.h"
#include "meta/learn/ml3.h"
#include "meta/learn/plot.h"
#include "meta/train.h"
#include "models/zoo.h"

namespace metaloss::app {

namespace {

namespace fs = std::filesystem;
using losses::LearnedLoss;
using Mode = losses::LearnedLossConfig::Mode;

// The thesis' MNIST-like budgets (250 meta steps, 10,000 base steps). With them
// `learn --method adalfl --dataset fashion-mnist --model logistic --seeds 0` (offline init,
// online run and baseline) takes about two minutes on 2 cores; bigger models take longer.
constexpr int64_t kDefaultSteps = 10000;
constexpr int64_t kDefaultMetaSteps = 250;

bool is_regression(const std::string& dataset) { return dataset == "boston" || dataset == "diabetes"; }

std::vector<uint64_t> parse_seeds(const std::string& text) {
  std::vector<uint64_t> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    const bool digits = !item.empty() && std::all_of(item.begin(), item.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || item.size() > 19)
      throw std::invalid_argument("--seeds: expected comma-separated non-negative integers, got '" + item + "' in '" + text + "'");
    const uint64_t s = std::stoull(item);
    if (std::find(out.begin(), out.end(), s) != out.end()) throw std::invalid_argument("--seeds: seed " + item + " appears twice");
    out.push_back(s);
    start = comma + 1;
  }
  return out;
}

}  // namespace

// The whole dataset as its files partition it (classification) or as one table (regression).
data::TrainTest load_classification(const LearnArgs& a) {
  if (a.dataset == "fashion-mnist") return a.data_dir.empty() ? data::load_fashion_mnist() : data::load_fashion_mnist(a.data_dir);
  if (a.data_dir.empty()) throw std::invalid_argument("--dataset " + a.dataset + " needs --data-dir with its files");
  return a.dataset == "mnist" ? data::load_idx_dataset(a.data_dir) : data::load_cifar10(a.data_dir);
}

// Splits for one seed: classification takes a stratified validation split from the training
// files (the test files stay the test set); regression a 60/20/20 random split. Inputs (and
// regression targets) are standardised with training-split statistics only.
data::Splits make_splits(const LearnArgs& a, const data::TrainTest& tt, const data::Dataset& table, Generator& gen) {
  data::Splits s = is_regression(a.dataset) ? data::random_split(table, gen, 0.6, 0.2) : data::stratified_split(tt, gen, a.val_fraction);
  data::normalize(s);
  return s;
}

std::vector<uint64_t> parse_seed_list(const std::string& text, const std::string& option) {
  try {
    return parse_seeds(text);
  } catch (const std::invalid_argument& e) {
    std::string m = e.what();
    if (m.rfind("--seeds", 0) == 0) m = option + m.substr(7);
    throw std::invalid_argument(m);
  }
}

std::string default_model(const std::string& dataset) {
  if (is_regression(dataset)) return "mlp";
  return dataset == "cifar10" ? "allcnn_c" : "logistic";
}

// The base-model factory, after checking that the model fits the data (exit 2 otherwise).
learn::ModelFactory model_factory(const LearnArgs& a, const std::string& model, const data::Dataset& train) {
  if (is_regression(a.dataset)) {
    const auto& names = learn::regression_model_names();
    if (std::find(names.begin(), names.end(), model) == names.end())
      throw std::invalid_argument("--model " + model + " is not a regression model; --dataset " + a.dataset +
                                  " takes linear or mlp (in -> 100 -> 100 -> 1)");
    const int64_t in = train.inputs.size(1);
    return [model, in](Generator& g) { return learn::make_regression_model(model, in, g); };
  }
  if (model == "linear")
    throw std::invalid_argument("--model linear is for the regression datasets (boston, diabetes); try logistic");
  const ModelSpec& spec = model_spec(model);  // throws invalid_argument listing the names
  Shape example;
  for (int i = 1; i < train.inputs.dim(); ++i) example.push_back(train.inputs.size(i));
  if (example != spec.input)
    throw std::invalid_argument("model '" + model + "' takes inputs " + spec.input.str() + " but dataset '" + a.dataset +
                                "' has " + example.str());
  const int64_t classes = train.num_classes;
  return [model, classes](Generator& g) { return make_model(model, classes, g); };
}

// Test error (classification) or test MSE in standardised units (regression).
double test_score(Module& m, const data::Dataset& test) {
  return test.is_classification() ? 1 - evaluate_accuracy(m, test) : evaluate_loss(m, test, "mse");
}

// A fresh model of `seed` trained with SGD and options `o`, then scored on the test split. Every run
// of one seed uses the same streams: init 0, batch order 2, and dropout masks 4 (the default
// generator is reseeded, so no seed depends on the seeds before it in the list). Returns
// {test score, training seconds}.
std::pair<double, double> train_seeded(const learn::ModelFactory& factory, uint64_t seed, const data::Splits& sp,
                                       const TrainOptions& o, double lr, double momentum) {
  manual_seed(learn::derive_generator(seed, 4).seed());
  Generator init = learn::derive_generator(seed, 0), order = learn::derive_generator(seed, 2);
  auto m = factory(init);
  SGD opt(m->parameters(), SGDOptions{lr, momentum});
  const double seconds = train_supervised(*m, opt, sp.train, o, order).seconds;
  return {test_score(*m, sp.test), seconds};
}

namespace {

struct SeedResult {
  uint64_t seed;
  double baseline, learned, baseline_seconds, learned_seconds;
  int64_t skipped = 0;
  std::vector<double> extra, extra_seconds;  // one per --extra-baselines loss
};

struct MeanStd {
  double mean, std;  // sample std (n - 1); NaN for one seed
};
MeanStd mean_std(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m += x;
  m /= double(v.size());
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return {m, v.size() > 1 ? std::sqrt(ss / double(v.size() - 1)) : NAN};
}

}  // namespace

CLI::App* add_learn_command(CLI::App& app, LearnArgs& a) {
  auto* c = app.add_subcommand("learn", "Meta-learn a loss function (ML3 or AdaLFL) and compare it with CE/MSE over seeds");
  c->add_option("--method", a.method, "ml3 (offline, Bechtle et al.) or adalfl (online, Raymond et al.)")
      ->required()->check(CLI::IsMember({"ml3", "adalfl"}));
  c->add_option("--dataset", a.dataset, "fashion-mnist (Debian's package), mnist or cifar10 (need --data-dir), boston or diabetes (regression, python3-sklearn's CSVs)")
      ->check(CLI::IsMember({"fashion-mnist", "mnist", "cifar10", "boston", "diabetes"}))->capture_default_str();
  c->add_option("--data-dir", a.data_dir, "folder with the dataset files");
  c->add_option("--model", a.model, "base model: a zoo model for images (default logistic; allcnn_c for cifar10), linear or mlp for regression (default mlp)");
  c->add_option("--seeds", a.seeds, "comma-separated seeds; each gives its own split, init, batch order and loss init")->capture_default_str();
  c->add_option("--meta-steps", a.meta_steps, "ML3 meta steps / AdaLFL offline-init meta steps (default " +
                                                  std::to_string(kDefaultMetaSteps) + "; the thesis uses 250)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--inner-steps", a.inner_steps, "unrolled SGD steps per meta step (ML3 and the AdaLFL offline init)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  c->add_option("--inner-lr", a.inner_lr, "alpha: SGD lr of the unrolled steps and of base training (baseline, meta-test, AdaLFL online)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  c->add_option("--meta-lr", a.meta_lr, "Adam lr on the loss network")->check(CLI::PositiveNumber)->capture_default_str();
  c->add_option("--momentum", a.momentum, "base SGD momentum (baseline, ML3 meta-test, AdaLFL online: its look-ahead uses it with the old buffer "
                    "held constant); ML3's unrolled steps are plain SGD")
      ->check(CLI::Range(0.0, 0.999))->capture_default_str();
  c->add_flag("--learn-lr", a.learn_lr, "AdaLFL: meta-learn alpha too (log-parameter, offline and online)");
  c->add_option("--clip-norm", a.clip_norm, "meta-gradient clipping by global norm (0: off); non-finite ones are skipped and counted")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--steps", a.steps, "base training steps of the baseline, the meta-test and AdaLFL's online run (default " +
                                        std::to_string(kDefaultSteps) + ")")->check(CLI::NonNegativeNumber);
  c->add_option("--epochs", a.epochs, "passes over the training split instead of --steps")->check(CLI::NonNegativeNumber);
  c->add_option("--batch-size", a.batch_size, "examples per base / meta batch")->check(CLI::PositiveNumber)->capture_default_str();
  c->add_option("--val-fraction", a.val_fraction, "stratified validation split (classification) for the meta-objective")
      ->check(CLI::Range(0.01, 0.9))->capture_default_str();
  c->add_option("--snapshots", a.snapshots, "AdaLFL: plot phi at this many points of online training")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--extra-baselines", a.extra_baselines,
                "more fixed losses trained exactly like the baseline, as extra table columns: "
                "lsr, sparse_lsr, focal, mse (classification), l1 (regression)");
  c->add_option("--threads", a.threads, "CPU threads (default: all cores)")->check(CLI::PositiveNumber);
  c->add_option("--out", a.out, "output folder (default runs/learn-METHOD-DATASET-MODEL)");
  c->add_option("--metrics", a.metrics, "JSON-lines metrics file (default OUT/metrics.jsonl; appended)");
  c->add_option("--log-every", a.log_every, "base steps between metrics lines")->check(CLI::PositiveNumber)->capture_default_str();
  // Read by main's expand_config before parsing; registered so that --help lists it.
  c->add_option("--config", a.config, "JSON file of options, e.g. {\"method\": \"ml3\", \"meta-steps\": 100} (command-line options win)");
  return c;
}

int run_learn(const LearnArgs& in) {
  LearnArgs a = in;
  // ---- option combinations (std::invalid_argument: exit 2) ----
  if (a.steps > 0 && a.epochs > 0) throw std::invalid_argument("give either --steps or --epochs, not both");
  if (a.steps == 0 && a.epochs == 0) a.steps = kDefaultSteps;
  if (a.meta_steps < 0) a.meta_steps = kDefaultMetaSteps;
  if (a.method == "ml3" && a.meta_steps == 0) throw std::invalid_argument("--method ml3 needs --meta-steps >= 1");
  if (a.method == "ml3" && a.learn_lr) throw std::invalid_argument("--learn-lr is for --method adalfl (ML3 meta-tests with a fixed lr)");
  if (is_regression(a.dataset) && !a.data_dir.empty() && !fs::is_directory(a.data_dir))
    throw std::invalid_argument("--data-dir " + a.data_dir + ": no such directory");
  const std::vector<uint64_t> seeds = parse_seeds(a.seeds);
  std::vector<std::string> extras;
  for (size_t b = 0; b < a.extra_baselines.size();) {
    size_t e = a.extra_baselines.find(',', b);
    if (e == std::string::npos) e = a.extra_baselines.size();
    const std::string name = a.extra_baselines.substr(b, e - b);
    const bool ok = is_regression(a.dataset) ? name == "l1"
                                             : (name == "lsr" || name == "sparse_lsr" || name == "focal" || name == "mse");
    if (!ok)
      throw std::invalid_argument("--extra-baselines: '" + name + "' is not a fixed loss for this dataset (expected " +
                                  (is_regression(a.dataset) ? "l1" : "lsr, sparse_lsr, focal or mse") + ")");
    extras.push_back(name);
    b = e + 1;
  }
  const std::string model = a.model.empty() ? default_model(a.dataset) : a.model;
  if (a.threads > 0) kernels::set_num_threads(a.threads);

  // ---- data (loaded once, split per seed) ----
  data::TrainTest tt;
  data::Dataset table;
  if (is_regression(a.dataset)) {
    const std::string dir = a.data_dir.empty() ? data::kSklearnDataDir : a.data_dir;
    table = a.dataset == "boston" ? data::load_boston(dir) : data::load_diabetes(dir);
  } else {
    tt = load_classification(a);
  }
  model_factory(a, model, is_regression(a.dataset) ? table : tt.train);  // fail on a mismatch before any long work
  const bool regression = is_regression(a.dataset);
  const std::string base_loss = regression ? "mse" : "ce", score = regression ? "test MSE" : "test error";
  const std::string out = a.out.empty() ? "runs/learn-" + a.method + "-" + a.dataset + "-" + model : a.out;
  fs::create_directories(out);
  MetricsWriter metrics(a.metrics.empty() ? out + "/metrics.jsonl" : a.metrics);
  metrics.write({{"meta_steps", double(a.meta_steps)}, {"inner_steps", double(a.inner_steps)}, {"inner_lr", a.inner_lr},
                 {"meta_lr", a.meta_lr}, {"steps", double(a.steps)}, {"epochs", double(a.epochs)},
                 {"batch_size", double(a.batch_size)}, {"momentum", a.momentum}},
                {{"event", "start"}, {"method", a.method}, {"dataset", a.dataset}, {"model", model}, {"seeds", a.seeds}});
  std::fprintf(stderr, "metaloss learn: %s on %s with %s, seeds %s, %lld meta steps, %s %lld, output in %s\n",
               a.method.c_str(), a.dataset.c_str(), model.c_str(), a.seeds.c_str(), (long long)a.meta_steps,
               a.epochs > 0 ? "epochs" : "steps", (long long)(a.epochs > 0 ? a.epochs : a.steps), out.c_str());

  std::vector<SeedResult> results;
  for (uint64_t seed : seeds) {
    // The same streams as `metaloss train --seed`: 0 init, 1 split, 2 batch order; 3 loss init.
    Generator split_gen = learn::derive_generator(seed, 1);
    data::Splits sp = make_splits(a, tt, table, split_gen);
    const learn::ModelFactory factory = model_factory(a, model, sp.train);
    const learn::LearnTask task{sp.train, sp.valid, factory};
    TrainOptions to;
    to.steps = a.steps;
    to.epochs = a.epochs;
    to.batch_size = a.batch_size;
    to.loss = base_loss;
    // Only the progress lines use it here (no metrics from these runs): about every twentieth.
    const int64_t budget = a.epochs > 0 ? a.epochs * ((sp.train.size() + a.batch_size - 1) / a.batch_size) : a.steps;
    to.log_every = std::max<int64_t>(a.log_every, budget / 20);
    SeedResult r{seed, NAN, NAN, 0, 0, 0, {}, {}};

    // Baselines: CE / MSE, then any --extra-baselines, each with the init, masks, batches and
    // budget of the learned loss's base training.
    for (size_t i = 0; i <= extras.size(); ++i) {
      TrainOptions o = to;
      o.loss = i == 0 ? base_loss : extras[i - 1];
      std::fprintf(stderr, "seed %llu: baseline (%s)\n", (unsigned long long)seed, o.loss.c_str());
      const auto [score, seconds] = train_seeded(factory, seed, sp, o, a.inner_lr, a.momentum);
      if (i == 0) {
        r.baseline = score;
        r.baseline_seconds = seconds;
      } else {
        r.extra.push_back(score);
        r.extra_seconds.push_back(seconds);
      }
    }

    Generator loss_gen = learn::derive_generator(seed, 3);
    const Mode mode = regression ? Mode::Regression : Mode::Classification;
    auto loss = a.method == "ml3" ? LearnedLoss::ml3(mode, loss_gen) : LearnedLoss::adalfl(mode, loss_gen);
    std::vector<learn::LossSnapshot> snaps{learn::snapshot(*loss, "initial", 0)};
    const auto t0 = std::chrono::steady_clock::now();
    manual_seed(learn::derive_generator(seed, 4).seed());  // dropout masks, as for the baseline
    Generator init = learn::derive_generator(seed, 0), order = learn::derive_generator(seed, 2);
    auto m = factory(init);
    if (a.method == "ml3") {
      learn::ML3Config c;
      c.meta_steps = a.meta_steps;
      c.inner_steps = a.inner_steps;
      c.inner_lr = a.inner_lr;
      c.meta_lr = a.meta_lr;
      c.batch_size = a.batch_size;
      c.clip_norm = a.clip_norm;
      c.seed = seed;
      learn::ML3 ml3(task, loss, c);
      r.skipped = ml3.run(&metrics).skipped;
      snaps.push_back(learn::snapshot(*loss, "meta-trained", a.meta_steps));
      std::fprintf(stderr, "seed %llu: meta-test (frozen learned loss)\n", (unsigned long long)seed);
      TrainOptions lt = to;
      lt.loss = "learned";
      lt.loss_fn = learn::frozen_loss(*loss);
      SGD opt(m->parameters(), SGDOptions{a.inner_lr, a.momentum});
      train_supervised(*m, opt, sp.train, lt, order);
    } else {
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
      c.seed = seed;
      c.log_every = a.log_every;
      learn::AdaLFL ada(task, loss, c);
      const learn::AdaLFLReport rep = ada.run(*m, order, &metrics);
      r.skipped = rep.offline.skipped + rep.skipped_base + rep.skipped_meta;
      snaps = rep.snapshots;
      if (a.learn_lr) std::fprintf(stderr, "seed %llu: learned lr %.5g\n", (unsigned long long)seed, rep.lr);
    }
    r.learned_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.learned = test_score(*m, sp.test);
    const std::string tag = out + "/learned-loss-seed" + std::to_string(seed);
    loss->save(tag + ".safetensors");
    const learn::PlotFiles pf = learn::write_plot(
        learn::sample_learned_loss(loss->config(), snaps, a.method + " learned loss, " + a.dataset + " / " + model + ", seed " + std::to_string(seed)),
        out + "/loss-seed" + std::to_string(seed));
    if (!pf.note.empty()) std::fprintf(stderr, "metaloss learn: %s\n", pf.note.c_str());
    metrics.write({{"seed", double(seed)}, {"baseline", r.baseline}, {"learned", r.learned}, {"skipped", double(r.skipped)},
                   {"baseline_seconds", r.baseline_seconds}, {"learned_seconds", r.learned_seconds}},
                  {{"event", "seed-end"}, {"metric", regression ? "test_mse" : "test_error"}});
    results.push_back(r);
  }

  // ---- the table: stdout, results.md, results.csv ----
  auto fmt = [&](double v) {
    char b[32];
    if (regression) std::snprintf(b, sizeof b, "%.4f", v);
    else std::snprintf(b, sizeof b, "%.2f%%", 100 * v);
    return std::string(b);
  };
  auto fmt_ms = [&](const MeanStd& s) { return fmt(s.mean) + " ± " + (std::isnan(s.std) ? std::string("n/a") : fmt(s.std)); };
  std::vector<double> base_v, learned_v;
  std::vector<std::vector<double>> extra_v(extras.size());
  for (const auto& r : results) {
    base_v.push_back(r.baseline);
    learned_v.push_back(r.learned);
    for (size_t i = 0; i < extras.size(); ++i) extra_v[i].push_back(r.extra[i]);
  }
  const std::string h_base = "baseline (" + base_loss + ") " + score, h_learned = a.method + " " + score;
  std::printf("%-12s %24s %24s %10s", "seed", h_base.c_str(), h_learned.c_str(), "skipped");
  for (const auto& e : extras) std::printf(" %24s", (e + " " + score).c_str());
  std::printf("\n");
  std::ofstream md(out + "/results.md"), csv(out + "/results.csv");
  md << "# metaloss learn: " << a.method << " on " << a.dataset << " with " << model << "\n\n"
     << "meta steps " << a.meta_steps << ", inner steps " << a.inner_steps << ", alpha " << a.inner_lr << ", meta lr "
     << a.meta_lr << ", " << (a.epochs > 0 ? "epochs " + std::to_string(a.epochs) : "steps " + std::to_string(a.steps))
     << ", batch " << a.batch_size << ", momentum " << a.momentum << "\n\n"
     << "| seed | " << h_base << " | " << h_learned << " | skipped |";
  for (const auto& e : extras) md << " " << e << " " << score << " |";
  md << "\n|---:|---:|---:|---:|";
  for (size_t i = 0; i < extras.size(); ++i) md << "---:|";
  md << "\n";
  csv << "seed,baseline_" << (regression ? "test_mse" : "test_error") << "," << a.method << "_"
      << (regression ? "test_mse" : "test_error") << ",skipped,baseline_seconds,learned_seconds";
  for (const auto& e : extras) csv << "," << e << "_" << (regression ? "test_mse" : "test_error") << "," << e << "_seconds";
  csv << "\n";
  for (const auto& r : results) {
    std::printf("%-12llu %24s %24s %10lld", (unsigned long long)r.seed, fmt(r.baseline).c_str(), fmt(r.learned).c_str(),
                (long long)r.skipped);
    md << "| " << r.seed << " | " << fmt(r.baseline) << " | " << fmt(r.learned) << " | " << r.skipped << " |";
    csv << r.seed << "," << r.baseline << "," << r.learned << "," << r.skipped << "," << r.baseline_seconds << ","
        << r.learned_seconds;
    for (size_t i = 0; i < extras.size(); ++i) {
      std::printf(" %24s", fmt(r.extra[i]).c_str());
      md << " " << fmt(r.extra[i]) << " |";
      csv << "," << r.extra[i] << "," << r.extra_seconds[i];
    }
    std::printf("\n");
    md << "\n";
    csv << "\n";
  }
  const std::string mb = fmt_ms(mean_std(base_v)), ml = fmt_ms(mean_std(learned_v));
  // printf pads by bytes and "±" takes two: one more byte of width per "±" keeps the columns.
  std::printf("%-13s %25s %25s %10s", "mean ± std", mb.c_str(), ml.c_str(), "");
  md << "| mean ± std | " << mb << " | " << ml << " | |";
  for (size_t i = 0; i < extras.size(); ++i) {
    const std::string me = fmt_ms(mean_std(extra_v[i]));
    std::printf(" %25s", me.c_str());
    md << " " << me << " |";
  }
  std::printf("\n");
  md << "\n";
  std::fprintf(stderr, "wrote %s/: results.md, results.csv, metrics, learned-loss-seed*.safetensors, loss-seed*.{gp,dat,svg}\n",
               out.c_str());
  return 0;
}

}  // namespace metaloss::app
