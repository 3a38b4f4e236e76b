#include "apps/loss.h"

#include <cstdio>
#include <iostream>

#include "apps/cli_checks.h"
#include "apps/usage_error.h"
#include "engine/metaloss.h"
#include "meta/data/io.h"
#include "meta/learn/plot.h"
#include "meta/losses/loss_export.h"
#include "meta/losses/loss_file.h"
#include "meta/losses/simplify.h"

namespace metaloss::app {

CLI::App* add_loss_command(CLI::App& app, LossArgs& a) {
  auto* c = app.add_subcommand("loss", "Inspect or convert a learned-loss file: `loss show FILE`, `loss export FILE --format F`");
  c->require_subcommand(1);
  auto* show = c->add_subcommand("show", "The loss's kind, task, formula (as found and simplified), LaTeX, parameters, provenance");
  show->add_option("file", a.file, "a loss file (.safetensors)")->required()->check(CLI::ExistingFile);
  auto* exp = c->add_subcommand("export", "Write the loss as a C header (value + gradient), PyTorch function, LaTeX or JSON");
  exp->add_option("file", a.file, "a loss file (.safetensors)")->required()->check(CLI::ExistingFile);
  exp->add_option("--format", a.format, "c, pytorch, latex or json")->check(CLI::IsMember({"c", "pytorch", "latex", "json"}))
      ->capture_default_str();
  exp->add_option("--name", a.name, "the C / Python function name")->capture_default_str();
  exp->add_option("-o,--out", a.out, "output file (default: standard output)")->check(kWritableFileCheck);
  auto* plot = c->add_subcommand("plot", "Curves of the loss against the prediction for targets 1 and 0 (gnuplot SVG)");
  plot->add_option("file", a.file, "a loss file (.safetensors)")->required()->check(CLI::ExistingFile);
  plot->add_option("-o,--out", a.out, "output base path: BASE.dat, BASE.gp, BASE.svg (default: the file without .safetensors)");
  auto* ev = c->add_subcommand("eval", "The engine's value and gradient on random float64 inputs, as JSON");
  ev->add_option("file", a.file, "a loss file (.safetensors)")->required()->check(CLI::ExistingFile);
  ev->add_option("--batch", a.batch, "rows")->check(CLI::Range(1, 4096))->capture_default_str();
  ev->add_option("--classes", a.classes, "classes (classification) or outputs (regression)")->check(CLI::Range(1, 4096))
      ->capture_default_str();
  ev->add_option("--seed", a.seed, "seed of the inputs")->check(kSeedCheck)->capture_default_str();
  return c;
}

int run_loss(const LossArgs& a, const CLI::App& command) {
  const losses::LossFile f = losses::load_loss_file(a.file);
  if (command.get_subcommand("show")->parsed()) {
    std::printf("loss file   %s\n", a.file.c_str());
    std::printf("kind        %s\n", f.kind_name());
    std::printf("task        %s\n", f.regression ? "regression" : "classification");
    std::printf("formula     %s\n", f.formula().c_str());
    if (f.kind == losses::LossFile::Kind::Expression) {
      const losses::Simplified s = losses::simplify(f.expression);
      std::printf("simplified  %s  (%s%s)\n", s.text.c_str(), s.symbolic ? "GiNaC" : "canonical form, no GiNaC",
                  f.weights.empty() ? "" : ", without the edge weights");
    }
    std::printf("latex       %s", losses::export_loss(f, "latex").c_str());
    std::printf("parameters  %lld\n", (long long)f.parameter_count());
    for (const auto& [k, v] : f.provenance) std::printf("%-11s %s\n", k.c_str(), v.c_str());
    return 0;
  }
  if (command.get_subcommand("plot")->parsed()) {
    // Classification: L(y, f) per class against the predicted probability f in (0, 1), for y = 1
    // and y = 0 (as the docs' plots); regression: L(pred, target) against pred in [-3, 3] for
    // targets 1 and 0.
    learn::LossPlot p;
    std::string what = f.kind == losses::LossFile::Kind::Expression
                           ? f.expression.str() + (f.weights.empty() ? "" : " with edge weights")
                           : f.kind == losses::LossFile::Kind::TaylorGLO ? "TaylorGLO (8 parameters)" : f.network->describe();
    if (what.size() > 70) what = what.substr(0, 67) + "...";
    p.title = std::string(f.kind_name()) + " loss: " + what;
    p.xlabel = f.regression ? "prediction" : "predicted probability f of the class";
    p.ylabel = "L(y, f)";
    const int n = 101;
    for (int i = 0; i < n; ++i)
      p.x.push_back(f.regression ? -3.0 + 6.0 * i / (n - 1) : 0.005 + 0.99 * i / (n - 1));
    const Tensor grid = Tensor::from_vector(p.x, {n}, DType::Float64);
    for (const double target : {1.0, 0.0}) {
      Tensor v;
      if (f.kind == losses::LossFile::Kind::Network) {
        f.network->to(DType::Float64);
        v = f.network->sample(grid, target);
      } else if (f.kind == losses::LossFile::Kind::Expression) {
        NoGrad ng;
        const Tensor w = f.weights.empty() ? Tensor() : Tensor::from_vector(f.weights, {int64_t(f.weights.size())}, DType::Float64);
        v = f.expression.evaluate(Tensor::full({n}, target, DType::Float64), grid, w);
      } else {
        const auto& t = f.theta;
        std::vector<double> vals;
        for (double x : p.x) {
          const double d = x - t[1], e = target - t[0];
          vals.push_back(-(t[2] * d + t[3] * d * d / 2 + t[4] * d * d * d / 6 + t[5] * e * d + t[6] * e * d * d / 2 + t[7] * e * e * d / 2));
        }
        v = Tensor::from_vector(vals, {n}, DType::Float64);
      }
      p.values.push_back(v.to_vector());
      p.names.push_back(target == 1 ? "y = 1" : "y = 0");
      p.group.push_back(0);
      p.dashed.push_back(target == 0);
    }
    std::string base = a.out;
    if (base.empty()) {
      base = a.file;
      if (base.size() > 12 && base.compare(base.size() - 12, 12, ".safetensors") == 0) base.resize(base.size() - 12);
    }
    const learn::PlotFiles pf = learn::write_plot(p, base);
    std::printf("wrote %s and %s%s\n", pf.dat.c_str(), pf.gp.c_str(), pf.svg.empty() ? "" : (" and " + pf.svg).c_str());
    if (!pf.note.empty()) std::fprintf(stderr, "metaloss loss plot: %s\n", pf.note.c_str());
    return 0;
  }
  if (command.get_subcommand("eval")->parsed()) {
    // Float64 throughout: the network is converted, so the numbers are the loss's, not float32's.
    if (f.network) f.network->to(DType::Float64);
    Generator g(a.seed);
    Tensor out = randn({a.batch, a.classes}, DType::Float64, g) * 2.0;
    Tensor target = f.regression ? randn({a.batch, a.classes}, DType::Float64, g) : randint(0, a.classes, {a.batch}, g);
    out.set_requires_grad(true);
    const Tensor value = f.function()(out, target);
    const Tensor grad = gradients(value, {out})[0];
    auto list = [](const Tensor& t) {
      std::string s = "[";
      char b[32];
      for (double v : t.to_vector()) {
        std::snprintf(b, sizeof b, "%.17g", v);
        s += (s.size() > 1 ? ", " : "") + std::string(b);
      }
      return s + "]";
    };
    std::printf("{\"batch\": %lld, \"classes\": %lld, \"task\": \"%s\", \"output\": %s, \"target\": %s, \"value\": %.17g, "
                "\"grad\": %s}\n",
                (long long)a.batch, (long long)a.classes, f.regression ? "regression" : "classification",
                list(out.detach()).c_str(), list(target).c_str(), value.item(), list(grad).c_str());
    return 0;
  }
  const std::string text = as_usage("--name", [&] { return losses::export_loss(f, a.format, a.name); });
  if (a.out.empty()) {
    std::cout << text;
  } else {
    data::write_file(a.out, text);
    std::fprintf(stderr, "wrote %s (%s)\n", a.out.c_str(), a.format.c_str());
  }
  return 0;
}

}  // namespace metaloss::app
