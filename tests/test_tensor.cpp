// Tensor basics: creation, views and strides, broadcasting, dtypes, printing, RNG, allocator.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>

#include "engine/metaloss.h"
#include "kernels/kernels.h"

using namespace metaloss;

TEST_CASE("creation and element access") {
  Tensor z = Tensor::zeros({2, 3});
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.numel() == 6);
  CHECK(z.dtype() == DType::Float32);
  CHECK(z.is_contiguous());
  CHECK(Tensor::ones({2}, DType::Float64).at({1}) == 1.0);
  CHECK(Tensor::full({2, 2}, 3.5).at({1, 0}) == 3.5);
  Tensor a = Tensor::arange(0, 5, 1, DType::Int64);
  CHECK(a.to_vector() == std::vector<double>{0, 1, 2, 3, 4});
  Tensor e = Tensor::eye(3);
  CHECK(e.at({1, 1}) == 1.0);
  CHECK(e.at({1, 2}) == 0.0);
  CHECK(Tensor::scalar(2.5).dim() == 0);
  CHECK(Tensor::scalar(2.5).item() == 2.5);
}

TEST_CASE("views share storage; reshape/permute/slice/expand strides") {
  Tensor x = Tensor::arange(0, 24, 1, DType::Float64);
  Tensor r = reshape(x, {2, 3, 4});
  CHECK(r.storage() == x.storage());
  CHECK(r.strides() == Shape{12, 4, 1});
  Tensor p = permute(r, {2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(!p.is_contiguous());
  CHECK(p.at({3, 1, 2}) == r.at({1, 2, 3}));
  Tensor s = slice(r, 2, 1, 4, 2);  // columns 1 and 3
  CHECK(s.shape() == Shape{2, 3, 2});
  CHECK(s.at({1, 2, 1}) == 23.0);
  Tensor c = contiguous(s);
  CHECK(c.is_contiguous());
  CHECK(c.to_vector() == s.to_vector());
  Tensor e = expand(reshape(Tensor::arange(0, 3, 1, DType::Float64), {3, 1}), Shape{2, 3, 4});
  CHECK(e.strides()[0] == 0);
  CHECK(e.at({1, 2, 3}) == 2.0);
  // Reshape of a transposed tensor cannot be a view: it copies, values stay row-major.
  Tensor t = transpose(reshape(Tensor::arange(0, 6, 1, DType::Float64), {2, 3}), 0, 1);
  CHECK(reshape(t, {-1}).to_vector() == std::vector<double>{0, 3, 1, 4, 2, 5});
  // A view that splits a dim of a non-contiguous tensor stays a view.
  Tensor sp = reshape(permute(reshape(x, {2, 12}), {1, 0}), {3, 4, 2});
  CHECK(sp.at({2, 3, 1}) == x.at({23}));
  CHECK(squeeze(unsqueeze(x, 0), 0).shape() == x.shape());
  CHECK(flatten(r, 1).shape() == Shape{2, 12});
}

TEST_CASE("broadcasting follows NumPy rules") {
  Tensor a = reshape(Tensor::arange(0, 3, 1, DType::Float64), {3, 1});
  Tensor b = Tensor::arange(0, 4, 1, DType::Float64);
  Tensor c = add(a, b);
  CHECK(c.shape() == Shape{3, 4});
  CHECK(c.at({2, 3}) == 5.0);
  CHECK(broadcast_shapes(Shape{5, 1, 4}, Shape{3, 1}, "t") == Shape{5, 3, 4});
  CHECK(mul(Tensor::scalar(2.0, DType::Float64), b).at({3}) == 6.0);
}

TEST_CASE("dtype conversion and comparisons") {
  Tensor x = Tensor::from_vector(std::vector<double>{-1.5, 0, 2.7}, {3});
  CHECK(x.to(DType::Int64).to_vector() == std::vector<double>{-1, 0, 2});
  CHECK(x.to(DType::Bool).to_vector() == std::vector<double>{1, 0, 1});
  CHECK(gt(x, 0.0).dtype() == DType::Bool);
  CHECK(gt(x, 0.0).to_vector() == std::vector<double>{0, 0, 1});
  CHECK(sum(gt(x, -2.0)).item() == 3.0);
  CHECK(x.to(DType::Float64).dtype() == DType::Float64);
}

TEST_CASE("empty tensors (a dim of size 0) work in every kernel path") {
  Tensor z = Tensor::zeros({0, 3});
  CHECK(z.numel() == 0);
  CHECK(z.to_vector().empty());
  Tensor e = Tensor::ones({2, 0});
  CHECK(add(e, 1.0).shape() == Shape{2, 0});
  CHECK(e.to(DType::Float64).numel() == 0);
  CHECK(sum(e).item() == 0);
  CHECK(sum(e, {1}).to_vector() == std::vector<double>{0, 0});
  CHECK(transpose(e, 0, 1).contiguous().shape() == Shape{0, 2});
  CHECK(cat({e, Tensor::ones({2, 1})}, 1).shape() == Shape{2, 1});
  CHECK(matmul(Tensor::ones({2, 0}), Tensor::ones({0, 3})).to_vector() == std::vector<double>(6, 0.0));
}

TEST_CASE("argmax takes the first maximum") {
  Tensor x = Tensor::from_vector(std::vector<double>{1, 3, 3, 0, 5, -1}, {2, 3});
  CHECK(argmax(x, 1).to_vector() == std::vector<double>{1, 1});
  CHECK(argmax(x, 0).to_vector() == std::vector<double>{0, 1, 0});
  CHECK(argmax(x, -1, true).shape() == Shape{2, 1});
  CHECK(argmax(Tensor::zeros({4}), 0).item() == 0);  // all equal: the first
  CHECK(argmax(transpose(x, 0, 1), 0).to_vector() == std::vector<double>{1, 1});
}

TEST_CASE("one_hot") {
  Tensor l = Tensor::from_vector(std::vector<int64_t>{2, 0}, {2});
  Tensor o = one_hot(l, 3);
  CHECK(o.to_vector() == std::vector<double>{0, 0, 1, 1, 0, 0});
}

TEST_CASE("printing") {
  std::ostringstream os;
  os << Tensor::from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2}, DType::Float64);
  CHECK(os.str().find("[[1, 2],") != std::string::npos);
  CHECK(os.str().find("float64[2, 2]") != std::string::npos);
  std::ostringstream big;
  big << Tensor::zeros({2000});
  CHECK(big.str().find("...") != std::string::npos);
}

