// Reverse-mode autodiff on a dynamic graph ("the tape"): every op that runs while recording is on
// appends a Node that knows its inputs' nodes and how to map an output gradient to input
// gradients. Backward rules are written with engine ops, so when create_graph is set the backward
// pass is itself recorded and can be differentiated again, to any order.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace metaloss {

// ---- recording switches ------------------------------------------------------------------
bool grad_mode_enabled();
void set_grad_mode(bool on);

// RAII: no graph is recorded inside (evaluation loops, optimizer updates).
class NoGrad {
 public:
  NoGrad() : prev_(grad_mode_enabled()) { set_grad_mode(false); }
  ~NoGrad() { set_grad_mode(prev_); }
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool prev_;
};

// RAII: sets recording on or off inside, restoring the previous mode afterwards.
class GradMode {
 public:
  explicit GradMode(bool on) : prev_(grad_mode_enabled()) { set_grad_mode(on); }
  ~GradMode() { set_grad_mode(prev_); }
  GradMode(const GradMode&) = delete;
  GradMode& operator=(const GradMode&) = delete;

 private:
  bool prev_;
};

// RAII nested tape scope. Recording is on inside (even within an outer NoGrad), and every node
// recorded inside is listed by the innermost open Tape; when a Tape closes its nodes are handed
// to the enclosing one. Nodes live as long as some tensor still needs them, so an inner training
// loop's graph stays available to an outer meta-gradient, and is freed when it is not.
class Tape {
 public:
  Tape();
  ~Tape();
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;
  // Nodes recorded in this scope (and in closed inner scopes) that are still alive.
  std::vector<std::shared_ptr<Node>> nodes() const;
  size_t recorded() const { return nodes_.size(); }
  static Tape* current();
  void add(const std::shared_ptr<Node>& n);

 private:
  std::vector<std::weak_ptr<Node>> nodes_;
  size_t prune_at_ = 1024;  // a weak_ptr pins its node's memory: drop dead ones as the list grows
  Tape* parent_;
  bool prev_mode_;
};

// ---- the graph ---------------------------------------------------------------------------

// A tensor saved by an op for its backward rule. An op's own output is saved without a strong
// reference to its node (that would be a cycle) and reconnected to the node when unpacked.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t, bool is_output);
  Tensor unpack(const std::shared_ptr<Node>& owner, const char* op) const;
  bool defined() const { return data_ != nullptr; }

 private:
  std::shared_ptr<TensorImpl> data_;
  uint32_t version_ = 0;
  bool is_output_ = false;
};

using Grads = std::vector<Tensor>;  // one per input; undefined = no gradient
// What a backward rule returns (one per input): from the engine's small-object pool, so running a
// node's rule does not reach the system allocator in a steady-state training loop.
using RuleGrads = std::vector<Tensor, PoolAllocator<Tensor>>;

struct Node : std::enable_shared_from_this<Node> {
  const char* name = "?";  // op name
  uint64_t seq = 0;        // creation order
  // Small vectors from the engine's pool (engine/small_pool.h): one pair per recorded op.
  std::vector<std::shared_ptr<Node>, PoolAllocator<std::shared_ptr<Node>>> next;  // per input: its node, or null
  std::vector<SavedTensor, PoolAllocator<SavedTensor>> saved;
  // Scratch for the backward pass's graph walk (valid only while it sorts the graph).
  uint64_t walk_epoch = 0;
  int walk_index = -1;
  bool released = false;   // saved tensors freed by a backward pass without retain_graph
  Shape out_shape;
  DType out_dtype = DType::Float32;
  // Set when the node was recorded while a backward pass (create_graph) was running: the seq and
  // name of the node whose backward rule created it. Used by to_dot().
  uint64_t origin_seq = 0;
  const char* origin_name = nullptr;
  std::vector<std::function<Tensor(const Tensor&)>> hooks;

