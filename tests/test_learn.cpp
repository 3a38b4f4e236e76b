// Loss learning (meta/learn): ML3's unrolled meta-gradient against finite differences, AdaLFL's
// online step and its NaN guards, reproducibility, plots. Tiny synthetic problems: each case
// runs in well under a second.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "meta/learn/adalfl.h"
#include "meta/learn/ml3.h"
#include "meta/learn/plot.h"
#include "method_devices.h"
#include "models/layers.h"

using namespace metaloss;
using losses::LearnedLoss;
using Mode = losses::LearnedLossConfig::Mode;

namespace {
// The 4-feature, 3-class problem and its linear model (tests/method_devices.h, shared with the
// device tests).
using testing::feature_blobs;
learn::LearnTask tiny_task(DType dt = DType::Float32) { return testing::tiny_task(dt, Device::cpu()); }
data::Dataset blobs(int64_t n, uint64_t seed, DType dt) { return feature_blobs(n, seed, dt); }

std::vector<double> flat(const std::vector<Tensor>& ts) {
  std::vector<double> v;
  for (const Tensor& t : ts)
    for (double x : t.to_vector()) v.push_back(x);
  return v;
}

data::Batch rows(const data::Dataset& d, int64_t start, int64_t end) {
  return {slice(d.inputs, 0, start, end), slice(d.targets, 0, start, end), Tensor()};
}
}  // namespace

TEST_CASE("ML3: a few meta steps run, the meta-gradient is finite and nonzero, phi changes") {
  Generator gen(11);
  auto loss = LearnedLoss::ml3(Mode::Classification, gen);
  learn::ML3Config c;
  c.meta_steps = 5;
  c.batch_size = 32;
  c.inner_lr = 0.5;
  c.progress = false;
  learn::ML3 ml3(tiny_task(), loss, c);
  const std::vector<double> phi0 = flat(loss->parameters());
  double m = NAN;
  const std::vector<Tensor> g = ml3.meta_gradient(0, &m);
  CHECK(std::isfinite(m));
  CHECK(g.size() == loss->parameters().size());
  const double norm = std::sqrt(learn::squared_norm(g));
  CHECK(std::isfinite(norm));
  CHECK(norm > 0);
  CHECK(flat(loss->parameters()) == phi0);  // meta_gradient alone updates nothing
  const learn::MetaStats s = ml3.run();
  CHECK(s.steps == 5);
  CHECK(s.skipped == 0);
  CHECK(s.meta_losses.size() == 5);
  CHECK(flat(loss->parameters()) != phi0);
}

TEST_CASE("ML3: the unrolled meta-gradient matches central finite differences (float64, K = 2)") {
  Generator gen(3);
  auto loss = LearnedLoss::ml3(Mode::Classification, gen);
  loss->to(DType::Float64);
  learn::LearnTask task = tiny_task(DType::Float64);
  Generator init(4);
  auto model = task.make_model(init);
  const std::vector<Tensor> theta0 = model->parameters();
  const std::vector<data::Batch> support = {rows(task.train, 0, 24), rows(task.train, 24, 48)};
  const data::Batch query = rows(task.valid, 0, 24);
  const Tensor lr = Tensor::scalar(0.5, DType::Float64);
  const std::vector<Tensor> phi = loss->parameters();
  auto meta = [&](const std::vector<Tensor>& p) {
    return learn::unrolled_meta_loss(*model, theta0, *loss, p, support, query, lr, 3);
  };
  const std::vector<Tensor> g = grad({meta(phi)}, phi);
  // One element in each layer of the 2-50-50-1 network: the one with the largest gradient (ReLU
  // units that are dead for inputs in [0, 1]^2 have exactly zero gradients).
  for (size_t layer = 0; layer < phi.size(); ++layer) {
    const std::vector<double> gl = g[layer].to_vector();
    int64_t idx = 0;
    for (size_t i = 0; i < gl.size(); ++i)
      if (std::abs(gl[i]) > std::abs(gl[size_t(idx)])) idx = int64_t(i);
    const double eps = 1e-6;
    auto at = [&](double delta) {
      std::vector<Tensor> p;
      for (const Tensor& t : phi) p.push_back(t.detach().clone());
      std::vector<double> v = p[layer].to_vector();
      v[size_t(idx)] += delta;
      p[layer] = Tensor::from_vector(v, p[layer].shape(), DType::Float64);
      return meta(p).item();
    };
    const double fd = (at(eps) - at(-eps)) / (2 * eps);
    const double analytic = g[layer].to_vector()[size_t(idx)];
    INFO("layer " << layer << " element " << idx << ": analytic " << analytic << ", finite difference " << fd);
    CHECK(std::abs(fd) > 1e-9);  // the check means something only if the gradient is not zero
    CHECK(analytic == doctest::Approx(fd).epsilon(1e-5));
  }
}

