// The metaloss command line.
//   metaloss models                 the model zoo with parameter counts
//   metaloss models show NAME       every parameter's name and shape
//   metaloss train [options]        train a zoo model with a fixed loss (see --help)
//   metaloss learn [options]        meta-learn a loss (ML3 / AdaLFL) vs a CE/MSE baseline (apps/learn.h)
//   metaloss search [options]       TaylorGLO: CMA-ES over a Taylor-polynomial loss, run store (apps/search.h)
//   metaloss resume RUN_DIR         continue an interrupted search
//   metaloss runs list|show|export  inspect search runs
//   metaloss fewshot [options]      few-shot meta-learning: MAML, Meta-SGD, NPBML (apps/fewshot.h)
// Exit codes: 0 success, 1 a failure while running (bad file, divergence), 2 bad usage.
#include <CLI/CLI.hpp>

#include <optional>

#include "meta/experiment/problem.h"
#include "meta/progress.h"
#include "meta/losses/loss_file.h"
#include "meta/losses/simplify.h"
#include "meta/seeds.h"
#include "apps/cli_checks.h"
#include "apps/loss.h"
#include "apps/usage_error.h"

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "apps/config_json.h"
#include "apps/fewshot.h"
#include "apps/learn.h"
#include "apps/mpi_search.h"
#include "apps/search.h"
#include "meta/losses/expression.h"
#include "engine/runtime.h"
#include "meta/train.h"
#include "models/safetensors.h"
#include "models/zoo.h"

using namespace metaloss;
using app::UsageError;

namespace {

struct TrainArgs {
  std::string dataset = "fashion-mnist", data_dir, model = "lenet5", loss = "ce", optimizer = "sgd";
  double lr = 0.01, momentum = 0.0, weight_decay = 0.0, val_fraction = 0.1;
  bool nesterov = false;
  int64_t batch_size = 128, steps = 0, epochs = 0, log_every = 100;
  uint64_t seed = 0;
  bool budget_given = true;  // --steps or --epochs on the command line (--steps 0: evaluate an --init model)
  int threads = 0;
  std::string init, save, metrics, shuffle = "on", augment = "off", normalize = "on", dropout = "on", config;
  std::string lr_schedule = "none", lr_milestones, dtype = "float32", device = "cpu";
  double lr_gamma = 0.1;
  std::string loss_expr;  // a symbolic loss (meta/losses/expression.h) instead of --loss
};

// "5,7.5" -> {5, 7.5}; names the option and the bad item otherwise.
std::vector<double> parse_number_list(const std::string& option, const std::string& text) {
  std::vector<double> out;
  size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = std::string::npos;
    }
    if (item.empty() || used != item.size())
      throw UsageError(option + ": expected comma-separated numbers, got '" + item + "' in '" + text + "'");
    out.push_back(v);
    start = comma + 1;
  }
  return out;
}

// The image sets of `train` (regression sets are `learn`'s), through the loader every command uses.
data::TrainTest load_dataset(const TrainArgs& a) {
  if (experiment::is_regression(a.dataset))
    throw UsageError("--dataset " + a.dataset + ": a regression set; `metaloss learn` trains on it");
  experiment::Problem p;
  p.dataset = a.dataset;
  p.data_dir = a.data_dir;
  return app::as_usage("", [&] { return experiment::load_problem_data(p); }).files;
}