TEST_CASE("seeded Philox generator: reproducible, well distributed") {
  Generator g1(42), g2(42), g3(43);
  Tensor a = randn({1000}, DType::Float64, g1), b = randn({1000}, DType::Float64, g2), c = randn({1000}, DType::Float64, g3);
  CHECK(a.to_vector() == b.to_vector());
  CHECK(a.to_vector() != c.to_vector());
  const double m = mean(a).item(), v = mean(square(add(a, -m))).item();
  CHECK(std::abs(m) < 0.1);
  CHECK(std::abs(v - 1) < 0.1);
  Tensor u = rand({10000}, DType::Float32, g1);
  CHECK(amin(u).item() >= 0.0);
  CHECK(amax(u).item() < 1.0);
  CHECK(std::abs(mean(u).item() - 0.5) < 0.02);
  // Draws advance the stream: the second draw differs from the first.
  Generator g4(7);
  CHECK(rand({4}, DType::Float32, g4).to_vector() != rand({4}, DType::Float32, g4).to_vector());
  // Counter-based: element i of a draw does not depend on how many elements were drawn.
  Generator g5(9), g6(9);
  Tensor long_draw = rand({8}, DType::Float64, g5), short_draw = rand({3}, DType::Float64, g6);
  CHECK(slice(long_draw, 0, 0, 3).to_vector() == short_draw.to_vector());
  Tensor ri = randint(3, 7, {1000});
  CHECK(amin(ri).item() >= 3);
  CHECK(amax(ri).item() <= 6);
}

TEST_CASE("caching allocator reuses freed blocks") {
  if (!Allocator::caching_enabled()) {
    MESSAGE("caching allocator is off in this build (sanitizers): skipped");
    return;
  }
  { Tensor warm = Tensor::empty({1000}); }
  const auto before = Allocator::stats();
  for (int i = 0; i < 100; ++i) Tensor t = Tensor::empty({1000});
  const auto after = Allocator::stats();
  CHECK(after.requests - before.requests == 100);
  CHECK(after.system_allocs == before.system_allocs);
}

