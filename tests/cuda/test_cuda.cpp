// The CUDA backend against the CPU: every op record (forward, gradients, gradcheck and
// gradgradcheck in float64 on the GPU), kernels at sizes that take their large-tensor paths,
// random streams, cuDNN vs im2col convolution, errors, the caching allocator, and a LeNet-5
// training run whose loss curve must match the CPU's.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

#include "engine/metaloss.h"
#include "gradcheck.h"
#include "kernels/cuda/runtime.h"
#include "meta/data/idx.h"
#include "models/optim.h"
#include "models/zoo.h"
#include "method_devices.h"
#include "op_records.h"

using namespace metaloss;
using namespace metaloss::testing;
namespace cuda = metaloss::kernels::cuda;
using namespace metaloss::data;

namespace {

const Device kGpu = Device::cuda(0);
constexpr DType F32 = DType::Float32, F64 = DType::Float64;

// The same view (shape, strides, offset) over a device copy of the whole storage, so strided and
// broadcast inputs stay strided on the GPU.
Tensor gpu_like(const Tensor& t) {
  if (!t.defined()) return t;
  const int64_t elems = int64_t(t.storage()->nbytes / dtype_size(t.dtype()));
  Tensor base = Tensor::empty(Shape{elems}, t.dtype(), kGpu);
  cuda::memcpy(base.raw_data(), kGpu, t.storage()->data, Device::cpu(), t.storage()->nbytes);
  Tensor v = make_view(base, t.shape(), t.strides(), t.offset());
  if (t.requires_grad()) v.set_requires_grad(true);
  return v;
}

// max |a - b| / (atol + rtol |b|) over all elements: <= 1 means within tolerance.
double worst(const Tensor& a, const Tensor& b, double atol, double rtol) {
  REQUIRE(a.shape() == b.shape());
  auto va = a.to_vector(), vb = b.to_vector();
  double w = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    if (std::isnan(va[i]) && std::isnan(vb[i])) continue;
    if (va[i] == vb[i]) continue;  // equal infinities
    w = std::max(w, std::abs(va[i] - vb[i]) / (atol + rtol * std::abs(vb[i])));
    if (std::isnan(va[i]) || std::isnan(vb[i])) w = INFINITY;
  }
  return w;
}
#define CHECK_CLOSE(gpu, cpu, atol, rtol) CHECK(worst(gpu, cpu, atol, rtol) <= 1.0)
#define CHECK_EQUAL_VALUES(gpu, cpu) CHECK((gpu).to_vector() == (cpu).to_vector())

// Gradients of sum(y * w) for a fixed random w, for every input that requires grad.
std::vector<Tensor> vjp_grads(const Tensor& y, const std::vector<Tensor>& in, const Tensor& w) {
  std::vector<Tensor> diff;
  for (const Tensor& t : in)
    if (t.requires_grad()) diff.push_back(t);
  if (!y.requires_grad() || diff.empty()) return {};
  GradOptions o;
  o.allow_unused = true;
  return grad({y}, diff, {w}, o);
}

}  // namespace

