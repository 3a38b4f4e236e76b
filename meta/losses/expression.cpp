#include "meta/losses/expression.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <stdexcept>

namespace metaloss::losses {

namespace {

constexpr double kEps = kProtectEps;

}  // namespace

int arity(Prim p) { return primitive(p).arity; }
const char* prim_name(Prim p) { return primitive(p).name; }

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
    const Primitive* info = nullptr;
    for (int p = 0; p < kPrimCount; ++p)
      if (word == primitive(Prim(p)).name) info = &primitive(Prim(p));
    if (!info) {
      std::string fns;
      for (Prim p : functions()) fns += std::string(fns.empty() ? "" : ", ") + prim_name(p);
      throw fail("unknown name '" + word + "' (terminals y, f, 1, -1; functions " + fns + ")");
    }
    e.nodes.push_back(info->prim);
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



std::string Expression::latex(const std::vector<double>& weights) const {
  if (!valid()) throw std::invalid_argument("expression: not a well-formed tree");
  if (!weights.empty() && weights.size() != nodes.size() - 1)
    throw std::invalid_argument("expression latex: " + std::to_string(weights.size()) + " edge weights for " +
                                std::to_string(nodes.size() - 1) + " edges");
  size_t i = 0;
  return fold<std::string>(nodes, i, [&](size_t at, const std::vector<std::string>& k) -> std::string {
    const std::string body = primitive(nodes[at]).latex(k.data());
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
    Tensor v = primitive(nodes[at]).tensor(k.data(), y, f);
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
    return primitive(nodes[at]).scalar(k.data(), y, f);
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
    // Variable names (std::string(1, ch).append(...) rather than "v" + to_string(...): GCC 12's
    // -Wrestrict false positive on operator+(const char*, string&&)).
    auto var = [](char c, size_t n) { return std::string(1, c).append(std::to_string(n)); };
    const std::string v = var('v', at), d = var('d', at), u = var('u', at), t = var('t', at);
    std::vector<std::string> cv, cd;  // the children's values and derivatives
    for (int c : k) {
      cv.push_back(var('v', size_t(c)));
      cd.push_back(var('d', size_t(c)));
    }
    const auto [vs, ds] = primitive(e.nodes[at]).c(cv.data(), cd.data(), u);
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
