// The README's engine example, compiled and run so that the documentation cannot rot.
#include <doctest/doctest.h>

#include "engine/metaloss.h"

using namespace metaloss;

TEST_CASE("README example") {
  manual_seed(0);
  Tensor w = randn({10, 784}).set_requires_grad();
  Tensor x = randn({128, 784});
  Tensor labels = randint(0, 10, {128});
  Tensor loss = cross_entropy(linear(x, w), labels);

  GradOptions keep;
  keep.retain_graph = 1;
  Grads g = grad({loss}, {w}, {}, keep);
  GradOptions o;
  o.create_graph = true;
  Tensor gw = grad({loss}, {w}, {}, o)[0];
  Tensor w1 = sub(w, mul(gw, 0.1));
  CHECK(!g[0].requires_grad());
  CHECK(gw.requires_grad());
  CHECK(w1.shape() == w.shape());

  FnResult r = hvp([&](const Tensor& z) { return sum(square(tanh(z))); }, x, x);
  CHECK(r.value.shape() == x.shape());
  std::string dot = to_dot({gw});
  CHECK(dot.find("backward of") != std::string::npos);
}
