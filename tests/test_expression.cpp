// Symbolic losses (EvoMAL / GP-LFL): parse/print round trips and errors, the protected
// primitives, engine evaluation vs the scalar reference, gradients, the exported C header (compiled
// and compared with the engine), GP operators and state, and the EvoMAL evaluation filters.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "engine/metaloss.h"
#include "gradcheck.h"
#include "meta/losses/expression.h"
#include "meta/search/evomal.h"
#include "meta/search/gp.h"
#include "models/layers.h"
#include "tasks.h"
#include "temp_dir.h"

using namespace metaloss;
using losses::Expression;
using losses::Prim;

TEST_CASE("expression: print -> parse round trip, aliases, errors with positions") {
  const char* texts[] = {"y", "-1", "mul(-1, mul(y, log(f)))", "div(sub(y, f), max(1, tanh(f)))",
                         "add(sign(y), sqrt(abs(square(min(f, -1)))))"};
  for (const char* t : texts) {
    const Expression e = Expression::parse(t);
    CHECK(e.str() == t);
    CHECK(Expression::parse(e.str()) == e);
    CHECK(e.valid());
  }
  CHECK(Expression::parse("  mul( y ,log( f(x) ) ) ").str() == "mul(y, log(f))");
  CHECK(Expression::parse("mul(-1, mul(y, log(f)))").height() == 3);
  CHECK(Expression::parse("f").height() == 0);
  CHECK(Expression::parse("add(y, f)").subtree_end(1) == 2);
  auto err = [](const char* t) {
    try {
      Expression::parse(t);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(err("mul(y)").find("mul takes 2 arguments: expected ','") != std::string::npos);
  CHECK(err("mul(y)").find("position 5") != std::string::npos);
  CHECK(err("log(y, f)").find("log takes 1 argument: expected ')'") != std::string::npos);
  CHECK(err("exp(y)").find("unknown name 'exp'") != std::string::npos);
  CHECK(err("add(y, f) f").find("trailing text at position 10") != std::string::npos);
  CHECK(err("").find("found the end") != std::string::npos);
  CHECK(err("add(y,").find("found the end") != std::string::npos);
  CHECK(err("$").find("unexpected '$' at position 0") != std::string::npos);
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "abs(";
  deep += "y";
  for (int i = 0; i < 300; ++i) deep += ")";
  CHECK(err(deep.c_str()).find("nesting deeper than 200") != std::string::npos);
}

TEST_CASE("expression: canonical form sorts commutative arguments only") {
  CHECK(Expression::parse("add(y, f)").canonical().str() == "add(f, y)");
  CHECK(Expression::parse("add(f, y)").canonical() == Expression::parse("add(y, f)").canonical());
  CHECK(Expression::parse("sub(y, f)").canonical().str() == "sub(y, f)");
  CHECK(Expression::parse("max(tanh(mul(y, f)), min(-1, f))").canonical().str() == "max(min(-1, f), tanh(mul(f, y)))");
  const Expression e = Expression::parse("div(add(y, square(f)), mul(f, sign(y)))");
  const Expression c = e.canonical();
  for (double y : {0.0, 1.0})
    for (double f : {0.1, 0.5, 0.9}) CHECK(c.value(y, f) == e.value(y, f));
}

TEST_CASE("expression: protected primitives, engine vs scalar reference, cross entropy") {
  CHECK(Expression::parse("div(y, f)").value(2, 3) == doctest::Approx(2 / std::sqrt(10.0)));
  CHECK(Expression::parse("log(f)").value(0, 0) == doctest::Approx(std::log(1e-7)));
  CHECK(Expression::parse("log(f)").value(0, -2) == doctest::Approx(std::log(2.0)));
  CHECK(Expression::parse("sqrt(f)").value(0, -4) == doctest::Approx(2.0));
  CHECK(Expression::parse("sign(f)").value(0, 0) == 0.0);
  // The engine evaluation matches the scalar one element by element, with weights too.
  const Expression e = Expression::parse("add(div(sub(y, f), max(f, tanh(y))), mul(sqrt(f), log(square(sub(f, 1)))))");
  Generator gen(2);
  const Tensor y = rand(Shape{7, 3}, DType::Float64, gen), f = rand(Shape{7, 3}, DType::Float64, gen);
  const auto v = e.evaluate(y, f).to_vector(), yv = y.to_vector(), fv = f.to_vector();
  for (size_t i = 0; i < v.size(); ++i) CHECK(v[i] == doctest::Approx(e.value(yv[i], fv[i])).epsilon(1e-12));
  const Tensor w = Tensor::full(Shape{int64_t(e.size()) - 1}, 1.0, DType::Float64);
  CHECK(sum(e.evaluate(y, f, w)).item() == doctest::Approx(sum(e.evaluate(y, f)).item()).epsilon(1e-12));
  CHECK_THROWS_WITH_AS(e.evaluate(y, f, Tensor::ones(Shape{3}, DType::Float64)), doctest::Contains("edge weights"),
                       std::invalid_argument);
  // -y log f summed over classes, mean over the batch, is cross entropy.
  const Tensor logits = randn(Shape{5, 4}, DType::Float64, gen);
  const Tensor labels = Tensor::from_vector(std::vector<int64_t>{0, 3, 1, 1, 2}, Shape{5});
  CHECK(Expression::parse("mul(-1, mul(y, log(f)))").loss(logits, labels).item() ==
        doctest::Approx(cross_entropy(logits, labels).item()).epsilon(1e-12));
}

TEST_CASE("expression: gradients w.r.t. logits and edge weights (gradcheck, gradgradcheck)") {
  Generator gen(3);
  const Expression e = Expression::parse("add(mul(-1, mul(y, log(f))), mul(square(sub(f, y)), tanh(f)))");
  const Tensor labels = Tensor::from_vector(std::vector<int64_t>{0, 2, 1}, Shape{3});
  Tensor logits = randn(Shape{3, 3}, DType::Float64, gen);
  Tensor w = add(mul(randn(Shape{int64_t(e.size()) - 1}, DType::Float64, gen), 0.1), 1.0);
  logits.set_requires_grad(true);
  w.set_requires_grad(true);
  auto fn = [&](const std::vector<Tensor>& in) { return e.loss(in[0], labels, in[1]); };
  CHECK(testing::gradcheck(fn, {logits, w}).ok);
  CHECK(testing::gradgradcheck(fn, {logits, w}).ok);
}

TEST_CASE("expression: the exported C header compiles and matches the engine (value and gradient)") {
  const Expression e = Expression::parse("add(mul(-1, mul(y, log(f))), div(min(f, y), max(sqrt(f), abs(sub(f, 1)))))");
  Generator gen(5);
  std::vector<double> w;
  for (size_t i = 0; i + 1 < e.size(); ++i) w.push_back(1 + 0.1 * double(i % 3));
  testing::TempDir dir("cheader");
  std::ofstream(dir / "loss.h") << losses::export_c_header(e, "my_loss", w);
  std::ofstream(dir / "main.c") << "#include <stdio.h>\n#include \"loss.h\"\n"
                                   "int main(void) {\n"
                                   "  double z[6]; long lab[2]; double g[6];\n"
                                   "  for (int i = 0; i < 6; ++i) if (scanf(\"%lf\", &z[i]) != 1) return 2;\n"
                                   "  for (int i = 0; i < 2; ++i) if (scanf(\"%ld\", &lab[i]) != 1) return 2;\n"
                                   "  printf(\"%.17g\\n\", my_loss(z, lab, 2, 3, g));\n"
                                   "  for (int i = 0; i < 6; ++i) printf(\"%.17g\\n\", g[i]);\n"
                                   "  return 0;\n}\n";
  const std::string cc = "cc -std=c99 -Wall -Werror -Wno-unused-variable -O1 -o " + (dir / "t") + " " + (dir / "main.c") + " -lm";
  if (std::system(cc.c_str()) != 0) {
    MESSAGE("no working C compiler (cc): the exported header was not compiled");
    return;
  }
  Tensor logits = randn(Shape{2, 3}, DType::Float64, gen);
  const Tensor labels = Tensor::from_vector(std::vector<int64_t>{2, 0}, Shape{2});
  {
    std::ofstream in(dir / "in.txt");
    in.precision(17);
    for (double v : logits.to_vector()) in << v << " ";
    in << "2 0\n";
  }
  REQUIRE(std::system((dir / "t" + " < " + dir / "in.txt" + " > " + dir / "out.txt").c_str()) == 0);
  std::ifstream out(dir / "out.txt");
  std::vector<double> got;
  for (double v; out >> v;) got.push_back(v);
  REQUIRE(got.size() == 7);
  logits.set_requires_grad(true);
  const Tensor wt = Tensor::from_vector(w, Shape{int64_t(w.size())}, DType::Float64);
  const Tensor l = e.loss(logits, labels, wt);
  const auto g = grad({l}, {logits})[0].to_vector();
  CHECK(got[0] == doctest::Approx(l.item()).epsilon(1e-12));
  for (size_t i = 0; i < 6; ++i) CHECK(got[i + 1] == doctest::Approx(g[i]).epsilon(1e-10));
}

TEST_CASE("GP: random trees, repair, crossover, mutation keep trees valid; state round trip is exact") {
  Generator gen(9);
  for (int k = 0; k < 200; ++k) {
    Expression a = search::random_tree(gen, 2, 4, k % 2 == 0), b = search::random_tree(gen, 0, 3, false);
    CHECK(a.valid());
    CHECK(a.height() <= 4);
    if (k % 2 == 0) CHECK(a.height() >= 2);
    search::repair(a, gen);
    search::repair(b, gen);
    CHECK(a.uses_y());
    CHECK(a.uses_f());
    CHECK(b.uses_y());
    CHECK(b.uses_f());
    search::crossover(a, b, gen);
    search::mutate(a, gen, 0, 2);
    CHECK(a.valid());
    CHECK(b.valid());
    CHECK(Expression::parse(a.str()) == a);
  }
  search::GPConfig cfg;
  cfg.population = 10;
  cfg.seed = 4;
  cfg.seeds = {"mul(-1, mul(y, log(f)))"};
  search::GPOptimizer opt(cfg);
  auto fit = [](const std::vector<search::Candidate>& pop) {
    std::vector<double> f;
    for (const auto& c : pop) f.push_back(double(c.genome.size() % 7) / 7);
    return f;
  };
  auto pop = opt.ask();
  CHECK(pop.size() == 10);
  CHECK(pop[0].genome == "mul(-1, mul(log(f), y))");  // canonical: commutative arguments sorted
  opt.tell(fit(pop));
  for (int g = 0; g < 3; ++g) {
    pop = opt.ask();
    const double best = *std::min_element(opt.fitness().begin(), opt.fitness().end());
    // Elitism: the best of the last generation is carried over unchanged (first place).
    bool elite = false;
    for (size_t k = 0; k < opt.population().size(); ++k)
      if (opt.fitness()[k] == best && opt.population()[k].canonical().str() == pop[0].genome) elite = true;
    CHECK(elite);
    for (const auto& c : pop) {
      const Expression e = Expression::parse(c.genome);
      CHECK(e.height() <= cfg.max_height);
      CHECK(e.uses_y());
      CHECK(e.uses_f());
    }
    opt.tell(fit(pop));
  }
  search::GPOptimizer other(cfg);
  other.load_state(opt.save_state());
  CHECK(other.save_state() == opt.save_state());
  const auto p1 = opt.ask(), p2 = other.ask();
  REQUIRE(p1.size() == p2.size());
  for (size_t k = 0; k < p1.size(); ++k) CHECK(p1[k].genome == p2[k].genome);
  CHECK_THROWS_WITH_AS(other.load_state("gp 1\ngeneration 1\ngenerator 1 2\nind 0x1p-1 mul(y\n"),
                       doctest::Contains("expression:"), std::invalid_argument);
  search::GPConfig bad = cfg;
  bad.seeds = {"nope(y)"};
  CHECK_THROWS_WITH_AS(search::GPOptimizer{bad}, doctest::Contains("unknown name 'nope'"), std::invalid_argument);
  bad.seeds = {"mul(y, f)"};
  bad.max_height = 4;
  bad.init_max = 4;
  std::string tall = "f";
  for (int i = 0; i < 6; ++i) tall = "abs(" + tall + ")";
  bad.seeds = {"mul(y, " + tall + ")"};
  CHECK_THROWS_WITH_AS(search::GPOptimizer{bad}, doctest::Contains("has height 7, over the limit 4"), std::invalid_argument);
}


TEST_CASE("EvoMAL evaluation: cross entropy passes, a label-blind loss is rejected, local search moves the weights") {
  const learn::LearnTask task = testing::blob_task();
  search::EvoMALConfig cfg;
  cfg.fitness_steps = 60;
  cfg.meta_steps = 10;
  cfg.lr = 0.5;
  cfg.meta_lr = 0.01;
  std::vector<double> w;
  const Expression ce = Expression::parse("mul(-1, mul(y, log(f)))");
  const auto good = search::evaluate_evomal(ce, task, cfg, 3, &w);
  CHECK(good.status == "ok");
  CHECK(good.fitness < 0.2);
  REQUIRE(w.size() == 5);  // 6 nodes, 5 edges
  bool moved = false;
  for (double v : w) moved |= std::abs(v - 1) > 0.002;  // beyond the 0.001 N(0,1) init
  CHECK(moved);
  CHECK(search::parse_weights_json(good.params) == w);
  const auto again = search::evaluate_evomal(ce, task, cfg, 3);
  CHECK(again.fitness == good.fitness);  // same seed, same result
  CHECK(again.params == good.params);
  // sub(y, mul(f, 0)) ... a loss that pushes every probability up the same way cannot lower the error.
  const auto blind = search::evaluate_evomal(Expression::parse("mul(square(f), sign(y))"), task, cfg, 3);
  CHECK(blind.status == "failed");
  CHECK(blind.reason.rfind("rejected:", 0) == 0);
  CHECK(blind.rejected);  // recorded as Outcome::Rejected, not failed
  cfg.local_search = false;  // GP-LFL: unit weights
  std::vector<double> ones;
  const auto gplfl = search::evaluate_evomal(ce, task, cfg, 3, &ones);
  CHECK(gplfl.status == "ok");
  CHECK(ones == std::vector<double>(5, 1.0));
  // Gradient-equivalence signatures: equal losses match, different ones do not.
  const auto sig = search::gradient_signature(task, 7, 50);
  const auto a = sig("mul(-1, mul(y, log(f)))"), b = sig("sub(mul(y, log(1)), mul(y, log(f)))");
  REQUIRE(a.size() == 100);  // 50 norms, 50 signed components along p - y
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-12));
  const auto c = sig("square(sub(f, y))");
  double diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, std::abs(a[i] - c[i]));
  CHECK(diff > 0.05);
  CHECK(sig("mul(y").empty());
  const auto neg = sig("mul(y, log(f))");  // -CE: the same gradient lengths, the opposite direction
  bool differs = false;
  for (size_t i = 50; i < neg.size(); ++i) differs |= std::abs(neg[i] + a[i]) < 1e-9 && std::abs(a[i]) > 1e-6;
  CHECK(differs);
  const auto fn = search::evomal_eval_fn(task, cfg);
  const auto malformed = fn("mul(y", 1);
  CHECK(malformed.status == "failed");
  CHECK(malformed.reason.find("expression:") != std::string::npos);
}

