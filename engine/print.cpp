// Printing tensors, PyTorch-style: nested brackets, summarised when large.
#include <iomanip>
#include <ostream>
#include <sstream>

#include "engine/autograd.h"
#include "engine/ops.h"

namespace metaloss {
namespace {
constexpr int64_t kFullPrintLimit = 1000;
constexpr int64_t kEdgeItems = 3;

void print_rec(std::ostream& os, const std::vector<double>& v, const Shape& s, int dim, int64_t off, bool summarise,
               DType t, int indent) {
  auto elem = [&](double x) {
    if (t == DType::Int64) os << int64_t(x);
    else if (t == DType::Bool) os << (x != 0 ? "True" : "False");
    else os << std::setprecision(t == DType::Float64 ? 8 : 5) << x;
  };
  if (dim == s.size()) {
    elem(v[size_t(off)]);
    return;
  }
  int64_t stride = 1;
  for (int d = dim + 1; d < s.size(); ++d) stride *= s[d];
  os << "[";
  const int64_t n = s[dim];
  for (int64_t i = 0; i < n; ++i) {
    if (summarise && n > 2 * kEdgeItems && i == kEdgeItems) {
      os << "...";
      i = n - kEdgeItems - 1;
      if (dim + 1 < s.size()) os << ",\n" << std::string(size_t(indent + 1), ' ');
      else os << ", ";
      continue;
    }
    if (i > 0) {
      if (dim + 1 < s.size()) os << ",\n" << std::string(size_t(indent + 1), ' ');
      else os << ", ";
    }
    print_rec(os, v, s, dim + 1, off + i * stride, summarise, t, indent + 1);
  }
  os << "]";
}
}  // namespace

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  std::ostringstream body;
  std::vector<double> v;
  {
    NoGrad ng;
    v = t.to_vector();
  }
  print_rec(body, v, t.shape(), 0, 0, t.numel() > kFullPrintLimit, t.dtype(), 7);
  os << "tensor(" << body.str() << ", " << t.desc();
  if (t.grad_fn()) os << ", grad_fn=" << t.grad_fn()->name;
  else if (t.requires_grad()) os << ", requires_grad";
  return os << ")";
}

}  // namespace metaloss
