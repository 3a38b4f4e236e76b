// Symbolic loss functions for EvoMAL / GP-LFL: expression trees over the terminals y (one-hot
// target), f (the model's softmax probability f(x)), the constants 1 and -1, and 12 primitives
//   binary: add, sub, mul, div (protected: a / sqrt(1 + b^2)), min, max
//   unary:  sign, square, abs, log (protected: log(max(|a|, 1e-7))), sqrt (sqrt(max(|a|, 1e-7))), tanh
// A tree is stored in prefix order (as DEAP does), so a subtree is a contiguous range and GP
// crossover and mutation are range splices. Its canonical text is prefix function notation,
// e.g. "mul(-1, mul(y, log(f)))" (cross entropy), which print -> parse reproduces exactly; the
// parser also accepts "f(x)" for f and reports malformed input with the character position.
//
// As a loss: applied per class to (y_c, f_c), summed over classes, averaged over the batch,
// evaluated with engine ops on the whole batch (so it is differentiable to any order). Optional
// edge weights (EvoMAL's local search): one per edge, i.e. per non-root node in prefix order,
// multiplying that node's value where its parent uses it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/metaloss.h"
#include "meta/losses/primitives.h"  // Prim and its table

namespace metaloss::losses {

int arity(Prim p);
const char* prim_name(Prim p);  // "y", "f", "1", "-1", "add", ...
// The 12 functions and 4 terminals, in enum order.
const std::vector<Prim>& functions();
const std::vector<Prim>& terminals();

struct Expression {
  std::vector<Prim> nodes;  // prefix order

  // Throws std::invalid_argument "expression: ... at position N of '...'" for malformed text.
  static Expression parse(const std::string& text);
  std::string str() const;    // canonical text
  // For reports (\log, \sqrt, \frac{a}{\sqrt{1+b^2}}, ...); edge weights other than 1 shown as factors.
  std::string latex(const std::vector<double>& weights = {}) const;

  // The same loss with the arguments of add, mul, min and max sorted by their canonical text:
  // equal losses up to commutativity get one text (the fitness cache's key).
  Expression canonical() const;

  size_t size() const { return nodes.size(); }
  size_t subtree_end(size_t i) const;  // one past the last node of the subtree rooted at i
  int height() const;                  // a single terminal has height 0
  bool uses_y() const;
  bool uses_f() const;
  bool valid() const;  // well formed (arity-consistent, one tree)

  // Per-element values L(y, f) for tensors of one shape (no reduction). weights: 1-d with
  // size() - 1 values, or undefined for all ones.
  Tensor evaluate(const Tensor& y, const Tensor& f, const Tensor& weights = Tensor()) const;
  // The classification loss: logits [B, C], int64 labels [B] -> 0-d, mean over the batch of the
  // sum over classes of L(one_hot, softmax(logits)).
  Tensor loss(const Tensor& logits, const Tensor& labels, const Tensor& weights = Tensor()) const;
  // L at scalars (double precision, no graph): tests, plots, the exported C reference.
  double value(double y, double f) const;

  bool operator==(const Expression& o) const { return nodes == o.nodes; }
};

// The standalone C header of a loss: `NAME_pair(y, f, &dl_df)` (value and dL/df of one pair) and
// `NAME(logits, labels, batch, classes, grad)` (softmax per row, summed over classes, mean over
// the batch, and dLoss/dlogits when grad is not NULL). No dependency beyond <math.h>.
// weights: EvoMAL's learned edge weights (size() - 1 of them, prefix order), or empty for none.
std::string export_c_header(const Expression& e, const std::string& name, const std::vector<double>& weights = {});
// The C batch function around NAME_pair(y, f, &dl_df) for classification from logits (softmax
// per row, summed over classes, mean over the batch, dLoss/dlogits): every exported header's.
std::string c_classification_batch(const std::string& name);

}  // namespace metaloss::losses
