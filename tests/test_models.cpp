// Models: module system, functional call, zoo, initialisation, optimizers.
#include <doctest/doctest.h>

#include <cmath>

#include "models/init.h"
#include "models/optim.h"
#include "models/zoo.h"

using namespace metaloss;

TEST_CASE("models: zoo builds, runs and has the expected parameter counts") {
  Generator gen(1);
  const std::map<std::string, int64_t> counts = {{"logistic", 7850}, {"mlp", 1796010}, {"lenet5", 44426}};
  for (const auto& spec : model_zoo()) {
    INFO(spec.name);
    auto m = make_model(spec.name, 0, gen);
    Shape in{2};
    for (int64_t d : spec.input) in.push_back(d);
    Tensor x = randn(in, DType::Float32, gen);
    m->eval();
    Tensor y;
    {
      NoGrad ng;
      y = m->forward(x);
    }
    CHECK(y.shape() == Shape{2, spec.default_classes});
    if (counts.count(spec.name)) CHECK(m->num_parameters() == counts.at(spec.name));
  }
  CHECK_THROWS_WITH_AS(make_model("lenet", 10, gen), doctest::Contains("unknown model 'lenet' (known: logistic"),
                       std::invalid_argument);
}

TEST_CASE("models: state_dict names and layouts follow PyTorch") {
  Generator gen(2);
  auto m = make_model("lenet5", 10, gen);
  auto sd = m->state_dict();
  REQUIRE(sd.size() == 10);
  CHECK(sd[0].first == "0.weight");
  CHECK(sd[0].second.shape() == Shape{6, 1, 5, 5});
  CHECK(sd[4].first == "7.weight");
  CHECK(sd[4].second.shape() == Shape{120, 256});
  auto r = make_model("resnet18", 10, gen);
  bool has_running = false, has_shortcut = false;
  for (auto& [n, t] : r->state_dict()) {
    has_running = has_running || n == "1.running_mean";
    has_shortcut = has_shortcut || n == "5.shortcut.0.weight";
  }
  CHECK(has_running);
  CHECK(has_shortcut);
}

TEST_CASE("models: load_state_dict copies values and rejects mismatches") {
  Generator g1(3), g2(4);
  auto a = make_model("mlp", 10, g1), b = make_model("mlp", 10, g2);
  b->load_state_dict(a->state_dict());
  CHECK(a->parameters()[1].to_vector() == b->parameters()[1].to_vector());
  auto sd = a->state_dict();
  sd.pop_back();
  CHECK_THROWS_WITH_AS(b->load_state_dict(sd), doctest::Contains("missing entry '5.bias'"), std::invalid_argument);
  auto wrong = a->state_dict();
  wrong[0].second = Tensor::zeros({3, 3});
  CHECK_THROWS_WITH_AS(b->load_state_dict(wrong), doctest::Contains("'1.weight' has shape [3, 3], expected [1000, 784]"),
                       std::invalid_argument);
}

TEST_CASE("models: forward_with substitutes parameters and carries meta-gradients") {
  Generator gen(5);
  auto m = make_model("lenet5", 10, gen);
  Tensor x = randn({3, 1, 28, 28}, DType::Float32, gen);
  Tensor labels = randint(0, 10, {3}, gen);
  std::vector<Tensor> params = m->parameters();
  Tensor y0 = m->forward(x), y1 = m->forward_with(params, x);
  CHECK(y0.to_vector() == y1.to_vector());
  // One unrolled SGD step with a learnable loss weight, then a query loss on the new parameters.
  Tensor w = Tensor::scalar(1.0).set_requires_grad();
  GradOptions o;
  o.create_graph = true;
  Grads g = grad({mul(cross_entropy(m->forward(x), labels), w)}, params, {}, o);
  std::vector<Tensor> fast = sgd_update(params, g, 0.1);
  Tensor query = cross_entropy(m->forward_with(fast, x), labels);
  Tensor dw = gradients(query, {w})[0];
  CHECK(std::isfinite(dw.item()));
  CHECK(dw.item() < 0);  // a larger step on the same batch lowers the query loss
  // The module's own parameters are untouched.
  CHECK(m->parameters()[0].to_vector() == params[0].to_vector());
  CHECK_THROWS_WITH_AS(m->forward_with({params[0]}, x), doctest::Contains("forward_with: got 1 parameters"),
                       std::invalid_argument);
}

TEST_CASE("models: initialisation schemes have the right spread") {
  Generator gen(6);
  Tensor w = Tensor::empty({400, 300});
  init::xavier_uniform_(w, gen);
  const double bound = std::sqrt(6.0 / 700);
  CHECK(amax(abs(w)).item() <= bound);
  CHECK(amax(abs(w)).item() > 0.95 * bound);
  init::kaiming_normal_(w, gen);
  CHECK(std::sqrt(mean(square(w)).item()) == doctest::Approx(std::sqrt(2.0 / 300)).epsilon(0.02));
  // Same seed, same model.
  Generator a(7), b(7);
  CHECK(make_model("logistic", 10, a)->parameters()[0].to_vector() == make_model("logistic", 10, b)->parameters()[0].to_vector());
}

