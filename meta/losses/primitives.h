// The primitives of the symbolic losses (meta/losses/expression.h), one row each: its text, arity,
// and every form the expression code gives a node: the engine evaluation (differentiable to any
// order), the scalar value, LaTeX, C (value and d/df, forward mode) and PyTorch. A new primitive is
// one value of `Prim` and one row in primitives.cpp, plus its GiNaC form in simplify.cpp (kept
// there: GiNaC is optional, and that builder also tracks the cost of expanding the node).
#pragma once
#include <string>
#include <utility>

#include "engine/metaloss.h"

namespace metaloss::losses {

enum class Prim : uint8_t { Y, F, One, MinusOne, Add, Sub, Mul, Div, Min, Max, Sign, Square, Abs, Log, Sqrt, Tanh };
inline constexpr int kPrimCount = 16;

// The protected log / sqrt floor: log(a) = log(max(|a|, kProtectEps)), sqrt likewise.
inline constexpr double kProtectEps = 1e-7;

struct Primitive {
  Prim prim;
  const char* name;  // canonical text: "y", "f", "1", "-1", "add", ...
  int arity;
  // k: the children's values, in order (arity of them); y, f: the terminals, for the leaves.
  Tensor (*tensor)(const Tensor* k, const Tensor& y, const Tensor& f);
  double (*scalar)(const double* k, double y, double f);
  std::string (*latex)(const std::string* k);
  // C: {value, d value / d f} from the children's value and derivative texts v[i], d[i]; u is the
  // name of this node's own value (tanh's derivative uses it).
  std::pair<std::string, std::string> (*c)(const std::string* v, const std::string* d, const std::string& u);
  std::string (*pytorch)(const std::string* k);  // y and f are tensors of one shape
};

const Primitive& primitive(Prim p);

}  // namespace metaloss::losses
