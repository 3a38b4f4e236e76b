// meta/losses: fixed losses (values, derivatives to second order, SparseLSR's properties, errors)
// and the learned loss (shape, meta-gradient through an SGD step, files).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "gradcheck.h"
#include "meta/losses/learned_loss.h"
#include "meta/losses/losses.h"
#include "models/layers.h"
#include "models/optim.h"
#include "models/safetensors.h"
#include "temp_dir.h"

using namespace metaloss;
using namespace metaloss::testing;
namespace ls = metaloss::losses;
namespace fs = std::filesystem;

namespace {

Tensor labels_of(std::vector<int64_t> v) { return Tensor::from_vector(v, {int64_t(v.size())}); }

// Plain-double softmax of one row, for the hand-computed reference values.
std::vector<double> softmax_row(const std::vector<double>& z) {
  double m = z[0], s = 0;
  for (double v : z) m = std::max(m, v);
  std::vector<double> p;
  for (double v : z) s += std::exp(v - m);
  for (double v : z) p.push_back(std::exp(v - m) / s);
  return p;
}

// The reference implementation's SparseLSR: the second term added instead of subtracted.
Tensor plus_sign_lsr(const Tensor& logits, const Tensor& labels, double xi) {
  const double c = double(logits.size(1));
  Tensor lpt = squeeze(gather(log_softmax(logits, 1), 1, unsqueeze(labels, 1)), 1);
  Tensor rest = log(mul(add(rsub(1.0, exp(lpt)), 1e-7), 1.0 / (c - 1)));
  return mean(sub(rest * (xi * (c - 1) / c), lpt * (1 - xi + xi / c)));
}

// One row of logits (s, 0, ..., 0) with target 0: p_t = e^s / (e^s + C - 1) sweeps (0, 1).
Tensor family(double s, int64_t c) {
  std::vector<double> z(size_t(c), 0.0);
  z[0] = s;
  return Tensor::from_vector(z, {1, c}, DType::Float64);
}
double p_target(double s, int64_t c) { return std::exp(s) / (std::exp(s) + double(c - 1)); }

// The s in [-4, 14] (step 1e-3) with the smallest loss.
double argmin_s(const std::function<Tensor(const Tensor&, const Tensor&)>& loss, int64_t c) {
  NoGrad ng;
  double best_s = 0, best = std::numeric_limits<double>::infinity();
  for (double s = -4; s <= 14; s += 1e-3) {
    const double v = loss(family(s, c), labels_of({0})).item();
    if (v < best) best = v, best_s = s;
  }
  return best_s;
}

}  // namespace

// ---- fixed losses -------------------------------------------------------------------------------

