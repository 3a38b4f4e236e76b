// Generated tests: for every op record and every sample, forward vs reference, gradcheck,
// gradgradcheck and (for elementwise ops) third-order check, all in float64.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "op_records.h"

using namespace metaloss;
using namespace metaloss::testing;

TEST_CASE("op records: forward matches the reference") {
  for (const auto& rec : op_records()) {
    if (!rec.reference) continue;
    for (const auto& s : rec.samples()) {
      INFO(rec.name, " / ", s.label);
      Tensor y = rec.fn(s.inputs);
      auto expect = rec.reference(s.inputs);
      if (expect.empty()) continue;
      auto got = y.to_vector();
      REQUIRE(got.size() == expect.size());
      for (size_t i = 0; i < got.size(); ++i)
        CHECK_MESSAGE(std::abs(got[i] - expect[i]) <= 1e-12 + 1e-10 * std::abs(expect[i]),
                      "element ", i, ": got ", got[i], " expected ", expect[i]);
    }
  }
}

TEST_CASE("op records: gradcheck (first order, float64 central differences)") {
  for (const auto& rec : op_records())
    for (const auto& s : rec.samples()) {
      auto res = gradcheck(rec.fn, s.inputs);
      CHECK_MESSAGE(res.ok, rec.name, " / ", s.label, ": ", res.message);
    }
}

TEST_CASE("op records: gradgradcheck (second order, create_graph)") {
  for (const auto& rec : op_records()) {
    if (rec.order < 2) continue;
    for (const auto& s : rec.samples()) {
      auto res = gradgradcheck(rec.fn, s.inputs);
      CHECK_MESSAGE(res.ok, rec.name, " / ", s.label, ": ", res.message);
    }
  }
}

TEST_CASE("op records: third order for elementwise ops") {
  for (const auto& rec : op_records()) {
    if (rec.order < 3) continue;
    auto samples = rec.samples();
    auto res = gradgradgradcheck(rec.fn, samples[0].inputs);
    CHECK_MESSAGE(res.ok, rec.name, " / ", samples[0].label, ": ", res.message);
  }
}

TEST_CASE("op records cover every public differentiable op") {
  std::set<std::string> names;
  for (const auto& rec : op_records()) names.insert(rec.name);
  for (const char* op : {"add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "abs", "sign", "square", "tanh",
                         "sigmoid", "relu", "tanh_backward", "sigmoid_backward", "relu_backward", "leaky_relu", "softplus",
                         "minimum", "maximum", "clamp", "where",
                         "sum_all", "mean_dims_0_last", "amax_dim0", "amin_all", "logsumexp_dim1", "softmax_last",
                         "log_softmax_last", "matmul", "linear", "conv2d", "conv2d_direct", "conv2d_input_grad", "conv2d_weight_grad", "max_pool2d", "avg_pool2d",
                         "adaptive_avg_pool2d", "batch_norm_train", "batch_norm_eval", "dropout", "gather",
                         "index_select", "cat", "stack", "reshape", "permute", "transpose", "expand", "slice",
                         "squeeze_unsqueeze", "flatten"})
    CHECK_MESSAGE(names.count(op), "no op record for ", op);
}
