// Every meta-learning method run on a device next to the CPU, from the same seeds and data: ML3,
// AdaLFL, TaylorGLO, EvoMAL, GP-LFL, GLO, MAML, Meta-SGD and NPBML. One body, two suites: the
// CPU suite runs it on the host check device cpu:1 (any tensor a method leaves on "cpu" throws
// there, and the numbers must be bit-identical), the CUDA suite on cuda:0 (within the tolerances
// it passes: float64 where the method allows it, float32 for EvoMAL's edge weights).
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/metaloss.h"
#include "meta/fewshot/learner.h"
#include "meta/learn/adalfl.h"
#include "meta/learn/ml3.h"
#include "meta/losses/expression.h"
#include "meta/search/evomal.h"
#include "meta/search/glo.h"
#include "meta/search/taylor_glo_search.h"
#include "models/layers.h"

namespace metaloss::testing {

// Four features, three classes split by two linear rules: learnable by a linear model.
inline data::Dataset feature_blobs(int64_t n, uint64_t seed, DType dt) {
  Generator gen(seed);
  data::Dataset d;
  d.inputs = randn({n, 4}, dt, gen);
  std::vector<double> y;
  for (int64_t i = 0; i < n; ++i) {
    const double a = d.inputs.at({i, 0}) + d.inputs.at({i, 1}), b = d.inputs.at({i, 2}) - d.inputs.at({i, 3});
    y.push_back(a > 0.5 ? 0 : b > 0 ? 1 : 2);
  }
  d.targets = Tensor::from_vector(y, {n}).to(DType::Int64);
  d.num_classes = 3;
  d.name = "blobs";
  return d;
}

// The task (host-made data and seeded linear models) with splits and models on `dev`.
inline learn::LearnTask tiny_task(DType dt, Device dev) {
  learn::ModelFactory f = [dt](Generator& g) {
    auto m = std::make_shared<Linear>(4, 3, true, g);
    if (dt != DType::Float32) m->to(dt);
    return std::static_pointer_cast<Module>(m);
  };
  return {data::to_device(feature_blobs(96, 1, dt), dev), data::to_device(feature_blobs(48, 2, dt), dev),
          learn::on_device(f, dev)};
}

inline std::vector<double> flat_values(const std::vector<Tensor>& ts) {
  std::vector<double> v;
  for (const Tensor& t : ts)
    for (double x : t.to_vector()) v.push_back(x);
  return v;
}

inline double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

// A tiny few-shot learner: 2-way, Conv-2 of 2 channels on 8x8 images, float64, 2 inner steps.
inline fewshot::LearnerConfig tiny_learner(const std::string& method) {
  fewshot::LearnerConfig c;
  c.method = method;
  c.in_channels = 1;
  c.image_size = 8;
  c.hidden = 2;
  c.blocks = 2;
  c.ways = 2;
  c.inner_steps = 2;
  c.inner_lr = 0.1;
  c.loss_hidden = 3;
  c.dtype = DType::Float64;
  c.seed = 3;
  return c;
}

struct DeviceTolerance {
  double f64 = 0;    // max |cpu - dev| of float64 meta-parameters, gradients and weights
  double f32 = 0;    // ... of float32 ones (EvoMAL's edge weights)
  double error = 0;  // of a validation error (a fraction; one example of 48 is 0.021)
};

inline void check_methods_on(Device dev, DeviceTolerance tol) {
  const Device cpu = Device::cpu();
  using Mode = losses::LearnedLossConfig::Mode;
  INFO("device " << dev.str());

  SUBCASE("ML3: phi after 3 meta-steps (float64, learned alpha)") {
    auto run = [](Device d) {
      Generator gen(9);
      auto loss = losses::LearnedLoss::ml3(Mode::Classification, gen);
      loss->to(DType::Float64);
      loss->to(d);
      learn::ML3Config c;
      c.meta_steps = 3;
      c.batch_size = 16;
      c.inner_steps = 2;
      c.learn_lr = true;
      c.progress = false;
      c.seed = 4;
      learn::ML3 ml3(tiny_task(DType::Float64, d), loss, c);
      ml3.run();
      std::vector<double> v = flat_values(loss->parameters());
      v.push_back(ml3.inner_lr());
      for (const Tensor& p : loss->parameters()) CHECK(p.device() == d);
      return v;
    };
    CHECK(max_abs_diff(run(cpu), run(dev)) <= tol.f64);
  }

  SUBCASE("AdaLFL: phi, alpha and the base model after offline init and 6 online steps (float64)") {
    auto run = [](Device d) {
      Generator gen(9);
      auto loss = losses::LearnedLoss::adalfl(Mode::Classification, gen);
      loss->to(DType::Float64);
      loss->to(d);
      learn::AdaLFLConfig c;
      c.offline_steps = 2;
      c.steps = 6;
      c.batch_size = 16;
      c.learn_lr = true;
      c.momentum = 0.9;
      c.snapshots = 2;
      c.progress = false;
      c.seed = 1;
      learn::LearnTask task = tiny_task(DType::Float64, d);
      learn::AdaLFL ada(task, loss, c);
      Generator init(1), order(2);
      auto model = task.make_model(init);
      const learn::AdaLFLReport r = ada.run(*model, order);
      std::vector<double> v = flat_values(loss->parameters());
      for (double x : flat_values(model->parameters())) v.push_back(x);
      v.push_back(r.lr);
      return v;
    };
    CHECK(max_abs_diff(run(cpu), run(dev)) <= tol.f64);
  }

  SUBCASE("TaylorGLO: a candidate's fitness (float64 task)") {
    search::TaylorGLOConfig cfg;
    cfg.steps = 40;
    cfg.batch_size = 16;
    cfg.lr = 0.1;
    const search::TaylorParams theta{0.1, -0.2, 1.0, 0.5, -0.3, 0.2, 0.1, -0.1};
    const search::Evaluation a = search::evaluate_candidate(theta, tiny_task(DType::Float64, cpu), cfg, 7);
    const search::Evaluation b = search::evaluate_candidate(theta, tiny_task(DType::Float64, dev), cfg, 7);
    REQUIRE(a.status == "ok");
    CHECK(b.status == "ok");
    CHECK(std::abs(a.fitness - b.fitness) <= tol.error);
  }

  const losses::Expression ce = losses::Expression::parse("mul(-1, mul(y, log(f)))");
  search::EvoMALConfig evo;
  evo.fitness_steps = 40;
  evo.meta_steps = 4;
  evo.batch_size = 16;
  evo.lr = 0.1;
  evo.meta_lr = 1e-2;
  evo.rejection_samples = 20;
  evo.rejection_steps = 5;

  SUBCASE("EvoMAL: rejection protocol, local search on the edge weights (float32), fitness") {
    std::vector<double> wa, wb;
    const search::Evaluation a = search::evaluate_evomal(ce, tiny_task(DType::Float32, cpu), evo, 11, &wa);
    const search::Evaluation b = search::evaluate_evomal(ce, tiny_task(DType::Float32, dev), evo, 11, &wb);
    REQUIRE(a.status == "ok");
    CHECK(b.status == "ok");
    CHECK(wa.size() == ce.size() - 1);
    CHECK(max_abs_diff(wa, wb) <= tol.f32);
    CHECK(std::abs(a.fitness - b.fitness) <= tol.error);
  }

  SUBCASE("GP-LFL: a tree without local search") {
    search::EvoMALConfig gp = evo;
    gp.local_search = false;
    const search::Evaluation a = search::evaluate_evomal(ce, tiny_task(DType::Float32, cpu), gp, 12);
    const search::Evaluation b = search::evaluate_evomal(ce, tiny_task(DType::Float32, dev), gp, 12);
    REQUIRE(a.status == "ok");
    CHECK(b.status == "ok");
    CHECK(std::abs(a.fitness - b.fitness) <= tol.error);
  }

  SUBCASE("GLO: a tree with given edge weights (its CMA-ES phase)") {
    const std::string genome = search::weighted_genome(ce, {1.2, 0.9, 1.0, 1.1, 0.8});
    const search::Evaluation a = search::evomal_eval_fn(tiny_task(DType::Float32, cpu), evo)(genome, 13);
    const search::Evaluation b = search::evomal_eval_fn(tiny_task(DType::Float32, dev), evo)(genome, 13);
    REQUIRE(a.status == "ok");
    CHECK(b.status == "ok");
    CHECK(std::abs(a.fitness - b.fitness) <= tol.error);
  }

  SUBCASE("MAML, Meta-SGD, NPBML: second-order meta-gradient of one task (float64)") {
    for (const std::string method : {"maml", "metasgd", "npbml"}) {
      INFO("method " << method);
      const fewshot::LearnerConfig c = tiny_learner(method);
      Generator g(21);
      data::Episode e;
      e.support_x = randn(Shape{4, 1, 8, 8}, DType::Float32, g);
      e.query_x = randn(Shape{4, 1, 8, 8}, DType::Float32, g);
      e.support_y = Tensor::from_vector(std::vector<int64_t>{0, 0, 1, 1}, Shape{4});
      e.query_y = Tensor::from_vector(std::vector<int64_t>{0, 1, 0, 1}, Shape{4});
      e.classes = {0, 1};
      auto meta_grad = [&](Device d) {
        fewshot::Learner l(c);
        {  // away from the structured initialisation (zero FiLM and loss heads), as the CPU tests do
          Generator p(5);
          NoGrad ng;
          for (const Tensor& t : l.meta_tensors()) t.add_(randn(t.shape(), t.dtype(), p), 0.2);
        }
        l.to(d);
        const data::Episode ed = data::to_device(e, d);
        const Tensor q = l.query(l.adapt(ed, true), ed).loss;
        GradOptions go;
        go.allow_unused = true;
        std::vector<Tensor> gs = grad({q}, l.meta_tensors(), {}, go);
        for (size_t i = 0; i < gs.size(); ++i)
          if (!gs[i].defined()) gs[i] = Tensor::zeros(l.meta_tensors()[i].shape(), DType::Float64);
        std::vector<double> v = flat_values(gs);
        v.push_back(q.item());
        return v;
      };
      CHECK(max_abs_diff(meta_grad(cpu), meta_grad(dev)) <= tol.f64);
    }
  }
}

}  // namespace metaloss::testing