TEST_CASE("losses: values match hand computation") {
  // Uniform logits over 4 classes: p = 1/4 everywhere, so every classification loss is a multiple
  // of log 4 (SparseLSR: the second log is log((3/4)/3) = log(1/4) too).
  Tensor zero = Tensor::zeros({2, 4}, DType::Float64);
  Tensor y = labels_of({1, 3});
  const double l4 = std::log(4.0);
  CHECK(ls::cross_entropy(zero, y).item() == doctest::Approx(l4).epsilon(1e-12));
  CHECK(ls::nll(log_softmax(zero, 1), y).item() == doctest::Approx(l4).epsilon(1e-12));
  CHECK(ls::focal(zero, y, 2).item() == doctest::Approx(0.75 * 0.75 * l4).epsilon(1e-12));
  CHECK(ls::label_smoothing(zero, y, 0.1).item() == doctest::Approx(l4).epsilon(1e-12));
  CHECK(ls::sparse_lsr(zero, y, 0.1).item() == doctest::Approx(l4).epsilon(1e-6));

  // A non-uniform example against the formulas evaluated in plain doubles.
  const std::vector<std::vector<double>> z = {{1, 2, 3}, {0.5, -1, 0}};
  const std::vector<int64_t> t = {2, 0};
  Tensor logits = Tensor::from_vector({1, 2, 3, 0.5, -1, 0}, {2, 3}, DType::Float64);
  Tensor labels = labels_of(t);
  const double xi = 0.2, c = 3, a = 1 - xi + xi / c, b = xi * (c - 1) / c;
  double ce = 0, fo = 0, lsr = 0, slsr = 0;
  for (size_t i = 0; i < 2; ++i) {
    auto p = softmax_row(z[i]);
    const double pt = p[size_t(t[i])];
    ce += -std::log(pt) / 2;
    fo += -(1 - pt) * (1 - pt) * std::log(pt) / 2;
    for (size_t k = 0; k < 3; ++k) lsr += -((k == size_t(t[i]) ? 1 - xi : 0) + xi / c) * std::log(p[k]) / 2;
    slsr += -(a * std::log(pt) + b * std::log((1 - pt + 1e-7) / (c - 1))) / 2;
  }
  CHECK(ls::cross_entropy(logits, labels).item() == doctest::Approx(ce).epsilon(1e-12));
  CHECK(ls::focal(logits, labels).item() == doctest::Approx(fo).epsilon(1e-12));
  CHECK(ls::focal(logits, labels, 0).item() == doctest::Approx(ce).epsilon(1e-12));
  CHECK(ls::label_smoothing(logits, labels, xi).item() == doctest::Approx(lsr).epsilon(1e-12));
  CHECK(ls::sparse_lsr(logits, labels, xi).item() == doctest::Approx(slsr).epsilon(1e-12));
  CHECK(ls::sparse_lsr(logits, labels, 0).item() == doctest::Approx(ce).epsilon(1e-12));

  // Regression: |d| = 0.5, 0, 2.
  Tensor pred = Tensor::from_vector({1, 2, 3}, {3, 1}, DType::Float64);
  Tensor target = Tensor::from_vector({1.5, 2, 1}, {3}, DType::Float64);
  CHECK(ls::mse(pred, target).item() == doctest::Approx(4.25 / 3).epsilon(1e-12));
  CHECK(ls::l1(pred, target).item() == doctest::Approx(2.5 / 3).epsilon(1e-12));

  // The factory gives the same functions.
  ls::LossOptions o;
  o.smoothing = xi;
  CHECK(ls::make_loss("sparse_lsr", o)(logits, labels).item() == doctest::Approx(slsr).epsilon(1e-12));
  CHECK(ls::make_loss("lsr", o)(logits, labels).item() == doctest::Approx(lsr).epsilon(1e-12));
  CHECK(ls::make_loss("ce")(logits, labels).item() == doctest::Approx(ce).epsilon(1e-12));
  CHECK(ls::make_loss("focal")(logits, labels).item() == doctest::Approx(fo).epsilon(1e-12));
  CHECK(ls::make_loss("mse")(pred, target).item() == doctest::Approx(4.25 / 3).epsilon(1e-12));
  CHECK(ls::make_loss("l1")(pred, target).item() == doctest::Approx(2.5 / 3).epsilon(1e-12));
  CHECK(ls::make_loss("nll")(log_softmax(logits, 1), labels).item() == doctest::Approx(ce).epsilon(1e-12));
}

TEST_CASE("losses: gradcheck and gradgradcheck of every loss (float64)") {
  Generator gen(11);
  Tensor labels = labels_of({0, 2, 1, 2});
  const std::vector<std::pair<std::string, MultiFn>> classification = {
      {"ce", [&](const std::vector<Tensor>& in) { return ls::cross_entropy(in[0], labels); }},
      {"nll", [&](const std::vector<Tensor>& in) { return ls::nll(log_softmax(in[0], 1), labels); }},
      {"focal", [&](const std::vector<Tensor>& in) { return ls::focal(in[0], labels, 2); }},
      {"focal 1.5", [&](const std::vector<Tensor>& in) { return ls::focal(in[0], labels, 1.5); }},
      {"lsr", [&](const std::vector<Tensor>& in) { return ls::label_smoothing(in[0], labels, 0.1); }},
      {"sparse_lsr", [&](const std::vector<Tensor>& in) { return ls::sparse_lsr(in[0], labels, 0.1); }},
  };
  for (const auto& [name, fn] : classification) {
    INFO(name);
    Tensor logits = randn({4, 3}, DType::Float64, gen).set_requires_grad();
    auto r1 = gradcheck(fn, {logits});
    CHECK_MESSAGE(r1.ok, r1.message);
    auto r2 = gradgradcheck(fn, {logits});
    CHECK_MESSAGE(r2.ok, r2.message);
  }
  const std::vector<std::pair<std::string, MultiFn>> regression = {
      {"mse", [](const std::vector<Tensor>& in) { return ls::mse(in[0], in[1]); }},
      {"l1", [](const std::vector<Tensor>& in) { return ls::l1(in[0], in[1]); }},
  };
  for (const auto& [name, fn] : regression) {
    INFO(name);
    Tensor pred = randn({5, 1}, DType::Float64, gen).set_requires_grad();
    Tensor target = randn({5}, DType::Float64, gen).set_requires_grad();
    auto r1 = gradcheck(fn, {pred, target});
    CHECK_MESSAGE(r1.ok, r1.message);
    auto r2 = gradgradcheck(fn, {pred, target});
    CHECK_MESSAGE(r2.ok, r2.message);
  }
}