int run_train(const TrainArgs& a) {
  if (a.threads > 0) set_num_threads(a.threads);
  if ((a.steps > 0) == (a.epochs > 0) && !(a.steps == 0 && a.epochs == 0))
    throw UsageError("give either --steps or --epochs, not both");
  const ModelSpec& spec = app::as_usage("--model", [&]() -> const ModelSpec& { return model_spec(a.model); });
  if (!a.lr_milestones.empty() && a.lr_schedule != "step")
    throw UsageError("--lr-milestones is only used with --lr-schedule step (got --lr-schedule " + a.lr_schedule + ")");
  const std::vector<double> milestones = parse_number_list("--lr-milestones", a.lr_milestones);
  if (a.lr_schedule == "step" && milestones.empty())
    throw UsageError("--lr-schedule step needs --lr-milestones (epochs, e.g. 5,8)");
  if (!a.budget_given)
    throw UsageError("give the training budget: --steps N or --epochs N (--steps 0 evaluates an --init model)");

  // A learned loss (--loss FILE or --loss-expr), read before any data or training: a malformed
  // one exits 2 (an expression) or 1 (a damaged file) at once.
  std::optional<losses::LossFile> learned;
  if (!a.loss_expr.empty()) {
    learned = app::as_usage("--loss-expr", [&] { return losses::parse_loss_spec(a.loss_expr); });
    if (learned->kind == losses::LossFile::Kind::Expression && !learned->expression.uses_f())
      throw UsageError("--loss-expr: '" + a.loss_expr + "' does not use the prediction f (e.g. \"mul(-1, mul(y, log(f)))\")");
  } else if (a.loss.find_first_of("./") != std::string::npos) {
    learned = losses::load_loss_file(a.loss);
    if (learned->regression)
      throw UsageError("--loss " + a.loss + ": a regression loss (" + learned->formula() + "); train's datasets are classification");
  }
  if (a.dtype == "float64" && a.augment == "on")
    throw UsageError("--augment on needs --dtype float32 (the augmentation kernels are float32)");
  using seeds::Stream;
  Generator init_gen = seeds::derive(a.seed, Stream::Init), split_gen = seeds::derive(a.seed, Stream::Split),
            train_gen = seeds::derive(a.seed, Stream::Order);
  seeds::seed_dropout(a.seed);  // the stream `learn` and `search` use for the same seed
  data::TrainTest tt = load_dataset(a);
  data::Splits splits = a.val_fraction > 0 ? data::stratified_split(tt, split_gen, a.val_fraction)
                                           : data::Splits{tt.train, data::Dataset{}, tt.test};
  Shape example;
  for (int i = 1; i < splits.train.inputs.dim(); ++i) example.push_back(splits.train.inputs.size(i));
  if (example != spec.input)
    throw UsageError("model '" + spec.name + "' takes inputs " + spec.input.str() + " but dataset '" +
                                a.dataset + "' has " + example.str());
  // The input statistics go into the saved file's metadata, so an embedding program can apply
  // exactly the normalisation the model was trained with.
  std::string norm_mean, norm_std;
  if (a.normalize == "on") {
    data::Normalization norm = data::normalize(splits);
    for (double v : norm.inputs.mean.to_vector()) norm_mean += (norm_mean.empty() ? "" : ",") + std::to_string(v);
    for (double v : norm.inputs.std.to_vector()) norm_std += (norm_std.empty() ? "" : ",") + std::to_string(v);
  }

  auto model = make_model(a.model, splits.train.num_classes, init_gen);
  const DType dtype = a.dtype == "float64" ? DType::Float64 : DType::Float32;
  if (dtype == DType::Float64) model->to(dtype);
  if (!a.init.empty()) {
    // A file of either float width initialises a model of either width (cast on load).
    NamedTensors init = load_safetensors(a.init).tensors;
    for (auto& [name, t] : init)
      if (is_floating(t.dtype()) && t.dtype() != dtype) t = t.to(dtype);
    try {
      model->load_state_dict(init);
    } catch (const std::invalid_argument& e) {  // a file that does not fit the model: exit 1, naming it
      throw std::runtime_error("--init " + a.init + ": " + e.what());
    }
  }
  if (dtype == DType::Float64) {
    for (data::Dataset* d : {&splits.train, &splits.valid, &splits.test})
      if (d->inputs.defined()) {
        d->inputs = d->inputs.to(DType::Float64);
        if (is_floating(d->targets.dtype())) d->targets = d->targets.to(DType::Float64);  // regression
      }
  }
  if (a.dropout == "off") disable_dropout(*model);
  // Parameters, optimizer state and the data live on the device; batches are gathered there.
  const Device device = app::parse_device_option(a.device, "--device");
  model->to(device);
  // The splits go to the device once. With --augment the training split stays on the host, where
  // the crop/flip kernels run, and each augmented batch is copied over.
  {
    data::Dataset host_train = splits.train;
    splits = data::to_device(splits, device);
    if (a.augment == "on") splits.train = host_train;
  }

  std::unique_ptr<Optimizer> opt;
  if (a.optimizer == "sgd") {
    opt = std::make_unique<SGD>(model->parameters(), SGDOptions{a.lr, a.momentum, 0.0, a.weight_decay, a.nesterov});
  } else {
    AdamOptions o;
    o.lr = a.lr;
    o.weight_decay = a.weight_decay;
    o.decoupled_weight_decay = a.optimizer == "adamw";
    opt = std::make_unique<Adam>(model->parameters(), o);
  }
  std::unique_ptr<MetricsWriter> metrics;
  if (!a.metrics.empty()) {
    metrics = std::make_unique<MetricsWriter>(a.metrics, /*append=*/false);  // a train run never resumes
    metrics->write({{"seed", double(a.seed)}, {"train_size", double(splits.train.size())}},
                   {{"event", "start"}, {"model", a.model}, {"dataset", a.dataset}, {"loss", a.loss}, {"optimizer", a.optimizer}});
  }
  std::fprintf(stderr, "metaloss train: %s (%lld parameters) on %s: %lld train / %lld valid / %lld test, seed %llu\n",
               a.model.c_str(), (long long)model->num_parameters(), a.dataset.c_str(), (long long)splits.train.size(),
               (long long)splits.valid.size(), (long long)splits.test.size(), (unsigned long long)a.seed);

  TrainOptions to;
  to.steps = a.steps;
  to.epochs = a.epochs;
  to.batch_size = a.batch_size;
  to.shuffle = a.shuffle == "on";
  to.augment = a.augment == "on";
  to.loss = a.loss;
  if (learned) {
    to.loss = learned->formula();
    to.loss_fn = learned->function();
  }
  to.log_every = a.log_every;
  to.lr_schedule = a.lr_schedule;
  to.lr_milestones = milestones;
  to.lr_gamma = a.lr_gamma;
  TrainReport rep = train_supervised(*model, *opt, splits.train, to, train_gen, metrics.get());

  if (!a.save.empty()) {
    save_safetensors(a.save, model->state_dict(),
                     {{"model", a.model}, {"dataset", a.dataset}, {"seed", std::to_string(a.seed)},
                      {"steps", std::to_string(rep.steps)}, {"input_mean", norm_mean}, {"input_std", norm_std}},
                     /*checksum=*/true);
    std::fprintf(stderr, "saved %s\n", a.save.c_str());
  }
  const double val_acc = splits.valid.size() ? evaluate_accuracy(*model, splits.valid) : NAN;
  const double test_acc = evaluate_accuracy(*model, splits.test);
  if (metrics)
    metrics->write({{"steps", double(rep.steps)}, {"seconds", rep.seconds}, {"valid_accuracy", val_acc},
                    {"test_accuracy", test_acc}, {"test_error", 1 - test_acc}},
                   {{"event", "end"}});
  if (rep.steps > 0)
    std::printf("trained %lld steps in %.1f s (%.1f steps/s), final batch loss %.4f\n", (long long)rep.steps, rep.seconds,
                rep.seconds > 0 ? double(rep.steps) / rep.seconds : 0.0, rep.last_loss);
  if (splits.valid.size()) std::printf("validation accuracy %.4f\n", val_acc);
  std::printf("test accuracy %.4f, test error %.2f%%\n", test_acc, 100 * (1 - test_acc));
  return 0;
}

