// Population-search building blocks: LAPACK symmetric eigendecomposition, the TaylorGLO loss
// (value, orientation, gradients), CMA-ES (convergence, failed candidates, reproducibility).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "engine/metaloss.h"
#include "gradcheck.h"
#include "meta/losses/taylor_glo.h"
#include "meta/search/cmaes.h"

using namespace metaloss;
using namespace metaloss::testing;

TEST_CASE("symmetric_eigen: A V = V diag(w), V orthonormal, eigenvalues ascending") {
  Generator gen(3);
  for (DType t : {DType::Float64, DType::Float32}) {
    Tensor r = randn(Shape{6, 6}, t, gen);
    Tensor a = add(r, transpose(r, 0, 1));
    SymmetricEigen e = symmetric_eigen(a);
    const double tol = t == DType::Float64 ? 1e-10 : 1e-4;
    auto w = e.values.to_vector();
    for (size_t i = 1; i < w.size(); ++i) CHECK(w[i - 1] <= w[i]);
    auto av = matmul(a, e.vectors).to_vector(), vw = mul(e.vectors, e.values).to_vector();
    for (size_t i = 0; i < av.size(); ++i) CHECK(std::abs(av[i] - vw[i]) < tol * 10);
    auto vtv = matmul(transpose(e.vectors, 0, 1), e.vectors).to_vector();
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 6; ++j) CHECK(std::abs(vtv[size_t(i * 6 + j)] - (i == j ? 1.0 : 0.0)) < tol);
  }
  CHECK_THROWS_WITH_AS(symmetric_eigen(Tensor::zeros(Shape{2, 3}, DType::Float64)),
                       doctest::Contains("expected a square matrix"), std::invalid_argument);
}

namespace {
// f(x, y) of the TaylorGLO polynomial, written out per element.
double taylor_f(const double* t, double x, double y) {
  const double dx = x - t[0], dy = y - t[1];
  return t[2] * dy + t[3] * dy * dy / 2 + t[4] * dy * dy * dy / 6 + t[5] * dx * dy + t[6] * dx * dy * dy / 2 +
         t[7] * dx * dx * dy / 2;
}
}  // namespace

TEST_CASE("taylor_glo: value, the label/prediction orientation, gradients") {
  Generator gen(4);
  const Tensor logits = randn(Shape{5, 4}, DType::Float64, gen);
  const Tensor labels = Tensor::from_vector(std::vector<int64_t>{0, 3, 1, 1, 2}, Shape{5});
  const Tensor theta = randn(Shape{8}, DType::Float64, gen);
  // Reference, element by element.
  const auto p = softmax(logits, 1).to_vector(), th = theta.to_vector();
  const auto lab = labels.to_vector();
  double ref = 0;
  for (int b = 0; b < 5; ++b)
    for (int c = 0; c < 4; ++c) ref += taylor_f(th.data(), c == int(lab[size_t(b)]) ? 1.0 : 0.0, p[size_t(b * 4 + c)]);
  ref = -ref / 5;
  CHECK(losses::taylor_glo(logits, labels, theta).item() == doctest::Approx(ref).epsilon(1e-12));
  // x is the label, y the prediction: a loss of y alone (t3 (y - t1)^2 / 2) must not depend on the
  // labels, and one of x alone times y (t5 x y) is -mean p_target.
  const std::array<double, 8> y_only{0, 0.3, 0, 1, 0, 0, 0, 0};
  const Tensor other = Tensor::from_vector(std::vector<int64_t>{1, 0, 2, 3, 3}, Shape{5});
  CHECK(losses::taylor_glo(logits, labels, y_only).item() == doctest::Approx(losses::taylor_glo(logits, other, y_only).item()));
  const double p_target = mean(gather(softmax(logits, 1), 1, unsqueeze(labels, 1))).item();
  CHECK(losses::taylor_glo(logits, labels, losses::kTaylorGLOTargetProbability).item() == doctest::Approx(-p_target));
  // Differentiable in the logits and in theta, to second order.
  Tensor lg = logits.detach().set_requires_grad(true), tg = theta.detach().set_requires_grad(true);
  auto fn = [labels](const std::vector<Tensor>& in) { return losses::taylor_glo(in[0], labels, in[1]); };
  auto r1 = gradcheck(fn, {lg, tg});
  CHECK_MESSAGE(r1.ok, r1.message);
  auto r2 = gradgradcheck(fn, {lg, tg});
  CHECK_MESSAGE(r2.ok, r2.message);
  CHECK_THROWS_WITH_AS(losses::taylor_glo(logits, labels, Tensor::zeros(Shape{7}, DType::Float64)),
                       doctest::Contains("expected theta with 8 values"), std::invalid_argument);
}