TEST_CASE("large tensors take the parallel paths and agree with serial results") {
  Generator g(5);
  Tensor x = randn({300, 400}, DType::Float64, g);
  Tensor y = exp(mul(x, 0.1));  // 120000 elements: over the parallel grain
  double serial = 0;
  for (double v : x.to_vector()) serial += std::exp(0.1 * v);
  CHECK(sum(y).item() == doctest::Approx(serial).epsilon(1e-12));
  Tensor s0 = sum(x, {0});
  double col = 0;
  for (int64_t i = 0; i < 300; ++i) col += x.at({i, 7});
  CHECK(s0.at({7}) == doctest::Approx(col).epsilon(1e-12));
}

// The reduction fast paths (8-lane contiguous runs, row accumulation for outer dims, split whole
// reductions) and row softmax, against a plain double loop over to_vector() on shapes that take
// every path, including tails shorter than a lane block and strided (transposed) inputs.
TEST_CASE("reductions and softmax agree with a double reference on every fast path") {
  Generator g(11);
  for (DType dt : {DType::Float32, DType::Float64}) {
    const double tol = dt == DType::Float32 ? 1e-5 : 1e-12;
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{3, 17}, {129, 1000}, {64, 7}, {1, 70001}, {40, 33}}) {
      Tensor x = randn({rows, cols}, dt, g);
      const auto v = x.to_vector();
      std::vector<double> rs(size_t(rows), 0), cs(size_t(cols), 0), rmax(size_t(rows), -INFINITY), cmax(size_t(cols), -INFINITY);
      double all = 0;
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) {
          const double e = v[size_t(i * cols + j)];
          rs[size_t(i)] += e;
          cs[size_t(j)] += e;
          all += e;
          rmax[size_t(i)] = std::max(rmax[size_t(i)], e);
          cmax[size_t(j)] = std::max(cmax[size_t(j)], e);
        }
      INFO("shape [" << rows << ", " << cols << "] " << dtype_name(dt));
      CHECK(sum(x).item() == doctest::Approx(all).epsilon(tol).scale(std::sqrt(double(rows * cols))));
      for (const Tensor& in : {x, contiguous(transpose(transpose(x, 0, 1), 0, 1)), transpose(contiguous(transpose(x, 0, 1)), 0, 1)}) {
        auto r = sum(in, {1}).to_vector(), c = sum(in, {0}).to_vector();
        auto rm = amax(in, {1}).to_vector(), cm = amax(in, {0}).to_vector();
        for (int64_t i = 0; i < rows; ++i) {
          CHECK(r[size_t(i)] == doctest::Approx(rs[size_t(i)]).epsilon(tol).scale(10));
          CHECK(rm[size_t(i)] == rmax[size_t(i)]);
        }
        for (int64_t j = 0; j < cols; ++j) {
          CHECK(c[size_t(j)] == doctest::Approx(cs[size_t(j)]).epsilon(tol).scale(10));
          CHECK(cm[size_t(j)] == cmax[size_t(j)]);
        }
      }
      auto sm = softmax(x, 1).to_vector(), lsm = log_softmax(x, 1).to_vector();
      for (int64_t i = 0; i < rows; ++i) {
        double z = 0;
        for (int64_t j = 0; j < cols; ++j) z += std::exp(v[size_t(i * cols + j)] - rmax[size_t(i)]);
        for (int64_t j = 0; j < cols; j += 1 + cols / 50) {
          const double ref = v[size_t(i * cols + j)] - rmax[size_t(i)] - std::log(z);
          CHECK(lsm[size_t(i * cols + j)] == doctest::Approx(ref).epsilon(tol).scale(10));
          CHECK(sm[size_t(i * cols + j)] == doctest::Approx(std::exp(ref)).epsilon(tol * 10));
        }
      }
    }
  }
}