int run_models(const std::string& show) {
  Generator gen(0);
  if (!show.empty()) {
    const ModelSpec& spec = app::as_usage("models show", [&]() -> const ModelSpec& { return model_spec(show); });
    auto m = spec.make(spec.default_classes, gen);
    std::printf("%s: %s\ninput %s, %lld parameters\n\n%s\n", spec.name.c_str(), spec.description.c_str(),
                spec.input.str().c_str(), (long long)m->num_parameters(), summary(*m).c_str());
    for (auto& [name, t] : m->state_dict())
      std::printf("  %-32s %-16s %s\n", name.c_str(), t.shape().str().c_str(), dtype_name(t.dtype()));
    return 0;
  }
  std::printf("%-10s %14s  %-14s %s\n", "model", "parameters", "input", "description");
  for (const auto& spec : model_zoo()) {
    auto m = spec.make(spec.default_classes, gen);
    std::printf("%-10s %14lld  %-14s %s\n", spec.name.c_str(), (long long)m->num_parameters(), spec.input.str().c_str(),
                spec.description.c_str());
  }
  return 0;
}

// `metaloss --version`: the version, the git revision it was built from and its backends.
std::string version_text() {
  std::string t = "metaloss 0.1.0 (git " METALOSS_GIT_REVISION ")";
  t += std::string("\nbackends: CPU (OpenBLAS)") + (built_with_cuda() ? ", CUDA" : "") + (built_with_cudnn() ? ", cuDNN" : "");
#ifdef METALOSS_WITH_MPI
  t += ", MPI";
#endif
  t += std::string(", symbolic simplification: ") + losses::simplify_backend();
  return t;
}

