#include "meta/losses/simplify.h"

#include <cmath>
#include <stdexcept>

#ifdef METALOSS_WITH_GINAC
#include <ginac/ginac.h>

#include <algorithm>
#include <cctype>
#include <sstream>
#include <tuple>
#include <vector>
#endif

#ifdef METALOSS_WITH_GINAC
// Outside namespace metaloss, whose mul, abs, log, ... would hide GiNaC's.
namespace metaloss_ginac {
using namespace GiNaC;
// The protected and piecewise primitives, kept symbolic. Each evaluates for numeric arguments
// (exactly for rationals, in floating point for floats) and otherwise stays as it is.
DECLARE_FUNCTION_1P(mlog)
DECLARE_FUNCTION_1P(msqrt)
DECLARE_FUNCTION_1P(msign)
DECLARE_FUNCTION_2P(mmin)
DECLARE_FUNCTION_2P(mmax)

const numeric& eps() {  // the protected floor, as Expression uses it
  static const numeric e(1, 10000000);
  return e;
}
// |x| floored at 1e-7 (a float floor for a float x, like the double code).
numeric floored(const numeric& x) {
  const numeric a = abs(x);
  if (a < eps()) return x.is_rational() ? eps() : numeric(1e-7);
  return a;
}
// The argument of an even function: |.| and a negative numeric factor dropped.
bool strip_even(const ex& x, ex& out) {
  if (is_ex_the_function(x, abs)) {
    out = x.op(0);
    return true;
  }
  if (is_exactly_a<mul>(x)) {
    const ex c = x.op(x.nops() - 1);
    if (is_exactly_a<numeric>(c) && ex_to<numeric>(c).is_negative()) {
      out = -x;
      return true;
    }
  }
  return false;
}

ex mlog_eval(const ex& x) {
  if (is_exactly_a<numeric>(x)) return log(ex(floored(ex_to<numeric>(x))));
  ex inner;
  if (strip_even(x, inner)) return mlog(inner);
  return mlog(x).hold();
}
ex mlog_evalf(const ex& x) {
  const ex v = x.evalf();
  if (is_exactly_a<numeric>(v)) return log(floored(ex_to<numeric>(v)));
  return mlog(v).hold();
}
ex msqrt_eval(const ex& x) {
  if (is_exactly_a<numeric>(x)) return sqrt(ex(floored(ex_to<numeric>(x))));
  ex inner;
  if (strip_even(x, inner)) return msqrt(inner);
  return msqrt(x).hold();
}
ex msqrt_evalf(const ex& x) {
  const ex v = x.evalf();
  if (is_exactly_a<numeric>(v)) return sqrt(floored(ex_to<numeric>(v)));
  return msqrt(v).hold();
}
ex msign_eval(const ex& x) {
  if (is_exactly_a<numeric>(x) && x.info(info_flags::real)) return ex_to<numeric>(x).csgn();
  if (x.info(info_flags::positive)) return 1;
  if (x.info(info_flags::negative)) return -1;
  if (is_ex_the_function(x, msign)) return x;  // sign(sign(a)) = sign(a)
  return msign(x).hold();
}
ex msign_evalf(const ex& x) {
  const ex v = x.evalf();
  if (is_exactly_a<numeric>(v) && v.info(info_flags::real)) return ex_to<numeric>(v).csgn();
  return msign(v).hold();
}
// min / max: numbers compared, equal arguments merged, the arguments in GiNaC's order (so that
// min(a, b) and min(b, a) are one object in this process; the printer sorts them by text).
template <bool Min>
ex minmax_eval(const ex& a, const ex& b) {
  if (is_exactly_a<numeric>(a) && is_exactly_a<numeric>(b) && a.info(info_flags::real) && b.info(info_flags::real)) {
    const bool a_less = ex_to<numeric>(a) < ex_to<numeric>(b);
    return Min == a_less ? a : b;
  }
  if (a.is_equal(b)) return a;
  if (a.compare(b) > 0) return Min ? mmin(b, a).hold() : mmax(b, a).hold();
  return Min ? mmin(a, b).hold() : mmax(a, b).hold();
}
template <bool Min>
ex minmax_evalf(const ex& a, const ex& b) {
  const ex u = a.evalf(), v = b.evalf();
  if (is_exactly_a<numeric>(u) && is_exactly_a<numeric>(v) && u.info(info_flags::real) && v.info(info_flags::real))
    return (ex_to<numeric>(u) < ex_to<numeric>(v)) == Min ? u : v;
  return Min ? mmin(u, v).hold() : mmax(u, v).hold();
}
ex mmin_eval(const ex& a, const ex& b) { return minmax_eval<true>(a, b); }
ex mmax_eval(const ex& a, const ex& b) { return minmax_eval<false>(a, b); }
ex mmin_evalf(const ex& a, const ex& b) { return minmax_evalf<true>(a, b); }
ex mmax_evalf(const ex& a, const ex& b) { return minmax_evalf<false>(a, b); }

REGISTER_FUNCTION(mlog, eval_func(mlog_eval).evalf_func(mlog_evalf))
REGISTER_FUNCTION(msqrt, eval_func(msqrt_eval).evalf_func(msqrt_evalf))
REGISTER_FUNCTION(msign, eval_func(msign_eval).evalf_func(msign_evalf))
REGISTER_FUNCTION(mmin, eval_func(mmin_eval).evalf_func(mmin_evalf))
REGISTER_FUNCTION(mmax, eval_func(mmax_eval).evalf_func(mmax_evalf))
}  // namespace metaloss_ginac
#endif

