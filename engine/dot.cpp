#include "engine/dot.h"

#include <sstream>
#include <unordered_set>

namespace metaloss {
namespace {

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o;
}

class DotWriter {
 public:
  void add_graph(const std::shared_ptr<Node>& root) {
    std::vector<Node*> stack{root.get()};
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      if (!n || !seen_.insert(n).second) continue;
      emit_node(n);
      for (size_t i = 0; i < n->next.size(); ++i) {
        if (!n->next[i]) continue;
        edges_ << "  n" << n->next[i]->seq << " -> n" << n->seq << " [label=\"" << i << "\"];\n";
        stack.push_back(n->next[i].get());
      }
    }
  }
  void add_output(size_t i, const Tensor& t) {
    nodes_ << "  out" << i << " [shape=plaintext, label=\"output " << i << "\\n" << t.desc() << "\"];\n";
    if (t.grad_fn() || t.requires_grad()) {
      auto n = t.grad_fn() ? t.grad_fn() : t.impl()->grad_accumulator;
      if (n) edges_ << "  n" << n->seq << " -> out" << i << ";\n";
    }
  }
  std::string str() const {
    return "digraph metaloss {\n  rankdir=BT;\n  node [shape=box, style=filled, fillcolor=white, fontname=\"monospace\"];\n" +
           nodes_.str() + edges_.str() + "}\n";
  }

 private:
  void emit_node(Node* n) {
    std::ostringstream label;
    std::string fill = "white";
    if (n->is_accumulator()) {
      auto leaf = static_cast<AccumulateGrad*>(n)->leaf.lock();
      label << "leaf";
      if (leaf && !leaf->name.empty()) label << " '" << escape(leaf->name) << "'";
      fill = "lightgray";
    } else {
      label << n->name;
    }
    label << "\\n" << dtype_name(n->out_dtype) << n->out_shape.str() << "  #" << n->seq;
    if (n->origin_name) {
      label << "\\nbackward of " << n->origin_name << " #" << n->origin_seq;
      fill = "lightblue";
    }
    nodes_ << "  n" << n->seq << " [label=\"" << label.str() << "\", fillcolor=" << fill << "];\n";
  }
  std::unordered_set<const Node*> seen_;
  std::ostringstream nodes_, edges_;
};

}  // namespace

std::string to_dot(const std::vector<Tensor>& outputs) {
  DotWriter w;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& t = outputs[i];
    if (!t.defined()) continue;
    if (t.grad_fn()) w.add_graph(t.grad_fn());
    else if (t.requires_grad()) w.add_graph(gradient_edge(t));
    w.add_output(i, t);
  }
  return w.str();
}

std::string to_dot(const Tape& tape) {
  DotWriter w;
  for (auto& n : tape.nodes()) w.add_graph(n);
  return w.str();
}

}  // namespace metaloss