// The --config file spliced in, for error messages about the options it supplied.
std::string g_config_file;

// The command line with the contents of --config FILE spliced in after the subcommand name.
std::vector<std::string> expand_config(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string file;
    size_t drop = 0;
    if (args[i] == "--config" && i + 1 < args.size()) {
      file = args[i + 1];
      drop = 2;
    } else if (args[i].rfind("--config=", 0) == 0) {
      file = args[i].substr(9);
      drop = 1;
    }
    if (file.empty()) continue;
    g_config_file = file;
    auto extra = app::config_to_args(file);
    args.erase(args.begin() + long(i), args.begin() + long(i + drop));
    auto sub = std::find_if(args.begin(), args.end(), [](const std::string& s) { return s == "train" || s == "learn" || s == "search" || s == "fewshot"; });
    args.insert(sub == args.end() ? args.begin() : sub + 1, extra.begin(), extra.end());
    break;
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"metaloss: meta-learning loss functions for deep neural networks"};
  app.require_subcommand(1);
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // CLI beats --config
  std::string profile;
  bool version_flag = false;  // handled before parsing (see main's start); listed here for --help
  app.add_flag("-V,--version", version_flag, "print the version, git revision and enabled backends, then exit");
  app.add_option("--profile", profile, "write a Chrome trace of ops and kernels to FILE and print a summary at exit "
                                       "(same as METALOSS_PROFILE=FILE)");

  std::string show;
  auto* models = app.add_subcommand("models", "List the model zoo, or `models show NAME` for one model's parameters");
  auto* models_show = models->add_subcommand("show", "Print every parameter's name and shape");
  models_show->add_option("name", show, "model name")->required();

  TrainArgs a;
  auto* train = app.add_subcommand("train", "Train a zoo model with a fixed loss and report test accuracy");
  auto on_off = CLI::IsMember({"on", "off"});
  train->add_option("--dataset", a.dataset, "fashion-mnist (Debian's package, default), mnist/idx, cifar10, cifar100")
      ->check(CLI::IsMember({"fashion-mnist", "mnist", "idx", "cifar10", "cifar100"}))->capture_default_str();
  train->add_option("--data-dir", a.data_dir, "folder with the dataset files (default for fashion-mnist: /usr/share/datasets/fashion-mnist)");
  train->add_option("--model", a.model, "zoo model (see `metaloss models`)")->capture_default_str();
  train->add_option("--loss", a.loss, "ce, mse, focal (gamma 2), lsr or sparse_lsr (smoothing 0.1), or a learned-loss "
                                      "file (FILE.safetensors from search, learn or `runs export --loss`)")
      ->check(CLI::IsMember({"ce", "mse", "focal", "lsr", "sparse_lsr"}) | CLI::ExistingFile)->capture_default_str();
  train->add_option("--loss-expr", a.loss_expr, "train with a symbolic loss instead: \"mul(-1, mul(y, log(f)))\", EvoMAL's "
                                                "\"EXPR @ [w, ...]\" (edge weights) or \"taylorglo(t0, ..., t7)\" (see README)");
  train->add_option("--optimizer", a.optimizer, "sgd, adam or adamw")->check(CLI::IsMember({"sgd", "adam", "adamw"}))->capture_default_str();
  train->add_option("--lr", a.lr, "learning rate")->check(app::kFiniteCheck)->check(CLI::NonNegativeNumber)->capture_default_str();
  train->add_option("--lr-schedule", a.lr_schedule, "none, cosine (to 0 over the run, per step) or step (x lr-gamma at each of --lr-milestones)")
      ->check(CLI::IsMember({"none", "cosine", "step"}))->capture_default_str();
  train->add_option("--lr-milestones", a.lr_milestones, "epochs where the step schedule multiplies the lr, e.g. 5,8");
  train->add_option("--lr-gamma", a.lr_gamma, "factor of the step schedule")->check(CLI::NonNegativeNumber)->capture_default_str();
  train->add_option("--dtype", a.dtype, "float32 or float64 parameters and inputs")
      ->check(CLI::IsMember({"float32", "float64"}))->capture_default_str();
  train->add_option("--device", a.device, app::kDeviceHelp)
      ->capture_default_str();
  train->add_option("--momentum", a.momentum, "SGD momentum")->check(app::kFiniteCheck)->check(CLI::Range(0.0, 1.0))->capture_default_str();
  train->add_flag("--nesterov", a.nesterov, "Nesterov momentum (SGD)");
  train->add_option("--weight-decay", a.weight_decay, "L2 weight decay (decoupled for adamw)")->check(CLI::NonNegativeNumber)->capture_default_str();
  train->add_option("--batch-size", a.batch_size, "examples per step")->check(CLI::PositiveNumber)->capture_default_str();
  train->add_option("--steps", a.steps, "optimizer steps")->check(CLI::NonNegativeNumber);
  train->add_option("--epochs", a.epochs, "passes over the training split (instead of --steps)")->check(CLI::NonNegativeNumber);
  train->add_option("--seed", a.seed, "seed for initialisation, split, order and augmentation")->check(app::kSeedCheck)->capture_default_str();
  train->add_option("--threads", a.threads, "CPU threads (default: all cores)")->check(CLI::PositiveNumber);
  train->add_option("--init", a.init, "load initial parameters from a safetensors file")->check(CLI::ExistingFile);
  train->add_option("--save", a.save, "save the trained parameters to a safetensors file")->check(app::kWritableFileCheck);
  train->add_option("--shuffle", a.shuffle, "reshuffle every epoch (off: file order)")->check(on_off)->capture_default_str();
  train->add_option("--augment", a.augment, "random crop + flip (images)")->check(on_off)->capture_default_str();
  train->add_option("--normalize", a.normalize, "standardise inputs with training-split statistics")->check(on_off)->capture_default_str();
  train->add_option("--dropout", a.dropout, "off sets every dropout probability to 0")->check(on_off)->capture_default_str();
  train->add_option("--val-fraction", a.val_fraction, "stratified validation split taken from the training set")->check(app::kFiniteCheck)
      ->check(CLI::Range(0.0, 0.9))->capture_default_str();
  train->add_option("--metrics", a.metrics, "write JSON-lines metrics to this file (replaced: one run per file)")->check(app::kWritableFileCheck);
  train->add_option("--log-every", a.log_every, "steps between log lines / metrics")->check(CLI::PositiveNumber)->capture_default_str();
  train->add_option("--config", a.config, "JSON or YAML (.yaml, .yml) file of options (command-line options win)");

  app::LearnArgs la;
  auto* learn = app::add_learn_command(app, la);
  app::SearchArgs sa;
  app::ResumeArgs ra;
  app::RunsArgs runs;
  const app::SearchCommands sc = app::add_search_commands(app, sa, ra, runs);
  app::FewShotArgs fa;
  auto* fewshot = app::add_fewshot_command(app, fa);
  app::LossArgs lossa;
  auto* loss_cmd = app::add_loss_command(app, lossa);
  // --config is spliced into the command line before parsing (expand_config); it is declared on
  // the commands that take it only so that their --help lists it.
  std::string config_seen;
  for (const auto& [name, example] : {std::pair{"search", "{\"generations\": 10}"}, std::pair{"fewshot", "{\"ways\": 20, \"shots\": 1}"}})
    app.get_subcommand(name)->add_option("--config", config_seen, std::string("JSON or YAML (.yaml, .yml) file of options, e.g. ") + example + " (command-line options win)");
  app::check_integer_ranges(app);
  bool quiet = false;
  app.add_flag("-q,--quiet", quiet, "no progress display (bars and periodic progress lines); results, warnings and errors still print");
  for (const char* name : {"train", "learn", "search", "fewshot", "resume"})
    app.get_subcommand(name)->add_flag("-q,--quiet", quiet, "no progress display (bars and periodic progress lines)");

  std::vector<std::string> args;
  if (argc > 1 && (std::string(argv[1]) == "--version" || std::string(argv[1]) == "-V")) {
    std::printf("%s\n", version_text().c_str());
    return 0;
  }
  std::string commands;
  bool known = false;
  for (const CLI::App* c : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (c->get_name() == "search-worker") continue;  // internal
    commands += (commands.empty() ? "" : ", ") + c->get_name();
    known = known || (argc > 1 && c->get_name() == argv[1]);
  }
  if (argc > 1 && argv[1][0] != '-' && !known && std::string(argv[1]) != "search-worker") {
    const std::string near = app::closest_name(app, argv[1]), names = commands;
    std::fprintf(stderr, "metaloss: unknown command '%s'%s (commands: %s)\n", argv[1],
                 near.empty() ? "" : (" (did you mean '" + near + "'?)").c_str(), names.c_str());
    return 2;
  }
  try {
    args = expand_config(argc, argv);
    std::reverse(args.begin(), args.end());  // CLI11 takes a vector in reverse order
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    const CLI::App* sub = app.get_subcommands().empty() ? nullptr : app.get_subcommands()[0];
    std::string msg = e.what();
    // CLI11 reports extras in the reversed order it was given them: name each unknown option and
    // the closest known one instead.
    if (dynamic_cast<const CLI::ExtrasError*>(&e)) {
      std::vector<std::string> extras;
      for (const std::string& x : (sub ? sub : &app)->remaining()) extras.push_back(x);
      if (!extras.empty()) {
        msg = "unexpected argument" + std::string(extras.size() > 1 ? "s" : "");
        for (const std::string& x : extras) msg += " '" + x + "'";
        for (const std::string& x : extras)
          if (x.rfind("--", 0) == 0) {
            const std::string near = app::closest_option(*(sub ? sub : &app), x.substr(0, x.find('=')));
            if (!near.empty()) msg += " (did you mean " + near + "?)";
          }
      }
    }
    if (!g_config_file.empty()) msg += " (options from --config " + g_config_file + " included)";
    std::fprintf(stderr, "metaloss: %s\nRun `metaloss --help` or `metaloss %s --help` for usage.\n", msg.c_str(),
                 sub ? sub->get_name().c_str() : "COMMAND");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "metaloss: %s\n", e.what());
    return 2;
  }
  Progress::set_quiet(quiet);
  if (!profile.empty()) profiler::start(profile);
  // The trace is written when main returns, not from atexit: by then the CUDA runtime has shut
  // down and the device spans could no longer be read back.
  struct StopProfiler {
    ~StopProfiler() {
      if (profiler::enabled()) profiler::stop();
    }
  } stop_profiler;
  bool mpi = false;
  try {
    if (app::wants_mpi(sc, sa, ra)) {
      app::mpi_start(&argc, &argv);  // throws without METALOSS_MPI
      mpi = true;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "metaloss: %s\n", e.what());
    return 2;
  }
  // Under MPI a failure on any rank ends every rank (MPI_Abort); a normal end finalises.
  auto finish = [&](int code) {
    if (mpi && code != 0) app::mpi_abort(code);  // any rank: the others would wait for it forever
    if (mpi) app::mpi_stop();
    return code;
  };
  std::string command_line = "metaloss";
  for (int i = 1; i < argc; ++i) command_line += std::string(" ") + argv[i];
  try {
    if (*models) return run_models(models_show->parsed() ? show : "");
    if (*train) {
      // An empty --loss-expr is a mistake, not a request for cross entropy.
      if (train->count("--loss-expr") > 0 && a.loss_expr.find_first_not_of(" \t") == std::string::npos)
        throw UsageError("--loss-expr: the expression is empty (e.g. \"mul(-1, mul(y, log(f)))\"; omit the option for --loss)");
      a.budget_given = train->count("--steps") + train->count("--epochs") > 0;
      return run_train(a);
    }
    if (*learn) return app::run_learn(la);
    if (*fewshot) return app::run_fewshot(fa, command_line);
    if (*loss_cmd) return app::run_loss(lossa, *loss_cmd);
    if (*sc.resume && app::is_fewshot_run(ra.dir)) {  // a few-shot run continues with its own command and options
      if (ra.generations > 0 || ra.mpi || ra.workers > 1 || !ra.place.devices.empty())
        throw UsageError("resume " + ra.dir + ": a few-shot run takes no --generations, --workers, --devices or --mpi");
      return app::resume_fewshot(ra.dir, ra.place.device, sc.resume->count("--device") > 0, ra.metrics, command_line);
    }
    if (*sc.search || *sc.resume || *sc.worker || *sc.runs)
      return finish(app::run_search_command(sc, sa, ra, runs, command_line));
  } catch (const UsageError& e) {  // exit 2: the command line was wrong (library errors exit 1)
    std::fprintf(stderr, "metaloss: %s\n", e.what());
    return finish(2);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "metaloss: error: %s\n", e.what());
    return finish(1);
  }
  return finish(0);
}