TEST_CASE("models: SGD with momentum/Nesterov/weight decay matches the PyTorch update rule") {
  for (bool nesterov : {false, true}) {
    Tensor p = Tensor::from_vector(std::vector<double>{1.0, -2.0}, {2}, DType::Float64).set_requires_grad();
    SGDOptions o;
    o.lr = 0.1;
    o.momentum = 0.9;
    o.weight_decay = 0.01;
    o.nesterov = nesterov;
    SGD opt({p}, o);
    double q[2] = {1.0, -2.0}, buf[2] = {0, 0};
    for (int step = 0; step < 3; ++step) {
      opt.zero_grad();
      sum(square(p)).backward();  // grad = 2p
      opt.step();
      for (int i = 0; i < 2; ++i) {
        const double d = 2 * q[i] + 0.01 * q[i];
        buf[i] = step == 0 ? d : 0.9 * buf[i] + d;
        q[i] -= 0.1 * (nesterov ? d + 0.9 * buf[i] : buf[i]);
      }
    }
    CHECK(p.at({0}) == doctest::Approx(q[0]).epsilon(1e-12));
    CHECK(p.at({1}) == doctest::Approx(q[1]).epsilon(1e-12));
  }
}

TEST_CASE("models: Adam and AdamW match the PyTorch update rule") {
  for (bool decoupled : {false, true}) {
    Tensor p = Tensor::from_vector(std::vector<double>{0.5, -1.5}, {2}, DType::Float64).set_requires_grad();
    AdamOptions o;
    o.lr = 0.01;
    o.weight_decay = 0.1;
    o.decoupled_weight_decay = decoupled;
    Adam opt({p}, o);
    double q[2] = {0.5, -1.5}, m[2] = {0, 0}, v[2] = {0, 0};
    for (int t = 1; t <= 4; ++t) {
      opt.zero_grad();
      sum(mul(square(p), 3.0)).backward();  // grad = 6p
      opt.step();
      for (int i = 0; i < 2; ++i) {
        double g = 6 * q[i];
        if (decoupled) q[i] *= 1 - 0.01 * 0.1;
        else g += 0.1 * q[i];
        m[i] = 0.9 * m[i] + 0.1 * g;
        v[i] = 0.999 * v[i] + 0.001 * g * g;
        const double mh = m[i] / (1 - std::pow(0.9, t)), vh = v[i] / (1 - std::pow(0.999, t));
        q[i] -= 0.01 * mh / (std::sqrt(vh) + 1e-8);
      }
    }
    CHECK(p.at({0}) == doctest::Approx(q[0]).epsilon(1e-9));
    CHECK(p.at({1}) == doctest::Approx(q[1]).epsilon(1e-9));
  }
}

TEST_CASE("models: schedules and gradient clipping") {
  Tensor p = Tensor::ones({4}, DType::Float64).set_requires_grad();
  SGDOptions o;
  o.lr = 1.0;
  SGD opt({p}, o);
  MultiStepLR ms(opt, {2, 4}, 0.1);
  std::vector<double> lrs;
  for (int i = 0; i < 5; ++i) {
    ms.step();
    lrs.push_back(opt.lr());
  }
  CHECK(lrs[0] == doctest::Approx(1.0));
  CHECK(lrs[1] == doctest::Approx(0.1));
  CHECK(lrs[4] == doctest::Approx(0.01));
  opt.set_lr(1.0);
  CosineAnnealingLR cos(opt, 10, 0.0);
  for (int i = 0; i < 5; ++i) cos.step();
  CHECK(opt.lr() == doctest::Approx(0.5));
  sum(mul(p, 3.0)).backward();  // grad = 3 each, norm 6
  CHECK(clip_grad_norm_({p}, 1.5) == doctest::Approx(6.0));
  CHECK(p.grad().at({0}) == doctest::Approx(0.75).epsilon(1e-5));
  clip_grad_value_({p}, 0.5);
  CHECK(p.grad().at({2}) == 0.5);
}

TEST_CASE("models: differentiable SGD equals the stateful optimizer; differentiable Adam has finite meta-gradients at zero") {
  Tensor p = Tensor::from_vector(std::vector<double>{1.0, -2.0}, {2}, DType::Float64).set_requires_grad();
  SGDOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  DifferentiableSGD dsgd(o);
  SGD sgd({p}, o);
  std::vector<Tensor> fp = {p};
  for (int i = 0; i < 3; ++i) {
    Grads g = differentiable_gradients(sum(square(fp[0])), fp);
    fp = dsgd.step(fp, g);
    sgd.zero_grad();
    sum(square(p)).backward();
    sgd.step();
  }
  CHECK(fp[0].at({0}) == doctest::Approx(p.at({0})).epsilon(1e-12));
  // Adam: a parameter whose gradient is exactly zero must not produce NaN meta-gradients.
  Tensor scale = Tensor::scalar(1.0, DType::Float64).set_requires_grad();
  Tensor q = Tensor::from_vector(std::vector<double>{0.0, 1.0}, {2}, DType::Float64).set_requires_grad();
  DifferentiableAdam dadam(AdamOptions{});
  std::vector<Tensor> fq = {q};
  for (int i = 0; i < 2; ++i) {
    Tensor loss = mul(sum(square(fq[0])), scale);  // gradient at q[0] = 0 is exactly 0
    fq = dadam.step(fq, differentiable_gradients(loss, fq));
  }
  Tensor meta = gradients(sum(fq[0]), {scale})[0];
  CHECK(std::isfinite(meta.item()));
}