TEST_CASE("cuda: device basics and clear errors") {
  Tensor a = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, Shape{2, 3});
  Tensor g = a.to(kGpu);
  CHECK(g.device() == kGpu);
  CHECK(g.desc() == "float32[2, 3] on cuda:0");
  CHECK(g.to_vector() == a.to_vector());
  CHECK_THROWS_AS((void)g.item(), std::invalid_argument);
  CHECK(g.at({1, 2}) == 6.0);
  CHECK(sum(g).item() == 21.0);
  // Mixed devices: the op names both tensors and their devices.
  try {
    (void)add(a, g);
    FAIL("add of a CPU and a CUDA tensor did not throw");
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    CHECK(m.find("add") != std::string::npos);
    CHECK(m.find("cuda:0") != std::string::npos);
  }
  CHECK_THROWS_AS((void)matmul(a, transpose(g, 0, 1)), std::invalid_argument);
  CHECK_THROWS_AS((void)a.to(Device::cuda(cuda::device_count())), std::invalid_argument);
  CHECK_THROWS_AS(Device::parse("gpu0"), std::invalid_argument);
  // A CUDA error (here: cudaMalloc of 2^50 bytes) is an exception naming what failed.
  try {
    (void)Tensor::empty(Shape{int64_t(1) << 48}, F32, kGpu);
    FAIL("a 1 PiB allocation did not throw");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("cudaMalloc") != std::string::npos);
  }
  // The device still works after the failed allocation.
  CHECK(sum(Tensor::ones(Shape{1000}, F32, kGpu)).item() == 1000.0);
  // Gradients flow back across devices.
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3}, Shape{3}, F64).set_requires_grad(true);
  Tensor y = sum(square(x.to(kGpu)));
  y.backward();
  CHECK(x.grad().device() == Device::cpu());
  CHECK(x.grad().to_vector() == std::vector<double>{2, 4, 6});
}

TEST_CASE("cuda: every op record, float64: forward and gradients equal the CPU's") {
  for (const auto& rec : op_records())
    for (const auto& s : rec.samples()) {
      INFO(rec.name, " / ", s.label);
      std::vector<Tensor> gin;
      for (const Tensor& t : s.inputs) gin.push_back(gpu_like(t));
      Tensor yc = rec.fn(s.inputs), yg = rec.fn(gin);
      CHECK(yg.device() == kGpu);
      CHECK_CLOSE(yg, yc, 1e-12, 1e-10);
      if (!yc.requires_grad()) continue;
      Tensor w = randn(yc.shape(), F64);
      auto gc = vjp_grads(yc, s.inputs, w), gg = vjp_grads(yg, gin, w.to(kGpu));
      REQUIRE(gc.size() == gg.size());
      for (size_t i = 0; i < gc.size(); ++i) {
        REQUIRE(gc[i].defined() == gg[i].defined());
        if (gc[i].defined()) CHECK_CLOSE(gg[i], gc[i], 1e-12, 1e-10);
      }
    }
}

TEST_CASE("cuda: every op record, float64: gradcheck and gradgradcheck on the GPU") {
  for (const auto& rec : op_records())
    for (const auto& s : rec.samples()) {
      std::vector<Tensor> gin;
      for (const Tensor& t : s.inputs) gin.push_back(gpu_like(t));
      auto r1 = gradcheck(rec.fn, gin);
      CHECK_MESSAGE(r1.ok, rec.name, " / ", s.label, ": ", r1.message);
      if (rec.order < 2) continue;
      auto r2 = gradgradcheck(rec.fn, gin);
      CHECK_MESSAGE(r2.ok, rec.name, " / ", s.label, ": ", r2.message);
    }
}

TEST_CASE("cuda: every op record, float32: forward within float32 tolerance of the CPU") {
  for (const auto& rec : op_records())
    for (const auto& s : rec.samples()) {
      INFO(rec.name, " / ", s.label);
      std::vector<Tensor> cin, gin;
      for (const Tensor& t : s.inputs) {
        Tensor c = t.defined() && is_floating(t.dtype()) ? t.detach().to(F32) : t;
        cin.push_back(c);
        gin.push_back(c.defined() ? c.to(kGpu) : c);
      }
      Tensor yc, yg;
      try {
        yc = rec.fn(cin);
      } catch (const std::invalid_argument&) {
        continue;  // records whose fn insists on float64 constants
      }
      yg = rec.fn(gin);
      CHECK_CLOSE(yg, yc, 1e-5, 1e-4);
    }
}