TEST_CASE("losses: sparse_lsr equals dense label smoothing when the non-target probabilities are equal") {
  // Rows (target logit, the same logit elsewhere), targets at different positions.
  const int64_t c = 5;
  std::vector<double> z;
  const std::vector<int64_t> t = {0, 3, 4};
  const double target_logit[] = {2.0, -1.0, 0.3}, other[] = {0.0, 0.5, 0.3};
  for (size_t i = 0; i < t.size(); ++i)
    for (int64_t k = 0; k < c; ++k) z.push_back(k == t[i] ? target_logit[i] : other[i]);
  Tensor logits = Tensor::from_vector(z, {3, c}, DType::Float64).set_requires_grad();
  Tensor labels = labels_of(t);
  for (double xi : {0.0, 0.1, 0.4}) {
    INFO("xi = ", xi);
    Tensor s = ls::sparse_lsr(logits, labels, xi), d = ls::label_smoothing(logits, labels, xi);
    CHECK(s.item() == doctest::Approx(d.item()).epsilon(1e-6));
    // The gradients agree as well (the 1e-7 guard moves them by ~1e-7).
    auto gs = grad({s}, {logits})[0].to_vector(), gd = grad({d}, {logits})[0].to_vector();
    for (size_t k = 0; k < gs.size(); ++k) CHECK(gs[k] == doctest::Approx(gd[k]).epsilon(1e-6).scale(1));
  }
  // With unequal non-target probabilities they differ (dense LSR also spreads the rest evenly).
  Tensor uneven = Tensor::from_vector({2, 1, 0, -1, 0.5}, {1, 5}, DType::Float64);
  CHECK(std::abs(ls::sparse_lsr(uneven, labels_of({0}), 0.2).item() -
                 ls::label_smoothing(uneven, labels_of({0}), 0.2).item()) > 1e-3);
}

TEST_CASE("losses: sparse_lsr is minimised at p_t = 1 - xi + xi/C; the reference '+' sign is not") {
  for (int64_t c : {3, 10}) {
    for (double xi : {0.1, 0.3}) {
      INFO("C = ", c, ", xi = ", xi);
      const double p_star = 1 - xi + xi / double(c);
      const double s_star = std::log(p_star * double(c - 1) / (1 - p_star));
      // The scan finds the minimum where p_t = p*.
      const double s_ours = argmin_s([xi](const Tensor& z, const Tensor& y) { return ls::sparse_lsr(z, y, xi); }, c);
      CHECK(p_target(s_ours, c) == doctest::Approx(p_star).epsilon(1e-3));
      // ... and the gradient vanishes there.
      Tensor z = family(s_star, c).set_requires_grad();
      for (double g : grad({ls::sparse_lsr(z, labels_of({0}), xi)}, {z})[0].to_vector()) CHECK(std::abs(g) < 1e-5);
      // The '+' version keeps decreasing towards p_t = 1: its argmin is the end of the scan, and its
      // gradient at p* is far from zero. This is the check that fails for the reference's sign.
      const double s_plus = argmin_s([xi](const Tensor& zz, const Tensor& y) { return plus_sign_lsr(zz, y, xi); }, c);
      CHECK(p_target(s_plus, c) > 0.999);
      CHECK(std::abs(p_target(s_plus, c) - p_star) > 0.05);
      Tensor zp = family(s_star, c).set_requires_grad();
      CHECK(std::abs(grad({plus_sign_lsr(zp, labels_of({0}), xi)}, {zp})[0].to_vector()[0]) > 1e-2);
    }
  }
}

