// libFuzzer target for the expression parser and evaluator (meta/losses/expression.*) and the GP
// operators that edit trees (meta/search/gp.*). For any input: parse either throws
// std::invalid_argument or yields a tree whose canonical text parses back to the same tree; the
// scalar and engine evaluations agree (or are both non-finite); export/LaTeX do not crash;
// crossover, mutation and repair keep trees well formed. Build and run: scripts/fuzz.sh.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "meta/losses/expression.h"
#include "meta/search/gp.h"

using metaloss::losses::Expression;

namespace {
[[noreturn]] void die(const char* what, const std::string& text) {
  std::fprintf(stderr, "fuzz_expression: %s for input '%s'\n", what, text.c_str());
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  Expression e;
  try {
    e = Expression::parse(text);
  } catch (const std::invalid_argument&) {
    return 0;  // rejected with a message: fine
  }
  if (!e.valid()) die("parse returned an invalid tree", text);
  const std::string canon = e.str();
  if (!(Expression::parse(canon) == e)) die("canonical text does not round-trip", text);
  (void)e.latex();
  (void)metaloss::losses::export_c_header(e, "fuzz");
  if (e.size() > 400) return 0;  // keep the engine part fast
  using namespace metaloss;
  const double ys[] = {0, 1, 1, 0}, fs[] = {0.25, 0.9, 1e-9, 0};
  const Tensor y = Tensor::from_vector(std::vector<double>(ys, ys + 4), Shape{4}, DType::Float64);
  const Tensor f = Tensor::from_vector(std::vector<double>(fs, fs + 4), Shape{4}, DType::Float64);
  const auto v = e.evaluate(y, f).to_vector();
  for (int i = 0; i < 4; ++i) {
    const double ref = e.value(ys[i], fs[i]);
    if (std::isfinite(ref) != std::isfinite(v[size_t(i)])) die("engine and scalar disagree on finiteness", text);
    if (std::isfinite(ref) && std::abs(ref - v[size_t(i)]) > 1e-9 * (1 + std::abs(ref)))
      die("engine and scalar values differ", text);
  }
  Generator gen(size);
  Expression a = e, b = Expression::parse("add(mul(y, f), sub(f, 1))");
  metaloss::search::crossover(a, b, gen);
  metaloss::search::mutate(a, gen, 0, 2);
  metaloss::search::repair(a, gen);
  if (!a.valid() || !b.valid() || !a.uses_y() || !a.uses_f()) die("GP operators broke a tree", text);
  if (!(Expression::parse(a.str()) == a)) die("GP offspring does not round-trip", text);
  return 0;
}