namespace {
double sphere(const std::vector<double>& x) {
  double s = 0;
  for (double v : x) s += v * v;
  return s;
}
double rosenbrock(const std::vector<double>& x) {
  double s = 0;
  for (size_t i = 0; i + 1 < x.size(); ++i)
    s += 100 * (x[i + 1] - x[i] * x[i]) * (x[i + 1] - x[i] * x[i]) + (1 - x[i]) * (1 - x[i]);
  return s;
}
double run(double (*f)(const std::vector<double>&), int n, int generations, uint64_t seed, bool fail_some = false) {
  search::CMAES es(std::vector<double>(size_t(n), 3.0), search::CMAESOptions{1.2, 0}, seed);
  for (int g = 0; g < generations; ++g) {
    auto pop = es.ask();
    std::vector<double> fit;
    for (size_t k = 0; k < pop.size(); ++k)  // a "failed evaluation" for every third candidate
      fit.push_back(fail_some && k % 3 == 0 ? std::numeric_limits<double>::quiet_NaN() : f(pop[k]));
    es.tell(fit);
  }
  return es.best_fitness();
}
}  // namespace

TEST_CASE("CMA-ES: converges on the sphere and Rosenbrock, survives failed candidates, reproducible") {
  CHECK(run(sphere, 8, 200, 1) < 1e-10);
  CHECK(run(rosenbrock, 4, 600, 2) < 1e-8);
  CHECK(run(sphere, 8, 250, 3, /*fail_some=*/true) < 1e-8);
  CHECK(run(sphere, 8, 30, 7) == run(sphere, 8, 30, 7));  // same seed, same search
  CHECK(run(sphere, 8, 30, 7) != run(sphere, 8, 30, 8));
  search::CMAES es(std::vector<double>(8, 0.0), search::CMAESOptions{1.2, 20}, 1);
  CHECK(es.population() == 20);
  CHECK_THROWS_AS(es.tell(std::vector<double>(20, 0.0)), std::logic_error);  // nothing asked
  auto pop = es.ask();
  CHECK(pop.size() == 20);
  CHECK_THROWS_AS(es.ask(), std::logic_error);
  CHECK_THROWS_WITH_AS(es.tell(std::vector<double>(19, 0.0)), doctest::Contains("expected 20 fitness values"),
                       std::invalid_argument);
  CHECK_THROWS_AS(search::CMAES({}, {}, 0), std::invalid_argument);
  CHECK_THROWS_AS(search::CMAES({0.0}, search::CMAESOptions{-1, 0}, 0), std::invalid_argument);
}

#include "meta/search/taylor_glo_search.h"
#include "models/layers.h"
#include "tasks.h"

using testing::blob_task;

TEST_CASE("TaylorGLO search: seeded candidates, failed candidates, an all-failed generation, reproducible") {
  const auto task = blob_task();
  CHECK(search::candidate_seed(1, 2, 3) == search::candidate_seed(1, 2, 3));
  CHECK(search::candidate_seed(1, 2, 3) != search::candidate_seed(1, 3, 2));
  CHECK(search::candidate_seed(1, 2, 3) != search::candidate_seed(2, 2, 3));
  search::TaylorGLOConfig cfg;
  cfg.steps = 60;
  cfg.lr = 0.5;
  // The "maximise the target probability" loss learns the blobs.
  auto good = search::evaluate_candidate(losses::kTaylorGLOTargetProbability, task, cfg, 9);
  CHECK(good.status == "ok");
  CHECK(good.fitness < 0.2);
  // Its negation pushes the target probability down: a valid but bad loss.
  auto bad = search::evaluate_candidate({0, 0, 0, 0, 0, -1, 0, 0}, task, cfg, 9);
  CHECK(bad.status == "ok");
  CHECK(bad.fitness > 0.5);
  // A non-finite parameter is a failed candidate with a reason, not an exception.
  auto nan = search::evaluate_candidate({NAN, 0, 0, 0, 0, 1, 0, 0}, task, cfg, 9);
  CHECK(nan.status == "failed");
  CHECK(nan.fitness == 1.0);
  CHECK(nan.reason.find("non-finite") != std::string::npos);

  cfg.generations = 3;
  cfg.population = 6;
  cfg.seed = 11;
  int logged = 0;
  auto r1 = search::taylor_glo_search(task, cfg, [&](const search::GenerationLog&) { ++logged; });
  CHECK(logged == 3);
  CHECK(r1.generations.size() == 3);
  CHECK(r1.evaluations <= 18);
  double best_logged = 1;
  for (const auto& g : r1.generations) best_logged = std::min(best_logged, g.best);
  CHECK(r1.best_fitness == best_logged);
  auto r2 = search::taylor_glo_search(task, cfg);
  CHECK(r2.best_fitness == r1.best_fitness);
  CHECK(r2.best == r1.best);
  cfg.initial = {NAN, 0, 0, 0, 0, 1, 0, 0};
  CHECK_THROWS_WITH_AS(search::taylor_glo_search(task, cfg), doctest::Contains("must be finite"), std::invalid_argument);
  // Every candidate of every generation failing (a base model whose outputs are NaN, so every
  // training diverges) is handled: the search completes.
  cfg.initial = losses::kTaylorGLOTargetProbability;
  cfg.generations = 2;
  learn::LearnTask broken = task;
  broken.make_model = [](Generator& gen) {
    auto m = std::make_shared<Sequential>();
    m->push_back(std::make_shared<Linear>(2, 3, true, gen));
    NoGrad ng;
    for (auto& p : m->parameters()) p.fill_(NAN);
    return std::static_pointer_cast<Module>(m);
  };
  auto r3 = search::taylor_glo_search(broken, cfg);
  CHECK(r3.generations.size() == 2);
  CHECK(r3.generations[0].failed == 6);
  CHECK(r3.best_fitness == 1.0);
}