  virtual ~Node() = default;
  virtual RuleGrads apply(const Tensor& grad_output) = 0;
  virtual bool is_accumulator() const { return false; }
  // Whether the backward rule must compute the gradient for `input`: the input needs a gradient
  // at all and, during grad() with specific inputs, its edge leads to one of them (the engine
  // sets edge_mask around apply(); bit i for input i, inputs past 63 always count as needed).
  // Skipping the others matters for meta-gradients: the gradient of a query loss with respect to
  // the loss network's phi never needs the paths into the base model's initial parameters.
  bool needs_grad(size_t input) const {
    return input < next.size() && next[input] != nullptr && (input >= 64 || (edge_mask >> input) & 1u);
  }
  uint64_t edge_mask = ~uint64_t(0);
  Tensor saved_tensor(size_t i) {
    if (released || i >= saved.size())
      throw std::runtime_error(std::string("backward through op '") + name +
                               "' a second time: its saved tensors were freed after the first backward; "
                               "pass retain_graph=true to the first backward/grad call");
    return saved[i].unpack(shared_from_this(), name);
  }
  void release() {
    saved.clear();
    released = true;
  }
};

// The node that receives a leaf's gradient.
struct AccumulateGrad final : Node {
  std::weak_ptr<TensorImpl> leaf;
  RuleGrads apply(const Tensor&) override { return {}; }
  bool is_accumulator() const override { return true; }
};

template <class F>
struct LambdaNode final : Node {
  F fn;
  explicit LambdaNode(F f) : fn(std::move(f)) {}
  RuleGrads apply(const Tensor& g) override { return fn(*this, g); }
};

// True when an op with these inputs must be recorded.
inline bool should_record(const Tensor& a) { return a.requires_grad() && grad_mode_enabled(); }
inline bool should_record(const Tensor& a, const Tensor& b) {
  return (a.requires_grad() || b.requires_grad()) && grad_mode_enabled();
}
bool should_record(const std::vector<Tensor>& inputs);

// The node a tensor's gradient flows into (its grad_fn, or its leaf accumulator), or null.
std::shared_ptr<Node> gradient_edge(const Tensor& t);

void attach_node(const std::shared_ptr<Node>& node, const Tensor* inputs, size_t n_inputs, Tensor& out,
                 const Tensor* saved, size_t n_saved);

// Called with the name of every op recorded while it is set (nullptr: none); returns the previous
// one. For tools and the test suite's op coverage (which ops a computation records).
using RecordObserver = void (*)(const char* op);
RecordObserver set_record_observer(RecordObserver observer);

// Records op `name` producing `out` from `inputs`; `saved` tensors are available to `backward`
// as node.saved_tensor(i). backward(Node&, const Tensor& grad_out) -> RuleGrads (one per input).
template <class F>
void record(const char* name, std::initializer_list<Tensor> inputs, Tensor& out, std::initializer_list<Tensor> saved,
            F backward) {
  auto node = std::allocate_shared<LambdaNode<F>>(PoolAllocator<LambdaNode<F>>{}, std::move(backward));
  node->name = name;
  attach_node(node, inputs.begin(), inputs.size(), out, saved.begin(), saved.size());
}
template <class F>
void record(const char* name, const std::vector<Tensor>& inputs, Tensor& out, std::initializer_list<Tensor> saved,
            F backward) {
  auto node = std::allocate_shared<LambdaNode<F>>(PoolAllocator<LambdaNode<F>>{}, std::move(backward));
  node->name = name;
  attach_node(node, inputs.data(), inputs.size(), out, saved.begin(), saved.size());
}

// ---- running backward ------------------------------------------------------------------
struct GradOptions {
  bool create_graph = false;  // record the backward pass so its result can be differentiated
  int retain_graph = -1;      // keep saved tensors for another backward (-1: same as create_graph)
  bool allow_unused = false;  // an input the outputs do not depend on gets an undefined gradient
};

// Gradients of sum(outputs[i] * grad_outputs[i]) with respect to inputs, like
// torch.autograd.grad. Does not touch any .grad. Without create_graph the results are plain
// values (no graph); with it they are differentiable tensors.
Grads grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
           const std::vector<Tensor>& grad_outputs = {}, GradOptions options = {});

// Accumulates gradients of the outputs into the .grad of every leaf that requires grad.
void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs = {},
              GradOptions options = {});
namespace detail {
// backward() for one output (Tensor::backward): no vectors, so no allocation for them.
void backward_single(const Tensor& output, const Tensor& grad_output, GradOptions options);
}  // namespace detail

}  // namespace metaloss
