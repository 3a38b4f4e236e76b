#include "meta/fewshot/learner.h"

#include <cmath>
#include <stdexcept>

#include "models/init.h"
#include "models/optim.h"

namespace metaloss::fewshot {
namespace {

// torch.nn's default initialisation of a conv or linear layer (kaiming uniform, a = sqrt(5), and
// a bias uniform in +-1/sqrt(fan_in)), so the Conv-4 starts as the PyTorch reference ones do.
Tensor layer_weight(const Shape& s, DType dt, Generator& gen) {
  return init::kaiming_uniform_(Tensor::empty(s, dt), std::sqrt(5.0), gen);
}
Tensor layer_bias(int64_t n, int64_t fan_in, DType dt, Generator& gen) {
  const double b = 1.0 / std::sqrt(double(fan_in));
  return init::uniform_(Tensor::empty(Shape{n}, dt), -b, b, gen);
}

// The spatial size after `blocks` (3x3 conv, padding 1) + 2x2 max-pool stages.
int64_t pooled_size(int64_t size, int64_t blocks) {
  for (int64_t b = 0; b < blocks; ++b) size /= 2;
  return size;
}

}  // namespace

size_t Learner::add_meta(const std::string& name, Tensor t) {
  t.set_requires_grad(true);
  meta_.emplace_back(name, t);
  return meta_.size() - 1;
}

Learner::Learner(const LearnerConfig& c) : c_(c) {
  if (c.method != "maml" && c.method != "metasgd" && c.method != "npbml")
    throw std::invalid_argument("few-shot learner: unknown method '" + c.method + "' (expected maml, metasgd or npbml)");
  if (c.ways < 2 || c.hidden < 1 || c.blocks < 1 || c.inner_steps < 1 || !(c.inner_lr > 0))
    throw std::invalid_argument("few-shot learner: need ways >= 2, hidden >= 1, blocks >= 1, inner_steps >= 1, inner_lr > 0");
  const int64_t side = pooled_size(c.image_size, c.blocks);
  if (side < 1)
    throw std::invalid_argument("few-shot learner: " + std::to_string(c.blocks) + " pooling blocks leave nothing of " +
                                std::to_string(c.image_size) + "x" + std::to_string(c.image_size) + " images");
  feature_dim_ = c.hidden * side * side;
  const bool npbml = c.method == "npbml";
  if (npbml && c.learned_loss && c.second_order_steps == 0)
    throw std::invalid_argument("few-shot learner: npbml with first-order unrolling would never train its learned loss "
                                "(its meta-gradient is a second-order term); use --second-order-steps N >= 1 (truncated) "
                                "or --no-learned-loss");
  const bool film = npbml && c.film, warp = npbml && c.warp;
  Generator gen(c.seed);
  const DType dt = c.dtype;
  const int64_t H = c.hidden;
  // The backbone: conv weights/biases adapt in every method; MAML and Meta-SGD also adapt the
  // batch-norm affine parameters (as the reference MAML), NPBML keeps them meta-learned only.
  struct Slot {
    size_t meta;
    bool fast;
  };
  std::vector<Slot> order;
  for (int64_t b = 0; b < c.blocks; ++b) {
    const int64_t in = b == 0 ? c.in_channels : H;
    const std::string p = "block" + std::to_string(b) + ".";
    Block blk{};
    blk.conv_w = add_meta(p + "conv.weight", layer_weight(Shape{H, in, 3, 3}, dt, gen));
    blk.conv_b = add_meta(p + "conv.bias", layer_bias(H, in * 9, dt, gen));
    blk.bn_w = add_meta(p + "bn.weight", Tensor::ones(Shape{H}, dt));
    blk.bn_b = add_meta(p + "bn.bias", Tensor::zeros(Shape{H}, dt));
    order.push_back({blk.conv_w, true});
    order.push_back({blk.conv_b, true});
    order.push_back({blk.bn_w, !npbml});
    order.push_back({blk.bn_b, !npbml});
    // FiLM generators (from the block's channel-averaged input) start at zero: the block starts
    // as the plain backbone.
    if (film) {
      blk.film = add_meta(p + "film.weight", Tensor::zeros(Shape{2 * H, in}, dt));
      add_meta(p + "film.bias", Tensor::zeros(Shape{2 * H}, dt));
    }
    if (warp) {  // 3x3 conv initialised to the identity (a Dirac kernel), then BN (+ FiLM)
      Tensor w = Tensor::zeros(Shape{H, H, 3, 3}, dt);
      {
        std::vector<double> v(size_t(H * H * 9), 0.0);
        for (int64_t k = 0; k < H; ++k) v[size_t(((k * H + k) * 3 + 1) * 3 + 1)] = 1.0;
        w = Tensor::from_vector(v, Shape{H, H, 3, 3}, dt);
      }
      blk.warp_w = add_meta(p + "warp.conv.weight", w);
      blk.warp_bn_w = add_meta(p + "warp.bn.weight", Tensor::ones(Shape{H}, dt));
      blk.warp_bn_b = add_meta(p + "warp.bn.bias", Tensor::zeros(Shape{H}, dt));
      if (film) {
        blk.warp_film = add_meta(p + "warp.film.weight", Tensor::zeros(Shape{2 * H, H}, dt));
        add_meta(p + "warp.film.bias", Tensor::zeros(Shape{2 * H}, dt));
      }
    }
    blocks_.push_back(blk);
  }
  // The adapted tensors, in the order forward() reads them from the fast list.
  for (const Slot& s : order)
    if (s.fast) fast_init_.push_back(s.meta);
  if (npbml) {
    // Permutation-invariant head: one row (and bias) shared by every class, copied per task.
    head_row_ = add_meta("head.row", layer_weight(Shape{1, feature_dim_}, dt, gen));
    head_bias_ = add_meta("head.bias", Tensor::zeros(Shape{1}, dt));
  } else {
    const size_t w = add_meta("head.weight", layer_weight(Shape{c.ways, feature_dim_}, dt, gen));
    const size_t b = add_meta("head.bias", layer_bias(c.ways, feature_dim_, dt, gen));
    fast_init_.push_back(w);
    fast_init_.push_back(b);
  }
  head_w_ = fast_init_.size() - (npbml ? 0 : 2);
  head_b_ = head_w_ + 1;
  if (npbml && c.learned_loss) {
    // Small MLPs (c.loss_hidden units), FiLM-conditioned on a task embedding (the support set's
    // mean loss-network input). The last layer starts at zero, so the inner loss starts as CE.
    const int64_t emb = 2 * c.ways + 1, L = c.loss_hidden;
    // Slots: 0.weight, 0.bias, 1.weight, 1.bias, 2.weight, 2.bias, then (with FiLM) film.weight,
    // film.bias; the --no-film ablation removes this conditioning too.
    auto mlp = [&](const std::string& name, int64_t in) {
      const size_t first = add_meta(name + ".0.weight", layer_weight(Shape{L, in}, dt, gen));
      add_meta(name + ".0.bias", layer_bias(L, in, dt, gen));
      add_meta(name + ".1.weight", layer_weight(Shape{L, L}, dt, gen));
      add_meta(name + ".1.bias", layer_bias(L, L, dt, gen));
      add_meta(name + ".2.weight", Tensor::zeros(Shape{1, L}, dt));
      add_meta(name + ".2.bias", Tensor::zeros(Shape{1}, dt));
      if (film) {
        add_meta(name + ".film.weight", Tensor::zeros(Shape{2 * L, emb}, dt));
        add_meta(name + ".film.bias", Tensor::zeros(Shape{2 * L}, dt));
      }
      return first;
    };
    ind_loss_ = mlp("loss.support", emb);                                   // logits, one-hot, CE
    pen_loss_ = mlp("loss.penalty", 2 * int64_t(fast_init_.size() + 2));   // mean, mean square per tensor
    if (c.transductive) trans_loss_ = mlp("loss.query", 2 * c.ways);       // logits, softmax
  }
  if (c.method == "metasgd")
    for (size_t k = 0; k < fast_init_.size(); ++k)
      lr_.push_back(add_meta(meta_[fast_init_[k]].first + ".lr", Tensor::full(m(fast_init_[k]).shape(), c.inner_lr, dt)));
}

std::vector<Tensor> Learner::meta_tensors() const {
  std::vector<Tensor> v;
  for (const auto& kv : meta_) v.push_back(kv.second);
  return v;
}

int64_t Learner::num_meta_parameters() const {
  int64_t n = 0;
  for (const auto& kv : meta_) n += kv.second.numel();
  return n;
}

void Learner::to(Device d) {
  for (auto& kv : meta_)
    if (kv.second.device() != d) kv.second = kv.second.detach().to(d).set_requires_grad(true);
}

void Learner::load_meta_parameters(const NamedTensors& values) {
  for (auto& [name, t] : meta_) {
    const Tensor* src = nullptr;
    for (const auto& kv : values)
      if (kv.first == name) src = &kv.second;
    if (!src) throw std::invalid_argument("few-shot checkpoint: no tensor '" + name + "' (expected " + t.desc() + ")");
    if (src->shape() != t.shape())
      throw std::invalid_argument("few-shot checkpoint: tensor '" + name + "' is " + src->desc() + ", expected " + t.desc());
    NoGrad ng;
    t.copy_(cast(*src, t.dtype()));
  }
}

std::string Learner::describe() const {
  std::string s = c_.method + " on Conv-" + std::to_string(c_.blocks) + " (" + std::to_string(c_.hidden) +
                  " channels), " + std::to_string(c_.inner_steps) + " inner steps, lr " + std::to_string(c_.inner_lr);
  if (c_.method == "npbml")
    s += std::string(", learned loss ") + (c_.learned_loss ? "on" : "off") + ", warp " + (c_.warp ? "on" : "off") +
         ", FiLM " + (c_.film ? "on" : "off");
  return s + ", " + std::to_string(num_meta_parameters()) + " meta-parameters";
}

// FiLM: (gamma, beta) = Linear(channel-averaged block input), z -> (1 + gamma) z + beta. The
// average runs over the whole batch (the task's examples), so it conditions on the task the way
// batch norm's statistics do. It must be taken before normalisation: the mean of a batch-normed
// z is just its bias, the same for every task.
Tensor Learner::film(const Tensor& z, const Tensor& input, size_t slot) const {
  const int64_t C = z.shape()[1], Cin = input.shape()[1];
  Tensor ctx = reshape(mean(input, {0, 2, 3}), {1, Cin});
  Tensor gb = linear(ctx, m(slot), m(slot + 1));  // [1, 2C]
  Tensor gamma = reshape(slice(gb, 1, 0, C), {1, C, 1, 1});
  Tensor beta = reshape(slice(gb, 1, C, 2 * C), {1, C, 1, 1});
  return add(mul(z, add(gamma, 1.0)), beta);
}

Tensor Learner::forward(const std::vector<Tensor>& fast, const Tensor& x) const {
  const bool npbml = c_.method == "npbml";
  // The backbone tensors in fast come in block order: conv w, conv b (+ bn w, bn b unless NPBML).
  size_t f = 0;
  Tensor z = x;
  for (const Block& blk : blocks_) {
    const Tensor& w = fast[f++];
    const Tensor& b = fast[f++];
    Tensor bw = npbml ? m(blk.bn_w) : fast[f++];
    Tensor bb = npbml ? m(blk.bn_b) : fast[f++];
    const Tensor in = z;
    z = conv2d(z, w, b, 1, 1);
    z = batch_norm(z, Tensor(), Tensor(), bw, bb, true);  // batch statistics, as MAML (transductive)
    if (blk.film) z = film(z, in, blk.film);
    z = max_pool2d(relu(z), 2);
    if (blk.warp_w) {
      const Tensor win = z;
      z = conv2d(z, m(blk.warp_w), Tensor(), 1, 1);
      z = batch_norm(z, Tensor(), Tensor(), m(blk.warp_bn_w), m(blk.warp_bn_b), true);
      if (blk.warp_film) z = film(z, win, blk.warp_film);
    }
  }
  return linear(flatten(z, 1), fast[head_w_], fast[head_b_]);
}

// loss MLP: in -> L (FiLM from the task embedding) -> ReLU -> L -> ReLU -> 1.
Tensor Learner::loss_mlp(const Tensor& in, size_t s, const Tensor& emb) const {
  const int64_t L = c_.loss_hidden;
  Tensor h = linear(in, m(s), m(s + 1));
  if (c_.film) {
    Tensor gb = linear(emb, m(s + 6), m(s + 7));  // [1, 2L]
    h = add(mul(h, add(slice(gb, 1, 0, L), 1.0)), slice(gb, 1, L, 2 * L));
  }
  h = relu(linear(relu(h), m(s + 2), m(s + 3)));
  return linear(h, m(s + 4), m(s + 5));  // [n, 1]
}

Tensor Learner::inner_loss(const std::vector<Tensor>& fast, const Tensor& logits, const Tensor& labels,
                           const Tensor& query_logits) const {
  Tensor loss = cross_entropy(logits, labels);
  if (c_.method != "npbml" || !c_.learned_loss) return loss;
  Tensor onehot = one_hot(labels, c_.ways, logits.dtype());
  Tensor ce = neg(sum(mul(log_softmax(logits, 1), onehot), {1}, true));  // [n, 1]
  Tensor feats = cat({logits, onehot, ce}, 1);                            // [n, 2N + 1]
  Tensor emb = mean(feats, {0}, true);                                    // [1, 2N + 1]
  loss = add(loss, mean(loss_mlp(feats, ind_loss_, emb)));
  // Penalty on parameter statistics: mean and mean square of each adapted tensor.
  std::vector<Tensor> stats;
  for (const Tensor& t : fast) {
    stats.push_back(reshape(mean(t), {1, 1}));
    stats.push_back(reshape(mean(square(t)), {1, 1}));
  }
  loss = add(loss, sum(loss_mlp(cat(stats, 1), pen_loss_, emb)));
  if (c_.transductive && query_logits.defined())
    loss = add(loss, mean(loss_mlp(cat({query_logits, softmax(query_logits, 1)}, 1), trans_loss_, emb)));
  return loss;
}

Adapted Learner::adapt(const data::Episode& task, bool record) const {
  GradMode on(true);  // the inner loop needs gradients even when called from a no-grad evaluation
  const bool npbml = c_.method == "npbml";
  Adapted a;
  for (size_t k = 0; k < fast_init_.size(); ++k) a.fast.push_back(m(fast_init_[k]));
  if (npbml) {  // the shared row copied into every class: W [N, D], b [N]
    a.fast.push_back(expand(m(head_row_), Shape{c_.ways, feature_dim_}));
    a.fast.push_back(expand(m(head_bias_), Shape{c_.ways}));
  }
  if (!record)
    for (Tensor& t : a.fast) t = contiguous(t).detach().set_requires_grad(true);
  const Tensor sx = cast(task.support_x, c_.dtype), qx = cast(task.query_x, c_.dtype);
  const int so = c_.second_order_steps < 0 ? c_.inner_steps : c_.second_order_steps;
  for (int s = 0; s < c_.inner_steps; ++s) {
    Tensor logits = forward(a.fast, sx);
    Tensor ql = npbml && c_.learned_loss && c_.transductive ? forward(a.fast, qx) : Tensor();
    Tensor loss = inner_loss(a.fast, logits, task.support_y, ql);
    a.support_loss.push_back(loss.item());
    GradOptions go;
    go.create_graph = record && s >= c_.inner_steps - so;
    Grads g = grad({loss}, a.fast, {}, go);
    if (!go.create_graph)  // first-order steps: the update is a constant of the meta-parameters
      for (Tensor& gk : g) gk = gk.detach();
    // The inner update is models/optim.h's differentiable SGD (Meta-SGD: one rate tensor per
    // parameter tensor, elementwise).
    if (lr_.empty()) {
      a.fast = sgd_update(a.fast, g, c_.inner_lr);
    } else {
      for (size_t k = 0; k < a.fast.size(); ++k) a.fast[k] = sgd_update({a.fast[k]}, {g[k]}, m(lr_[k]))[0];
    }
    if (!record)
      for (Tensor& t : a.fast) t = t.detach().set_requires_grad(true);
  }
  return a;
}

QueryResult Learner::query(const Adapted& a, const data::Episode& task) const {
  QueryResult r;
  Tensor logits = forward(a.fast, cast(task.query_x, c_.dtype));
  r.loss = cross_entropy(logits, task.query_y);
  const Tensor hit = eq(argmax(logits.detach(), 1), task.query_y);
  r.accuracy = mean(cast(hit, DType::Float64)).item();
  return r;
}

double ci95(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  double mu = 0, ss = 0;
  for (double x : v) mu += x;
  mu /= double(v.size());
  for (double x : v) ss += (x - mu) * (x - mu);
  return 1.96 * std::sqrt(ss / double(v.size() - 1)) / std::sqrt(double(v.size()));
}

}  // namespace metaloss::fewshot