// ---- the method registry (meta/search/method.h) -------------------------------------------

#include "meta/search/search_run.h"

TEST_CASE("search methods: registered by name; an unknown name lists them") {
  using namespace metaloss::search;
  CHECK(method_names() == std::vector<std::string>{"taylorglo", "evomal", "gplfl", "glo"});
  for (const std::string& n : method_names()) CHECK(find_method(n).name() == n);
  try {
    find_method("hill-climb");
    FAIL("expected an error");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()) == "search method 'hill-climb' (this metaloss searches taylorglo, evomal, gplfl, glo)");
  }
}

TEST_CASE("search methods: each writes its own keys of the stored configuration") {
  using namespace metaloss::search;
  SearchSettings s;
  s.test_seeds = "3,1";
  auto config = [&](const std::string& m) {
    s.method = m;
    return make_run_config(s);
  };
  const RunConfig tg = config("taylorglo"), evo = config("evomal"), gplfl = config("gplfl"), glo = config("glo");
  CHECK(tg.at("sigma") == "1.2");
  CHECK(tg.at("population") == "20");
  CHECK(tg.at("steps") == "1000");
  CHECK(tg.count("local_search") == 0);
  CHECK(tg.at("test_seeds") == "3,1");
  CHECK(evo.count("sigma") == 0);
  CHECK(evo.at("local_search") == "on");
  CHECK(evo.at("meta_steps") == "250");
  CHECK(evo.at("population") == "25");
  CHECK(evo.at("steps") == "500");
  CHECK(gplfl.at("local_search") == "off");
  CHECK(gplfl.count("meta_steps") == 0);
  CHECK(glo.at("glo_generations") == "10");
  CHECK(find_method("glo").loop_generations(glo) == 60);
  CHECK(find_method("evomal").loop_generations(evo) == 50);
  CHECK(find_method("glo").why_not_extendable(glo) != "");
  CHECK(find_method("evomal").why_not_extendable(evo) == "");
  CHECK(find_method("taylorglo").symbolic() == false);
  CHECK(find_method("gplfl").symbolic() == true);
  // The whole stored configuration of a default EvoMAL run, as `metaloss search --method evomal`
  // has written it since the run store existed (its hash identifies existing runs).
  const RunConfig want{{"batch_size", "128"},     {"crossover", "0.69999999999999996"}, {"data_dir", ""},
                       {"dataset", "fashion-mnist"}, {"elitism", "0.050000000000000003"}, {"equivalence_tol", "0.01"},
                       {"generations", "50"},     {"local_search", "on"},   {"lr", "0.01"},
                       {"max_height", "10"},      {"meta_steps", "250"},    {"method", "evomal"},
                       {"model", "logistic"},     {"mutation", "0.25"},     {"population", "25"},
                       {"rejection_lr", "10"},    {"rejection_samples", "100"}, {"rejection_steps", "100"},
                       {"seed", "0"},             {"seed_exprs", ""},       {"simplify", evo.at("simplify")},
                       {"steps", "500"},          {"test_seeds", "3,1"},    {"test_steps", "500"},
                       {"threads", "1"},          {"time_limit", "0"},      {"val_fraction", "0.10000000000000001"}};
  CHECK(evo == want);
  // Settings a method does not take are refused, naming the option.
  s.seed_exprs = {"mul(-1, mul(y, log(f)))"};
  CHECK_THROWS_WITH_AS(config("taylorglo"), "--seed-expr is for --method evomal or gplfl", std::invalid_argument);
  s.seed_exprs = {"mul(y"};
  CHECK_THROWS_AS(config("evomal"), std::invalid_argument);
}
