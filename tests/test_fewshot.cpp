// Few-shot meta-learners: second-order meta-gradients through the unrolled inner loop checked
// against central differences (float64, tiny Conv-4), the first-order and truncated variants,
// Meta-SGD's learned rates, and a killed-and-resumed meta-training equal to an uninterrupted one.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "engine/metaloss.h"
#include "gradcheck.h"
#include "method_devices.h"
#include "meta/fewshot/meta_train.h"
#include "models/safetensors.h"
#include "temp_dir.h"

using namespace metaloss;
using namespace metaloss::fewshot;

namespace {

double max_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector(), y = b.to_vector();
  if (x.size() != y.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

// A tiny task: 2-way, 2-shot, 2 queries per class, 8x8 single-channel images.
data::Episode tiny_episode(uint64_t seed, DType dt = DType::Float64) {
  Generator g(seed);
  data::Episode e;
  e.support_x = randn(Shape{4, 1, 8, 8}, dt, g);
  e.query_x = randn(Shape{4, 1, 8, 8}, dt, g);
  e.support_y = Tensor::from_vector(std::vector<int64_t>{0, 0, 1, 1}, Shape{4});
  e.query_y = Tensor::from_vector(std::vector<int64_t>{0, 0, 1, 1}, Shape{4});
  e.classes = {0, 1};
  return e;
}

LearnerConfig tiny(const std::string& method) { return testing::tiny_learner(method); }

// Moves every meta-parameter away from its structured initialisation (zero FiLM, zero last loss
// layer, identity warp), so that every second-order path carries a non-zero signal.
void perturb(const Learner& l, uint64_t seed) {
  Generator g(seed);
  NoGrad ng;
  for (const Tensor& t : l.meta_tensors()) t.add_(randn(t.shape(), t.dtype(), g), 0.2);
}

// Query loss after the inner loop, as a function of the meta-parameters (which gradcheck perturbs
// in place: the learner reads the same tensors).
testing::MultiFn meta_objective(const Learner& l, const data::Episode& e) {
  return [&l, e](const std::vector<Tensor>&) {
    GradMode on(true);  // gradcheck's numeric pass runs under NoGrad; the inner loop needs gradients
    return l.query(l.adapt(e, true), e).loss;
  };
}

}  // namespace

TEST_CASE("fewshot: NPBML second-order meta-gradient matches finite differences (float64)") {
  for (bool transductive : {false, true}) {
    LearnerConfig c = tiny("npbml");
    c.transductive = transductive;
    Learner l(c);
    perturb(l, 11);
    const auto e = tiny_episode(5);
    const auto r = testing::gradcheck(meta_objective(l, e), l.meta_tensors(), 1e-6, 1e-6, 1e-4);
    CHECK_MESSAGE(r.ok, std::string(transductive ? "transductive: " : "") << r.message);
  }
}

TEST_CASE("fewshot: MAML and Meta-SGD second-order meta-gradients match finite differences") {
  for (const char* m : {"maml", "metasgd"}) {
    Learner l(tiny(m));
    perturb(l, 12);
    const auto e = tiny_episode(6);
    const auto r = testing::gradcheck(meta_objective(l, e), l.meta_tensors(), 1e-6, 1e-6, 1e-4);
    CHECK_MESSAGE(r.ok, std::string(m) << ": " << r.message);
  }
}

TEST_CASE("fewshot: the NPBML ablations keep a correct meta-gradient") {
  for (int which = 0; which < 3; ++which) {
    LearnerConfig c = tiny("npbml");
    (which == 0 ? c.learned_loss : which == 1 ? c.warp : c.film) = false;
    Learner l(c);
    perturb(l, 13);
    const auto r = testing::gradcheck(meta_objective(l, tiny_episode(7)), l.meta_tensors(), 1e-6, 1e-6, 1e-4);
    CHECK_MESSAGE(r.ok, "ablation " << which << ": " << r.message);
  }
}

TEST_CASE("fewshot: first-order MAML's meta-gradient is the query gradient at the adapted parameters") {
  LearnerConfig c = tiny("maml");
  c.second_order_steps = 0;
  Learner l(c);
  perturb(l, 14);
  const auto e = tiny_episode(8);
  const Adapted a = l.adapt(e, true);
  const QueryResult q = l.query(a, e);
  const Grads meta_g = grad({q.loss}, l.meta_tensors(), {}, {.create_graph = false, .retain_graph = 1});
  const Grads fast_g = grad({q.loss}, a.fast);
  REQUIRE(meta_g.size() == fast_g.size());  // MAML: every meta-parameter adapts
  for (size_t k = 0; k < meta_g.size(); ++k) CHECK(max_diff(meta_g[k], fast_g[k]) < 1e-12);
  // ... and differs from the second-order one.
  LearnerConfig c2 = tiny("maml");
  Learner l2(c2);
  perturb(l2, 14);
  const QueryResult q2 = l2.query(l2.adapt(e, true), e);
  const Grads g2 = grad({q2.loss}, l2.meta_tensors());
  double diff = 0;
  for (size_t k = 0; k < g2.size(); ++k) diff += sum(abs(sub(g2[k], meta_g[k]))).item();
  CHECK(diff > 1e-6);
}

TEST_CASE("fewshot: truncated unrolling interpolates between first-order and full second-order") {
  const auto e = tiny_episode(10);
  auto meta_grads = [&](const std::string& method, int so) {
    LearnerConfig c = tiny(method);
    c.inner_steps = 3;
    c.second_order_steps = so;
    Learner l(c);
    perturb(l, 16);
    const QueryResult q = l.query(l.adapt(e, true), e);
    const Grads g = grad({q.loss}, l.meta_tensors(), {}, {.allow_unused = true});
    std::vector<double> flat;
    for (const Tensor& t : g)
      if (t.defined())
        for (double v : t.to_vector()) flat.push_back(v);
    return flat;
  };
  for (const char* m : {"maml", "metasgd", "npbml"}) {
    const auto full = meta_grads(m, -1), all3 = meta_grads(m, 3), last1 = meta_grads(m, 1);
    REQUIRE(full.size() == all3.size());
    double d_all = 0, d_last = 0;
    for (size_t i = 0; i < full.size(); ++i) d_all = std::max(d_all, std::abs(full[i] - all3[i]));
    for (size_t i = 0; i < std::min(full.size(), last1.size()); ++i) d_last = std::max(d_last, std::abs(full[i] - last1[i]));
    CHECK_MESSAGE(d_all == 0, m << ": second_order_steps = inner_steps is the full meta-gradient");
    CHECK_MESSAGE(d_last > 1e-8, m << ": truncating to the last step changes the meta-gradient");
    if (std::string(m) != "npbml") {  // npbml refuses first order with its learned loss (below)
      const auto fo = meta_grads(m, 0);
      CHECK(fo.size() == full.size());
    }
  }
  LearnerConfig c = tiny("npbml");
  c.second_order_steps = 0;
  CHECK_THROWS_WITH_AS(Learner{c}, doctest::Contains("would never train its learned loss"), std::invalid_argument);
  c.learned_loss = false;
  CHECK_NOTHROW(Learner{c});
}

TEST_CASE("fewshot: NPBML's FiLM depends on the task's inputs, not only on meta-parameters") {
  // The context is the block input averaged over the batch. Scaling the inputs by 2 leaves a
  // conv + batch-norm block's output unchanged (up to batch norm's eps); FiLM must see it.
  LearnerConfig on = tiny("npbml"), off = tiny("npbml");
  off.film = false;
  for (LearnerConfig* c : {&on, &off}) c->warp = false;
  Learner l_on(on), l_off(off);
  perturb(l_on, 17);
  perturb(l_off, 17);
  const auto e = tiny_episode(11);
  auto change = [&](const Learner& l) {
    NoGrad ng;                            // adapt() turns gradients on for its inner loop itself
    const Adapted a = l.adapt(e, false);  // any fast parameters will do
    const Tensor y0 = l.forward(a.fast, e.support_x);
    const Tensor y1 = l.forward(a.fast, mul(e.support_x, 2.0));
    return max_diff(y0, y1);
  };
  const double off_change = change(l_off), on_change = change(l_on);
  MESSAGE("output change under input x2: without FiLM " << off_change << ", with FiLM " << on_change);
  CHECK(off_change < 1e-5);  // batch norm undoes the scale
  CHECK(on_change > 1e-4);   // FiLM sees it (a FiLM fed from normalised features would not)
}

TEST_CASE("fewshot: evaluation (no recording) adapts exactly as training does") {
  Learner l(tiny("npbml"));
  perturb(l, 15);
  const auto e = tiny_episode(9);
  const double recorded = l.query(l.adapt(e, true), e).loss.item();
  const double plain = l.query(l.adapt(e, false), e).loss.item();
  CHECK(recorded == doctest::Approx(plain).epsilon(1e-12));
}

TEST_CASE("fewshot: unknown method and impossible shapes are clear errors") {
  LearnerConfig c = tiny("reptile");
  CHECK_THROWS_WITH_AS(Learner{c}, doctest::Contains("unknown method 'reptile'"), std::invalid_argument);
  c = tiny("maml");
  c.blocks = 4;  // 8 -> 4 -> 2 -> 1 -> 0
  CHECK_THROWS_WITH_AS(Learner{c}, doctest::Contains("leave nothing of 8x8"), std::invalid_argument);
}

namespace {
// Classes are noisy copies of random prototypes: learnable, tiny, no files.
class PrototypeDataset : public data::FewShotDataset {
 public:
  explicit PrototypeDataset(int64_t classes) : classes_(classes) {}
  std::string name() const override { return "prototypes"; }
  int64_t num_classes() const override { return classes_; }
  int64_t samples_per_class(int64_t) const override { return 8; }
  int64_t channels() const override { return 1; }
  int64_t height() const override { return 8; }
  int64_t width() const override { return 8; }
  std::string class_name(int64_t c) const override { return std::to_string(c); }
  void sample(int64_t cls, int64_t index, float* out) const override {
    Generator proto(1000 + uint64_t(cls)), noise(5000 + uint64_t(cls * 100 + index));
    const auto p = rand(Shape{64}, DType::Float32, proto).to_vector();
    const auto n = rand(Shape{64}, DType::Float32, noise).to_vector();
    for (int i = 0; i < 64; ++i) out[i] = float(0.7 * p[size_t(i)] + 0.3 * n[size_t(i)]);
  }

