// The supervised training loop behind `metaloss train`: schedules, dtype conversion, divergence.
#include <doctest/doctest.h>

#include <cmath>

#include "meta/train.h"
#include "models/layers.h"
#include "models/zoo.h"

using namespace metaloss;

namespace {
// A linearly separable 2-class problem: 64 points in 2-D, label = (x0 + x1 > 0).
data::Dataset toy(DType dtype = DType::Float32) {
  Generator gen(5);
  data::Dataset d;
  d.inputs = randn({64, 2}, dtype, gen);
  std::vector<double> y;
  for (int64_t i = 0; i < 64; ++i) y.push_back(d.inputs.at({i, 0}) + d.inputs.at({i, 1}) > 0 ? 1 : 0);
  d.targets = Tensor::from_vector(y, {64}).to(DType::Int64);
  d.num_classes = 2;
  d.name = "toy";
  return d;
}
}  // namespace

TEST_CASE("train: cosine schedule anneals the lr to 0 over the run; step schedule multiplies at milestones") {
  data::Dataset d = toy();
  Generator gen(1);
  Linear model(2, 2, true, gen);
  SGD opt(model.parameters(), SGDOptions{0.1, 0.9});
  TrainOptions o;
  o.epochs = 3;
  o.batch_size = 16;  // 4 steps per epoch, 12 in all
  o.progress = false;
  o.lr_schedule = "cosine";
  TrainReport r = train_supervised(model, opt, d, o, gen);
  CHECK(r.steps == 12);
  CHECK(opt.lr() == doctest::Approx(0.0).epsilon(1e-12));

  SGD opt2(model.parameters(), SGDOptions{0.1, 0.9});
  o.lr_schedule = "step";
  o.lr_milestones = {1, 2.5};  // steps 4 and 10
  o.lr_gamma = 0.5;
  o.epochs = 2;  // 8 steps: one milestone passed
  train_supervised(model, opt2, d, o, gen);
  CHECK(opt2.lr() == doctest::Approx(0.05));
  o.epochs = 3;
  SGD opt3(model.parameters(), SGDOptions{0.1, 0.9});
  train_supervised(model, opt3, d, o, gen);
  CHECK(opt3.lr() == doctest::Approx(0.025));

  o.lr_schedule = "linear";
  CHECK_THROWS_WITH_AS(train_supervised(model, opt3, d, o, gen), doctest::Contains("unknown lr schedule 'linear'"),
                       std::invalid_argument);
  o.lr_schedule = "step";
  o.lr_milestones = {};
  CHECK_THROWS_WITH_AS(train_supervised(model, opt3, d, o, gen), doctest::Contains("needs at least one milestone"),
                       std::invalid_argument);
}

TEST_CASE("train: Module::to(float64) converts parameters and buffers and keeps the function") {
  Generator gen(3);
  auto m = make_model("conv4", 5, gen);
  Tensor x = randn({2, 1, 28, 28}, DType::Float32, gen);
  m->eval();
  Tensor y32 = [&] { NoGrad ng; return m->forward(x); }();
  auto before = m->state_dict();
  m->to(DType::Float64);
  auto after = m->state_dict();
  REQUIRE(after.size() == before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    CHECK(after[i].first == before[i].first);
    CHECK(after[i].second.shape() == before[i].second.shape());
    if (is_floating(before[i].second.dtype())) {
      CHECK(after[i].second.dtype() == DType::Float64);
      CHECK(amax(abs(sub(after[i].second, before[i].second.to(DType::Float64)))).item() == 0.0);
    } else {
      CHECK(after[i].second.dtype() == before[i].second.dtype());  // num_batches_tracked stays int64
    }
  }
  for (auto& p : m->parameters()) CHECK(p.requires_grad());
  Tensor y64 = [&] { NoGrad ng; return m->forward(x.to(DType::Float64)); }();
  CHECK(y64.dtype() == DType::Float64);
  CHECK(amax(abs(sub(y64, y32.to(DType::Float64)))).item() < 1e-4);
  CHECK_THROWS_AS(m->to(DType::Int64), std::invalid_argument);

  // The same training in float32 and in float64 from the same initial weights ends at the same
  // parameters up to float32 rounding.
  Linear lin32(2, 2, true, gen), lin64(2, 2, true, gen);
  lin64.load_state_dict(lin32.state_dict());
  lin64.to(DType::Float64);
  SGD opt32(lin32.parameters(), SGDOptions{0.5, 0.9}), opt64(lin64.parameters(), SGDOptions{0.5, 0.9});
  TrainOptions o;
  o.epochs = 10;
  o.batch_size = 16;
  o.progress = false;
  Generator g32(7), g64(7);
  train_supervised(lin32, opt32, toy(DType::Float32), o, g32);
  train_supervised(lin64, opt64, toy(DType::Float64), o, g64);
  for (size_t i = 0; i < 2; ++i) {
    Tensor p32 = lin32.parameters()[i], p64 = lin64.parameters()[i];
    CHECK(p64.dtype() == DType::Float64);
    CHECK(amax(abs(sub(p64, p32.to(DType::Float64)))).item() < 1e-4 * (1 + amax(abs(p64)).item()));
  }
  CHECK(evaluate_accuracy(lin64, toy(DType::Float64)) > 0.8);
}
