#include "apps/fewshot.h"
#include "apps/usage_error.h"

#include <CLI/CLI.hpp>

#include "apps/cli_checks.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "engine/runtime.h"
#include "meta/data/fewshot.h"
#include "meta/fewshot/meta_train.h"
#include "meta/learn/plot.h"
#include "meta/search/run_store.h"

namespace metaloss::app {
namespace fs = std::filesystem;
using search::RunConfig;

namespace {

std::string num(double v) {
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

// Images are rendered / resized to --image-size, by default 28 for kanji and omniglot and 84 for
// image folders; the mini-ImageNet pickles hold 84x84 arrays and are not resized.
int64_t image_size(const FewShotArgs& a) {
  if (a.dataset == "mini-imagenet") {
    if (a.image_size != 0 && a.image_size != 84)
      throw UsageError("fewshot: the mini-ImageNet pickles hold 84x84 images; --image-size " +
                                  std::to_string(a.image_size) + " is not supported for them");
    return 84;
  }
  if (a.image_size > 0) return a.image_size;
  return a.dataset == "images" ? 84 : 28;
}

// The three class-disjoint samplers of a dataset choice. Kanji and single folders are split by
// the fixed class permutation (kanji_splits); the mini-ImageNet pickles come as three files.
struct Samplers {
  std::shared_ptr<data::EpisodeSampler> train, valid, test;
  std::string describe;
};

Samplers make_samplers(const FewShotArgs& a) {
  std::shared_ptr<const data::FewShotDataset> tr, va, te;
  data::ClassSplits sp;
  const int64_t size = image_size(a);
  if (a.dataset == "kanji") {
    data::KanjiOptions ko;
    ko.size = size;
    ko.samples_per_class = a.samples_per_class;
    tr = data::load_kanji(a.data.empty() ? data::default_kanji_path() : a.data, ko);
    va = te = tr;
    sp = data::kanji_splits(tr->num_classes());
  } else if (a.dataset == "omniglot" || a.dataset == "images") {
    if (a.data.empty()) throw UsageError("fewshot --dataset " + a.dataset + " needs --data-dir FOLDER");
    tr = a.dataset == "omniglot" ? data::load_omniglot_folder(a.data, size) : data::load_image_folder(a.data, size);
    va = te = tr;
    sp = data::kanji_splits(tr->num_classes());
  } else if (a.dataset == "mini-imagenet") {
    if (a.data.empty()) throw UsageError("fewshot --dataset mini-imagenet needs --data-dir FOLDER with mini-imagenet-cache-{train,val,test}.pkl");
    auto file = [&](const char* part) { return (fs::path(a.data) / (std::string("mini-imagenet-cache-") + part + ".pkl")).string(); };
    tr = data::load_mini_imagenet_pickle(file("train"));
    va = data::load_mini_imagenet_pickle(file("val"));
    te = data::load_mini_imagenet_pickle(file("test"));
    auto all = [](const data::FewShotDataset& d) {
      std::vector<int64_t> v(size_t(d.num_classes()));
      for (size_t i = 0; i < v.size(); ++i) v[i] = int64_t(i);
      return v;
    };
    sp = {all(*tr), all(*va), all(*te)};
  } else {
    throw UsageError("fewshot: unknown --dataset '" + a.dataset + "' (expected kanji, omniglot, images or mini-imagenet)");
  }
  Samplers s;
  // Training tasks follow --seed; validation and test tasks follow --task-seed only, so every
  // method and every run meets the same 600 test tasks.
  auto sampler = [&](const char* split, std::shared_ptr<const data::FewShotDataset> d, const std::vector<int64_t>& classes,
                     uint64_t seed) {
    try {
      return std::make_shared<data::EpisodeSampler>(d, classes, a.ways, a.shots, a.queries, seed);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("fewshot: the ") + split + " split: " + e.what() +
                                  (a.dataset == "kanji" ? " (--samples-per-class sets the kanji samples per class)" : ""));
    }
  };
  s.train = sampler("meta-training", tr, sp.train, a.seed);
  s.valid = sampler("meta-validation", va, sp.valid, a.task_seed + 1);
  s.test = sampler("meta-test", te, sp.test, a.task_seed + 2);
  s.describe = tr->name() + " (" + std::to_string(sp.train.size()) + " / " + std::to_string(sp.valid.size()) + " / " +
               std::to_string(sp.test.size()) + " classes, " + std::to_string(tr->channels()) + "x" +
               std::to_string(tr->height()) + "x" + std::to_string(tr->width()) + ")";
  return s;
}

// The recorded options, one table for both directions (make_config / fewshot_args_from_config).
struct IntOption {
  const char* key;
  int64_t FewShotArgs::*field;
};
constexpr IntOption kIntOptions[] = {
    {"ways", &FewShotArgs::ways},           {"shots", &FewShotArgs::shots},
    {"queries", &FewShotArgs::queries},     {"hidden", &FewShotArgs::hidden},
    {"samples_per_class", &FewShotArgs::samples_per_class},
    {"iterations", &FewShotArgs::iterations}, {"val_every", &FewShotArgs::val_every},
    {"val_tasks", &FewShotArgs::val_tasks}, {"test_tasks", &FewShotArgs::test_tasks}};
struct RealOption {
  const char* key;
  double FewShotArgs::*field;
};
constexpr RealOption kRealOptions[] = {{"inner_lr", &FewShotArgs::inner_lr},
                                       {"meta_lr", &FewShotArgs::meta_lr},
                                       {"meta_lr_min", &FewShotArgs::meta_lr_min},
                                       {"clip", &FewShotArgs::clip}};
struct SwitchOption {  // npbml only
  const char* key;
  bool FewShotArgs::*field;
  bool on_means;  // the field's value when the recorded switch is "on"
};
constexpr SwitchOption kSwitches[] = {{"learned_loss", &FewShotArgs::no_learned_loss, false},
                                      {"warp", &FewShotArgs::no_warp, false},
                                      {"film", &FewShotArgs::no_film, false},
                                      {"transductive", &FewShotArgs::transductive, true}};

RunConfig make_config(const FewShotArgs& a, int64_t meta_batch) {
  RunConfig c;
  c["kind"] = "fewshot";
  c["method"] = a.method;
  c["dataset"] = a.dataset;
  c["data"] = a.data;
  for (const auto& o : kIntOptions) c[o.key] = std::to_string(a.*o.field);
  for (const auto& o : kRealOptions) c[o.key] = num(a.*o.field);
  c["image_size"] = std::to_string(image_size(a));
  c["threads"] = std::to_string(a.threads);  // GEMM summation order, hence exact resumes, can depend on it
  c["inner_steps"] = std::to_string(a.inner_steps);
  c["second_order_steps"] = std::to_string(a.first_order ? 0 : a.second_order_steps);  // 0: first order
  c["meta_batch"] = std::to_string(meta_batch);
  c["seed"] = std::to_string(a.seed);
  c["task_seed"] = std::to_string(a.task_seed);
  if (a.method == "npbml")
    for (const auto& o : kSwitches) c[o.key] = a.*o.field == o.on_means ? "on" : "off";
  return c;
}

std::string run_name(const FewShotArgs& a) {
  std::string n = "runs/fewshot-" + a.method + "-" + a.dataset + "-" + std::to_string(a.ways) + "w" + std::to_string(a.shots) + "s";
  if (a.method == "npbml") {
    if (a.no_learned_loss) n += "-noloss";
    if (a.no_warp) n += "-nowarp";
    if (a.no_film) n += "-nofilm";
    if (a.transductive) n += "-transductive";
  }
  if (a.first_order) n += "-fo";
  else if (a.second_order_steps >= 0) n += "-so" + std::to_string(a.second_order_steps);
  if (a.seed != 0) n += "-seed" + std::to_string(a.seed);
  return n;
}

void write_validation_plot(const std::string& dir, const std::string& what, int64_t tasks, const fewshot::MetaTrainResult& r) {
  if (r.validation.size() < 2) return;
  learn::LossPlot p;
  p.title = what + ": meta-validation accuracy over " + std::to_string(tasks) + " tasks";
  p.xlabel = "meta-step";
  p.ylabel = "accuracy (%)";
  p.names = {"validation accuracy"};
  p.values.assign(1, {});
  p.group = {0};
  p.dashed = {false};
  p.integer_x = true;
  p.lower.assign(1, {});
  p.upper.assign(1, {});
  bool band = true;  // a checkpoint from before the CI was kept has none for its early points
  for (const fewshot::ValidationPoint& v : r.validation) {
    p.x.push_back(double(v.step));
    p.values[0].push_back(100 * v.accuracy);
    p.lower[0].push_back(100 * (v.accuracy - v.ci95));
    p.upper[0].push_back(100 * (v.accuracy + v.ci95));
    band = band && std::isfinite(v.ci95);
  }
  if (!band) p.lower.clear(), p.upper.clear();
  learn::write_plot(p, dir + "/validation");
}

}  // namespace

CLI::App* add_fewshot_command(CLI::App& app, FewShotArgs& a) {
  auto* c = app.add_subcommand("fewshot", "Few-shot meta-learning: MAML, Meta-SGD or NPBML on N-way K-shot tasks; "
                                          "the same command resumes a killed run");
  c->add_option("--method", a.method, "maml, metasgd or npbml")->check(CLI::IsMember({"maml", "metasgd", "npbml"}))->capture_default_str();
  c->add_option("--dataset", a.dataset, "kanji (Debian python3-kanjidraw, rendered), omniglot (ROOT/ALPHABET/CHARACTER/*.png), "
                                        "images (ROOT/CLASS/*.jpg|png) or mini-imagenet (folder of the three .pkl files)")
      ->check(CLI::IsMember({"kanji", "omniglot", "images", "mini-imagenet"}))->capture_default_str();
  c->add_option("--data-dir", a.data, "folder of the dataset, or kanji's data.json (default: python3-kanjidraw's)");
  add_deprecated_alias(c, "--data", "--data-dir", a.data);
  c->add_option("--ways", a.ways, "classes per task")->check(CLI::Range(2, 1000))->capture_default_str();
  c->add_option("--shots", a.shots, "support examples per class")->check(CLI::Range(1, 1000))->capture_default_str();
  c->add_option("--queries", a.queries, "query examples per class")->check(CLI::Range(1, 1000))->capture_default_str();
  c->add_option("--hidden", a.hidden, "Conv-4 channels")->check(CLI::Range(1, 1024))->capture_default_str();
  c->add_option("--image-size", a.image_size, "side of the rendered / resized images (default 28 for kanji and omniglot, "
                                              "84 for image folders; the mini-ImageNet pickles are 84)")->check(CLI::Range(4, 512));
  c->add_option("--samples-per-class", a.samples_per_class, "kanji: rendered samples per character")->check(CLI::Range(2, 100000))->capture_default_str();
  c->add_option("--inner-steps", a.inner_steps, "inner-loop SGD steps")->check(CLI::Range(1, 1000))->capture_default_str();
  c->add_option("--inner-lr", a.inner_lr, "inner-loop learning rate (Meta-SGD: initial rates)")->check(CLI::PositiveNumber)->capture_default_str();
  c->add_flag("--first-order", a.first_order, "first-order meta-gradient (no second derivatives)");
  c->add_option("--second-order-steps", a.second_order_steps, "differentiate only the last N inner steps to second order "
                                                              "(truncated unrolling; -1: all)")->check(CLI::Range(-1, 1000))->capture_default_str();
  c->add_option("--meta-steps", a.iterations, "meta-steps (outer-loop Adam steps)")->check(CLI::NonNegativeNumber)->capture_default_str();
  add_deprecated_alias(c, "--iterations", "--meta-steps", a.iterations)->check(CLI::NonNegativeNumber);
  c->add_option("--meta-batch", a.meta_batch, "tasks per meta-step (default 4 for 1-shot, 2 otherwise, as the thesis)")->check(CLI::NonNegativeNumber);
  c->add_option("--meta-lr", a.meta_lr, "Adam learning rate, cosine-decayed to --meta-lr-min")->check(CLI::PositiveNumber)->capture_default_str();
  c->add_option("--meta-lr-min", a.meta_lr_min, "final meta learning rate")->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--clip-norm", a.clip, "meta-gradient clipping by global norm (0: off)")->check(CLI::NonNegativeNumber)->capture_default_str();
  add_deprecated_alias(c, "--clip", "--clip-norm", a.clip)->check(CLI::NonNegativeNumber);
  c->add_option("--val-every", a.val_every, "meta-steps between meta-validations (the best state is kept)")->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--val-tasks", a.val_tasks, "meta-validation tasks")->check(CLI::PositiveNumber)->capture_default_str();
  c->add_option("--test-tasks", a.test_tasks, "meta-test tasks")->check(CLI::PositiveNumber)->capture_default_str();
  c->add_option("--checkpoint-every", a.checkpoint_every, "meta-steps between checkpoints")->check(CLI::PositiveNumber)->capture_default_str();
  c->add_flag("--no-learned-loss", a.no_learned_loss, "npbml ablation: CE only in the inner loop");
  c->add_flag("--no-warp", a.no_warp, "npbml ablation: no warp (preconditioning) layers");
  c->add_flag("--no-film", a.no_film, "npbml ablation: no FiLM task conditioning");
  c->add_flag("--transductive", a.transductive, "npbml: add the learned loss term on the query predictions");
  c->add_option("--seed", a.seed, "initialisation and training tasks")->check(kSeedCheck)->capture_default_str();
  c->add_option("--task-seed", a.task_seed, "validation and test tasks (keep it fixed to compare methods)")->check(kSeedCheck)->capture_default_str();
  c->add_option("--threads", a.threads, "CPU threads")->check(CLI::PositiveNumber)->capture_default_str();
  c->add_option("--device", a.device, std::string(kDeviceHelp) + " (a run may be resumed on another device)")
      ->capture_default_str();
  c->add_option("--out", a.out, "run folder (default runs/fewshot-METHOD-DATASET-NwKs[-ablation])");
  c->add_option("--metrics", a.metrics, "JSON-lines metrics file (default RUN/metrics.jsonl; a resumed run appends, a fresh one "
                                        "starts it anew)")->check(kWritableFileCheck);
  c->add_option("--log-every", a.log_every, "meta-steps between metrics lines")->check(CLI::PositiveNumber)->capture_default_str();
  return c;
}

FewShotArgs fewshot_args_from_config(const std::map<std::string, std::string>& c, const std::string& dir) {
  auto get = [&](const char* k) -> const std::string& {
    const auto it = c.find(k);
    if (it == c.end()) throw std::runtime_error("few-shot run " + dir + ": its configuration has no '" + k + "'");
    return it->second;
  };
  auto integer = [&](const char* k) {
    try {
      return std::stoll(get(k));
    } catch (const std::logic_error&) {
      throw std::runtime_error("few-shot run " + dir + ": configuration '" + k + "' = '" + get(k) + "' is not an integer");
    }
  };
  auto real = [&](const char* k) {
    try {
      return std::stod(get(k));
    } catch (const std::logic_error&) {
      throw std::runtime_error("few-shot run " + dir + ": configuration '" + k + "' = '" + get(k) + "' is not a number");
    }
  };
  FewShotArgs a;
  a.method = get("method");
  a.dataset = get("dataset");
  a.data = get("data");
  a.out = dir;
  for (const auto& o : kIntOptions) a.*o.field = integer(o.key);
  for (const auto& o : kRealOptions) a.*o.field = real(o.key);
  a.image_size = integer("image_size");
  a.inner_steps = int(integer("inner_steps"));
  a.second_order_steps = int(integer("second_order_steps"));
  a.first_order = a.second_order_steps == 0;
  if (a.first_order) a.second_order_steps = -1;
  a.meta_batch = integer("meta_batch");
  a.seed = uint64_t(integer("seed"));
  a.task_seed = uint64_t(integer("task_seed"));
  a.threads = c.count("threads") ? int(integer("threads")) : 1;
  if (a.method == "npbml")
    for (const auto& o : kSwitches) a.*o.field = get(o.key) == "on" ? o.on_means : !o.on_means;
  return a;
}

int run_fewshot(const FewShotArgs& a, const std::string& command_line) {
  set_num_threads(a.threads);
  const Device device = parse_device_option(a.device, "--device");
  const int64_t meta_batch = a.meta_batch > 0 ? a.meta_batch : a.shots == 1 ? 4 : 2;
  const RunConfig cfg = make_config(a, meta_batch);
  const Samplers s = make_samplers(a);
  fewshot::LearnerConfig lc;
  lc.method = a.method;
  lc.in_channels = s.train->dataset().channels();
  lc.image_size = s.train->dataset().height();
  if (s.train->dataset().width() != lc.image_size)
    throw UsageError("fewshot: Conv-4 expects square images, the data set has " +
                                std::to_string(s.train->dataset().height()) + "x" + std::to_string(s.train->dataset().width()));
  lc.hidden = a.hidden;
  lc.ways = a.ways;
  lc.inner_steps = a.inner_steps;
  lc.inner_lr = a.inner_lr;
  lc.second_order_steps = a.first_order ? 0 : a.second_order_steps;
  lc.learned_loss = !a.no_learned_loss;
  lc.warp = !a.no_warp;
  lc.film = !a.no_film;
  lc.transductive = a.transductive;
  lc.seed = a.seed;
  fewshot::Learner learner(lc);
  learner.to(device);  // meta-parameters, their Adam moments and each episode live there
  const std::string dir = a.out.empty() ? run_name(a) : a.out;
  fs::create_directories(dir);
  search::RunStore store((fs::path(dir) / search::RunStore::kFileName).string(), true);
  try {
    store.set_config(cfg);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string(e.what()) + "\nrun the command it was made with to resume it, or choose another --out");
  }
  const std::string hash = search::config_hash(cfg);
  auto results = store.results();
  if (results.count("status") && results["status"] == "complete") {
    std::printf("%s: already complete: test accuracy %.2f%% +- %.2f%% over %s tasks\n", dir.c_str(),
                100 * std::stod(results["test_accuracy"]), 100 * std::stod(results["test_ci95"]), results["test_tasks"].c_str());
    return 0;
  }
  fewshot::MetaTrainOptions o;
  o.iterations = a.iterations;
  o.meta_batch = meta_batch;
  o.meta_lr = a.meta_lr;
  o.meta_lr_min = a.meta_lr_min;
  o.clip = a.clip;
  o.val_every = a.val_every;
  o.val_tasks = a.val_tasks;
  o.test_tasks = a.test_tasks;
  o.checkpoint_every = a.checkpoint_every;
  o.run_dir = dir;
  if (const char* k = std::getenv("METALOSS_TEST_STOP_AFTER")) o.stop_after = std::atoll(k);
  // Resumed (a checkpoint is there): append; fresh: the file starts anew. Lines of meta-steps after
  // the last checkpoint of a killed session appear again when those steps are redone.
  const bool resuming = fs::exists(fs::path(dir) / "checkpoint.safetensors");
  MetricsWriter metrics(a.metrics.empty() ? (fs::path(dir) / "metrics.jsonl").string() : a.metrics, resuming);
  metrics.write({{"ways", double(a.ways)}, {"shots", double(a.shots)}, {"meta_steps", double(a.iterations)},
                 {"meta_batch", double(meta_batch)}},
                {{"event", "start"}, {"method", a.method}, {"dataset", a.dataset}, {"run", dir}, {"device", device.str()}},
                {{"resumed", resuming}});
  o.metrics = &metrics;
  o.log_every = a.log_every;
  std::fprintf(stderr, "metaloss fewshot: %s; %lld-way %lld-shot, %lld queries per class, meta-batch %lld, %lld meta-steps; data %s; run %s\n",
               learner.describe().c_str(), (long long)a.ways, (long long)a.shots, (long long)a.queries,
               (long long)meta_batch, (long long)a.iterations, s.describe.c_str(), dir.c_str());
  const int session = store.begin_session(command_line);
  store.set_result("device_session_" + std::to_string(session), device.str());  // where each session ran
  const fewshot::MetaTrainResult r = fewshot::meta_train(learner, *s.train, *s.valid, *s.test, o, hash, &store);
  if (r.peak_meta_step_bytes > 0) {
    std::fprintf(stderr, "peak host memory of a meta-step (meta-batch %lld): %.1f MiB\n", (long long)meta_batch,
                 double(r.peak_meta_step_bytes) / 1048576.0);
    store.set_result("peak_meta_step_mib", num(double(r.peak_meta_step_bytes) / 1048576.0));
  }
  if (r.stopped) {
    std::fprintf(stderr, "stopped after meta-step %lld (METALOSS_TEST_STOP_AFTER); run the same command to resume\n",
                 (long long)r.iterations_done);
    return 0;
  }
  store.end_session(session);
  metrics.write({{"accuracy", r.test.accuracy}, {"ci95", r.test.ci95}, {"tasks", double(a.test_tasks)},
                 {"best_meta_step", double(r.best_iteration)}, {"train_seconds", r.train_seconds},
                 {"test_seconds", r.test_seconds}},
                {{"event", "test"}});
  write_validation_plot(dir, a.method + " on " + a.dataset + ", " + std::to_string(a.ways) + "-way " + std::to_string(a.shots) + "-shot",
                        a.val_tasks, r);
  std::printf("| method | data | ways | shots | meta-steps | best val. (step) | test accuracy (%lld tasks) | train s | test s |\n",
              (long long)a.test_tasks);
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  std::printf("| %s | %s | %lld | %lld | %lld | %.2f%% (%lld) | %.2f%% +- %.2f%% | %.0f | %.0f |\n",
              fs::path(dir).filename().c_str(), a.dataset.c_str(), (long long)a.ways, (long long)a.shots,
              (long long)a.iterations, 100 * r.best_val_accuracy, (long long)r.best_iteration, 100 * r.test.accuracy,
              100 * r.test.ci95, r.train_seconds, r.test_seconds);
  return 0;
}