TEST_CASE("one-pass axpby forms equal the composed ops") {
  // add(a, b, alpha), add_(b, alpha) and mul_add_ replace mul-then-add sequences in the SGD and
  // Adam steps. They round like the composed form (bit for bit in the default build); a build
  // that contracts to fused multiply-adds may differ in the last bit, hence 2 ulp.
  Generator gen(7);
  for (DType t : {DType::Float32, DType::Float64}) {
    Tensor a = randn({37, 129}, t, gen), b = randn({37, 129}, t, gen), row = randn({129}, t, gen);
    const double ulp = t == DType::Float32 ? 1.2e-7 : 2.3e-16;
    auto same = [ulp](const Tensor& x, const Tensor& y) {
      if (x.shape() != y.shape()) return false;
      const auto xv = x.to_vector(), yv = y.to_vector();
      for (size_t i = 0; i < xv.size(); ++i)
        if (std::abs(xv[i] - yv[i]) > 2 * ulp * std::max(std::abs(xv[i]), std::abs(yv[i]))) return false;
      return true;
    };
    CHECK(same(add(a, b, -0.01), sub(a, mul(b, 0.01))));
    CHECK(same(add(a, row, 0.3), add(a, mul(row, 0.3))));                           // broadcast
    CHECK(same(add(transpose(a, 0, 1), transpose(b, 0, 1), 2.0), transpose(add(a, mul(b, 2.0)), 0, 1)));  // strided
    Tensor x = a.clone();
    x.add_(b, -0.05);
    CHECK(same(x, add(a, mul(b, -0.05))));
    Tensor m = a.clone();
    m.mul_add_(0.9, b, 0.1);
    CHECK(same(m, add(mul(a, 0.9), mul(b, 0.1))));
    Tensor tr = transpose(a.clone(), 0, 1);  // in place on a non-contiguous view
    tr.mul_add_(0.5, reshape(row, {129, 1}), 2.0);
    CHECK(same(tr, add(mul(transpose(a, 0, 1), 0.5), mul(reshape(row, {129, 1}), 2.0))));
  }
  // Operands that are other views of the updated tensor's memory are read before any write.
  for (DType t : {DType::Float32, DType::Float64}) {
    Tensor x = randn({5, 5}, t, gen), ref = x.clone();
    x.add_(slice(x, 0, 0, 1), 0.5);  // row 0, broadcast over the rows it is overwriting
    CHECK(x.to_vector() == add(ref, slice(ref, 0, 0, 1), 0.5).to_vector());
    Tensor y = randn({6, 6}, t, gen), yref = y.clone();
    y.mul_add_(0.9, transpose(y, 0, 1), 0.1);
    CHECK(y.to_vector() == add(mul(yref, 0.9), transpose(yref, 0, 1), 0.1).to_vector());
    Tensor z = randn({8}, t, gen), zref = z.clone();
    slice(z, 0, 1, 8).add_(slice(z, 0, 0, 7), 2.0);  // shifted slice of the same buffer
    Tensor zexp = zref.clone();
    slice(zexp, 0, 1, 8).copy_(add(slice(zref, 0, 1, 8), slice(zref, 0, 0, 7), 2.0));
    CHECK(z.to_vector() == zexp.to_vector());
    Tensor p = randn({4, 3}, t, gen), pref = p.clone();
    p.add_(p, -0.5);  // the identical view: safe in one pass
    CHECK(p.to_vector() == add(pref, pref, -0.5).to_vector());
  }
  Tensor i = Tensor::arange(0, 4, 1, DType::Int64);
  CHECK_THROWS_WITH_AS(i.mul_add_(2, i, 1), doctest::Contains("mul_add_"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(add(i, i, 0.5), doctest::Contains("add"), std::invalid_argument);
}

TEST_CASE("matmul gives a transposed-view operand its gradient in its own layout") {
  // linear is x @ W^T: W's gradient must come back dense (no transposing copy), and the values
  // must equal the plain a^T g form, also under create_graph (double backward).
  Generator gen(3);
  Tensor x = randn({5, 4}, DType::Float64, gen).set_requires_grad(true);
  Tensor w = randn({3, 4}, DType::Float64, gen).set_requires_grad(true);
  Tensor y = matmul(x, transpose(w, 0, 1));
  Grads g = grad({sum(square(y))}, {x, w}, {}, {.create_graph = true});
  CHECK(g[1].is_contiguous());
  Tensor wt = transpose(w.detach(), 0, 1).clone().set_requires_grad(true);  // dense W^T: the plain path
  Grads ref = grad({sum(square(matmul(x.detach(), wt)))}, {wt});
  CHECK(amax(abs(sub(transpose(g[1], 0, 1), ref[0]))).item() < 1e-12);  // (g^T x)^T vs x^T g: other GEMM
  // Second order through the new form: d/dx of sum(dL/dW) against the closed form.
  Grads h = grad({sum(g[1])}, {x});
  // dL/dW = 2 (x W^T)^T x; sum over W of it, differentiated in x: closed form by autodiff on the plain form.
  Tensor xx = x.detach().clone().set_requires_grad(true);
  Tensor gw_plain = mul(matmul(transpose(matmul(xx, wt.detach()), 0, 1), xx), 2.0);
  Grads h_ref = grad({sum(gw_plain)}, {xx});
  CHECK(amax(abs(sub(h[0], h_ref[0]))).item() < 1e-12);
}