TEST_CASE("cuda: large tensors take the kernels' wide paths and agree with the CPU") {
  Generator gen(7);
  for (DType t : {F32, F64}) {
    const double atol = t == F32 ? 1e-4 : 1e-10, rtol = t == F32 ? 1e-4 : 1e-10;
    INFO(std::string(dtype_name(t)));
    Tensor a = randn(Shape{1000, 3000}, t, gen), b = randn(Shape{3000}, t, gen), c = randn(Shape{1000, 1}, t, gen);
    Tensor ag = a.to(kGpu), bg = b.to(kGpu), cg = c.to(kGpu);
    CHECK_CLOSE(add(ag, bg), add(a, b), atol, rtol);                              // row broadcast
    CHECK_CLOSE(mul(ag, cg), mul(a, c), atol, rtol);                              // column broadcast
    CHECK_CLOSE(sub(transpose(ag, 0, 1), transpose(a, 0, 1).to(kGpu)), Tensor::zeros(Shape{3000, 1000}, t), atol, rtol);
    CHECK_CLOSE(div(transpose(ag, 0, 1), add(abs(transpose(ag, 0, 1)), 1.0)), div(transpose(a, 0, 1), add(abs(transpose(a, 0, 1)), 1.0)), atol, rtol);
    for (auto [name, f] : std::vector<std::pair<const char*, Tensor (*)(const Tensor&)>>{
             {"exp", exp}, {"tanh", tanh}, {"sigmoid", sigmoid}, {"relu", relu}, {"abs", abs}})
      CHECK_MESSAGE(worst(f(ag), f(a), atol, rtol) <= 1, name);
    CHECK_CLOSE(sum(ag), sum(a), atol * 3e3, rtol * 10);                           // full reduction
    CHECK_CLOSE(sum(ag, {0}), sum(a, {0}), atol * 30, rtol * 10);                  // over rows (bias grad)
    CHECK_CLOSE(sum(ag, {1}), sum(a, {1}), atol * 30, rtol * 10);                  // row sums
    CHECK_CLOSE(mean(reshape(ag, {10, 300, 1000}), {1}), mean(reshape(a, {10, 300, 1000}), {1}), atol, rtol * 10);
    CHECK_EQUAL_VALUES(amax(ag, {1}), amax(a, {1}));
    CHECK_EQUAL_VALUES(amin(ag, {0}), amin(a, {0}));
    CHECK_EQUAL_VALUES(amax(ag), amax(a));
    CHECK(argmax(ag, 1).to_vector() == argmax(a, 1).to_vector());
    CHECK(argmax(ag, 0).to_vector() == argmax(a, 0).to_vector());
    CHECK_CLOSE(softmax(ag, 1), softmax(a, 1), atol, rtol);
    CHECK_CLOSE(log_softmax(ag, 0), log_softmax(a, 0), atol, rtol);
    CHECK_CLOSE(log_softmax(reshape(ag, {100, 10, 3000}), 1), log_softmax(reshape(a, {100, 10, 3000}), 1), atol, rtol);
    CHECK_CLOSE(logsumexp(ag, {1}), logsumexp(a, {1}), atol, rtol);
    // Short rows: several rows per warp, and a last warp only partly filled.
    for (int64_t d : {3, 7, 10, 13, 31}) {
      Tensor r = slice(reshape(a, {-1}), 0, 0, 1001 * d);
      Tensor rg = reshape(r.to(kGpu), {1001, d});
      CHECK_CLOSE(softmax(rg, 1), softmax(reshape(r, {1001, d}), 1), atol, rtol);
      CHECK_CLOSE(log_softmax(rg, 1), log_softmax(reshape(r, {1001, d}), 1), atol, rtol);
    }
    CHECK_CLOSE(where(gt(ag, 0.0), ag, mul(ag, 0.1)), where(gt(a, 0.0), a, mul(a, 0.1)), atol, rtol);
    // axpby: the one-pass a + alpha * b (SGD steps), broadcast, and the in-place optimizer forms.
    CHECK_CLOSE(add(ag, cg, -0.3), add(a, c, -0.3), atol, rtol);
    {
      Tensor ig = ag.clone(), i = a.clone();
      ig.mul_add_(0.9, ag, 0.1);
      i.mul_add_(0.9, a, 0.1);
      CHECK_CLOSE(ig, i, atol, rtol);
      ig.add_(ag, -0.01);
      i.add_(a, -0.01);
      CHECK_CLOSE(ig, i, atol, rtol);
    }
    CHECK(cast(gt(ag, 0.5), DType::Int64).to_vector() == cast(gt(a, 0.5), DType::Int64).to_vector());
    // GEMM: plain, transposed operands, batched.
    Tensor m1 = randn(Shape{300, 200}, t, gen), m2 = randn(Shape{200, 500}, t, gen);
    CHECK_CLOSE(matmul(m1.to(kGpu), m2.to(kGpu)), matmul(m1, m2), atol * 10, rtol * 10);
    CHECK_CLOSE(matmul(transpose(m2.to(kGpu), 0, 1), transpose(m1.to(kGpu), 0, 1)),
                matmul(transpose(m2, 0, 1), transpose(m1, 0, 1)), atol * 10, rtol * 10);
    Tensor b1 = randn(Shape{8, 30, 40}, t, gen), b2 = randn(Shape{8, 40, 20}, t, gen);
    CHECK_CLOSE(matmul(b1.to(kGpu), b2.to(kGpu)), matmul(b1, b2), atol * 10, rtol * 10);
    // Indexing with many (repeated) indices: atomics on the GPU, so float sums may differ in order.
    Tensor idx = randint(0, 1000, Shape{5000}, gen);
    CHECK_EQUAL_VALUES(index_select(ag, 0, idx.to(kGpu)), index_select(a, 0, idx));
    Tensor src = randn(Shape{5000, 3000}, t, gen);
    CHECK_CLOSE(index_add(ag, 0, idx.to(kGpu), src.to(kGpu)), index_add(a, 0, idx, src), atol * 10, rtol * 10);
    Tensor gi = randint(0, 3000, Shape{1000, 50}, gen);
    CHECK_EQUAL_VALUES(gather(ag, 1, gi.to(kGpu)), gather(a, 1, gi));
    Tensor gs = randn(Shape{1000, 50}, t, gen);
    CHECK_CLOSE(scatter_add(ag, 1, gi.to(kGpu), gs.to(kGpu)), scatter_add(a, 1, gi, gs), atol, rtol);
    Tensor labels = randint(0, 10, Shape{4096}, gen);
    CHECK_EQUAL_VALUES(one_hot(labels.to(kGpu), 10, t), one_hot(labels, 10, t));
    // Convolution helpers, pooling and batch norm at LeNet-like sizes.
    Tensor img = randn(Shape{64, 6, 28, 28}, t, gen);
    Tensor ig = img.to(kGpu);
    for (bool km : {false, true}) {
      CHECK_EQUAL_VALUES(im2col(ig, 5, 1, 2, 1, km), im2col(img, 5, 1, 2, 1, km));
      Tensor cols = im2col(img, 3, 2, 1, 1, km);
      CHECK_CLOSE(col2im(cols.to(kGpu), img.shape(), 3, 2, 1, 1, km), col2im(cols, img.shape(), 3, 2, 1, 1, km), atol, rtol);
    }
    CHECK_EQUAL_VALUES(max_pool2d(ig, 2, 2), max_pool2d(img, 2, 2));
    CHECK_EQUAL_VALUES(max_pool2d(ig, 3, 2, 1), max_pool2d(img, 3, 2, 1));
    CHECK_CLOSE(avg_pool2d(ig, 2, 2), avg_pool2d(img, 2, 2), atol, rtol);
    CHECK_CLOSE(avg_pool2d(ig, 3, 2, 1), avg_pool2d(img, 3, 2, 1), atol, rtol);
    CHECK_CLOSE(adaptive_avg_pool2d(ig, {5, 3}), adaptive_avg_pool2d(img, {5, 3}), atol, rtol);
    Tensor rm = Tensor::zeros(Shape{6}, t), rv = Tensor::ones(Shape{6}, t);
    Tensor rmg = rm.to(kGpu), rvg = rv.to(kGpu);
    CHECK_CLOSE(batch_norm(ig, rmg, rvg, Tensor(), Tensor(), true), batch_norm(img, rm, rv, Tensor(), Tensor(), true), atol * 10, rtol * 10);
    CHECK_CLOSE(rmg, rm, atol, rtol);
    CHECK_CLOSE(rvg, rv, atol, rtol);
    // Copies between every pair of dtypes.
    for (DType to : {F32, F64, DType::Int64, DType::Bool}) {
      Tensor v = mul(a, 3.0);
      CHECK(cast(v.to(kGpu), to).to_vector() == cast(v, to).to_vector());
    }
  }
}

