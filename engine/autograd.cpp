#include "engine/autograd.h"

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <memory>
#include <utility>
#include <vector>

#include "engine/op_names.h"
#include "engine/ops.h"
#include "kernels/profiler.h"

namespace metaloss {

// ---- recording switches ------------------------------------------------------------------
namespace {
thread_local bool t_grad_mode = true;
thread_local Tape* t_tape = nullptr;
// While a backward pass runs a node's rule with create_graph, nodes it records are tagged with it.
thread_local const Node* t_backward_of = nullptr;
std::atomic<uint64_t> g_seq{0};
}  // namespace

bool grad_mode_enabled() { return t_grad_mode; }
void set_grad_mode(bool on) { t_grad_mode = on; }

Tape::Tape() : parent_(t_tape), prev_mode_(t_grad_mode) {
  t_tape = this;
  t_grad_mode = true;
}
Tape::~Tape() {
  t_tape = parent_;
  t_grad_mode = prev_mode_;
  if (parent_)
    for (auto& w : nodes_)
      if (!w.expired()) parent_->nodes_.push_back(w);
}
Tape* Tape::current() { return t_tape; }
void Tape::add(const std::shared_ptr<Node>& n) {
  if (nodes_.size() >= prune_at_) {
    std::erase_if(nodes_, [](const std::weak_ptr<Node>& w) { return w.expired(); });
    prune_at_ = std::max<size_t>(1024, 2 * nodes_.size());
  }
  nodes_.push_back(n);
}
std::vector<std::shared_ptr<Node>> Tape::nodes() const {
  std::vector<std::shared_ptr<Node>> out;
  for (auto& w : nodes_)
    if (auto n = w.lock()) out.push_back(std::move(n));
  return out;
}

// ---- saved tensors -----------------------------------------------------------------------
SavedTensor::SavedTensor(const Tensor& t, bool is_output) : is_output_(is_output) {
  if (!t.defined()) return;
  version_ = t.version();
  if (is_output) {
    // Keep the data, drop grad_fn (it is the node that owns this SavedTensor).
    data_ = std::allocate_shared<TensorImpl>(PoolAllocator<TensorImpl>{});
    data_->storage = t.storage();
    data_->offset = t.offset();
    data_->shape = t.shape();
    data_->strides = t.strides();
    data_->dtype = t.dtype();
  } else {
    data_ = t.impl_ptr();
  }
}

Tensor SavedTensor::unpack(const std::shared_ptr<Node>& owner, const char* op) const {
  if (!data_) return Tensor();
  if (data_->storage->version != version_)
    throw std::runtime_error(std::string("backward of op '") + op + "': a tensor it saved (" + dtype_name(data_->dtype) +
                             data_->shape.str() + ") was modified in place after it was saved (version " +
                             std::to_string(version_) + ", now " + std::to_string(data_->storage->version) +
                             "); its gradient would be wrong. Clone the tensor before modifying it.");
  if (!is_output_) return Tensor(data_);
  if (!grad_mode_enabled()) return Tensor(data_);  // a plain value is all a first-order pass needs
  auto t = std::allocate_shared<TensorImpl>(PoolAllocator<TensorImpl>{}, *data_);
  t->grad_fn = owner;
  t->requires_grad = true;
  return Tensor(std::move(t));
}

// ---- building the graph ------------------------------------------------------------------
bool should_record(const std::vector<Tensor>& inputs) {
  if (!grad_mode_enabled()) return false;
  for (const auto& t : inputs)
    if (t.requires_grad()) return true;
  return false;
}

std::shared_ptr<Node> gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return nullptr;
  TensorImpl* impl = t.impl();
  if (impl->grad_fn) return impl->grad_fn;
  if (!impl->grad_accumulator) {
    auto acc = std::allocate_shared<AccumulateGrad>(PoolAllocator<AccumulateGrad>{});
    acc->name = "leaf";
    acc->leaf = t.impl_ptr();
    acc->out_shape = t.shape();
    acc->out_dtype = t.dtype();
    acc->seq = g_seq.fetch_add(1, std::memory_order_relaxed);
    impl->grad_accumulator = std::move(acc);
  }
  return impl->grad_accumulator;
}

namespace {
std::atomic<RecordObserver> g_record_observer{nullptr};
}