TEST_CASE("AdaLFL: an online step updates theta and phi; a NaN gradient is skipped and counted") {
  Generator gen(5);
  auto loss = LearnedLoss::adalfl(Mode::Classification, gen);
  learn::LearnTask task = tiny_task();
  learn::AdaLFLConfig c;
  c.offline_steps = 0;
  c.lr = 0.5;
  c.batch_size = 32;
  c.progress = false;
  c.momentum = 0.9;
  c.base_grad_hook = [](int64_t t, std::vector<Tensor>& g) {
    if (t == 1) g[0] = mul(g[0], std::numeric_limits<double>::quiet_NaN());
  };
  learn::AdaLFL ada(task, loss, c);
  Generator init(6);
  auto model = task.make_model(init);
  const data::Batch b = rows(task.train, 0, 32);

  std::vector<double> theta = flat(model->parameters()), phi = flat(loss->parameters());
  learn::OnlineStep r = ada.online_step(*model, b);
  CHECK(r.base_ok);
  CHECK(r.meta_ok);
  CHECK(flat(model->parameters()) != theta);
  CHECK(flat(loss->parameters()) != phi);

  theta = flat(model->parameters());
  phi = flat(loss->parameters());
  r = ada.online_step(*model, b);  // the hook poisons this step's gradient
  CHECK_FALSE(r.base_ok);
  CHECK(ada.report().skipped_base == 1);
  CHECK(flat(model->parameters()) == theta);
  CHECK(flat(loss->parameters()) == phi);

  r = ada.online_step(*model, b);
  CHECK(r.base_ok);
  CHECK(r.meta_ok);
  CHECK(learn::all_finite(model->parameters()));
  CHECK(learn::all_finite(loss->parameters()));
  CHECK(ada.report().steps == 3);

  // A non-finite input poisons the base loss itself: skipped the same way.
  data::Batch bad = b;
  bad.inputs = mul(b.inputs, std::numeric_limits<double>::infinity());
  theta = flat(model->parameters());
  r = ada.online_step(*model, bad);
  CHECK_FALSE(r.base_ok);
  CHECK(ada.report().skipped_base == 2);
  CHECK(flat(model->parameters()) == theta);
}

TEST_CASE("AdaLFL: a non-finite meta loss leaves phi alone but still trains theta") {
  Generator gen(5);
  auto loss = LearnedLoss::adalfl(Mode::Classification, gen);
  learn::LearnTask task = tiny_task();
  task.valid.inputs = mul(task.valid.inputs, std::numeric_limits<double>::quiet_NaN());
  learn::AdaLFLConfig c;
  c.offline_steps = 0;
  c.batch_size = 32;
  c.progress = false;
  learn::AdaLFL ada(task, loss, c);
  Generator init(6);
  auto model = task.make_model(init);
  const std::vector<double> theta = flat(model->parameters()), phi = flat(loss->parameters());
  const learn::OnlineStep r = ada.online_step(*model, rows(task.train, 0, 32));
  CHECK(r.base_ok);
  CHECK_FALSE(r.meta_ok);
  CHECK(ada.report().skipped_meta == 1);
  CHECK(flat(model->parameters()) != theta);
  CHECK(flat(loss->parameters()) == phi);
}

TEST_CASE("ML3 and AdaLFL: the same seed gives bitwise the same phi; learn_lr moves alpha") {
  auto run_ml3 = [] {
    Generator gen(9);
    auto loss = LearnedLoss::ml3(Mode::Classification, gen);
    learn::ML3Config c;
    c.meta_steps = 3;
    c.batch_size = 16;
    c.inner_steps = 2;
    c.progress = false;
    c.seed = 4;
    learn::ML3 ml3(tiny_task(), loss, c);
    ml3.run();
    return flat(loss->parameters());
  };
  CHECK(run_ml3() == run_ml3());

  auto run_ada = [](uint64_t seed) {
    Generator gen(9);
    auto loss = LearnedLoss::adalfl(Mode::Classification, gen);
    learn::AdaLFLConfig c;
    c.offline_steps = 2;
    c.steps = 6;
    c.batch_size = 16;
    c.learn_lr = true;
    c.snapshots = 2;
    c.progress = false;
    c.seed = seed;
    learn::LearnTask task = tiny_task();
    learn::AdaLFL ada(task, loss, c);
    Generator init(1), order(2);
    auto model = task.make_model(init);
    const learn::AdaLFLReport r = ada.run(*model, order);
    CHECK(r.steps == 6);
    CHECK(r.snapshots.size() == 4);  // initial, offline init, steps 3 and 6
    CHECK(r.lr != 0.01);             // alpha was meta-learned
    CHECK(std::isfinite(r.lr));
    std::vector<double> v = flat(loss->parameters());
    for (double x : flat(model->parameters())) v.push_back(x);
    return v;
  };
  const std::vector<double> a = run_ada(1);
  CHECK(a == run_ada(1));
  CHECK(a != run_ada(2));
}

