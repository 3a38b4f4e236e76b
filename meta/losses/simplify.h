// Symbolic simplification of loss expressions (GiNaC, when the build has it: METALOSS_GINAC),
// for display and for the equivalence cache of the GP searches.
//
// The tree becomes a GiNaC expression over the real symbols y and f: add, sub, mul, square and the
// protected div (a * (1 + b^2)^(-1/2)) as GiNaC arithmetic, abs and tanh as GiNaC's builtins (exact
// for real arguments), and the protected log (log(max(|a|, 1e-7))) and sqrt (sqrt(max(|a|, 1e-7))),
// min, max and sign as functions of their own, so they stay symbolic and keep their protected
// meaning (log(0) is log(1e-7), not -inf). Then it is expanded (sums of products multiplied out,
// like terms collected; the arguments of functions expanded on their own) and printed by our own
// printer, which sorts the terms of sums, the factors of products and the arguments of min/max by
// their text: GiNaC's own print order follows hash values that may differ between processes, and
// the text is a cache key that must be the same after a resume.
//
// Bounded work: a product is multiplied out only where its expansion has at most kMaxTerms terms
// (an upper bound computed on the tree before GiNaC sees it); larger parts stay as products of
// expanded factors (`expanded` false). Equivalent trees then may get different texts, never
// the other way round: equal text always means the same function of (y, f).
//
// A tree of more than 512 nodes is not simplified (GiNaC could take tens of ms on it), and a
// build without GiNaC simplifies nothing: then text is the canonical tree text
// (Expression::canonical), latex Expression::latex, and `symbolic` is false.
#pragma once
#include <array>
#include <string>
#include <vector>

#include "meta/losses/expression.h"

namespace metaloss::losses {

struct Simplified {
  std::string text;    // deterministic one-line form, e.g. "2*f - y*log(f)"; the same for equivalent trees
  std::string latex;   // the same form in LaTeX (f written f)
  bool symbolic = false;  // simplified by GiNaC (false: canonical text: no GiNaC, or a tree over 512 nodes)
  bool expanded = false;  // multiplied out in full (false: a part was too large to expand)
};

// "ginac" when this build simplifies with GiNaC, "canonical" otherwise.
const char* simplify_backend();
// What a run records for its cache keys: "canonical", or for GiNaC its version and this code's
// key scheme ("ginac 1.8.6, keys v1"), since both decide which trees share a key; a run is only
// continued with the same one.
std::string simplify_key_scheme();

// Throws std::invalid_argument for a malformed tree.
Simplified simplify(const Expression& e);

// The value of simplify(e)'s GiNaC form at each (y, f), evaluated by GiNaC with `digits` decimal
// digits (tests check it against Expression::value). Without GiNaC: Expression::value.
std::vector<double> simplified_values(const Expression& e, const std::vector<std::array<double, 2>>& points,
                                      int digits = 30);

// The equivalence-cache key of a genome: the simplified text of a plain expression ("=" + text,
// so it never equals a genome; "#" + canonical text where it was not simplified), the genome
// itself for anything else (a weighted "EXPR @ [w...]"
// genome of GLO's second phase, text that does not parse).
std::string equivalence_key(const std::string& genome);

}  // namespace metaloss::losses
