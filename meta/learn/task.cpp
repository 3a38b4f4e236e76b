#include "meta/learn/task.h"

#include <cmath>
#include <stdexcept>

#include "meta/train.h"
#include "models/layers.h"

namespace metaloss::learn {

void LearnTask::validate() const {
  if (train.size() == 0) throw std::invalid_argument("loss learning: the training split is empty");
  if (valid.size() == 0)
    throw std::invalid_argument("loss learning: the validation split is empty (the meta-objective needs held-out data)");
  if (train.num_classes != valid.num_classes)
    throw std::invalid_argument("loss learning: training and validation splits disagree on the number of classes");
  if (!make_model) throw std::invalid_argument("loss learning: no base-model factory");
}

Tensor task_loss(const Tensor& out, const Tensor& targets, int64_t num_classes) {
  return supervised_loss(num_classes > 0 ? "ce" : "mse", out, targets, num_classes);
}

double squared_norm(const std::vector<Tensor>& ts) {
  NoGrad ng;
  double s = 0;
  for (const Tensor& t : ts)
    if (t.defined()) s += sum(square(t.to(DType::Float64))).item();
  return s;
}

bool all_finite(const std::vector<Tensor>& ts) { return std::isfinite(squared_norm(ts)); }

const std::vector<std::string>& regression_model_names() {
  static const std::vector<std::string> names = {"linear", "mlp"};
  return names;
}

std::shared_ptr<Module> make_regression_model(const std::string& name, int64_t in, Generator& gen) {
  if (name == "linear") return std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{std::make_shared<Linear>(in, 1, true, gen)});
  if (name == "mlp")
    return std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
        std::make_shared<Linear>(in, 100, true, gen), std::make_shared<ReLU>(), std::make_shared<Linear>(100, 100, true, gen),
        std::make_shared<ReLU>(), std::make_shared<Linear>(100, 1, true, gen)});
  throw std::invalid_argument("unknown regression model '" + name + "' (known: linear, mlp)");
}

ModelFactory on_device(ModelFactory factory, Device device) {
  if (device == Device::cpu()) return factory;
  return [factory = std::move(factory), device](Generator& gen) {
    std::shared_ptr<Module> m = factory(gen);
    m->to(device);
    return m;
  };
}

std::function<Tensor(const Tensor&, const Tensor&)> frozen_loss(const losses::LearnedLoss& loss) {
  Generator scratch(0);  // weights are overwritten below
  auto copy = std::make_shared<losses::LearnedLoss>(loss.config(), scratch);
  const DType dt = loss.parameters().front().dtype();
  if (dt != DType::Float32) copy->to(dt);
  copy->to(loss.parameters().front().device());
  copy->load_state_dict(loss.state_dict());
  for (Tensor p : copy->parameters()) p.set_requires_grad(false);  // handles share the parameter
  return [copy](const Tensor& out, const Tensor& y) { return copy->loss(out, y); };
}

LossSnapshot snapshot(const losses::LearnedLoss& loss, std::string label, int64_t step) {
  LossSnapshot s{std::move(label), step, {}};
  // Host copies: snapshots feed plots and loss files, and load back onto any device.
  for (const auto& [name, t] : loss.state_dict()) s.phi.emplace_back(name, t.detach().cpu().clone());
  return s;
}

BatchStream::BatchStream(const data::Dataset& d, int64_t batch_size, Generator& gen)
    : sampler_(d, data::SamplerOptions{batch_size, true, false}), gen_(&gen) {}

data::Batch BatchStream::next() {
  if (next_ == 0) sampler_.start_epoch(*gen_);
  data::Batch b = sampler_.batch(next_);
  next_ = (next_ + 1) % sampler_.num_batches();
  return b;
}

}  // namespace metaloss::learn
