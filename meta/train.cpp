#include "meta/train.h"

#include <chrono>
#include <cmath>
#include <stdexcept>

#include "meta/losses/losses.h"
#include "models/layers.h"

namespace metaloss {

Tensor supervised_loss(const std::string& name, const Tensor& out, const Tensor& targets, int64_t num_classes) {
  if (name == "ce") {
    if (num_classes <= 0) throw std::invalid_argument("loss 'ce' needs a classification dataset");
    return cross_entropy(out, targets);
  }
  if (name == "mse") {
    if (num_classes > 0) return mse_loss(softmax(out, 1), one_hot(targets, num_classes, out.dtype()));
    return mse_loss(out, reshape(targets, out.shape().vec()));
  }
  if (name == "focal" || name == "lsr" || name == "sparse_lsr" || name == "l1") {
    if ((name == "l1") != (num_classes == 0))
      throw std::invalid_argument("loss '" + name + "' is for " + (name == "l1" ? "regression" : "classification") + " datasets");
    static const auto focal = losses::make_loss("focal"), lsr = losses::make_loss("lsr"),
                      sparse = losses::make_loss("sparse_lsr"), l1 = losses::make_loss("l1");
    const auto& f = name == "focal" ? focal : name == "lsr" ? lsr : name == "sparse_lsr" ? sparse : l1;
    return f(out, name == "l1" ? reshape(targets, out.shape().vec()) : targets);
  }
  throw std::invalid_argument("unknown loss '" + name + "' (known: ce, mse, focal, lsr, sparse_lsr, l1)");
}

TrainReport train_supervised(Module& model, Optimizer& opt, const data::Dataset& train, const TrainOptions& o,
                             Generator& gen, MetricsWriter* metrics) {
  if (o.batch_size <= 0) throw std::invalid_argument("batch size must be positive, got " + std::to_string(o.batch_size));
  if (train.size() == 0) throw std::invalid_argument("training set '" + train.name + "' is empty");
  data::BatchSampler sampler(train, data::SamplerOptions{o.batch_size, o.shuffle, false});
  const int64_t per_epoch = sampler.num_batches();
  const int64_t total = o.epochs > 0 ? o.epochs * per_epoch : o.steps;
  TrainReport r;
  if (total <= 0) return r;
  std::unique_ptr<CosineAnnealingLR> cosine;
  std::unique_ptr<MultiStepLR> multistep;
  if (o.lr_schedule == "cosine") {
    cosine = std::make_unique<CosineAnnealingLR>(opt, total);
  } else if (o.lr_schedule == "step") {
    if (o.lr_milestones.empty()) throw std::invalid_argument("lr schedule 'step' needs at least one milestone (in epochs)");
    std::vector<int64_t> at;
    for (double m : o.lr_milestones) {
      if (!(m > 0) || !std::isfinite(m))
        throw std::invalid_argument("lr milestone must be a positive, finite number of epochs, got " + std::to_string(m));
      at.push_back(std::max<int64_t>(1, std::llround(m * double(per_epoch))));  // never before the first step
    }
    multistep = std::make_unique<MultiStepLR>(opt, at, o.lr_gamma);
  } else if (o.lr_schedule != "none") {
    throw std::invalid_argument("unknown lr schedule '" + o.lr_schedule + "' (known: none, cosine, step)");
  }
  const bool images = train.inputs.dim() == 4;
  const Device dev = model_device(model);  // batches go where the parameters are
  model.train();
  Progress progress("train", total, o.log_every, stderr);
  const auto t0 = std::chrono::steady_clock::now();
  double interval_loss = 0;
  int64_t interval_n = 0;
  for (int64_t step = 0; step < total; ++step) {
    const int64_t b = step % per_epoch;
    if (b == 0) sampler.start_epoch(gen);
    data::Batch batch = sampler.batch(b);
    Tensor x = (o.augment && images) ? data::random_crop_flip(batch.inputs, gen) : batch.inputs;
    const Tensor targets = batch.targets.to(dev);
    const Tensor out = model.forward(x.to(dev));
    Tensor loss = o.loss_fn ? o.loss_fn(out, targets) : supervised_loss(o.loss, out, targets, train.num_classes);
    const double lv = loss.item();
    if (!std::isfinite(lv))
      throw std::runtime_error("training diverged: the " + o.loss + " loss is " + std::to_string(lv) + " at step " +
                               std::to_string(step + 1) + " of " + std::to_string(total) +
                               " (try a smaller learning rate)");
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (cosine) cosine->step();
    if (multistep) multistep->step();
    r.steps = step + 1;
    r.last_loss = lv;
    if (o.time_limit > 0 && step + 1 < total) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (secs > o.time_limit)
        throw std::runtime_error("over its time budget of " + std::to_string(o.time_limit) + " s after step " +
                                 std::to_string(step + 1) + " of " + std::to_string(total));
    }
    interval_loss += lv;
    ++interval_n;
    if (o.progress) progress.update(step + 1, lv);
    if (metrics && ((step + 1) % o.log_every == 0 || step + 1 == total)) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      // "loss": the mean over the steps since the last line; "batch_loss": this step's (the console's).
      std::map<std::string, double> line = o.metrics_numbers;
      line.insert({{"step", double(step + 1)},
                   {"epoch", double(step + 1) / double(per_epoch)},
                   {"loss", interval_loss / double(interval_n)},
                   {"batch_loss", lv},
                   {"seconds", secs}});
      line["lr"] = opt.lr();  // (the current rate, under a schedule)
      metrics->write(line, o.metrics_labels);
      interval_loss = 0;
      interval_n = 0;
    }
  }
  if (o.progress) progress.finish();
  // The loss of the last step is checked before its update; the update itself can still overflow
  // (a huge learning rate), so the parameters are checked once at the end: a non-finite model is
  // a failed run, never a saved result.
  {
    NoGrad no_grad;
    const NamedTensors params = model.named_parameters();
    for (const auto& [name, p] : params) {
      if (!std::isfinite(sum(mul(p, 0.0)).item()))  // 0 * x is 0 for finite x, NaN for inf and NaN
        throw std::runtime_error("training diverged: parameter '" + name + "' is non-finite after the last step (" +
                                 std::to_string(r.steps) + " of " + std::to_string(total) +
                                 "; try a smaller learning rate)");
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

namespace {
template <class F>
void for_batches(Module& model, const data::Dataset& d, int64_t batch, F f) {
  if (batch <= 0) throw std::invalid_argument("evaluation batch size must be positive");
  const bool was_training = model.is_training();
  model.eval();
  NoGrad ng;
  const Device dev = model_device(model);
  for (int64_t start = 0; start < d.size(); start += batch) {
    const int64_t end = std::min(d.size(), start + batch);
    f(model.forward(slice(d.inputs, 0, start, end).to(dev)), slice(d.targets, 0, start, end).to(dev), end - start);
  }
  model.train(was_training);
}
}  // namespace

double evaluate_accuracy(Module& model, const data::Dataset& d, int64_t batch) {
  if (!d.is_classification()) throw std::invalid_argument("accuracy needs a classification dataset, '" + d.name + "' is not");
  if (d.size() == 0) return 0;
  double correct = 0;
  for_batches(model, d, batch, [&](const Tensor& out, const Tensor& y, int64_t) {
    correct += sum(eq(argmax(out, 1), y)).item();  // the first maximum is the prediction
  });
  return correct / double(d.size());
}

double evaluate_loss(Module& model, const data::Dataset& d, const std::string& loss, int64_t batch) {
  if (d.size() == 0) return 0;
  double total = 0;
  for_batches(model, d, batch, [&](const Tensor& out, const Tensor& y, int64_t n) {
    total += supervised_loss(loss, out, y, d.num_classes).item() * double(n);
  });
  return total / double(d.size());
}

Device model_device(Module& m) {
  auto ps = m.parameters();
  return ps.empty() ? Device::cpu() : ps.front().device();
}

void disable_dropout(Module& m) {
  if (auto* d = dynamic_cast<Dropout*>(&m)) d->set_p(0);
  for (auto& [name, child] : m.children()) disable_dropout(*child);
}

}  // namespace metaloss
