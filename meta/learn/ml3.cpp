#include "meta/learn/ml3.h"
#include "meta/seeds.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace metaloss::learn {

// Generator streams of one seed (meta/seeds.h). Inits use one stream per meta step
// (IndexedBase + step), so a step's init depends only on (seed, step).

void ML3Config::validate() const {
  auto bad = [](const std::string& what) { throw std::invalid_argument("ML3: " + what); };
  if (meta_steps < 0) bad("meta_steps must be >= 0");
  if (inner_steps < 1) bad("inner_steps must be >= 1, got " + std::to_string(inner_steps));
  if (!(inner_lr > 0) || !std::isfinite(inner_lr)) bad("inner_lr must be positive and finite");
  if (!(meta_lr > 0) || !std::isfinite(meta_lr)) bad("meta_lr must be positive and finite");
  if (batch_size < 1) bad("batch_size must be positive");
  if (!(clip_norm >= 0)) bad("clip_norm must be >= 0 (0: off)");
  if (log_every < 1) bad("log_every must be >= 1, got " + std::to_string(log_every));
}

Tensor unrolled_meta_loss(Module& model, const std::vector<Tensor>& theta0, losses::LearnedLoss& loss,
                          const std::vector<Tensor>& phi, const std::vector<data::Batch>& support,
                          const data::Batch& query, const Tensor& lr, int64_t num_classes) {
  if (support.empty()) throw std::invalid_argument("unrolled_meta_loss: needs at least one support batch");
  // The inner gradients are recorded (create_graph) even inside an outer NoGrad: they are what
  // the meta-gradient differentiates.
  GradMode record(true);
  std::vector<Tensor> theta = theta0;
  for (const data::Batch& b : support) {
    Tensor inner = loss.loss_with(phi, model.forward_with(theta, b.inputs), b.targets);
    GradOptions go;
    go.create_graph = true;
    theta = sgd_update(theta, grad({inner}, theta, {}, go), lr);
  }
  return task_loss(model.forward_with(theta, query.inputs), query.targets, num_classes);
}

ML3::ML3(LearnTask task, std::shared_ptr<losses::LearnedLoss> loss, ML3Config config, Tensor log_lr)
    : task_(std::move(task)),
      loss_(std::move(loss)),
      cfg_(std::move(config)),
      log_lr_(std::move(log_lr)),
      support_gen_(seeds::derive(cfg_.seed, seeds::Stream::Ml3Support)),
      query_gen_(seeds::derive(cfg_.seed, seeds::Stream::Ml3Query)),
      support_(task_.train, cfg_.batch_size, support_gen_),
      query_(task_.valid, cfg_.batch_size, query_gen_) {
  cfg_.validate();
  task_.validate();
  if (!loss_) throw std::invalid_argument("ML3: no learned loss");
  if (cfg_.learn_lr && !log_lr_.defined()) {
    const Tensor p0 = loss_->parameters().front();  // alpha lives where phi does (a copy: a temporary vector)
    log_lr_ = Tensor::scalar(std::log(cfg_.inner_lr), p0.dtype(), p0.device());
    log_lr_.set_requires_grad(true);
  }
  if (!cfg_.learn_lr) log_lr_ = Tensor();  // a shared log alpha is only trained when asked
  opt_ = std::make_unique<Adam>(meta_parameters(), AdamOptions{cfg_.meta_lr});
}

std::vector<Tensor> ML3::meta_parameters() const {
  std::vector<Tensor> p = loss_->parameters();
  if (log_lr_.defined()) p.push_back(log_lr_);
  return p;
}

double ML3::inner_lr() const { return log_lr_.defined() ? std::exp(log_lr_.item()) : cfg_.inner_lr; }

Tensor ML3::lr_tensor(DType dtype) const {
  if (log_lr_.defined()) return exp(log_lr_.to(dtype));
  return Tensor::scalar(cfg_.inner_lr, dtype, loss_->parameters().front().device());
}

std::vector<Tensor> ML3::meta_gradient(int64_t step, double* meta_loss) {
  Generator init = seeds::derive(cfg_.seed, seeds::Stream::IndexedBase, uint64_t(step));
  std::shared_ptr<Module> model = task_.make_model(init);  // a fresh parameter set every meta step
  model->train();
  std::vector<data::Batch> support;
  for (int64_t k = 0; k < cfg_.inner_steps; ++k) support.push_back(support_.next());
  const data::Batch query = query_.next();
  const std::vector<Tensor> theta0 = model->parameters();
  Tensor m = unrolled_meta_loss(*model, theta0, *loss_, loss_->parameters(), support, query,
                                lr_tensor(theta0.front().dtype()), task_.num_classes());
  if (meta_loss) *meta_loss = m.item();
  return grad({m}, meta_parameters());
}

double ML3::step() {
  double m = NAN;
  std::vector<Tensor> g = meta_gradient(stats_.steps, &m);
  ++stats_.steps;
  const double sq = squared_norm(g);
  stats_.last_grad_norm = std::sqrt(sq);
  // Never let a non-finite value reach phi: skip the update and count it.
  if (!std::isfinite(m) || !std::isfinite(sq)) {
    ++stats_.skipped;
    stats_.meta_losses.push_back(NAN);
    return m;
  }
  const std::vector<Tensor> params = meta_parameters();
  for (size_t i = 0; i < params.size(); ++i) Tensor(params[i]).set_grad(g[i]);
  if (cfg_.clip_norm > 0) clip_grad_norm_(params, cfg_.clip_norm);
  opt_->step();
  opt_->zero_grad();
  stats_.last_meta_loss = m;
  stats_.meta_losses.push_back(m);
  return m;
}

MetaStats ML3::run(MetricsWriter* metrics) {
  const auto t0 = std::chrono::steady_clock::now();
  // Plain progress lines (not on a terminal) about every tenth of the run, not every log line.
  Progress progress(cfg_.label, cfg_.meta_steps, std::max<int64_t>(cfg_.log_every, cfg_.meta_steps / 10), stderr);
  double interval = 0;
  int64_t interval_n = 0;
  for (int64_t s = 0; s < cfg_.meta_steps; ++s) {
    const double m = step();
    if (std::isfinite(m)) {
      interval += m;
      ++interval_n;
    }
    if (cfg_.progress) progress.update(s + 1, m);
    if (metrics && ((s + 1) % cfg_.log_every == 0 || s + 1 == cfg_.meta_steps)) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      metrics->write({{"seed", double(cfg_.seed)},
                      {"meta_step", double(s + 1)},
                      {"meta_loss", interval_n ? interval / double(interval_n) : NAN},
                      {"meta_grad_norm", stats_.last_grad_norm},
                      {"skipped", double(stats_.skipped)},
                      {"inner_lr", inner_lr()},
                      {"seconds", secs}},
                     {{"phase", cfg_.label}});
      interval = 0;
      interval_n = 0;
    }
  }
  if (cfg_.progress) progress.finish();
  stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return stats_;
}

}  // namespace metaloss::learn
