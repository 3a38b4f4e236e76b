#include "engine/autograd.h"

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <unordered_map>

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

void attach_node(const std::shared_ptr<Node>& node, const Tensor* inputs, size_t n_inputs, Tensor& out,
                 const Tensor* saved, size_t n_saved) {
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

// Walks the graph once in reverse topological order from the roots. In capture mode (grad())
// the gradients reaching the target nodes are returned and no .grad is touched; otherwise
// gradients reaching leaf accumulators are added to the leaves' .grad.
Grads run_backward(const std::vector<std::shared_ptr<Node>>& roots, const std::vector<Tensor>& root_grads,
                   const std::vector<std::shared_ptr<Node>>* targets, const GradOptions& opt) {
  const bool retain = opt.retain_graph < 0 ? opt.create_graph : opt.retain_graph > 0;

  // 1. Topological order by iterative DFS (post-order), then reversed. Visited marks and indices
  // of op nodes live in the nodes (walk_epoch/walk_index: no hash map, no allocation per node);
  // they are only trusted during this walk, so the edges are copied out as indices right after it
  // (a backward rule that runs grad() itself re-walks the same nodes later). Leaf accumulators are
  // shared by every graph built from the same parameters, possibly on other threads, so their
  // marks stay in a local map instead. (An op node belongs to the one graph that recorded it;
  // differentiating one graph from two threads at once is not supported.)
  static std::atomic<uint64_t> s_epoch{0};
  const uint64_t epoch = s_epoch.fetch_add(1, std::memory_order_relaxed) + 1;
  std::unordered_map<const Node*, int> leaf_index;
  auto seen = [&](const Node* n) { return n->is_accumulator() ? leaf_index.count(n) > 0 : n->walk_epoch == epoch; };
  auto mark = [&](Node* n) {
    if (n->is_accumulator()) leaf_index[n] = -1;
    else n->walk_epoch = epoch;
  };
  auto set_index = [&](Node* n, int i) {
    if (n->is_accumulator()) leaf_index[n] = i;
    else n->walk_index = i;
  };
  auto index_of = [&](const Node* n) { return n->is_accumulator() ? leaf_index.at(n) : n->walk_index; };
  std::vector<Node*> order;
  {
    std::vector<std::pair<Node*, size_t>> stack;
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
  std::vector<int> first(size_t(n_nodes) + 1, 0), edges;
  for (int p = 0; p < n_nodes; ++p) {
    first[size_t(p)] = int(edges.size());
    for (auto& c : order[size_t(p)]->next) edges.push_back(c ? index_of(c.get()) : -1);
  }
  first[size_t(n_nodes)] = int(edges.size());
  std::vector<int> root_pos, target_pos;  // target_pos[slot]: position, or -1 if not in the graph
  for (auto& r : roots) root_pos.push_back(index_of(r.get()));
  if (targets)
    for (auto& t : *targets) target_pos.push_back(t && seen(t.get()) ? index_of(t.get()) : -1);

  // 2. In capture mode, only nodes that lead to a target need to run.
  std::vector<char> needed(size_t(n_nodes), 1), is_target(size_t(n_nodes), 0);
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
  std::vector<Tensor> buf(static_cast<size_t>(n_nodes));
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
    Grads in_grads;
    try {
      METALOSS_PROFILE_SCOPE(n->name, "backward");
      in_grads = n->apply(g);
    } catch (...) {
      n->edge_mask = ~uint64_t(0);
      t_backward_of = prev_origin;
      throw;
    }
    n->edge_mask = ~uint64_t(0);
    t_backward_of = prev_origin;
    const size_t n_in = size_t(first[size_t(p) + 1] - first[size_t(p)]);
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

void collect_roots(const char* fn, const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
                   std::vector<std::shared_ptr<Node>>& roots, std::vector<Tensor>& root_grads) {
  if (!grad_outputs.empty() && grad_outputs.size() != outputs.size())
    throw std::invalid_argument(std::string(fn) + ": got " + std::to_string(grad_outputs.size()) +
                                " grad_outputs for " + std::to_string(outputs.size()) + " outputs");
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& y = outputs[i];
    if (!y.defined() || !y.requires_grad())
      throw std::invalid_argument(std::string(fn) + ": output " + std::to_string(i) + " (" + y.desc() +
                                  ") does not require grad and has no grad_fn: nothing recorded it");
    Tensor g = grad_outputs.empty() ? Tensor() : grad_outputs[i];
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
  std::vector<std::shared_ptr<Node>> roots, targets;
  std::vector<Tensor> root_grads;
  collect_roots("grad", outputs, grad_outputs, roots, root_grads);
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
  std::vector<std::shared_ptr<Node>> roots;
  std::vector<Tensor> root_grads;
  collect_roots("backward", outputs, grad_outputs, roots, root_grads);
  run_backward(roots, root_grads, nullptr, options);
}

}  // namespace metaloss
