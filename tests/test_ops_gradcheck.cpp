// Generated tests: for every op record and every sample, forward vs reference, gradcheck,
// gradgradcheck and (for elementwise ops) third-order check, all in float64.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <set>

#include "engine/op_names.h"
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

// Coverage, derived from the engine's op list (engine/op_names.h): every op name the engine can
// record must be recorded by some op record's forward or its first or second backward (where the
// fused backward ops and the adjoint ops such as col2im and slice_backward appear).
namespace {
std::set<std::string>* g_seen = nullptr;
void note_op(const char* op) { g_seen->insert(op); }
// Ops checked by a test of their own instead of an op record, and why.
const std::map<std::string, std::string> kCheckedElsewhere = {
    {"cast", "float32 rounding of x +- eps defeats float64 central differences; "
             "\"cast: the gradient is the incoming gradient cast back, to second order\" checks it exactly"}};
}  // namespace

TEST_CASE("cast: the gradient is the incoming gradient cast back, to second order") {
  Generator gen(7);
  Tensor x = uniform({3, 4}, -1, 1, DType::Float64, gen);
  x.set_requires_grad(true);
  const Tensor w = uniform({3, 4}, -1, 1, DType::Float32, gen);
  // L = sum(w * cast(x)^2) in float32: dL/dx = cast(2 w cast(x), float64); d/dx sum(dL/dx) = 2 w.
  const Tensor xf = cast(x, DType::Float32);
  const Tensor l = sum(mul(w, mul(xf, xf)));
  const Grads g = grad({l}, {x}, {}, GradOptions{true});
  REQUIRE(g[0].dtype() == DType::Float64);
  const auto gv = g[0].to_vector(), xv = xf.to_vector(), wv = w.to_vector();
  for (size_t i = 0; i < gv.size(); ++i) CHECK(gv[i] == double(float(2 * float(wv[i]) * float(xv[i]))));
  const auto h = grad({sum(g[0])}, {x})[0].to_vector();
  for (size_t i = 0; i < h.size(); ++i) CHECK(h[i] == double(float(2 * float(wv[i]))));
}

TEST_CASE("op records cover every op of the engine's op list") {
  std::set<std::string> seen;
  g_seen = &seen;
  const RecordObserver before = set_record_observer(note_op);
  for (const auto& rec : op_records())
    for (const auto& s : rec.samples()) {
      std::vector<Tensor> diff;
      for (const Tensor& t : s.inputs)
        if (t.requires_grad()) diff.push_back(t);
      Tensor y = rec.fn(s.inputs);
      if (diff.empty() || !y.requires_grad()) continue;
      Grads g1 = grad({sum(mul(y, y))}, diff, {}, GradOptions{true, -1, true});  // (y^2: a second order that is not trivial)
      Tensor total;
      for (const Tensor& g : g1)
        if (g.defined() && g.requires_grad()) total = total.defined() ? add(total, sum(mul(g, g))) : sum(mul(g, g));
      if (total.defined()) (void)grad({total}, diff, {}, GradOptions{false, -1, true});
    }
  set_record_observer(before);
  g_seen = nullptr;
  for (const std::string op : kOpNames)
    CHECK_MESSAGE((seen.count(op) > 0 || kCheckedElsewhere.count(op) > 0), "no op record exercises op '", op, "' (engine/op_names.h): add one to tests/op_records.cpp");
  for (const std::string& op : seen)  // (in a release build the engine does not check names itself)
    CHECK_MESSAGE(is_op_name(op.c_str()), "op '", op, "' is recorded but missing from engine/op_names.h");
}