TEST_CASE("losses: errors name the loss, shapes and dtypes") {
  Tensor logits = Tensor::zeros({3, 4});
  auto throws = [](const std::function<void()>& f, const std::string& text) {
    CHECK_THROWS_WITH_AS(f(), doctest::Contains(text.c_str()), std::invalid_argument);
  };
  throws([&] { ls::sparse_lsr(logits, Tensor::zeros({3}), 0.1); },
         "sparse_lsr: expected labels int64 [batch] (class indices), got float32[3]");
  throws([&] { ls::label_smoothing(logits, labels_of({0, 1}), 0.1); },
         "label_smoothing: batch size mismatch: logits float32[3, 4] has 3 rows, labels int64[2] has 2");
  throws([&] { ls::sparse_lsr(logits, labels_of({0, 1, 2}), 1.0); }, "sparse_lsr: smoothing xi must be in [0, 1), got 1");
  throws([&] { ls::sparse_lsr(logits, labels_of({0, 1, 2}), -0.5); }, "got -0.5");
  throws([&] { ls::cross_entropy(logits, labels_of({0, 4, 1})); },
         "cross_entropy: label 4 at position 1 is out of range for 4 classes");
  throws([&] { ls::focal(Tensor::zeros({3}), labels_of({0, 1, 2})); },
         "focal: expected logits float32 or float64 [batch, classes], got float32[3]");
  throws([&] { ls::focal(logits, labels_of({0, 1, 2}), -1); }, "focal: gamma must be finite and >= 0, got -1");
  throws([&] { ls::nll(labels_of({0, 1, 2}), labels_of({0, 1, 2})); }, "nll: expected log_probs float32 or float64");
  throws([&] { ls::mse(Tensor::zeros({4, 2}), Tensor::zeros({4})); },
         "mse: prediction float32[4, 2] and target float32[4] differ in shape");
  throws([&] { ls::l1(Tensor::zeros({4}), Tensor::zeros({4}, DType::Float64)); },
         "l1: prediction and target must share a float dtype, got float32[4] and float64[4]");
  throws([] { ls::make_loss("hinge"); },
         "make_loss: unknown loss 'hinge' (known: ce, nll, mse, l1, focal, lsr, sparse_lsr)");
  ls::LossOptions bad;
  bad.smoothing = 1.5;
  throws([&] { ls::make_loss("sparse_lsr", bad); }, "make_loss(\"sparse_lsr\"): smoothing xi must be in [0, 1), got 1.5");
}

// ---- learned loss -----------------------------------------------------------------------------