TEST_CASE("cuda: random streams equal the CPU's for the same seed") {
  for (DType t : {F32, F64}) {
    Generator gc(123), gg(123);
    CHECK(rand(Shape{100003}, t, gc).to_vector() == rand(Shape{100003}, t, gg, kGpu).to_vector());
    CHECK(uniform(Shape{777}, -2, 5, t, gc).to_vector() == uniform(Shape{777}, -2, 5, t, gg, kGpu).to_vector());
    // Box-Muller on the device may differ from glibc's log/sin/cos in the last bit.
    CHECK_CLOSE(randn(Shape{100001}, t, gg, kGpu), randn(Shape{100001}, t, gc), t == F32 ? 1e-6 : 1e-13, t == F32 ? 1e-6 : 1e-14);
    CHECK(randint(-5, 1000, Shape{4097}, gc).to_vector() == randint(-5, 1000, Shape{4097}, gg, kGpu).to_vector());
    CHECK(gc.offset() == gg.offset());
  }
  Tensor x = Tensor::ones(Shape{64, 100}, F32);
  Generator d1(5), d2(5);
  CHECK(dropout(x, 0.3, true, d1).to_vector() == dropout(x.to(kGpu), 0.3, true, d2).to_vector());
}

TEST_CASE("cuda: conv2d through cuDNN and through im2col + cuBLAS agree with the CPU, to the second derivative") {
  // A CUDA build with cuDNN must really take the cuDNN path here (else "dnn" below is im2col too).
  REQUIRE(cudnn_enabled() == cuda::built_with_cudnn());
  if (!cudnn_enabled()) MESSAGE("built without cuDNN: only the im2col path runs");
  Generator gen(11);
  for (DType t : {F64, F32}) {
    // float32: the second derivatives sum thousands of products in different orders.
    const double tol = t == F32 ? 1e-3 : 1e-10;
    Tensor x = randn(Shape{8, 3, 12, 12}, t, gen), w = mul(randn(Shape{6, 3, 5, 5}, t, gen), 0.2);
    Tensor b = randn(Shape{6}, t, gen);
    for (auto [s, p, d] : {std::tuple{1, 2, 1}, std::tuple{2, 1, 1}, std::tuple{1, 2, 2}}) {
      INFO(std::string(dtype_name(t)), " stride ", s, " pad ", p, " dilation ", d);
      auto run = [&](Device dev, bool use_cudnn) {
        set_cudnn_enabled(use_cudnn);
        Tensor xd = x.to(dev).detach().set_requires_grad(true), wd = w.to(dev).detach().set_requires_grad(true);
        Tensor y = conv2d(xd, wd, b.to(dev), s, p, d);
        // A loss whose gradient depends on y, so the Hessian-vector product below is non-trivial.
        Tensor loss = sum(square(tanh(y)));
        auto g = differentiable_gradients(loss, {xd, wd});
        Tensor gv = sum(mul(g[0], g[0])) + sum(mul(g[1], g[1]));
        auto h = gradients(gv, {xd, wd});
        set_cudnn_enabled(true);
        return std::vector<Tensor>{y, g[0], g[1], h[0], h[1]};
      };
      auto ref = run(Device::cpu(), true), dnn = run(kGpu, true), gemm = run(kGpu, false);
      for (size_t i = 0; i < ref.size(); ++i) {
        INFO("output ", i, " (y, dx, dw, d2x, d2w)");
        CHECK(worst(dnn[i], ref[i], tol, tol * 10) <= 1);
        CHECK(worst(gemm[i], ref[i], tol, tol * 10) <= 1);
      }
    }
  }
}