#include "meta/search/glo.h"

TEST_CASE("GLO: GP generations, then CMA-ES on the best tree's edge weights; state round trip across phases") {
  search::GLOConfig cfg;
  cfg.gp.population = 6;
  cfg.gp.seed = 3;
  cfg.gp.seeds = {"mul(-1, mul(y, log(f)))"};
  cfg.gp_generations = 2;
  cfg.cmaes_generations = 2;
  search::GLOOptimizer opt(cfg);
  auto fit = [](const std::vector<search::Candidate>& pop) {
    std::vector<double> f;
    for (const auto& c : pop) f.push_back(c.genome.find("log") != std::string::npos ? 0.1 : 0.5);
    return f;
  };
  for (int g = 0; g < 2; ++g) opt.tell(fit(opt.ask()));
  const std::string between = opt.save_state();
  auto p2 = opt.ask();  // phase 2: weighted versions of the best tree
  REQUIRE(!p2.empty());
  Expression e;
  std::vector<double> w;
  REQUIRE(search::split_weighted_genome(p2[0].genome, e, w));
  CHECK(e.str().find("log") != std::string::npos);
  CHECK(w.size() == e.size() - 1);
  opt.tell(std::vector<double>(p2.size(), 0.2));
  search::GLOOptimizer other(cfg), again(cfg);
  other.load_state(opt.save_state());  // in phase 2
  CHECK(other.save_state() == opt.save_state());
  const auto a = opt.ask(), b = other.ask();
  REQUIRE(a.size() == b.size());
  for (size_t k = 0; k < a.size(); ++k) CHECK(a[k].genome == b[k].genome);
  again.load_state(between);  // at the phase boundary
  const auto c = again.ask();
  REQUIRE(c.size() == p2.size());
  for (size_t k = 0; k < c.size(); ++k) CHECK(c[k].genome == p2[k].genome);
  CHECK_FALSE(search::split_weighted_genome("add(y, f)", e, w));
  CHECK_THROWS_WITH_AS(search::split_weighted_genome("add(y, f) @ [1]", e, w), doctest::Contains("1 weights for 2 edges"),
                       std::invalid_argument);
}