RecordObserver set_record_observer(RecordObserver observer) { return g_record_observer.exchange(observer); }

void attach_node(const std::shared_ptr<Node>& node, const Tensor* inputs, size_t n_inputs, Tensor& out,
                 const Tensor* saved, size_t n_saved) {
#ifndef NDEBUG  // (the sanitize preset's tests; a release build does not pay for the lookup)
  if (!is_op_name(node->name))
    throw std::logic_error(std::string("record: op '") + node->name +
                           "' is not in engine/op_names.h (add it there, and an op record to tests/op_records.cpp)");
#endif
  if (RecordObserver obs = g_record_observer.load(std::memory_order_relaxed)) obs(node->name);
  node->seq = g_seq.fetch_add(1, std::memory_order_relaxed);
  node->next.reserve(n_inputs);
  for (size_t i = 0; i < n_inputs; ++i) node->next.push_back(gradient_edge(inputs[i]));
  node->saved.reserve(n_saved);
  for (size_t i = 0; i < n_saved; ++i) node->saved.emplace_back(saved[i], saved[i].same(out));
  node->out_shape = out.shape();
  node->out_dtype = out.dtype();
  if (t_backward_of) {
    node->origin_seq = t_backward_of->seq;
    node->origin_name = t_backward_of->name;
  }
  out.impl()->grad_fn = node;
  out.impl()->requires_grad = true;
  if (t_tape) t_tape->add(node);
}

// ---- the backward engine -----------------------------------------------------------------
namespace {

// Whether `small` broadcasts to `big` (NumPy rules, aligned from the right): `big` is then a
// gradient sum_to can reduce to `small`.
bool is_broadcast_of(const Shape& big, const Shape& small) {
  if (small.size() > big.size()) return false;
  for (int i = 1; i <= small.size(); ++i)
    if (small[small.size() - i] != 1 && small[small.size() - i] != big[big.size() - i]) return false;
  return true;
}

using NodeList = std::vector<std::shared_ptr<Node>, PoolAllocator<std::shared_ptr<Node>>>;
using TensorList = std::vector<Tensor, PoolAllocator<Tensor>>;

// Marks and positions of leaf accumulators during one walk: an open-addressing table of node
// pointers whose memory is kept between walks (clear() only resets the keys).
class LeafTable {
 public:
  void clear() {
    if (count_ == 0) return;
    std::fill(keys_.begin(), keys_.end(), nullptr);
    count_ = 0;
  }
  const int* find(const Node* k) const {
    if (keys_.empty()) return nullptr;
    const size_t mask = keys_.size() - 1;
    for (size_t i = slot(k) & mask;; i = (i + 1) & mask) {
      if (keys_[i] == k) return &vals_[i];
      if (!keys_[i]) return nullptr;
    }
  }
  void set(const Node* k, int v) {
    if (const int* p = find(k)) {
      vals_[size_t(p - vals_.data())] = v;
      return;
    }
    if ((count_ + 1) * 2 > keys_.size()) grow();
    insert(k, v);
  }