 private:
  int64_t classes_;
};
}  // namespace

TEST_CASE("fewshot: a killed meta-training resumes from its checkpoint to the same state and result") {
  auto ds = std::make_shared<PrototypeDataset>(12);
  std::vector<int64_t> tr{0, 1, 2, 3, 4, 5}, va{6, 7, 8}, te{9, 10, 11};
  data::EpisodeSampler train(ds, tr, 2, 1, 2, 1), valid(ds, va, 2, 1, 2, 2), test(ds, te, 2, 1, 2, 3);
  LearnerConfig c = tiny("npbml");
  c.dtype = DType::Float32;
  MetaTrainOptions o;
  o.iterations = 6;
  o.meta_batch = 2;
  o.val_every = 2;
  o.val_tasks = 4;
  o.test_tasks = 8;
  o.checkpoint_every = 1;
  o.meta_lr = 1e-2;
  testing::TempDir d1("fewshot_a"), d2("fewshot_b");
  o.run_dir = d1.path.string();
  Learner a(c);
  const MetaTrainResult ra = meta_train(a, train, valid, test, o, "cfg", nullptr);
  o.run_dir = d2.path.string();
  o.stop_after = 3;
  Learner b1(c);
  const MetaTrainResult stopped = meta_train(b1, train, valid, test, o, "cfg", nullptr);
  CHECK(stopped.stopped);
  o.stop_after = 0;
  Learner b2(c);  // a fresh process: everything comes from the checkpoint
  const MetaTrainResult rb = meta_train(b2, train, valid, test, o, "cfg", nullptr);
  CHECK(rb.test.accuracy == ra.test.accuracy);
  CHECK(rb.best_iteration == ra.best_iteration);
  CHECK(rb.validation == ra.validation);  // every validation, before and after the stop
  for (size_t i = 0; i < a.meta_tensors().size(); ++i)
    CHECK(max_diff(a.meta_tensors()[i], b2.meta_tensors()[i]) == 0);
  // The live state at the end (meta-parameters and Adam moments), not only the kept best one.
  const auto ca = load_safetensors(d1 / "checkpoint.safetensors"), cb = load_safetensors(d2 / "checkpoint.safetensors");
  REQUIRE(ca.tensors.size() == cb.tensors.size());
  for (size_t i = 0; i < ca.tensors.size(); ++i) {
    CHECK(ca.tensors[i].first == cb.tensors[i].first);
    CHECK_MESSAGE(max_diff(ca.tensors[i].second, cb.tensors[i].second) == 0, ca.tensors[i].first);
  }
  CHECK(ca.metadata.at("adam_t") == cb.metadata.at("adam_t"));
  // A checkpoint of another configuration is refused.
  Learner b3(c);
  CHECK_THROWS_WITH_AS(meta_train(b3, train, valid, test, o, "other", nullptr),
                       doctest::Contains("another configuration"), std::invalid_argument);
}