TEST_CASE("cuda: a batch-norm model (AllCNN-C) trains on the GPU as on the CPU, running statistics included") {
  auto run = [](Device dev) {
    // AllCNN-C's dropout draws from the default generator: both runs must start it from one seed
    // (a first version of this test did not, and its GPU run failed on different masks).
    manual_seed(7);
    Generator gen(5);
    auto model = make_model("allcnn_c", 10, gen);
    model->to(DType::Float64);
    model->to(dev);
    SGD opt(model->parameters(), SGDOptions{0.01, 0.9});
    Generator data_gen(6);
    std::vector<double> losses;
    for (int s = 0; s < 3; ++s) {
      Tensor x = randn(Shape{8, 3, 32, 32}, F64, data_gen).to(dev), y = randint(0, 10, Shape{8}, data_gen).to(dev);
      opt.zero_grad();
      Tensor loss = cross_entropy(model->forward(x), y);
      loss.backward();
      opt.step();
      losses.push_back(loss.item());
    }
    return std::pair{losses, model->state_dict()};
  };
  auto [lc, sc] = run(Device::cpu());
  auto [lg, sg] = run(kGpu);
  for (size_t i = 0; i < lc.size(); ++i) CHECK(std::abs(lc[i] - lg[i]) <= 1e-9 * std::abs(lc[i]));
  REQUIRE(sc.size() == sg.size());
  for (size_t i = 0; i < sc.size(); ++i) {
    INFO(sc[i].first);
    CHECK(sg[i].second.device() == kGpu);
    CHECK_CLOSE(sg[i].second, sc[i].second, 1e-9, 1e-7);  // weights, running mean/var, batch counts
  }
}