namespace metaloss::losses {

#ifndef METALOSS_WITH_GINAC

const char* simplify_backend() { return "canonical"; }
std::string simplify_key_scheme() { return "canonical"; }

Simplified simplify(const Expression& e) {
  const Expression c = e.canonical();
  return {c.str(), c.latex(), false, false};
}

std::vector<double> simplified_values(const Expression& e, const std::vector<std::array<double, 2>>& points, int) {
  std::vector<double> out;
  for (const auto& p : points) out.push_back(e.value(p[0], p[1]));
  return out;
}

#else

const char* simplify_backend() { return "ginac"; }
// Bump "keys v1" whenever the conversion, the sign rules, the bounds or the printer change.
std::string simplify_key_scheme() {
  return "ginac " + std::to_string(GINACLIB_MAJOR_VERSION) + "." + std::to_string(GINACLIB_MINOR_VERSION) + "." +
         std::to_string(GINACLIB_MICRO_VERSION) + ", keys v1";
}


namespace {

using GiNaC::ex;
using GiNaC::ex_to;
using GiNaC::is_exactly_a;

// Products are multiplied out up to this many terms (an upper bound from the tree).
constexpr double kMaxTerms = 64;
// Larger trees are not simplified at all (their canonical text): GiNaC's work on a tree of
// ~1000 arithmetic nodes runs to tens of ms even with expansion bounded.
constexpr size_t kMaxNodes = 512;

// The symbols, made once and in a fixed order.
struct Symbols {
  GiNaC::realsymbol y{"y"}, f{"f"};
};
const Symbols& symbols() {
  static const Symbols s;
  return s;
}

// A subtree as GiNaC sees it, with bounds on what a full expand() of it would produce:
// terms (as a sum) and the largest expansion anywhere inside (function arguments excluded, they
// are expanded separately).
struct Built {
  ex e;
  double terms = 1, cost = 1;
  bool expanded = false;  // e is expanded already
};

struct Builder {
  bool complete = true;  // every part multiplied out