TEST_CASE("learn: frozen_loss matches the loss and takes no gradient into phi; plots are written") {
  Generator gen(2);
  auto loss = LearnedLoss::ml3(Mode::Classification, gen);
  const data::Dataset d = blobs(8, 3, DType::Float32);
  Tensor logits = randn({8, 3}, DType::Float32, gen);
  logits.set_requires_grad(true);
  auto frozen = learn::frozen_loss(*loss);
  Tensor v = frozen(logits, d.targets);
  CHECK(v.item() == loss->loss(logits, d.targets).item());
  v.backward();
  CHECK(logits.grad().defined());
  for (const Tensor& p : loss->parameters()) CHECK_FALSE(p.grad().defined());

  const auto dir = std::filesystem::temp_directory_path() / "metaloss_test_learn_plot";
  std::filesystem::create_directories(dir);
  const learn::LossPlot plot = learn::sample_learned_loss(loss->config(), {learn::snapshot(*loss, "initial", 0)}, "test");
  CHECK(plot.values.size() == 2);  // targets 1 and 0
  CHECK(plot.x.size() == 101);
  const learn::PlotFiles f = learn::write_plot(plot, (dir / "loss").string());
  CHECK(std::filesystem::exists(f.gp));
  CHECK(std::filesystem::exists(f.dat));
  CHECK((f.svg.empty() ? !f.note.empty() : std::filesystem::exists(f.svg)));
  // A long title (a learned expression) is wrapped into at most three lines of <= 95 characters.
  learn::LossPlot wide = plot;
  wide.title = "learned loss ";
  for (int i = 0; i < 40; ++i) wide.title += "add(f, y), ";
  const learn::PlotFiles fw = learn::write_plot(wide, (dir / "wide").string());
  std::ifstream gp(fw.gp);
  std::string line, title;
  while (std::getline(gp, line))
    if (line.rfind("set title ", 0) == 0) title = line.substr(11, line.size() - 12);  // inside the quotes
  size_t lines = 1, longest = 0, run = 0;
  for (size_t i = 0; i < title.size(); ++i) {
    if (title.compare(i, 2, "\\n") == 0) {
      ++lines, longest = std::max(longest, run), run = 0, ++i;
      continue;
    }
    ++run;
  }
  longest = std::max(longest, run);
  CHECK(lines == 3);
  CHECK(longest <= 95);
  CHECK(title.size() >= 3);
  CHECK(title.substr(title.size() - 3) == "...");
  std::filesystem::remove_all(dir);
}

TEST_CASE("AdaLFL: offline init, then a fresh online run from that phi, equals one AdaLFL::run bitwise") {
  // `metaloss learn --base-lr-grid` runs the offline phase once and the online phase once per
  // rate from its phi; at the thesis rate that must be the uninterrupted method (with learn_lr,
  // alpha as the offline phase left it).
  for (bool learn_lr : {false, true}) {
    INFO("learn_lr " << learn_lr);
    learn::AdaLFLConfig c;
    c.offline_steps = 3;
    c.steps = 7;
    c.batch_size = 16;
    c.learn_lr = learn_lr;
    c.snapshots = 0;
    c.progress = false;
    c.seed = 5;
    c.log_every = 2;
    learn::LearnTask task = tiny_task();
    auto once = [&] {
      Generator gen(9);
      auto loss = LearnedLoss::adalfl(Mode::Classification, gen);
      learn::AdaLFL ada(task, loss, c);
      Generator init(1), order(2);
      auto model = task.make_model(init);
      const learn::AdaLFLReport r = ada.run(*model, order);
      CHECK(r.meta_grad_norms.size() == 4);  // steps 2, 4, 6 and the last, 7
      std::vector<double> v = flat(loss->parameters());
      for (double x : flat(model->parameters())) v.push_back(x);
      return v;
    };
    auto split = [&] {
      Generator gen(9);
      auto loss = LearnedLoss::adalfl(Mode::Classification, gen);
      learn::AdaLFL offline(task, loss, c);
      offline.offline_init();
      learn::AdaLFLConfig oc = c;
      oc.offline_steps = 0;
      oc.lr = offline.lr();
      learn::AdaLFL online(task, loss, oc);
      Generator init(1), order(2);
      auto model = task.make_model(init);
      online.run(*model, order);
      std::vector<double> v = flat(loss->parameters());
      for (double x : flat(model->parameters())) v.push_back(x);
      return v;
    };
    const std::vector<double> a = once(), b = split();
    CHECK(a == b);
  }
}

TEST_CASE("learn: AdaLFL's default loss network is the paper's 2-40-40-1 with smooth leaky ReLU") {
  const losses::LearnedLossConfig c = losses::LearnedLossConfig::adalfl();
  CHECK(c.hidden == std::vector<int64_t>{40, 40});
  CHECK(c.activation == "smooth_leaky_relu");
  CHECK_FALSE(c.bias);
  CHECK(c.output == "none");
  CHECK(losses::LearnedLossConfig::adalfl(Mode::Regression).output == "softplus");
  CHECK(learn::AdaLFLConfig{}.offline_steps == 2500);
}
