#include "meta/losses/expression.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <stdexcept>

namespace metaloss::losses {

namespace {

constexpr double kEps = 1e-7;  // the protected log / sqrt floor

struct PrimInfo {
  Prim p;
  const char* name;
  int arity;
};
const PrimInfo kPrims[] = {
    {Prim::Y, "y", 0},        {Prim::F, "f", 0},       {Prim::One, "1", 0},      {Prim::MinusOne, "-1", 0},
    {Prim::Add, "add", 2},    {Prim::Sub, "sub", 2},   {Prim::Mul, "mul", 2},    {Prim::Div, "div", 2},
    {Prim::Min, "min", 2},    {Prim::Max, "max", 2},   {Prim::Sign, "sign", 1},  {Prim::Square, "square", 1},
    {Prim::Abs, "abs", 1},    {Prim::Log, "log", 1},   {Prim::Sqrt, "sqrt", 1},  {Prim::Tanh, "tanh", 1},
};

}  // namespace

int arity(Prim p) { return kPrims[int(p)].arity; }
const char* prim_name(Prim p) { return kPrims[int(p)].name; }

const std::vector<Prim>& functions() {
  static const std::vector<Prim> f{Prim::Add, Prim::Sub, Prim::Mul,    Prim::Div, Prim::Min,  Prim::Max,
                                   Prim::Sign, Prim::Square, Prim::Abs, Prim::Log, Prim::Sqrt, Prim::Tanh};
  return f;
}
const std::vector<Prim>& terminals() {
  static const std::vector<Prim> t{Prim::Y, Prim::F, Prim::One, Prim::MinusOne};
  return t;
}

Expression Expression::parse(const std::string& text) {
  Expression e;
  size_t i = 0;
  auto fail = [&](const std::string& what) {
    return std::invalid_argument("expression: " + what + " at position " + std::to_string(i) + " of '" + text + "'");
  };
  auto ws = [&] {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  };
  std::function<void(int)> node = [&](int depth) {
    if (depth > 200) throw fail("nesting deeper than 200");
    ws();
    if (i >= text.size()) throw fail("expected a terminal (y, f, 1, -1) or a function, found the end");
    if (text.compare(i, 2, "-1") == 0) {
      e.nodes.push_back(Prim::MinusOne);
      i += 2;
      return;
    }
    size_t j = i;
    while (j < text.size() && (std::isalnum(static_cast<unsigned char>(text[j])) || text[j] == '_')) ++j;
    const std::string word = text.substr(i, j - i);
    if (word.empty()) throw fail(std::string("unexpected '") + text[i] + "'");
    if (word == "f" && text.compare(j, 3, "(x)") == 0) j += 3;  // "f(x)" is f
    const PrimInfo* info = nullptr;
    for (const auto& p : kPrims)
      if (word == p.name) info = &p;
    if (!info) throw fail("unknown name '" + word + "' (terminals y, f, 1, -1; functions add, sub, mul, div, min, "
                          "max, sign, square, abs, log, sqrt, tanh)");
    e.nodes.push_back(info->p);
    i = j;
    if (info->arity == 0) return;
    ws();
    if (i >= text.size() || text[i] != '(') throw fail(std::string("expected '(' after ") + info->name);
    ++i;
    for (int a = 0; a < info->arity; ++a) {
      if (a > 0) {
        ws();
        if (i >= text.size() || text[i] != ',')
          throw fail(std::string(info->name) + " takes " + std::to_string(info->arity) + " arguments: expected ','");
        ++i;
      }
      node(depth + 1);
    }
    ws();
    if (i >= text.size() || text[i] != ')')
      throw fail(std::string(info->name) + " takes " + std::to_string(info->arity) + " argument" +
                 (info->arity == 1 ? "" : "s") + ": expected ')'");
    ++i;
  };
  node(0);
  ws();
  if (i != text.size()) throw fail("trailing text");
  return e;
}

size_t Expression::subtree_end(size_t i) const {
  if (i >= nodes.size()) throw std::out_of_range("Expression::subtree_end: node " + std::to_string(i) + " of " +
                                                 std::to_string(nodes.size()));
  int open = 1;
  size_t j = i;
  while (open > 0) {
    if (j >= nodes.size())
      throw std::invalid_argument("expression: truncated prefix sequence: the subtree at node " + std::to_string(i) +
                                  " needs more than the " + std::to_string(nodes.size()) + " nodes");
    open += arity(nodes[j]) - 1;
    ++j;
  }
  return j;
}

bool Expression::valid() const {
  if (nodes.empty()) return false;
  int open = 1;
  for (size_t j = 0; j < nodes.size(); ++j) {
    if (open <= 0) return false;
    open += arity(nodes[j]) - 1;
  }
  return open == 0;
}

int Expression::height() const {
  // Depth of each node from a stack of remaining child counts.
  int h = 0;
  std::vector<int> pending;  // children still expected per open ancestor
  for (Prim p : nodes) {
    h = std::max(h, int(pending.size()));
    if (arity(p) > 0) pending.push_back(arity(p));
    else {
      while (!pending.empty() && --pending.back() == 0) pending.pop_back();
    }
  }
  return h;
}

bool Expression::uses_y() const {
  for (Prim p : nodes)
    if (p == Prim::Y) return true;
  return false;
}
bool Expression::uses_f() const {
  for (Prim p : nodes)
    if (p == Prim::F) return true;
  return false;
}

namespace {

// Prefix-order recursion: fn(node index, child results) -> result, children in order.
template <class T, class Fn>
T fold(const std::vector<Prim>& nodes, size_t& i, const Fn& fn) {
  const size_t at = i++;
  std::vector<T> kids;
  for (int a = 0; a < arity(nodes[at]); ++a) kids.push_back(fold<T>(nodes, i, fn));
  return fn(at, kids);
}

}  // namespace

Expression Expression::canonical() const {
  if (!valid()) throw std::invalid_argument("expression: not a well-formed tree");
  size_t i = 0;
  // Each subtree as (canonical text, prefix nodes), children sorted for commutative functions.
  using Sub = std::pair<std::string, std::vector<Prim>>;
  Sub root = fold<Sub>(nodes, i, [&](size_t at, std::vector<Sub> k) {
    const Prim p = nodes[at];
    if (p == Prim::Add || p == Prim::Mul || p == Prim::Min || p == Prim::Max)
      std::sort(k.begin(), k.end(), [](const Sub& a, const Sub& b) { return a.first < b.first; });
    Sub out{prim_name(p), {p}};
    if (!k.empty()) {
      out.first += "(";
      for (size_t a = 0; a < k.size(); ++a) {
        out.first += (a ? ", " : "") + k[a].first;
        out.second.insert(out.second.end(), k[a].second.begin(), k[a].second.end());
      }
      out.first += ")";
    }
    return out;
  });
  Expression e;
  e.nodes = std::move(root.second);
  return e;
}

std::string Expression::str() const {
  if (!valid()) throw std::invalid_argument("expression: not a well-formed tree");
  size_t i = 0;
  return fold<std::string>(nodes, i, [&](size_t at, const std::vector<std::string>& k) {
    std::string s = prim_name(nodes[at]);
    if (k.empty()) return s;
    s += "(" + k[0];
    for (size_t a = 1; a < k.size(); ++a) s += ", " + k[a];
    return s + ")";
  });
}

namespace {
std::string latex_node(Prim p, const std::vector<std::string>& k) {
  switch (p) {
      case Prim::Y: return "y";
      case Prim::F: return "f(x)";
      case Prim::One: return "1";
      case Prim::MinusOne: return "(-1)";
      case Prim::Add: return "\\left(" + k[0] + " + " + k[1] + "\\right)";
      case Prim::Sub: return "\\left(" + k[0] + " - " + k[1] + "\\right)";
      case Prim::Mul: return k[0] + " \\cdot " + k[1];
      case Prim::Div: return "\\frac{" + k[0] + "}{\\sqrt{1 + " + k[1] + "^2}}";
      case Prim::Min: return "\\min\\left(" + k[0] + ", " + k[1] + "\\right)";
      case Prim::Max: return "\\max\\left(" + k[0] + ", " + k[1] + "\\right)";
      case Prim::Sign: return "\\operatorname{sign}\\left(" + k[0] + "\\right)";
      case Prim::Square: return "\\left(" + k[0] + "\\right)^2";
      case Prim::Abs: return "\\left|" + k[0] + "\\right|";
      case Prim::Log: return "\\log\\left|" + k[0] + "\\right|";
      case Prim::Sqrt: return "\\sqrt{\\left|" + k[0] + "\\right|}";
      case Prim::Tanh: return "\\tanh\\left(" + k[0] + "\\right)";
    }
  return "?";
}
}  // namespace


std::string Expression::latex(const std::vector<double>& weights) const {
  if (!valid()) throw std::invalid_argument("expression: not a well-formed tree");
  if (!weights.empty() && weights.size() != nodes.size() - 1)
    throw std::invalid_argument("expression latex: " + std::to_string(weights.size()) + " edge weights for " +
                                std::to_string(nodes.size() - 1) + " edges");
  size_t i = 0;
  return fold<std::string>(nodes, i, [&](size_t at, const std::vector<std::string>& k) -> std::string {
    const std::string body = latex_node(nodes[at], k);
    if (at == 0 || weights.empty()) return body;
    char w[32];
    std::snprintf(w, sizeof w, "%.3g", weights[at - 1]);
    if (std::string(w) == "1") return body;  // a weight that shows as 1 is left out
    return std::string(w) + " \\cdot " + body;
  });
}

Tensor Expression::evaluate(const Tensor& y, const Tensor& f, const Tensor& weights) const {
  if (!valid()) throw std::invalid_argument("expression: not a well-formed tree");
  if (weights.defined() && (weights.dim() != 1 || weights.size(0) != int64_t(nodes.size()) - 1))
    throw std::invalid_argument("expression " + str() + ": expected " + std::to_string(nodes.size() - 1) +
                                " edge weights (one per non-root node), got " + weights.desc());
  const Tensor w = weights.defined() && weights.dtype() != f.dtype() ? weights.to(f.dtype()) : weights;
  size_t i = 0;
  return fold<Tensor>(nodes, i, [&](size_t at, const std::vector<Tensor>& k) -> Tensor {
    Tensor v;
    switch (nodes[at]) {
      case Prim::Y: v = y; break;
      case Prim::F: v = f; break;
      case Prim::One: v = Tensor::full(f.shape(), 1.0, f.dtype(), f.device()); break;
      case Prim::MinusOne: v = Tensor::full(f.shape(), -1.0, f.dtype(), f.device()); break;
      case Prim::Add: v = add(k[0], k[1]); break;
      case Prim::Sub: v = sub(k[0], k[1]); break;
      case Prim::Mul: v = mul(k[0], k[1]); break;
      case Prim::Div: v = div(k[0], sqrt(add(square(k[1]), 1.0))); break;  // as value(): a / sqrt(1 + b^2)
      case Prim::Min: v = minimum(k[0], k[1]); break;
      case Prim::Max: v = maximum(k[0], k[1]); break;
      case Prim::Sign: v = sign(k[0]); break;
      case Prim::Square: v = square(k[0]); break;
      case Prim::Abs: v = abs(k[0]); break;
      case Prim::Log: v = log(clamp(abs(k[0]), kEps, INFINITY)); break;
      case Prim::Sqrt: v = sqrt(clamp(abs(k[0]), kEps, INFINITY)); break;
      case Prim::Tanh: v = tanh(k[0]); break;
    }
    if (w.defined() && at > 0) v = mul(v, reshape(slice(w, 0, int64_t(at) - 1, int64_t(at)), {}));
    return v;
  });
}

Tensor Expression::loss(const Tensor& logits, const Tensor& labels, const Tensor& weights) const {
  if (!logits.defined() || logits.dim() != 2 || !is_floating(logits.dtype()))
    throw std::invalid_argument("expression loss: expected float logits [batch, classes], got " + logits.desc());
  if (!labels.defined() || labels.dtype() != DType::Int64 || labels.dim() != 1 || labels.size(0) != logits.size(0))
    throw std::invalid_argument("expression loss: expected int64 labels [" + std::to_string(logits.size(0)) + "], got " +
                                labels.desc());
  const Tensor p = softmax(logits, 1), y = one_hot(labels, logits.size(1), logits.dtype());
  return sum(evaluate(y, p, weights)) * (1.0 / double(logits.size(0)));
}

double Expression::value(double y, double f) const {
  if (!valid()) throw std::invalid_argument("expression: not a well-formed tree");
  size_t i = 0;
  return fold<double>(nodes, i, [&](size_t at, const std::vector<double>& k) -> double {
    switch (nodes[at]) {
      case Prim::Y: return y;
      case Prim::F: return f;
      case Prim::One: return 1;
      case Prim::MinusOne: return -1;
      case Prim::Add: return k[0] + k[1];
      case Prim::Sub: return k[0] - k[1];
      case Prim::Mul: return k[0] * k[1];
      case Prim::Div: return k[0] / std::sqrt(1 + k[1] * k[1]);
      case Prim::Min: return std::min(k[0], k[1]);
      case Prim::Max: return std::max(k[0], k[1]);
      case Prim::Sign: return double((k[0] > 0) - (k[0] < 0));
      case Prim::Square: return k[0] * k[0];
      case Prim::Abs: return std::abs(k[0]);
      case Prim::Log: return std::log(std::max(std::abs(k[0]), kEps));
      case Prim::Sqrt: return std::sqrt(std::max(std::abs(k[0]), kEps));
      case Prim::Tanh: return std::tanh(k[0]);
    }
    return NAN;
  });
}

std::string export_c_header(const Expression& e, const std::string& name, const std::vector<double>& weights) {
  if (!e.valid()) throw std::invalid_argument("export_c_header: not a well-formed tree");
  if (name.empty() || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_'))
    throw std::invalid_argument("export_c_header: '" + name + "' is not a C identifier");
  for (char ch : name)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'))
      throw std::invalid_argument("export_c_header: '" + name + "' is not a C identifier");
  if (!weights.empty() && weights.size() != e.size() - 1)
    throw std::invalid_argument("export_c_header: " + std::to_string(weights.size()) + " edge weights for " +
                                std::to_string(e.size() - 1) + " edges");
  // Straight-line forward-mode code: u_i / t_i are node i's value and derivative w.r.t. f, and
  // v_i = w u_i, d_i = w t_i what its parent sees (w its edge weight).
  std::string body;
  size_t i = 0;
  fold<int>(e.nodes, i, [&](size_t at, const std::vector<int>& k) -> int {
    const std::string v = "v" + std::to_string(at), d = "d" + std::to_string(at);
    // (std::string(1, ch).append(...) rather than "v" + to_string(...): GCC 12's -Wrestrict
    // false positive on operator+(const char*, string&&))
    auto V = [&](int c) { return std::string(1, 'v').append(std::to_string(k[size_t(c)])); };
    auto D = [&](int c) { return std::string(1, 'd').append(std::to_string(k[size_t(c)])); };
    std::string vs, ds;
    switch (e.nodes[at]) {
      case Prim::Y: vs = "y"; ds = "0.0"; break;
      case Prim::F: vs = "f"; ds = "1.0"; break;
      case Prim::One: vs = "1.0"; ds = "0.0"; break;
      case Prim::MinusOne: vs = "-1.0"; ds = "0.0"; break;
      case Prim::Add: vs = V(0) + " + " + V(1); ds = D(0) + " + " + D(1); break;
      case Prim::Sub: vs = V(0) + " - " + V(1); ds = D(0) + " - " + D(1); break;
      case Prim::Mul: vs = V(0) + " * " + V(1); ds = D(0) + " * " + V(1) + " + " + V(0) + " * " + D(1); break;
      case Prim::Div: {
        const std::string s = "(1.0 / sqrt(1.0 + " + V(1) + " * " + V(1) + "))";
        vs = V(0) + " * " + s;
        ds = D(0) + " * " + s + " - " + V(0) + " * " + V(1) + " * " + D(1) + " * " + s + " * " + s + " * " + s;
        break;
      }
      case Prim::Min: vs = V(0) + " < " + V(1) + " ? " + V(0) + " : " + V(1);
        ds = V(0) + " < " + V(1) + " ? " + D(0) + " : (" + V(0) + " > " + V(1) + " ? " + D(1) + " : 0.5 * (" + D(0) +
             " + " + D(1) + "))";
        break;
      case Prim::Max: vs = V(0) + " > " + V(1) + " ? " + V(0) + " : " + V(1);
        ds = V(0) + " > " + V(1) + " ? " + D(0) + " : (" + V(0) + " < " + V(1) + " ? " + D(1) + " : 0.5 * (" + D(0) +
             " + " + D(1) + "))";
        break;
      case Prim::Sign: vs = "(double)((" + V(0) + " > 0) - (" + V(0) + " < 0))"; ds = "0.0"; break;
      case Prim::Square: vs = V(0) + " * " + V(0); ds = "2.0 * " + V(0) + " * " + D(0); break;
      case Prim::Abs: vs = "fabs(" + V(0) + ")";
        ds = "(double)((" + V(0) + " > 0) - (" + V(0) + " < 0)) * " + D(0);
        break;
      case Prim::Log: vs = "log(fabs(" + V(0) + ") > 1e-7 ? fabs(" + V(0) + ") : 1e-7)";
        ds = "fabs(" + V(0) + ") >= 1e-7 ? " + D(0) + " / " + V(0) + " : 0.0";
        break;
      case Prim::Sqrt: vs = "sqrt(fabs(" + V(0) + ") > 1e-7 ? fabs(" + V(0) + ") : 1e-7)";
        ds = "fabs(" + V(0) + ") >= 1e-7 ? (double)((" + V(0) + " > 0) - (" + V(0) + " < 0)) * " + D(0) +
             " / (2.0 * sqrt(fabs(" + V(0) + "))) : 0.0";
        break;
      case Prim::Tanh: vs = "tanh(" + V(0) + ")"; ds = "(1.0 - u" + std::to_string(at) + " * u" + std::to_string(at) + ") * " + D(0); break;
    }
    const std::string u = "u" + std::to_string(at), t = "t" + std::to_string(at);
    body += "  const double " + u + " = " + vs + ";\n";
    body += "  const double " + t + " = " + ds + ";\n";
    char w[40] = "1.0";
    if (at > 0 && !weights.empty()) std::snprintf(w, sizeof w, "%.17g", weights[at - 1]);
    body += "  const double " + v + " = " + w + " * " + u + ", " + d + " = " + w + " * " + t + ";\n";
    return int(at);
  });
  std::string guard;
  for (char ch : name) guard += char(std::toupper(static_cast<unsigned char>(ch)));
  guard += "_LOSS_H";
  std::string h;
  h += "/* Generated by metaloss: the learned loss\n *   L(y, f) = " + e.str() +
       (weights.empty() ? std::string() : "\n * with learned edge weights (one per non-root node, prefix order) folded in") +
       "\n * y: one-hot target of a class, f: the model's softmax probability of that class.\n"
       " * Protected forms: div(a, b) = a / sqrt(1 + b^2), log(a) = log(max(|a|, 1e-7)),\n"
       " * sqrt(a) = sqrt(max(|a|, 1e-7)). Depends on <math.h> only. */\n";
  h += "#ifndef " + guard + "\n#define " + guard + "\n#include <math.h>\n#include <stddef.h>\n\n";
  h += "/* Value and dL/df of one (y, f) pair. */\nstatic inline double " + name +
       "_pair(double y, double f, double* dl_df) {\n  (void)y;\n" + body + "  if (dl_df) *dl_df = d0;\n  return v0;\n}\n\n";
  return h + c_classification_batch(name) + "\n#endif\n";
}

std::string c_classification_batch(const std::string& name) {
  return "/* The classification loss of a batch: softmax over each row of `logits` [batch x classes],\n"
         " * L summed over classes and averaged over the batch. If grad != NULL it receives dLoss/dlogits. */\n"
         "static inline double " + name +
         "(const double* logits, const long* labels, size_t batch, size_t classes, double* grad) {\n"
         "  double total = 0;\n"
         "  for (size_t b = 0; b < batch; ++b) {\n"
         "    const double* z = logits + b * classes;\n"
         "    double m = z[0], s = 0, gp = 0;\n"
         "    for (size_t c = 1; c < classes; ++c) m = z[c] > m ? z[c] : m;\n"
         "    for (size_t c = 0; c < classes; ++c) s += exp(z[c] - m);\n"
         "    for (size_t c = 0; c < classes; ++c) {\n"
         "      const double p = exp(z[c] - m) / s;\n"
         "      double g = 0;\n"
         "      total += " + name + "_pair(labels[b] == (long)c ? 1.0 : 0.0, p, &g);\n"
         "      if (grad) grad[b * classes + c] = g * p; /* dL/dp_c * p_c, finished below */\n"
         "      gp += g * p;\n"
         "    }\n"
         "    if (grad) /* dL/dz_j = p_j (dL/dp_j - sum_c dL/dp_c p_c), over the batch mean */\n"
         "      for (size_t c = 0; c < classes; ++c) {\n"
         "        const double p = exp(z[c] - m) / s;\n"
         "        grad[b * classes + c] = (grad[b * classes + c] - p * gp) / (double)batch;\n"
         "      }\n"
         "  }\n"
         "  return total / (double)batch;\n}\n";
}

}  // namespace metaloss::losses