 private:
  static size_t slot(const Node* k) {
    uint64_t h = uint64_t(reinterpret_cast<uintptr_t>(k) >> 4) * 0x9E3779B97F4A7C15ull;
    return size_t(h ^ (h >> 29));
  }
  void insert(const Node* k, int v) {
    const size_t mask = keys_.size() - 1;
    size_t i = slot(k) & mask;
    while (keys_[i]) i = (i + 1) & mask;
    keys_[i] = k;
    vals_[i] = v;
    ++count_;
  }
  void grow() {
    std::vector<const Node*> old_keys(std::max<size_t>(16, keys_.size() * 2), nullptr);
    std::vector<int> old_vals(old_keys.size(), 0);
    old_keys.swap(keys_);
    old_vals.swap(vals_);
    count_ = 0;
    for (size_t i = 0; i < old_keys.size(); ++i)
      if (old_keys[i]) insert(old_keys[i], old_vals[i]);
  }
  std::vector<const Node*> keys_;
  std::vector<int> vals_;
  size_t count_ = 0;
};

// The buffers of one graph walk, kept with their capacity between walks so a steady-state
// training loop sorts and sweeps its graph without the system allocator. A hook or backward rule
// may run grad() itself (a nested walk), so there is one set per nesting depth, per thread.
struct WalkScratch {
  std::vector<Node*> order;
  std::vector<std::pair<Node*, size_t>> stack;
  std::vector<int> first, edges, root_pos, target_pos;
  std::vector<char> needed, is_target;
  std::vector<Tensor> buf;
  LeafTable leaves;
};
thread_local std::vector<std::unique_ptr<WalkScratch>> t_walks;
thread_local size_t t_walk_depth = 0;
struct WalkLease {
  WalkScratch* s;
  WalkLease() {
    if (t_walks.size() <= t_walk_depth) t_walks.push_back(std::make_unique<WalkScratch>());
    s = t_walks[t_walk_depth++].get();
    s->order.clear();
    s->stack.clear();
    s->first.clear();
    s->edges.clear();
    s->root_pos.clear();
    s->target_pos.clear();
    s->leaves.clear();
  }
  ~WalkLease() {
    s->buf.clear();  // drop the gradients still held (an exception may leave some)
    s->leaves.clear();
    --t_walk_depth;
  }
};

// Walks the graph once in reverse topological order from the roots. In capture mode (grad())
// the gradients reaching the target nodes are returned and no .grad is touched; otherwise
// gradients reaching leaf accumulators are added to the leaves' .grad.
Grads run_backward(const NodeList& roots, const TensorList& root_grads, const NodeList* targets,
                   const GradOptions& opt) {
  const bool retain = opt.retain_graph < 0 ? opt.create_graph : opt.retain_graph > 0;
  WalkLease lease;
  WalkScratch& w = *lease.s;

  // 1. Topological order by iterative DFS (post-order), then reversed. Visited marks and indices
  // of op nodes live in the nodes (walk_epoch/walk_index: no hash map, no allocation per node);
  // they are only trusted during this walk, so the edges are copied out as indices right after it
  // (a backward rule that runs grad() itself re-walks the same nodes later). Leaf accumulators are
  // shared by every graph built from the same parameters, possibly on other threads, so their
  // marks stay in a local map instead. (An op node belongs to the one graph that recorded it;
  // differentiating one graph from two threads at once is not supported.)
  static std::atomic<uint64_t> s_epoch{0};
  const uint64_t epoch = s_epoch.fetch_add(1, std::memory_order_relaxed) + 1;
  LeafTable& leaf_index = w.leaves;
  auto seen = [&](const Node* n) {
    return n->is_accumulator() ? leaf_index.find(n) != nullptr : n->walk_epoch == epoch;
  };
  auto mark = [&](Node* n) {
    if (n->is_accumulator()) leaf_index.set(n, -1);
    else n->walk_epoch = epoch;
  };
  auto set_index = [&](Node* n, int i) {
    if (n->is_accumulator()) leaf_index.set(n, i);
    else n->walk_index = i;
  };
  auto index_of = [&](const Node* n) { return n->is_accumulator() ? *leaf_index.find(n) : n->walk_index; };
  std::vector<Node*>& order = w.order;
  {
    auto& stack = w.stack;
    for (auto& r : roots) {
      if (seen(r.get())) continue;
      mark(r.get());
      stack.push_back({r.get(), 0});
      while (!stack.empty()) {
        auto& [n, child] = stack.back();
        if (child < n->next.size()) {
          Node* c = n->next[child++].get();
          if (c && !seen(c)) {
            mark(c);
            stack.push_back({c, 0});
          }
        } else {
          set_index(n, int(order.size()));
          order.push_back(n);
          stack.pop_back();
        }
      }
    }
  }
  const int n_nodes = int(order.size());
  // order is post-order (inputs before consumers); position p in reverse is processing order.
  // edges[first[p] + i] = position of input i's node, or -1.
  std::vector<int>& first = w.first;
  std::vector<int>& edges = w.edges;
  first.assign(size_t(n_nodes) + 1, 0);
  for (int p = 0; p < n_nodes; ++p) {
    first[size_t(p)] = int(edges.size());
    for (auto& c : order[size_t(p)]->next) edges.push_back(c ? index_of(c.get()) : -1);
  }
  first[size_t(n_nodes)] = int(edges.size());
  std::vector<int>& root_pos = w.root_pos;
  std::vector<int>& target_pos = w.target_pos;  // target_pos[slot]: position, or -1 if not in the graph
  for (auto& r : roots) root_pos.push_back(index_of(r.get()));
  if (targets)
    for (auto& t : *targets) target_pos.push_back(t && seen(t.get()) ? index_of(t.get()) : -1);

  // 2. In capture mode, only nodes that lead to a target need to run.
  std::vector<char>& needed = w.needed;
  std::vector<char>& is_target = w.is_target;
  needed.assign(size_t(n_nodes), 1);
  is_target.assign(size_t(n_nodes), 0);
  if (targets) {
    for (int tp : target_pos)
      if (tp >= 0) is_target[size_t(tp)] = 1;
    for (int p = 0; p < n_nodes; ++p) {  // post-order: a node's inputs are decided before it
      bool need = is_target[size_t(p)];
      for (int e = first[size_t(p)]; e < first[size_t(p) + 1]; ++e)
        if (edges[size_t(e)] >= 0 && needed[size_t(edges[size_t(e)])]) need = true;
      needed[size_t(p)] = need;
    }
  }

  // 3. Seed and sweep.
  std::vector<Tensor>& buf = w.buf;
  buf.clear();
  buf.resize(static_cast<size_t>(n_nodes));
  auto accumulate = [&](int p, const Tensor& g) {
    Tensor& b = buf[size_t(p)];
    b = b.defined() ? add(b, g) : g;
  };
  for (size_t i = 0; i < roots.size(); ++i) accumulate(root_pos[i], root_grads[i]);

  Grads captured(targets ? targets->size() : 0);
  GradMode mode(opt.create_graph);
  for (int p = n_nodes - 1; p >= 0; --p) {
    Node* n = order[p];
    Tensor g = std::move(buf[size_t(p)]);
    if (!needed[size_t(p)] || !g.defined()) continue;
    for (auto& hook : n->hooks)
      if (Tensor r = hook(g); r.defined()) g = r;
    if (targets && is_target[size_t(p)])
      for (size_t slot = 0; slot < target_pos.size(); ++slot)
        if (target_pos[slot] == p) captured[slot] = g;
    if (n->is_accumulator()) {
      if (!targets) {
        auto leaf = static_cast<AccumulateGrad*>(n)->leaf.lock();
        if (leaf) {
          // A plain .grad is updated in place by optimizers and clipping, so it must own dense
          // memory: copy when the gradient aliases another tensor's storage or is a strided or
          // expanded view (mean()'s gradient is one element broadcast by zero strides).
          const bool own = g.is_contiguous() && g.storage().use_count() == 1;
          Tensor add_to = opt.create_graph ? g : (own ? g.detach() : g.detach().clone());
          leaf->grad = leaf->grad ? add(Tensor(leaf->grad), add_to).impl_ptr() : add_to.impl_ptr();
        }
      }
      continue;
    }
    const Node* prev_origin = t_backward_of;
    t_backward_of = n;
    if (targets) {  // only edges that lead to a requested input (see Node::needs_grad)
      uint64_t mask = ~uint64_t(0);
      for (int e = first[size_t(p)], i = 0; e < first[size_t(p) + 1] && i < 64; ++e, ++i)
        if (edges[size_t(e)] < 0 || !needed[size_t(edges[size_t(e)])]) mask &= ~(uint64_t(1) << i);
      n->edge_mask = mask;
    }
    RuleGrads in_grads;
    const size_t n_in = size_t(first[size_t(p) + 1] - first[size_t(p)]);
    try {
      METALOSS_PROFILE_SCOPE(n->name, "backward");
      in_grads = n->apply(g);
      // Broadcasting's adjoint, once for every op: a gradient of the broadcast shape is summed
      // back to its input's shape here (recorded under create_graph like the rule's own ops), so
      // a rule returns the gradient as it computes it. A shape that is not a broadcast of the
      // input's stays an error below.
      for (size_t i = 0; i < n_in && i < in_grads.size(); ++i) {
        const int cp = edges[size_t(first[size_t(p)]) + i];
        if (cp < 0 || !in_grads[i].defined() || !needed[size_t(cp)]) continue;
        const Shape& want = order[size_t(cp)]->out_shape;
        if (in_grads[i].shape() != want && is_broadcast_of(in_grads[i].shape(), want))
          in_grads[i] = sum_to(in_grads[i], want);
      }
    } catch (...) {
      n->edge_mask = ~uint64_t(0);
      t_backward_of = prev_origin;
      throw;
    }
    n->edge_mask = ~uint64_t(0);
    t_backward_of = prev_origin;
    for (size_t i = 0; i < n_in && i < in_grads.size(); ++i) {
      const int cp = edges[size_t(first[size_t(p)]) + i];
      if (cp < 0 || !in_grads[i].defined()) continue;
      if (!needed[size_t(cp)]) continue;
      Node* c = order[size_t(cp)];
      if (in_grads[i].shape() != c->out_shape)
        throw std::logic_error(std::string("backward of op '") + n->name + "' produced a gradient of shape " +
                               in_grads[i].shape().str() + " for input " + std::to_string(i) + " of shape " +
                               c->out_shape.str());
      accumulate(cp, in_grads[i]);
    }
    if (!retain) n->release();
  }
  return captured;
}

void collect_roots(const char* fn, const Tensor* outputs, size_t n_out, const Tensor* grad_outputs, size_t n_grad,
                   NodeList& roots, TensorList& root_grads) {
  if (n_grad != 0 && n_grad != n_out)
    throw std::invalid_argument(std::string(fn) + ": got " + std::to_string(n_grad) + " grad_outputs for " +
                                std::to_string(n_out) + " outputs");
  for (size_t i = 0; i < n_out; ++i) {
    const Tensor& y = outputs[i];
    if (!y.defined() || !y.requires_grad())
      throw std::invalid_argument(std::string(fn) + ": output " + std::to_string(i) + " (" + y.desc() +
                                  ") does not require grad and has no grad_fn: nothing recorded it");
    Tensor g = n_grad == 0 ? Tensor() : grad_outputs[i];
    if (!g.defined()) {
      if (y.numel() != 1)
        throw std::invalid_argument(std::string(fn) + ": output " + std::to_string(i) + " (" + y.desc() +
                                    ") is not a scalar; pass grad_outputs to say how to weight its elements");
      g = Tensor::ones(y.shape(), y.dtype(), y.device());
    } else if (g.shape() != y.shape() || g.dtype() != y.dtype()) {
      throw std::invalid_argument(std::string(fn) + ": grad_output " + std::to_string(i) + " is " + g.desc() +
                                  " but output is " + y.desc());
    }
    roots.push_back(gradient_edge(y));
    root_grads.push_back(g);
  }
}

}  // namespace