bool is_fewshot_run(const std::string& dir) {
  const std::string db = (fs::path(dir) / search::RunStore::kFileName).string();
  if (!fs::exists(db)) return false;
  const auto c = search::RunStore(db, false).config();
  return c.count("kind") && c.at("kind") == "fewshot";
}

int resume_fewshot(const std::string& dir, const std::string& device, bool device_given, const std::string& metrics,
                   const std::string& command_line) {
  const std::string db = (fs::path(dir) / search::RunStore::kFileName).string();
  FewShotArgs fa = fewshot_args_from_config(search::RunStore(db, false).config(), dir);
  fa.device = device;  // (may differ from the device it started on)
  fa.metrics = metrics;
  if (!device_given) {  // say so when that silently changes the device
    std::string last;
    int last_session = 0;
    for (const auto& [k, v] : search::RunStore(db, false).results())
      if (k.rfind("device_session_", 0) == 0 && std::stoi(k.substr(15)) > last_session)
        last_session = std::stoi(k.substr(15)), last = v;
    const std::string here = parse_device_option(device, "--device").str();
    if (!last.empty() && last != here)
      std::fprintf(stderr, "note: %s last ran on %s; resuming on %s (--device %s continues there)\n", dir.c_str(),
                   last.c_str(), here.c_str(), last.c_str());
  }
  return run_fewshot(fa, command_line);
}

}  // namespace metaloss::app
