#include "meta/learn/adalfl.h"
#include "meta/seeds.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <stdexcept>

namespace metaloss::learn {

namespace {
// Stream id of the online validation batches; the offline ML3 phase uses ML3's own ids.
double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

void AdaLFLConfig::validate() const {
  auto bad = [](const std::string& what) { throw std::invalid_argument("AdaLFL: " + what); };
  if (offline_steps < 0) bad("offline_steps must be >= 0");
  if (offline_inner_steps < 1) bad("offline_inner_steps must be >= 1");
  if (steps < 0 || epochs < 0) bad("steps and epochs must be >= 0");
  if (!(lr > 0) || !std::isfinite(lr)) bad("lr must be positive and finite");
  if (!(momentum >= 0 && momentum < 1)) bad("momentum must be in [0, 1)");
  if (!(meta_lr > 0) || !std::isfinite(meta_lr)) bad("meta_lr must be positive and finite");
  if (batch_size < 1) bad("batch_size must be positive");
  if (!(clip_norm >= 0)) bad("clip_norm must be >= 0 (0: off)");
  if (snapshots < 0) bad("snapshots must be >= 0");
  if (log_every < 1 || offline_log_every < 1) bad("log intervals must be positive");
}

AdaLFL::AdaLFL(LearnTask task, std::shared_ptr<losses::LearnedLoss> loss, AdaLFLConfig config)
    : task_(std::move(task)),
      loss_(std::move(loss)),
      cfg_(std::move(config)),
      valid_gen_(seeds::derive(cfg_.seed, seeds::Stream::AdaLflValid)),
      valid_(task_.valid, cfg_.batch_size, valid_gen_) {
  cfg_.validate();
  task_.validate();
  if (!loss_) throw std::invalid_argument("AdaLFL: no learned loss");
  if (cfg_.learn_lr) {
    const Tensor p0 = loss_->parameters().front();  // alpha lives where phi does (a copy: a temporary vector)
    log_lr_ = Tensor::scalar(std::log(cfg_.lr), p0.dtype(), p0.device());
    log_lr_.set_requires_grad(true);
  }
  opt_ = std::make_unique<Adam>(meta_parameters(), AdamOptions{cfg_.meta_lr});
}

std::vector<Tensor> AdaLFL::meta_parameters() const {
  std::vector<Tensor> p = loss_->parameters();
  if (log_lr_.defined()) p.push_back(log_lr_);
  return p;
}

MetaStats AdaLFL::offline_init(MetricsWriter* metrics) {
  ML3Config c;
  c.meta_steps = cfg_.offline_steps;
  c.inner_steps = cfg_.offline_inner_steps;
  c.inner_lr = lr();
  c.learn_lr = cfg_.learn_lr;
  c.meta_lr = cfg_.meta_lr;
  c.batch_size = cfg_.batch_size;
  c.clip_norm = cfg_.clip_norm;
  c.seed = cfg_.seed;
  c.log_every = cfg_.offline_log_every;
  c.progress = cfg_.progress;
  c.label = "adalfl-offline";
  ML3 ml3(task_, loss_, c, log_lr_);  // trains phi and the shared log alpha in place
  return ml3.run(metrics);
}

OnlineStep AdaLFL::online_step(Module& model, const data::Batch& batch) {
  OnlineStep r;
  const int64_t t = step_++;
  ++report_.steps;
  const std::vector<Tensor> theta = model.parameters();
  if (momentum_.size() != theta.size()) momentum_.assign(theta.size(), Tensor());
  std::vector<Tensor> next_values, next_buf;  // detached results, applied after the graph is gone
  {
    GradMode record(true);
    Tensor base = loss_->loss(model.forward(batch.inputs), batch.targets);
    r.base_loss = base.item();
    if (!std::isfinite(r.base_loss)) {
      ++report_.skipped_base;
      return r;
    }
    GradOptions go;
    go.create_graph = true;
    std::vector<Tensor> g = grad({base}, theta, {}, go);
    if (cfg_.base_grad_hook) cfg_.base_grad_hook(t, g);
    if (!all_finite(g)) {
      ++report_.skipped_base;
      return r;
    }
    const Tensor lr = log_lr_.defined() ? exp(log_lr_.to(theta.front().dtype()))
                                        : Tensor::scalar(cfg_.lr, theta.front().dtype(), theta.front().device());
    std::vector<Tensor> dir(theta.size()), next(theta.size());
    for (size_t i = 0; i < theta.size(); ++i) {
      // PyTorch SGD: buf = mu * buf + g (buf = g on the first step); the old buf is a constant.
      dir[i] = cfg_.momentum > 0 && momentum_[i].defined() ? add(g[i], mul(momentum_[i], cfg_.momentum)) : g[i];
      next[i] = sub(theta[i], mul(dir[i], lr));
    }
    if (!all_finite(next)) {
      ++report_.skipped_base;
      return r;
    }
    r.base_ok = true;
    const data::Batch vb = valid_.next();
    Tensor meta = task_loss(model.forward_with(next, vb.inputs), vb.targets, task_.num_classes());
    r.meta_loss = meta.item();
    const std::vector<Tensor> mp = meta_parameters();
    std::vector<Tensor> mg;
    if (std::isfinite(r.meta_loss)) mg = grad({meta}, mp);
    const double sq = mg.empty() ? NAN : squared_norm(mg);
    r.meta_grad_norm = std::sqrt(sq);
    if (std::isfinite(sq)) {
      for (size_t i = 0; i < mp.size(); ++i) Tensor(mp[i]).set_grad(mg[i]);
      if (cfg_.clip_norm > 0) clip_grad_norm_(mp, cfg_.clip_norm);
      opt_->step();  // under NoGrad inside; theta' was computed with the old phi, as it must be
      opt_->zero_grad();
      r.meta_ok = true;
    } else {
      ++report_.skipped_meta;
    }
    for (size_t i = 0; i < theta.size(); ++i) {
      next_values.push_back(next[i].detach());
      if (cfg_.momentum > 0) next_buf.push_back(dir[i].detach());
    }
  }  // the step's graph is released here, before theta is written in place
  NoGrad ng;
  for (size_t i = 0; i < theta.size(); ++i) theta[i].copy_(next_values[i]);
  if (cfg_.momentum > 0) momentum_ = std::move(next_buf);
  report_.last_base_loss = r.base_loss;
  if (r.meta_ok) report_.last_meta_loss = r.meta_loss;
  return r;
}

AdaLFLReport AdaLFL::run(Module& model, Generator& order, MetricsWriter* metrics) {
  const auto t0 = std::chrono::steady_clock::now();
  report_.snapshots.push_back(snapshot(*loss_, "initial", 0));
  if (cfg_.offline_steps > 0) {
    report_.offline = offline_init(metrics);
    report_.snapshots.push_back(snapshot(*loss_, "offline init", 0));
  }
  // The same batch order as train_supervised: a fresh shuffle from `order` at each epoch start.
  data::BatchSampler sampler(task_.train, data::SamplerOptions{cfg_.batch_size, true, false});
  const int64_t per_epoch = sampler.num_batches();
  const int64_t total = cfg_.epochs > 0 ? cfg_.epochs * per_epoch : cfg_.steps;
  std::set<int64_t> snap_at;
  for (int64_t k = 1; k <= cfg_.snapshots && total > 0; ++k) snap_at.insert(std::max<int64_t>(1, total * k / cfg_.snapshots));
  model.train();
  // Plain progress lines (not on a terminal) about every twentieth of the run.
  Progress progress("adalfl-online", total, std::max<int64_t>(cfg_.log_every, total / 20), stderr);
  double base_sum = 0, meta_sum = 0, norm_sum = 0;
  int64_t base_n = 0, meta_n = 0;
  for (int64_t s = 0; s < total; ++s) {
    const int64_t b = s % per_epoch;
    if (b == 0) sampler.start_epoch(order);
    const OnlineStep r = online_step(model, sampler.batch(b));
    if (r.base_ok) {
      base_sum += r.base_loss;
      ++base_n;
    }
    if (r.meta_ok) {
      meta_sum += r.meta_loss;
      norm_sum += r.meta_grad_norm;
      ++meta_n;
    }
    if (cfg_.progress) progress.update(s + 1, r.meta_loss);
    if (snap_at.count(s + 1)) report_.snapshots.push_back(snapshot(*loss_, "step " + std::to_string(s + 1), s + 1));
    if ((s + 1) % cfg_.log_every != 0 && s + 1 != total) continue;
    const double norm_mean = meta_n ? norm_sum / double(meta_n) : NAN;
    report_.meta_grad_norms.emplace_back(s + 1, norm_mean);
    if (metrics) {
      metrics->write({{"seed", double(cfg_.seed)},
                      {"step", double(s + 1)},
                      {"epoch", double(s + 1) / double(per_epoch)},
                      {"base_loss", base_n ? base_sum / double(base_n) : NAN},
                      {"meta_loss", meta_n ? meta_sum / double(meta_n) : NAN},
                      {"meta_grad_norm", r.meta_grad_norm},
                      {"meta_grad_norm_mean", norm_mean},
                      {"skipped_base", double(report_.skipped_base)},
                      {"skipped_meta", double(report_.skipped_meta)},
                      {"lr", lr()},
                      {"seconds", since(t0)}},
                     {{"phase", "adalfl-online"}});
    }
    base_sum = meta_sum = norm_sum = 0;
    base_n = meta_n = 0;
  }
  if (cfg_.progress) progress.finish();
  report_.lr = lr();
  report_.seconds = since(t0);
  return report_;
}

}  // namespace metaloss::learn