TEST_CASE("losses: LearnedLoss architectures, scalar output and per-class pairs") {
  using Mode = ls::LearnedLossConfig::Mode;
  Generator gen(21);
  auto ml3 = ls::LearnedLoss::ml3(Mode::Classification, gen);
  auto named = ml3->named_parameters();
  REQUIRE(named.size() == 3);  // no biases
  CHECK(named[0].first == "net.0.weight");
  CHECK(named[0].second.shape() == Shape{50, 2});
  CHECK(named[2].second.shape() == Shape{1, 50});
  CHECK(ml3->num_parameters() == 2 * 50 + 50 * 50 + 50);
  CHECK(ml3->describe() == "LearnedLoss(classification, 2-50-50-1, relu, no bias, output softplus)");
  auto ada = ls::LearnedLoss::adalfl(Mode::Classification, gen);
  CHECK(ada->config().activation == "smooth_leaky_relu");

  Tensor logits = randn({4, 3}, DType::Float32, gen);
  Tensor labels = labels_of({0, 2, 1, 1});
  Tensor l = ml3->loss(logits, labels);
  CHECK(l.dim() == 0);
  CHECK(std::isfinite(l.item()));
  CHECK(l.item() > 0);  // softplus output
  // Classification = mean over the batch of the sum over classes of L(f_c, y_c).
  auto p = softmax(logits, 1).to_vector();
  double expect = 0;
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t k = 0; k < 3; ++k) {
      const double yk = labels.data<int64_t>()[i] == k ? 1 : 0;
      Tensor pair = Tensor::from_vector({p[size_t(i * 3 + k)], yk}, {1, 2}, DType::Float32);
      expect += ml3->forward(pair).item() / 4;
    }
  CHECK(l.item() == doctest::Approx(expect).epsilon(1e-5));
  CHECK(ml3->loss_with(ml3->parameters(), logits, labels).item() == doctest::Approx(l.item()).epsilon(1e-6));

  // sample: one value per grid point, for either target.
  Tensor grid = Tensor::from_vector({0.0, 0.25, 0.5, 0.75, 1.0}, {5}, DType::Float32);
  Tensor s1 = ml3->sample(grid, 1), s0 = ml3->sample(grid, 0);
  CHECK(s1.shape() == Shape{5});
  CHECK(s0.shape() == Shape{5});
  CHECK(s1.at({2}) == doctest::Approx(ml3->forward(Tensor::from_vector({0.5, 1.0}, {1, 2}, DType::Float32)).item()));

  // Regression mode: [B, 1] predictions against [B] targets, mean over the batch.
  ls::LearnedLossConfig rc;
  rc.mode = Mode::Regression;
  rc.hidden = {8};
  rc.bias = true;
  rc.output = "none";
  ls::LearnedLoss reg(rc, gen);
  CHECK(reg.num_parameters() == 2 * 8 + 8 + 8 + 1);
  Tensor pred = randn({6, 1}, DType::Float32, gen), target = randn({6}, DType::Float32, gen);
  Tensor pairs = stack({reshape(pred, {-1}), target}, 1);
  CHECK(reg.loss(pred, target).item() == doctest::Approx(mean(reg.forward(pairs)).item()).epsilon(1e-5));

  // Errors name the problem.
  CHECK_THROWS_WITH_AS(ml3->loss(logits, Tensor::zeros({4})), doctest::Contains("int64 labels [4]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(ml3->loss(logits.to(DType::Float64), labels),
                       doctest::Contains("does not match the loss network's dtype float32"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(reg.loss(pred, randn({5}, DType::Float32, gen)), doctest::Contains("regression expects"),
                       std::invalid_argument);
  ls::LearnedLossConfig bad;
  bad.activation = "tanh";
  CHECK_THROWS_WITH_AS(ls::LearnedLoss(bad, gen), doctest::Contains("activation must be 'relu' or 'smooth_leaky_relu'"),
                       std::invalid_argument);
}

TEST_CASE("losses: LearnedLoss gradcheck and gradgradcheck (float64, smooth activation)") {
  Generator gen(22);
  ls::LearnedLossConfig c = ls::LearnedLossConfig::adalfl();
  c.hidden = {5, 4};  // small: the checks difference every parameter
  c.bias = true;
  ls::LearnedLoss loss(c, gen);
  loss.to(DType::Float64);
  Tensor labels = labels_of({1, 0, 2});
  MultiFn fn = [&](const std::vector<Tensor>& in) {
    return loss.loss_with(std::vector<Tensor>(in.begin() + 1, in.end()), in[0], labels);
  };
  std::vector<Tensor> inputs = {randn({3, 3}, DType::Float64, gen).set_requires_grad()};
  for (const Tensor& p : loss.parameters()) inputs.push_back(p.detach().clone().set_requires_grad());
  auto r1 = gradcheck(fn, inputs);
  CHECK_MESSAGE(r1.ok, r1.message);
  auto r2 = gradgradcheck(fn, inputs);
  CHECK_MESSAGE(r2.ok, r2.message);
}

TEST_CASE("losses: LearnedLoss meta-gradient through one differentiable SGD step is finite") {
  for (bool adalfl : {false, true}) {
    const char* which = adalfl ? "AdaLFL" : "ML3";
    INFO(which);
    Generator gen(23);
    auto loss = adalfl ? ls::LearnedLoss::adalfl(ls::LearnedLossConfig::Mode::Classification, gen)
                       : ls::LearnedLoss::ml3(ls::LearnedLossConfig::Mode::Classification, gen);
    Linear model(4, 3, true, gen);
    Tensor x = randn({8, 4}, DType::Float32, gen), xv = randn({8, 4}, DType::Float32, gen);
    Tensor y = randint(0, 3, {8}, gen), yv = randint(0, 3, {8}, gen);
    // theta' = theta - lr * grad_theta L_phi(f_theta(x), y), recorded (create_graph) ...
    std::vector<Tensor> theta = model.parameters();
    GradOptions o;
    o.create_graph = true;
    Grads g = grad({loss->loss(model.forward(x), y)}, theta, {}, o);
    std::vector<Tensor> fast = sgd_update(theta, g, 0.1);
    // ... then the task loss of theta' differentiated back to phi: a gradient of a gradient.
    Tensor task = ls::cross_entropy(model.forward_with(fast, xv), yv);
    Grads meta = grad({task}, loss->parameters());
    double norm = 0;
    for (const Tensor& m : meta) {
      REQUIRE(m.defined());
      for (double v : m.to_vector()) {
        CHECK(std::isfinite(v));
        norm += v * v;
      }
    }
    CHECK(norm > 0);
  }
}

TEST_CASE("losses: LearnedLoss save/load round trip and mismatch errors") {
  TempDir tmp("losses");
  Generator gen(24);
  auto ml3 = ls::LearnedLoss::ml3(ls::LearnedLossConfig::Mode::Classification, gen);
  const std::string path = tmp / "ml3.safetensors";
  ml3->save(path);
  CHECK(load_safetensors(path).metadata.at("learned_loss") == ml3->config().to_json());

  Tensor logits = randn({4, 5}, DType::Float32, gen);
  Tensor labels = labels_of({4, 0, 1, 3});
  auto back = ls::LearnedLoss::from_file(path);
  CHECK(back->config().difference(ml3->config()).empty());
  CHECK(back->loss(logits, labels).item() == ml3->loss(logits, labels).item());
  auto other = ls::LearnedLoss::ml3(ls::LearnedLossConfig::Mode::Classification, gen);  // other weights
  other->load(path);
  CHECK(other->loss(logits, labels).item() == ml3->loss(logits, labels).item());

  // The config JSON round-trips and rejects what it does not know.
  ls::LearnedLossConfig c = ls::LearnedLossConfig::adalfl(ls::LearnedLossConfig::Mode::Regression);
  c.hidden = {7, 3, 2};
  c.slrelu_gamma = 0.1;
  CHECK(ls::LearnedLossConfig::from_json(c.to_json()).difference(c).empty());
  CHECK_THROWS_WITH_AS(ls::LearnedLossConfig::from_json(R"({"version":1,"colour":"red"})"),
                       doctest::Contains("lacks the field 'mode'"), std::invalid_argument);

  auto mismatch = [&](ls::LearnedLoss& l, const std::string& text) {
    CHECK_THROWS_WITH_AS(l.load(path), doctest::Contains(text.c_str()), std::invalid_argument);
  };
  ls::LearnedLossConfig slrelu = ls::LearnedLossConfig::ml3();
  slrelu.activation = "smooth_leaky_relu";
  ls::LearnedLoss sl(slrelu, gen);
  mismatch(sl, "holds a different architecture (this loss vs the file): activation: 'smooth_leaky_relu' vs 'relu'");
  mismatch(*ls::LearnedLoss::adalfl(ls::LearnedLossConfig::Mode::Classification, gen), "hidden: [40, 40] vs [50, 50]");
  ls::LearnedLossConfig small;
  small.hidden = {5};
  ls::LearnedLoss s(small, gen);
  mismatch(s, "hidden: [5] vs [50, 50]");
  ls::LearnedLoss r(ls::LearnedLossConfig::ml3(ls::LearnedLossConfig::Mode::Regression), gen);
  mismatch(r, "mode: regression vs classification");

  // A safetensors file without the description, or with a broken one.
  save_safetensors(tmp / "plain.safetensors", ml3->state_dict());
  CHECK_THROWS_WITH_AS(ls::LearnedLoss::from_file(tmp / "plain.safetensors"),
                       doctest::Contains("has no 'learned_loss' metadata"), std::invalid_argument);
  save_safetensors(tmp / "broken.safetensors", ml3->state_dict(), {{"learned_loss", "{\"version\":1,"}});
  CHECK_THROWS_WITH_AS(ls::LearnedLoss::from_file(tmp / "broken.safetensors"),
                       doctest::Contains("bad 'learned_loss' metadata at byte"), std::invalid_argument);
}