TEST_CASE("cuda: the caching allocator makes a steady loop allocation-free") {
  Generator gen(3);
  auto model = make_model("mlp", 10, gen);
  model->to(kGpu);
  SGD opt(model->parameters(), SGDOptions{0.01, 0.9});
  Tensor x = randn(Shape{128, 1, 28, 28}, F32, gen, kGpu);
  Tensor y = randint(0, 10, Shape{128}, gen, kGpu);
  auto step = [&] {
    opt.zero_grad();
    Tensor loss = cross_entropy(model->forward(x), y);
    loss.backward();
    opt.step();
    return loss;
  };
  for (int i = 0; i < 3; ++i) step();
  const auto before = cuda::memory_stats(0);
  for (int i = 0; i < 50; ++i) step();
  cuda::synchronize(0);
  const auto after = cuda::memory_stats(0);
  CHECK(after.requests > before.requests);
  CHECK(after.cuda_mallocs == before.cuda_mallocs);
  MESSAGE("allocator: " << (after.requests - before.requests) / 50 << " requests per step, "
                        << after.cuda_mallocs - before.cuda_mallocs << " cudaMalloc in 50 steps, peak "
                        << after.peak_bytes_in_use / 1e6 << " MB");
}

TEST_CASE("cuda: LeNet-5 on Fashion-MNIST, 200 steps: the GPU loss curve follows the CPU's") {
  const char* env = std::getenv("METALOSS_FMNIST_DIR");
  const std::string dir = env ? env : kFashionMnistDir;
  TrainTest ds;
  try {
    ds = load_fashion_mnist(dir);
  } catch (const std::exception& e) {
    FAIL("Fashion-MNIST not found (" << e.what() << "); set METALOSS_FMNIST_DIR");
  }
  constexpr int kSteps = 200, kBatch = 64;
  REQUIRE(ds.train.size() >= kSteps * kBatch);
  for (DType t : {F64, F32}) {
    auto curve = [&](Device dev) {
      Generator gen(42);
      auto model = make_model("lenet5", 10, gen);
      model->to(t);
      model->to(dev);
      SGD opt(model->parameters(), SGDOptions{0.05, 0.9});
      std::vector<double> losses;
      for (int s = 0; s < kSteps; ++s) {
        Tensor xb = slice(ds.train.inputs, 0, s * kBatch, (s + 1) * kBatch).to(t).to(dev);
        Tensor yb = slice(ds.train.targets, 0, s * kBatch, (s + 1) * kBatch).to(dev);
        opt.zero_grad();
        Tensor loss = cross_entropy(model->forward(xb), yb);
        loss.backward();
        opt.step();
        losses.push_back(loss.item());
      }
      return losses;
    };
    const auto cpu = curve(Device::cpu()), gpu = curve(kGpu);
    double max_diff = 0, sum_diff = 0;
    for (int s = 0; s < kSteps; ++s) {
      const double d = std::abs(cpu[size_t(s)] - gpu[size_t(s)]);
      max_diff = std::max(max_diff, d);
      sum_diff += d;
    }
    MESSAGE(std::string(dtype_name(t)) << ": loss " << cpu.front() << " -> " << cpu.back() << " (CPU), " << gpu.front() << " -> "
                          << gpu.back() << " (GPU); max |diff| " << max_diff << ", mean " << sum_diff / kSteps);
    CHECK(cpu.back() < cpu.front() * 0.6);  // it learned
    if (t == F64) {
      CHECK(max_diff < 1e-8);
    } else {
      // float32: summation orders differ (cuDNN/cuBLAS vs OpenBLAS), so curves drift apart slowly.
      for (int s = 0; s < 20; ++s) CHECK(std::abs(cpu[size_t(s)] - gpu[size_t(s)]) < 1e-4);
      CHECK(sum_diff / kSteps < 1e-4);
    }
  }
}