  // A child that will not be expanded with its parent: expand it on its own when small enough.
  void settle(Built& b) {
    if (b.expanded) return;
    if (b.cost <= kMaxTerms) {
      b.e = b.e.expand();
      b.expanded = true;
    } else {
      complete = false;
    }
  }
  Built combine(ex e, double terms, double cost, std::vector<Built*> kids) {
    Built b{std::move(e), terms, cost, false};
    if (cost > kMaxTerms) {  // this node will never be expanded as a whole: expand what can be
      for (Built* k : kids) settle(*k);
      complete = false;
    }
    return b;
  }
  // A function argument: expanded on its own (GiNaC's expand() does not enter functions).
  ex argument(Built& b) {
    settle(b);
    return b.e;
  }
};

struct Out {
  std::string text, latex;
};
Out print(const ex& e);

// Whether x is the negative of the sign-representative of {x, -x}, for odd and even functions:
// a product with a negative numeric factor (-a, -2 a b), or a sum whose negation prints first
// (f - y for y - f, 1 + f for -1 - f). Decided on our text, so the same in every process.
bool negated(const ex& x) {
  if (is_exactly_a<GiNaC::numeric>(x)) return false;  // a number: the function evaluates it
  if (is_exactly_a<GiNaC::mul>(x)) {
    const ex c = x.op(x.nops() - 1);
    return is_exactly_a<GiNaC::numeric>(c) && ex_to<GiNaC::numeric>(c).is_negative();
  }
  if (is_exactly_a<GiNaC::add>(x)) {  // the one that does not start with a minus, else the first in text order
    const std::string t = print(x).text, n = print(-x).text;
    const bool tm = !t.empty() && t[0] == '-', nm = !n.empty() && n[0] == '-';
    return tm != nm ? tm : n < t;
  }
  return false;
}
// The sign-representative of an even function's argument.
ex even(const ex& x) { return negated(x) ? ex(-x) : x; }

Built build(const Expression& e, size_t& i, Builder& bd) {
  namespace F = metaloss_ginac;
  const Prim p = e.nodes[i++];
  const Symbols& s = symbols();
  switch (p) {
    case Prim::Y: return {s.y, 1, 1, true};
    case Prim::F: return {s.f, 1, 1, true};
    case Prim::One: return {ex(1), 1, 1, true};
    case Prim::MinusOne: return {ex(-1), 1, 1, true};
    default: break;
  }
  Built a = build(e, i, bd);
  if (arity(p) == 2) {
    Built b = build(e, i, bd);
    switch (p) {
      case Prim::Add:
      case Prim::Sub: {
        const double t = a.terms + b.terms;
        Built out = bd.combine(ex(), t, std::max({a.cost, b.cost, t}), {&a, &b});
        out.e = p == Prim::Add ? a.e + b.e : a.e - b.e;
        return out;
      }
      case Prim::Mul: {
        const double t = a.terms * b.terms;
        Built out = bd.combine(ex(), t, std::max({a.cost, b.cost, t}), {&a, &b});
        out.e = a.e * b.e;
        return out;
      }
      case Prim::Div: {  // a / sqrt(1 + b^2): expand() multiplies out the base of the power
        const double base = 1 + b.terms * b.terms;
        Built out = bd.combine(ex(), a.terms, std::max({a.cost, b.cost, base}), {&a, &b});
        out.e = a.e * GiNaC::pow(1 + GiNaC::pow(b.e, 2), GiNaC::numeric(-1, 2));
        return out;
      }
      case Prim::Min: return {F::mmin(bd.argument(a), bd.argument(b)), 1, 1, false};
      case Prim::Max: return {F::mmax(bd.argument(a), bd.argument(b)), 1, 1, false};
      default: break;
    }
    throw std::logic_error("simplify: binary primitive " + std::string(prim_name(p)));
  }
  switch (p) {
    case Prim::Square: {
      const double t = a.terms * a.terms;
      Built out = bd.combine(ex(), t, std::max(a.cost, t), {&a});
      out.e = GiNaC::pow(a.e, 2);
      return out;
    }
    case Prim::Sign: {  // odd too
      const ex x = bd.argument(a);
      return {negated(x) ? -F::msign(-x) : F::msign(x), 1, 1, false};
    }
    case Prim::Abs: return {GiNaC::abs(even(bd.argument(a))), 1, 1, false};
    case Prim::Log: return {F::mlog(even(bd.argument(a))), 1, 1, false};
    case Prim::Sqrt: return {F::msqrt(even(bd.argument(a))), 1, 1, false};
    case Prim::Tanh: {  // odd: tanh(-a) = -tanh(a), so both spellings meet
      const ex x = bd.argument(a);
      return {negated(x) ? -GiNaC::tanh(-x) : GiNaC::tanh(x), 1, 1, false};
    }
    default: break;
  }
  throw std::logic_error("simplify: unary primitive " + std::string(prim_name(p)));
}

// ---- the printer: text and LaTeX, operands ordered by their text -------------------------

bool is_num(const ex& e) { return is_exactly_a<GiNaC::numeric>(e); }

std::string num_text(const GiNaC::numeric& n) {
  std::ostringstream os;
  os << n;
  return os.str();
}

Out print(const ex& e);

// Whether e needs parentheses as the base of a power or a factor of a product.
bool compound(const ex& e, bool as_base) {
  if (is_exactly_a<GiNaC::add>(e)) return true;
  if (as_base && (is_exactly_a<GiNaC::mul>(e) || is_exactly_a<GiNaC::power>(e))) return true;
  if (is_num(e)) {
    const GiNaC::numeric& n = ex_to<GiNaC::numeric>(e);
    return n.is_negative() || (as_base && !n.is_integer());
  }
  return false;
}
Out paren(const ex& e, bool as_base) {
  Out o = print(e);
  if (!compound(e, as_base)) return o;
  return {"(" + o.text + ")", "\\left(" + o.latex + "\\right)"};
}

// b^k for a positive rational k.
Out power_out(const ex& b, const GiNaC::numeric& k) {
  if (k == 1) return paren(b, false);
  if (k == GiNaC::numeric(1, 2)) {
    const Out o = print(b);
    return {"sqrt(" + o.text + ")", "\\sqrt{" + o.latex + "}"};
  }
  const Out o = paren(b, true);
  const std::string ks = num_text(k);
  return {o.text + "^" + (k.is_integer() ? ks : "(" + ks + ")"), "{" + o.latex + "}^{" + ks + "}"};
}

// A product (or any single factor): coefficient, numerator and denominator factors.
Out product_out(const ex& e) {
  GiNaC::numeric coeff = 1;
  std::vector<Out> num, den;
  auto factor = [&](const ex& x) {
    if (is_num(x)) {
      coeff *= ex_to<GiNaC::numeric>(x);
      return;
    }
    if (is_exactly_a<GiNaC::power>(x) && is_num(x.op(1)) && ex_to<GiNaC::numeric>(x.op(1)).is_rational()) {
      const GiNaC::numeric k = ex_to<GiNaC::numeric>(x.op(1));
      if (k.is_negative()) den.push_back(power_out(x.op(0), -k));
      else num.push_back(power_out(x.op(0), k));
      return;
    }
    if (is_exactly_a<GiNaC::power>(x)) {  // (not produced by simplify: exponents are rational)
      const Out b = paren(x.op(0), true), k = paren(x.op(1), true);
      num.push_back({b.text + "^" + k.text, "{" + b.latex + "}^{" + k.latex + "}"});
      return;
    }
    num.push_back(paren(x, false));
  };
  if (is_exactly_a<GiNaC::mul>(e))
    for (size_t i = 0; i < e.nops(); ++i) factor(e.op(i));
  else
    factor(e);
  auto by_text = [](const Out& a, const Out& b) { return a.text < b.text; };
  std::sort(num.begin(), num.end(), by_text);
  std::sort(den.begin(), den.end(), by_text);
  const bool negative = coeff.is_negative();
  const GiNaC::numeric c = GiNaC::abs(coeff), p = c.numer(), q = c.denom();
  if (p != 1 || num.empty()) num.insert(num.begin(), {num_text(p), num_text(p)});
  if (q != 1) den.insert(den.begin(), {num_text(q), num_text(q)});
  auto join = [](const std::vector<Out>& v, const char* ts, const char* ls) {
    Out o;
    for (size_t i = 0; i < v.size(); ++i) {
      o.text += (i ? ts : "") + v[i].text;
      o.latex += (i ? ls : "") + v[i].latex;
    }
    return o;
  };
  const Out n = join(num, "*", " "), d = join(den, "*", " ");
  Out o;
  if (den.empty()) o = n;
  else {
    o.text = n.text + "/" + (den.size() > 1 ? "(" + d.text + ")" : d.text);
    o.latex = "\\frac{" + n.latex + "}{" + d.latex + "}";
  }
  if (negative) {
    o.text = "-" + o.text;
    o.latex = "-" + o.latex;
  }
  return o;
}

Out function_out(const GiNaC::function& fn) {
  namespace F = metaloss_ginac;
  std::vector<Out> args;
  for (size_t i = 0; i < fn.nops(); ++i) args.push_back(print(fn.op(i)));
  const unsigned s = fn.get_serial();
  if (s == F::mmin_SERIAL::serial || s == F::mmax_SERIAL::serial) {
    std::sort(args.begin(), args.end(), [](const Out& a, const Out& b) { return a.text < b.text; });
    const char* name = s == F::mmin_SERIAL::serial ? "min" : "max";
    return {std::string(name) + "(" + args[0].text + ", " + args[1].text + ")",
            std::string("\\") + name + "\\left(" + args[0].latex + ", " + args[1].latex + "\\right)"};
  }
  const Out& a = args.at(0);
  if (s == F::mlog_SERIAL::serial) return {"log(" + a.text + ")", "\\log\\left|" + a.latex + "\\right|"};
  if (s == F::msqrt_SERIAL::serial) return {"sqrt(" + a.text + ")", "\\sqrt{\\left|" + a.latex + "\\right|}"};
  if (s == F::msign_SERIAL::serial)
    return {"sign(" + a.text + ")", "\\operatorname{sign}\\left(" + a.latex + "\\right)"};
  const std::string name = fn.get_name();
  if (name == "abs") return {"abs(" + a.text + ")", "\\left|" + a.latex + "\\right|"};
  if (name == "tanh") return {"tanh(" + a.text + ")", "\\tanh\\left(" + a.latex + "\\right)"};
  if (name == "log") return {"log(" + a.text + ")", "\\log\\left(" + a.latex + "\\right)"};  // of a constant
  Out o{name + "(", "\\operatorname{" + name + "}\\left("};
  for (size_t i = 0; i < args.size(); ++i) {
    o.text += (i ? ", " : "") + args[i].text;
    o.latex += (i ? ", " : "") + args[i].latex;
  }
  return {o.text + ")", o.latex + "\\right)"};
}

Out print(const ex& e) {
  if (is_num(e)) {
    const GiNaC::numeric& n = ex_to<GiNaC::numeric>(e);
    if (n.is_rational() && !n.is_integer()) {
      const std::string p = num_text(GiNaC::abs(n.numer())), q = num_text(n.denom());
      return {num_text(n), std::string(n.is_negative() ? "-" : "") + "\\frac{" + p + "}{" + q + "}"};
    }
    return {num_text(n), num_text(n)};
  }
  if (is_exactly_a<GiNaC::realsymbol>(e) || GiNaC::is_a<GiNaC::symbol>(e)) {
    const std::string name = ex_to<GiNaC::symbol>(e).get_name();
    return {name, name};
  }
  if (is_exactly_a<GiNaC::add>(e)) {
    // Terms ordered by their text without the sign, constants last.
    std::vector<std::tuple<bool, std::string, Out>> terms;
    for (size_t i = 0; i < e.nops(); ++i) {
      Out o = print(e.op(i));
      // Sorted by the term without its sign and numeric coefficient ("-3/2*f*y" as "f*y").
      size_t from = !o.text.empty() && o.text[0] == '-' ? 1 : 0, j = from;
      while (j < o.text.size() && (std::isdigit(static_cast<unsigned char>(o.text[j])) || o.text[j] == '/')) ++j;
      if (j > from && j < o.text.size() && o.text[j] == '*') from = j + 1;
      std::string key = o.text.substr(from);
      terms.emplace_back(is_num(e.op(i)), std::move(key), std::move(o));
    }
    std::sort(terms.begin(), terms.end(), [](const auto& a, const auto& b) {
      if (std::get<0>(a) != std::get<0>(b)) return std::get<0>(b);
      if (std::get<1>(a) != std::get<1>(b)) return std::get<1>(a) < std::get<1>(b);
      return std::get<2>(a).text < std::get<2>(b).text;
    });
    Out o;
    for (size_t i = 0; i < terms.size(); ++i) {
      const Out& t = std::get<2>(terms[i]);
      const bool neg = !t.text.empty() && t.text[0] == '-';
      if (i == 0) {
        o = t;
        continue;
      }
      o.text += neg ? " - " + t.text.substr(1) : " + " + t.text;
      o.latex += neg ? " - " + t.latex.substr(1) : " + " + t.latex;
    }
    return o;
  }
  if (is_exactly_a<GiNaC::mul>(e) || is_exactly_a<GiNaC::power>(e)) return product_out(e);
  if (is_exactly_a<GiNaC::function>(e)) return function_out(ex_to<GiNaC::function>(e));
  std::ostringstream os;  // (not produced by simplify)
  os << e;
  std::ostringstream ls;
  e.print(GiNaC::print_latex(ls));
  return {os.str(), ls.str()};
}

}  // namespace

Simplified simplify(const Expression& e) {
  if (!e.valid()) throw std::invalid_argument("simplify: not a well-formed tree");
  if (e.size() > kMaxNodes) {
    const Expression c = e.canonical();
    return {c.str(), c.latex(), false, false};
  }
  Builder bd;
  size_t i = 0;
  Built root = build(e, i, bd);
  bd.settle(root);
  Out o = print(root.e);
  return {std::move(o.text), std::move(o.latex), true, bd.complete};
}

std::vector<double> simplified_values(const Expression& e, const std::vector<std::array<double, 2>>& points,
                                      int digits) {
  if (!e.valid()) throw std::invalid_argument("simplified_values: not a well-formed tree");
  Builder bd;
  size_t i = 0;
  Built root = build(e, i, bd);
  bd.settle(root);
  const Symbols& s = symbols();
  const long saved = GiNaC::Digits;
  GiNaC::Digits = digits;
  std::vector<double> out;
  try {
    for (const auto& p : points) {
      GiNaC::exmap m;
      m[s.y] = GiNaC::numeric(p[0]);
      m[s.f] = GiNaC::numeric(p[1]);
      const ex v = root.e.subs(m).evalf();
      out.push_back(is_num(v) && v.info(GiNaC::info_flags::real) ? ex_to<GiNaC::numeric>(v).to_double() : NAN);
    }
  } catch (...) {
    GiNaC::Digits = saved;
    throw;
  }
  GiNaC::Digits = saved;
  return out;
}

#endif

std::string equivalence_key(const std::string& genome) {
  if (genome.find(" @ ") != std::string::npos) return genome;  // GLO phase 2: weights per edge of this tree
  Expression e;
  try {
    e = Expression::parse(genome);
  } catch (const std::invalid_argument&) {
    return genome;
  }
  try {
    const Simplified s = simplify(e);
    std::string key(1, s.symbolic ? '=' : '#');  // a canonical text (a tree too large) apart
    key += s.text;
    return key;
  } catch (const std::exception&) {
    // GiNaC failed on this tree (deterministically, in every process): its exact canonical text.
    return "#" + e.canonical().str();
  }
}

}  // namespace metaloss::losses
