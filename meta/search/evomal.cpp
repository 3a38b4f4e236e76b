#include "meta/search/evomal.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "meta/search/glo.h"
#include "meta/search/taylor_glo_search.h"
#include "meta/train.h"
#include "models/optim.h"
#include "meta/seeds.h"

namespace metaloss::search {

using losses::Expression;

namespace {
// Generator streams of a candidate seed (apps/learn uses 0 init, 2 order, 4 dropout).
using seeds::Stream;

double error_rate(const Tensor& logits, const Tensor& labels) {
  const auto pred = argmax(logits, 1).to_vector(), lab = labels.to_vector();
  int64_t wrong = 0;
  for (size_t i = 0; i < pred.size(); ++i) wrong += pred[i] != lab[i];
  return double(wrong) / double(pred.size());
}

// `n` training examples drawn with `pick` and a fresh model's logits for them (no graph).
std::pair<Tensor, Tensor> fresh_logits(const learn::LearnTask& task, int64_t n, Generator& pick, Generator& init) {
  n = std::max<int64_t>(1, std::min<int64_t>(n, task.train.inputs.size(0)));
  std::vector<int64_t> perm = data::randperm(task.train.inputs.size(0), pick);
  perm.resize(size_t(n));
  const Tensor idx = Tensor::from_vector(perm, Shape{n}).to(task.device());  // drawn on the host: every device's rows
  const Tensor x = index_select(task.train.inputs, 0, idx), y = index_select(task.train.targets, 0, idx);
  auto model = task.make_model(init);
  NoGrad ng;
  model->eval();
  return {model->forward(x).detach(), y};
}

bool finite(const Tensor& t) {
  for (double v : t.to_vector())
    if (!std::isfinite(v)) return false;
  return true;
}
}  // namespace

void EvoMALConfig::validate() const {
  auto bad = [](const std::string& w) { throw std::invalid_argument("EvoMAL: " + w); };
  if (fitness_steps < 1) bad("fitness_steps must be >= 1");
  if (meta_steps < 0) bad("meta_steps must be >= 0");
  if (!(lr > 0) || !(meta_lr > 0) || !(rejection_lr > 0))
    bad("learning rates must be positive (lr " + std::to_string(lr) + ", meta_lr " + std::to_string(meta_lr) +
        ", rejection_lr " + std::to_string(rejection_lr) + ")");
  if (batch_size < 1) bad("batch_size must be >= 1");
  if (rejection_samples < 0 || rejection_steps < 0) bad("rejection samples and steps must be >= 0");
}

std::string weights_json(const std::vector<double>& w) {
  return "[" + exact_numbers(w, ",") + "]";  // no spaces: one protocol token
}

std::vector<double> parse_weights_json(const std::string& text) {
  std::vector<double> w;
  size_t i = text.find('[');
  if (i == std::string::npos) throw std::invalid_argument("edge weights: expected '[' in '" + text + "'");
  ++i;
  while (i < text.size() && text[i] == ' ') ++i;
  if (i < text.size() && text[i] == ']') return w;
  for (;;) {
    char* end = nullptr;
    const double v = std::strtod(text.c_str() + i, &end);
    if (end == text.c_str() + i) throw std::invalid_argument("edge weights: bad number at offset " + std::to_string(i) + " of '" + text + "'");
    w.push_back(v);
    i = size_t(end - text.c_str());
    while (i < text.size() && text[i] == ' ') ++i;
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    if (i < text.size() && text[i] == ']') return w;
    throw std::invalid_argument("edge weights: expected ',' or ']' at offset " + std::to_string(i) + " of '" + text + "'");
  }
}

Evaluation evaluate_evomal(const Expression& e, const learn::LearnTask& task, const EvoMALConfig& cfg, uint64_t seed,
                           std::vector<double>* weights_out) {
  return guarded_evaluation(seed, [&](Evaluation& r) {
    cfg.validate();
    if (!e.valid()) throw std::runtime_error("not a well-formed expression (" + std::to_string(e.size()) + " nodes)");
    const int64_t classes = task.num_classes();
    seeds::seed_dropout(seed);
    // 1. Rejection protocol on logits of a fresh model.
    if (cfg.rejection_samples > 0 && cfg.rejection_steps > 0) {
      Generator rg = seeds::derive(seed, Stream::EvoReject), init = seeds::derive(seed, Stream::Init);
      auto [z, y] = fresh_logits(task, cfg.rejection_samples, rg, init);
      const int64_t n = z.size(0);
      const double before = error_rate(z, y);
      for (int64_t s = 0; s < cfg.rejection_steps; ++s) {
        Tensor zl = z.detach();
        zl.set_requires_grad(true);
        const Tensor l = e.loss(zl, y);
        if (!std::isfinite(l.item())) throw CandidateRejected("rejected: non-finite loss in the rejection protocol");
        const Tensor g = grad({l}, {zl}, {}, GradOptions{false, -1, true})[0];
        NoGrad ng;
        z = g.defined() ? add(zl.detach(), g, -cfg.rejection_lr) : zl.detach();
      }
      const double after = error_rate(z, y);
      if (!(after < before))
        throw CandidateRejected("rejected: optimising " + std::to_string(n) + " predictions with it for " +
                                 std::to_string(cfg.rejection_steps) + " steps left their error at " +
                                 std::to_string(after) + " (was " + std::to_string(before) + ")");
    }
    // 2. Local search on the edge weights.
    const int64_t edges = int64_t(e.size()) - 1;
    Generator wg = seeds::derive(seed, Stream::EvoWeights);
    Tensor phi = add(mul(randn(Shape{edges}, DType::Float32, wg), 0.001), 1.0);
    if (!cfg.local_search) phi = Tensor::ones(Shape{edges}, DType::Float32);
    phi = phi.to(task.device());  // drawn on the host (the same weights on every device), trained on the task's
    if (cfg.local_search && cfg.meta_steps > 0 && edges > 0) {
      phi.set_requires_grad(true);
      Adam meta_opt({phi}, AdamOptions{cfg.meta_lr});
      Generator sg = seeds::derive(seed, Stream::EvoSupport), qg = seeds::derive(seed, Stream::EvoQuery);
      learn::BatchStream support(task.train, cfg.batch_size, sg), query(task.valid, cfg.batch_size, qg);
      for (int64_t s = 0; s < cfg.meta_steps; ++s) {
        Generator ig = seeds::derive(seed, Stream::IndexedBase, uint64_t(s));
        auto model = task.make_model(ig);
        model->train();
        const std::vector<Tensor> theta0 = model->parameters();
        const data::Batch sb = support.next(), qb = query.next();
        GradMode record(true);
        const Tensor inner = e.loss(model->forward_with(theta0, sb.inputs), sb.targets, phi);
        if (!std::isfinite(inner.item())) continue;  // this step says nothing about phi
        GradOptions go;
        go.create_graph = true;
        go.allow_unused = true;
        std::vector<Tensor> g = grad({inner}, theta0, {}, go);
        for (size_t i = 0; i < g.size(); ++i)
          if (!g[i].defined()) g[i] = Tensor::zeros(theta0[i].shape(), theta0[i].dtype(), theta0[i].device());
        const std::vector<Tensor> theta1 = sgd_update(theta0, g, cfg.lr);
        const Tensor outer = learn::task_loss(model->forward_with(theta1, qb.inputs), qb.targets, classes);
        const Tensor gphi = grad({outer}, {phi}, {}, GradOptions{false, -1, true})[0];
        if (!gphi.defined() || !finite(gphi)) continue;
        phi.set_grad(gphi);
        meta_opt.step();
      }
      phi = phi.detach();
    }
    if (!finite(phi)) throw std::runtime_error("non-finite edge weights after the local search");
    // 3. Fitness.
    const Tensor w = phi;
    r.fitness = fitness_run(
        task, seed, [&e, &w](const Tensor& out, const Tensor& y) { return e.loss(out, y, w); }, cfg.fitness_steps,
        cfg.batch_size, cfg.lr, cfg.time_limit);
    const std::vector<double> wv = phi.to_vector();
    r.params = weights_json(wv);
    if (weights_out) *weights_out = wv;
  });
}

std::function<std::vector<double>(const std::string&)> gradient_signature(const learn::LearnTask& task,
                                                                          uint64_t run_seed, int64_t samples) {
  Generator sg = seeds::derive(run_seed, Stream::Signature), ig = seeds::derive(run_seed, Stream::Signature, 1);
  auto [logits, y] = fresh_logits(task, samples, sg, ig);
  const Tensor z0 = logits.to(DType::Float64);
  const int64_t n = z0.size(0);
  return [z0, y, n](const std::string& genome) -> std::vector<double> {
    try {
      const Expression e = Expression::parse(genome);
      Tensor z = z0.detach();
      z.set_requires_grad(true);
      const Tensor l = e.loss(z, y);
      Tensor g = grad({l}, {z}, {}, GradOptions{false, -1, true})[0];
      if (!g.defined()) g = Tensor::zeros(z.shape(), z.dtype(), z.device());
      // Per example: the gradient's length and its (signed) component along cross entropy's
      // direction p - y, so that L and -L, equal in length, do not match.
      const Tensor p = softmax(z0, 1), dir = sub(p, one_hot(y, z0.size(1), DType::Float64));
      std::vector<double> sig = mul(sqrt(sum(square(g), {1})), double(n)).to_vector();
      const std::vector<double> along = mul(sum(mul(g, dir), {1}), double(n)).to_vector();
      sig.insert(sig.end(), along.begin(), along.end());
      for (double v : sig)
        if (!std::isfinite(v)) return {};
      return sig;
    } catch (const std::exception&) {
      return {};
    }
  };
}

EvalFn evomal_eval_fn(const learn::LearnTask& task, const EvoMALConfig& cfg) {
  return [task, cfg](const std::string& genome, uint64_t seed) {
    Expression e;
    std::vector<double> w;
    bool weighted = false;
    Evaluation bad = guarded_evaluation(seed, [&](Evaluation&) {
      weighted = split_weighted_genome(genome, e, w);
      if (!weighted) e = Expression::parse(genome);
    });
    if (bad.status != "ok") return bad;
    if (!weighted) return evaluate_evomal(e, task, cfg, seed);
    return guarded_evaluation(seed, [&](Evaluation& r) {  // GLO's second phase: given weights, fitness only
      const Tensor wt = Tensor::from_vector(w, Shape{int64_t(w.size())}, DType::Float32).to(task.device());
      r.fitness = fitness_run(
          task, seed, [&e, &wt](const Tensor& out, const Tensor& y) { return e.loss(out, y, wt); }, cfg.fitness_steps,
          cfg.batch_size, cfg.lr, cfg.time_limit);
      r.params = weights_json(w);
    });
  };
}

}  // namespace metaloss::search