// Every meta-learning method on the GPU next to the CPU (tests/method_devices.h): float64
// meta-parameters and meta-gradients to 1e-8, EvoMAL's float32 edge weights to 1e-4, and
// validation errors within 1.5 examples of 48 (float32 fitness runs may flip a borderline one).
TEST_CASE("cuda: every method (ML3, AdaLFL, TaylorGLO, EvoMAL, GP-LFL, GLO, MAML, Meta-SGD, NPBML) agrees with the CPU") {
  metaloss::testing::check_methods_on(metaloss::Device::cuda(0), {1e-8, 1e-4, 1.5 / 48});
}

// The profiler's device track on a real GPU: CUDA event pairs around the launches, resolved at
// stop(), with bytes and FLOPs (kernels/cuda/profile.cu).
TEST_CASE("cuda: the profiler times kernels on the device and writes a GPU track") {
  if (metaloss::profiler::enabled()) {
    MESSAGE("METALOSS_PROFILE is set for this run: skipped");
    return;
  }
  using namespace metaloss;
  const std::string path = "/tmp/metaloss_cuda_profile_" + std::to_string(::getpid()) + ".json";
  profiler::start(path);
  Tensor a = randn({256, 256}).to(Device::cuda()).set_requires_grad(), b = randn({256, 256}).to(Device::cuda());
  sum(tanh(matmul(a, b))).backward();
  const std::string summary = profiler::stop();
  CHECK(summary.find("device time (CUDA events)") != std::string::npos);
  CHECK(summary.find("cuda:0    gemm") != std::string::npos);
  CHECK(summary.find("could not be timed") == std::string::npos);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str().find("\"name\": \"GPU 0 (device time)\"") != std::string::npos);
  CHECK(text.str().find("\"cat\": \"gpu\"") != std::string::npos);
  std::remove(path.c_str());
}
