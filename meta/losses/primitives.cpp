#include "meta/losses/primitives.h"

#include <algorithm>
#include <cmath>

namespace metaloss::losses {

namespace {

using S = std::string;
using CForm = std::pair<S, S>;
constexpr double kEps = kProtectEps;

S csign(const S& v) { return "(double)((" + v + " > 0) - (" + v + " < 0))"; }
// min / max: the derivative of the chosen argument, the mean of both at a tie.
CForm cminmax(const S* v, const S* d, const char* lt, const char* gt) {
  return {v[0] + lt + v[1] + " ? " + v[0] + " : " + v[1],
          v[0] + lt + v[1] + " ? " + d[0] + " : (" + v[0] + gt + v[1] + " ? " + d[1] + " : 0.5 * (" + d[0] + " + " +
              d[1] + "))"};
}
// log / sqrt of max(|a|, 1e-7).
S cprotected(const char* fn, const S& v) { return S(fn) + "(fabs(" + v + ") > 1e-7 ? fabs(" + v + ") : 1e-7)"; }
S pyprotected(const char* fn, const S& a) { return S("torch.") + fn + "(torch.clamp(torch.abs(" + a + "), min=1e-7))"; }

constexpr Primitive kTable[kPrimCount] = {
    {Prim::Y, "y", 0, [](const Tensor*, const Tensor& y, const Tensor&) { return y; },
     [](const double*, double y, double) { return y; }, [](const S*) { return S("y"); },
     [](const S*, const S*, const S&) { return CForm{"y", "0.0"}; }, [](const S*) { return S("y"); }},
    {Prim::F, "f", 0, [](const Tensor*, const Tensor&, const Tensor& f) { return f; },
     [](const double*, double, double f) { return f; }, [](const S*) { return S("f(x)"); },
     [](const S*, const S*, const S&) { return CForm{"f", "1.0"}; }, [](const S*) { return S("f"); }},
    {Prim::One, "1", 0,
     [](const Tensor*, const Tensor&, const Tensor& f) { return Tensor::full(f.shape(), 1.0, f.dtype(), f.device()); },
     [](const double*, double, double) { return 1.0; }, [](const S*) { return S("1"); },
     [](const S*, const S*, const S&) { return CForm{"1.0", "0.0"}; }, [](const S*) { return S("torch.ones_like(f)"); }},
    {Prim::MinusOne, "-1", 0,
     [](const Tensor*, const Tensor&, const Tensor& f) { return Tensor::full(f.shape(), -1.0, f.dtype(), f.device()); },
     [](const double*, double, double) { return -1.0; }, [](const S*) { return S("(-1)"); },
     [](const S*, const S*, const S&) { return CForm{"-1.0", "0.0"}; },
     [](const S*) { return S("(-torch.ones_like(f))"); }},
    {Prim::Add, "add", 2, [](const Tensor* k, const Tensor&, const Tensor&) { return add(k[0], k[1]); },
     [](const double* k, double, double) { return k[0] + k[1]; },
     [](const S* k) { return "\\left(" + k[0] + " + " + k[1] + "\\right)"; },
     [](const S* v, const S* d, const S&) { return CForm{v[0] + " + " + v[1], d[0] + " + " + d[1]}; },
     [](const S* k) { return "(" + k[0] + " + " + k[1] + ")"; }},
    {Prim::Sub, "sub", 2, [](const Tensor* k, const Tensor&, const Tensor&) { return sub(k[0], k[1]); },
     [](const double* k, double, double) { return k[0] - k[1]; },
     [](const S* k) { return "\\left(" + k[0] + " - " + k[1] + "\\right)"; },
     [](const S* v, const S* d, const S&) { return CForm{v[0] + " - " + v[1], d[0] + " - " + d[1]}; },
     [](const S* k) { return "(" + k[0] + " - " + k[1] + ")"; }},
    {Prim::Mul, "mul", 2, [](const Tensor* k, const Tensor&, const Tensor&) { return mul(k[0], k[1]); },
     [](const double* k, double, double) { return k[0] * k[1]; }, [](const S* k) { return k[0] + " \\cdot " + k[1]; },
     [](const S* v, const S* d, const S&) {
       return CForm{v[0] + " * " + v[1], d[0] + " * " + v[1] + " + " + v[0] + " * " + d[1]};
     },
     [](const S* k) { return "(" + k[0] + " * " + k[1] + ")"; }},
    // protected division: a / sqrt(1 + b^2)
    {Prim::Div, "div", 2,
     [](const Tensor* k, const Tensor&, const Tensor&) { return div(k[0], sqrt(add(square(k[1]), 1.0))); },
     [](const double* k, double, double) { return k[0] / std::sqrt(1 + k[1] * k[1]); },
     [](const S* k) { return "\\frac{" + k[0] + "}{\\sqrt{1 + " + k[1] + "^2}}"; },
     [](const S* v, const S* d, const S&) {
       const S s = "(1.0 / sqrt(1.0 + " + v[1] + " * " + v[1] + "))";
       return CForm{v[0] + " * " + s,
                    d[0] + " * " + s + " - " + v[0] + " * " + v[1] + " * " + d[1] + " * " + s + " * " + s + " * " + s};
     },
     [](const S* k) { return "(" + k[0] + " / torch.sqrt(1 + " + k[1] + " ** 2))"; }},
    {Prim::Min, "min", 2, [](const Tensor* k, const Tensor&, const Tensor&) { return minimum(k[0], k[1]); },
     [](const double* k, double, double) { return std::min(k[0], k[1]); },
     [](const S* k) { return "\\min\\left(" + k[0] + ", " + k[1] + "\\right)"; },
     [](const S* v, const S* d, const S&) { return cminmax(v, d, " < ", " > "); },
     [](const S* k) { return "torch.minimum(" + k[0] + ", " + k[1] + ")"; }},
    {Prim::Max, "max", 2, [](const Tensor* k, const Tensor&, const Tensor&) { return maximum(k[0], k[1]); },
     [](const double* k, double, double) { return std::max(k[0], k[1]); },
     [](const S* k) { return "\\max\\left(" + k[0] + ", " + k[1] + "\\right)"; },
     [](const S* v, const S* d, const S&) { return cminmax(v, d, " > ", " < "); },
     [](const S* k) { return "torch.maximum(" + k[0] + ", " + k[1] + ")"; }},
    {Prim::Sign, "sign", 1, [](const Tensor* k, const Tensor&, const Tensor&) { return sign(k[0]); },
     [](const double* k, double, double) { return double((k[0] > 0) - (k[0] < 0)); },
     [](const S* k) { return "\\operatorname{sign}\\left(" + k[0] + "\\right)"; },
     [](const S* v, const S*, const S&) { return CForm{csign(v[0]), "0.0"}; },
     [](const S* k) { return "torch.sign(" + k[0] + ")"; }},
    {Prim::Square, "square", 1, [](const Tensor* k, const Tensor&, const Tensor&) { return square(k[0]); },
     [](const double* k, double, double) { return k[0] * k[0]; },
     [](const S* k) { return "\\left(" + k[0] + "\\right)^2"; },
     [](const S* v, const S* d, const S&) { return CForm{v[0] + " * " + v[0], "2.0 * " + v[0] + " * " + d[0]}; },
     [](const S* k) { return "torch.square(" + k[0] + ")"; }},
    {Prim::Abs, "abs", 1, [](const Tensor* k, const Tensor&, const Tensor&) { return abs(k[0]); },
     [](const double* k, double, double) { return std::abs(k[0]); },
     [](const S* k) { return "\\left|" + k[0] + "\\right|"; },
     [](const S* v, const S* d, const S&) { return CForm{"fabs(" + v[0] + ")", csign(v[0]) + " * " + d[0]}; },
     [](const S* k) { return "torch.abs(" + k[0] + ")"; }},
    // protected log: log(max(|a|, 1e-7))
    {Prim::Log, "log", 1,
     [](const Tensor* k, const Tensor&, const Tensor&) { return log(clamp(abs(k[0]), kEps, INFINITY)); },
     [](const double* k, double, double) { return std::log(std::max(std::abs(k[0]), kEps)); },
     [](const S* k) { return "\\log\\left|" + k[0] + "\\right|"; },
     [](const S* v, const S* d, const S&) {
       return CForm{cprotected("log", v[0]), "fabs(" + v[0] + ") >= 1e-7 ? " + d[0] + " / " + v[0] + " : 0.0"};
     },
     [](const S* k) { return pyprotected("log", k[0]); }},
    // protected sqrt: sqrt(max(|a|, 1e-7))
    {Prim::Sqrt, "sqrt", 1,
     [](const Tensor* k, const Tensor&, const Tensor&) { return sqrt(clamp(abs(k[0]), kEps, INFINITY)); },
     [](const double* k, double, double) { return std::sqrt(std::max(std::abs(k[0]), kEps)); },
     [](const S* k) { return "\\sqrt{\\left|" + k[0] + "\\right|}"; },
     [](const S* v, const S* d, const S&) {
       return CForm{cprotected("sqrt", v[0]), "fabs(" + v[0] + ") >= 1e-7 ? " + csign(v[0]) + " * " + d[0] +
                                                  " / (2.0 * sqrt(fabs(" + v[0] + "))) : 0.0"};
     },
     [](const S* k) { return pyprotected("sqrt", k[0]); }},
    {Prim::Tanh, "tanh", 1, [](const Tensor* k, const Tensor&, const Tensor&) { return tanh(k[0]); },
     [](const double* k, double, double) { return std::tanh(k[0]); },
     [](const S* k) { return "\\tanh\\left(" + k[0] + "\\right)"; },
     [](const S* v, const S* d, const S& u) { return CForm{"tanh(" + v[0] + ")", "(1.0 - " + u + " * " + u + ") * " + d[0]}; },
     [](const S* k) { return "torch.tanh(" + k[0] + ")"; }},
};

// The rows are in enum order, so primitive(p) is an index (checked once at compile time).
constexpr bool in_enum_order() {
  for (int i = 0; i < kPrimCount; ++i)
    if (int(kTable[i].prim) != i) return false;
  return true;
}
static_assert(in_enum_order(), "primitives.cpp: kTable must list the primitives in the order of enum Prim");

}  // namespace

const Primitive& primitive(Prim p) { return kTable[int(p)]; }

}  // namespace metaloss::losses
