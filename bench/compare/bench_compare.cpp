// metaloss side of the side-by-side comparison (bench/compare/run_compare.py runs it next to
// compare_torch.py, which does the same work in PyTorch). One workload per process, so each
// process's peak resident memory belongs to one workload:
//
//   bench_compare WORKLOAD [--threads T] [--iters N] [--warmup W] [--device cpu|cuda]
//
// prints one JSON line: workload, threads, iters, median/min/p90 microseconds per iteration.
// Workloads (batch 128, Fashion-MNIST shapes, random data from a fixed seed):
//   train_mlp, train_lenet5      forward + cross entropy + backward + SGD (momentum 0.9) step;
//                                mlp = 784-1000-500-250-10 ReLU, lenet5 = the zoo's LeNet-5
//   meta_mlp_K, meta_lenet5_K    an ML3-style meta step, K = 1 or 5 (see meta_step below)
//   symbolic                     the 40-op symbolic loss (bench/symbolic_expr.h) on 128x10,
//                                forward + gradient
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <sys/resource.h>
#include <string>
#include <vector>

#include "bench/symbolic_expr.h"
#include "kernels/cuda/runtime.h"
#include "kernels/kernels.h"
#include "models/layers.h"
#include "models/optim.h"
#include "models/zoo.h"

using namespace metaloss;