Grads grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
           const std::vector<Tensor>& grad_outputs, GradOptions options) {
  NodeList roots, targets;
  TensorList root_grads;
  collect_roots("grad", outputs.data(), outputs.size(), grad_outputs.data(), grad_outputs.size(), roots, root_grads);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined() || !inputs[i].requires_grad())
      throw std::invalid_argument("grad: input " + std::to_string(i) + " (" + inputs[i].desc() +
                                  ") does not require grad; call set_requires_grad() on it before the forward pass");
    targets.push_back(gradient_edge(inputs[i]));
  }
  Grads g = run_backward(roots, root_grads, &targets, options);
  for (size_t i = 0; i < g.size(); ++i) {
    if (!g[i].defined() && !options.allow_unused)
      throw std::invalid_argument("grad: input " + std::to_string(i) + " (" + inputs[i].desc() +
                                  ") was not used to compute the outputs; pass allow_unused=true to get an "
                                  "undefined gradient for it");
    if (g[i].defined() && !options.create_graph) g[i] = g[i].detach();
  }
  return g;
}

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs, GradOptions options) {
  NodeList roots;
  TensorList root_grads;
  collect_roots("backward", outputs.data(), outputs.size(), grad_outputs.data(), grad_outputs.size(), roots, root_grads);
  run_backward(roots, root_grads, nullptr, options);
}

void detail::backward_single(const Tensor& output, const Tensor& grad_output, GradOptions options) {
  NodeList roots;
  TensorList root_grads;
  collect_roots("backward", &output, 1, &grad_output, grad_output.defined() ? 1 : 0, roots, root_grads);
  run_backward(roots, root_grads, nullptr, options);
}

}  // namespace metaloss