namespace {

constexpr int64_t kBatch = 128, kClasses = 10;
Device g_device;  // where models and batches live (--device)

std::shared_ptr<Module> make_base(const std::string& name, Generator& gen) {
  if (name == "mlp") {  // the 784-1000-500-250-10, PyTorch-default init
    auto m = std::make_shared<Sequential>();
    m->push_back(std::make_shared<Flatten>());
    const int64_t w[] = {784, 1000, 500, 250, 10};
    for (int i = 0; i < 4; ++i) {
      m->push_back(std::make_shared<Linear>(w[i], w[i + 1], true, gen));
      if (i < 3) m->push_back(std::make_shared<ReLU>());
    }
    m->to(g_device);
    return m;
  }
  if (name == "lenet5") {
    auto m = make_model("lenet5", kClasses, gen);
    m->to(g_device);
    return m;
  }
  throw std::invalid_argument("unknown base model '" + name + "' (mlp, lenet5)");
}

struct Batch {
  Tensor x, y;
};
Batch random_batch(Generator& gen) {
  return {randn({kBatch, 1, 28, 28}, DType::Float32, gen).to(g_device), randint(0, kClasses, {kBatch}, gen).to(g_device)};
}

// ML3's loss network: per class c, (softmax prob f_c, one-hot y_c) -> 2-50-50-1, no biases,
// ReLU, Softplus output; the loss is the batch mean of the sum over classes.
struct LossNet {
  Sequential net;
  explicit LossNet(Generator& gen) {
    net.push_back(std::make_shared<Linear>(2, 50, false, gen));
    net.push_back(std::make_shared<ReLU>());
    net.push_back(std::make_shared<Linear>(50, 50, false, gen));
    net.push_back(std::make_shared<ReLU>());
    net.push_back(std::make_shared<Linear>(50, 1, false, gen));
    net.push_back(std::make_shared<Softplus>());
    net.to(g_device);
  }
  Tensor operator()(const Tensor& logits, const Tensor& labels) {
    Tensor f = softmax(logits, 1), y = one_hot(labels, kClasses, logits.dtype());
    Tensor pairs = stack({reshape(f, {-1}), reshape(y, {-1})}, 1);  // [B*C, 2]
    return mul(sum(net.forward(pairs)), 1.0 / double(logits.size(0)));
  }
};

// One ML3 meta step: from the base model's current parameters theta_0, K unrolled SGD steps
// theta_{k+1} = theta_k - alpha * grad L_phi(f(theta_k, x), y) with create_graph, then cross
// entropy of f(theta_K) on a query batch, backward to phi, Adam step on phi.
struct MetaStep {
  std::shared_ptr<Module> base;
  LossNet loss;
  Adam meta_opt;
  Batch support, query;
  int unroll;
  bool phi_only;  // the meta-gradient of phi alone (as the search runs it), not backward() to every leaf
  MetaStep(const std::string& model, int k, bool phi_only_, Generator& gen)
      : base(make_base(model, gen)), loss(gen), meta_opt(loss.net.parameters(), AdamOptions{}), support(random_batch(gen)),
        query(random_batch(gen)), unroll(k), phi_only(phi_only_) {}
  void operator()() {
    std::vector<Tensor> theta;
    for (auto& p : base->parameters()) theta.push_back(p.detach().set_requires_grad(true));
    for (int k = 0; k < unroll; ++k) {
      Tensor inner = loss(base->forward_with(theta, support.x), support.y);
      theta = sgd_update(theta, grad({inner}, theta, {}, {.create_graph = true}), 0.01);
    }
    Tensor outer = cross_entropy(base->forward_with(theta, query.x), query.y);
    meta_opt.zero_grad();
    if (phi_only) {
      std::vector<Tensor> phi = loss.net.parameters();
      const Grads g = grad({outer}, phi);
      for (size_t i = 0; i < phi.size(); ++i) phi[i].set_grad(g[i]);
    } else {
      outer.backward();
    }
    meta_opt.step();
  }
};

std::function<void()> make_workload(const std::string& w, Generator& gen) {
  if (w == "train_mlp" || w == "train_lenet5") {
    auto model = make_base(w.substr(6), gen);
    auto opt = std::make_shared<SGD>(model->parameters(), SGDOptions{0.01, 0.9});
    auto b = std::make_shared<Batch>(random_batch(gen));
    return [model, opt, b] {
      Tensor l = cross_entropy(model->forward(b->x), b->y);
      opt->zero_grad();
      l.backward();
      opt->step();
    };
  }
  for (const char* m : {"mlp", "lenet5"})
    for (int k : {1, 5})
      for (bool phi_only : {false, true})
        if (w == "meta_" + std::string(m) + "_" + std::to_string(k) + (phi_only ? "_phi" : "")) {
          auto s = std::make_shared<MetaStep>(m, k, phi_only, gen);
          return [s] { (*s)(); };
        }
  if (w == "symbolic") {
    auto in = std::make_shared<bench::SymbolicInputs>(bench::make_symbolic_inputs());
    return [in] {
      Grads g = grad({bench::symbolic_loss(in->y, in->f)}, {in->f});
      if (!g[0].defined()) throw std::runtime_error("no gradient");
    };
  }
  throw std::invalid_argument("unknown workload '" + w +
                              "' (train_mlp, train_lenet5, meta_{mlp,lenet5}_{1,5}[_phi], symbolic)");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help")) {
    std::fprintf(stderr, "usage: bench_compare WORKLOAD [--threads T] [--iters N] [--warmup W] [--device cpu|cuda]\n");
    return 2;
  }
  std::string workload = argv[1];
  int threads = 1, iters = 20, warmup = 3;
  std::string device = "cpu";
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    int v = std::atoi(argv[i + 1]);
    if (k == "--device") device = argv[i + 1];
    else if (k == "--threads") threads = v;
    else if (k == "--iters") iters = v;
    else if (k == "--warmup") warmup = v;
    else {
      std::fprintf(stderr, "bench_compare: unknown option '%s'\n", k.c_str());
      return 2;
    }
  }
  try {
    kernels::set_num_threads(threads);
    g_device = Device::parse(device);
    kernels::cuda::check_device(g_device, "bench_compare --device");
    // A CUDA step is timed until the device has finished it.
    auto sync = [] {
      if (g_device.is_cuda()) kernels::cuda::synchronize(g_device.index);
    };
    Generator gen(1234);
    auto run = make_workload(workload, gen);
    for (int i = 0; i < warmup; ++i) run();
    sync();
    std::vector<double> us;
    auto cpu_seconds = [] {
      rusage r{};
      getrusage(RUSAGE_SELF, &r);
      return double(r.ru_utime.tv_sec + r.ru_stime.tv_sec) + 1e-6 * double(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
    };
    const double cpu0 = cpu_seconds();
    const auto wall0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      run();
      sync();
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    // CPU time over wall time of the timed iterations: about 1 for a run held to one core.
    const double cpu_util = (cpu_seconds() - cpu0) / std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    std::sort(us.begin(), us.end());
    std::printf("{\"library\": \"metaloss\", \"workload\": \"%s\", \"device\": \"%s\", \"threads\": %d, \"iters\": %d, "
                "\"median_us\": %.2f, \"min_us\": %.2f, \"p90_us\": %.2f, \"cpu_util\": %.3f}\n",
                workload.c_str(), g_device.str().c_str(), threads, iters, us[us.size() / 2], us.front(), us[us.size() * 9 / 10],
                cpu_util);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_compare: %s\n", e.what());
    return 1;
  }
  return 0;
}
