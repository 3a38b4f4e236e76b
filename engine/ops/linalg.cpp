// matmul (batched, broadcast batch dims) on GEMM, and linear.
#include "engine/ops/common.h"

namespace metaloss {
using namespace detail;

namespace {

// How a 2-d matrix view is handed to GEMM without copying: row-major with leading dim `ld`,
// possibly transposed. Returns false if neither layout fits (then the caller copies).
bool gemm_layout(int64_t rs, int64_t cs, int64_t rows, int64_t cols, bool& trans, int64_t& ld) {
  // The stride of a size-1 dim is never used: canonicalise it so a 1 x n or n x 1 view fits.
  if (cols == 1) cs = 1;
  if (rows == 1) rs = std::max<int64_t>(cols, 1);
  if (cs == 1 && (rs >= cols || rows == 1)) {
    trans = false;
    ld = rows == 1 ? std::max<int64_t>(cols, 1) : rs;
    return true;
  }
  if (rs == 1 && (cs >= rows || cols == 1)) {
    trans = true;
    ld = cols == 1 ? std::max<int64_t>(rows, 1) : cs;
    return true;
  }
  return false;
}

// A 2-d [r, c] view of dense column-major memory (the transpose of a dense [c, r] matrix).
bool is_transposed_dense(const Tensor& t) {
  return t.dim() == 2 && t.shape()[0] > 1 && t.shape()[1] > 1 && t.strides()[0] == 1 && t.strides()[1] == t.shape()[0];
}

// out[..., m, n] = a[..., m, k] @ b[..., k, n], batch dims already broadcast to `batch`.
Tensor bmm_fwd(Tensor a, Tensor b, const Shape& batch) {
  const int64_t m = a.shape()[a.dim() - 2], k = a.shape()[a.dim() - 1], n = b.shape()[b.dim() - 1];
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  if (k == 0) {
    out.fill_(0);
    return out;
  }

  kernels::GemmArgs g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.ldc = n;
  auto layout = [](Tensor& t, bool& trans, int64_t& ld) {
    const int d = t.dim();
    if (!gemm_layout(t.strides()[d - 2], t.strides()[d - 1], t.shape()[d - 2], t.shape()[d - 1], trans, ld)) {
      t = t.detach().clone();  // dense row-major, whatever the view's strides were
      if (!gemm_layout(t.strides()[d - 2], t.strides()[d - 1], t.shape()[d - 2], t.shape()[d - 1], trans, ld))
        throw std::logic_error("matmul: no GEMM layout for a dense " + t.desc());
    }
  };
  layout(a, g.trans_a, g.lda);
  layout(b, g.trans_b, g.ldb);

  const int64_t nb = batch.numel();
  // b shared by every batch entry and a's batch rows stacked evenly: one GEMM with m * nb rows.
  bool b_shared = true;
  for (int i = 0; i < batch.size(); ++i) {
    const int bi = b.dim() - 2 - batch.size() + i;
    if (bi >= 0 && b.shape()[bi] != 1 && b.strides()[bi] != 0) b_shared = false;
  }
  bool a_stacks = !g.trans_a && a.dim() - 2 == batch.size();
  int64_t expect = m * g.lda;
  for (int i = batch.size() - 1; a_stacks && i >= 0; --i) {
    if (a.shape()[i] != batch[i] || (batch[i] != 1 && a.strides()[i] != expect)) a_stacks = false;
    expect *= batch[i];
  }
  if (b_shared && a_stacks && nb > 1) {
    g.m = m * nb;
    kernels::gemm(a.device(), a.dtype(), g, a.raw_data(), b.raw_data(), out.raw_data());
    return out;
  }
  // General case: one GEMM per batch entry, offsets from each operand's batch strides.
  const size_t es = dtype_size(a.dtype());
  for (int64_t i = 0; i < nb; ++i) {
    int64_t oa = 0, ob = 0, rem = i;
    for (int d = batch.size() - 1; d >= 0; --d) {
      const int64_t idx = rem % batch[d];
      rem /= batch[d];
      const int ai = a.dim() - 2 - batch.size() + d, bi = b.dim() - 2 - batch.size() + d;
      if (ai >= 0 && a.shape()[ai] != 1) oa += idx * a.strides()[ai];
      if (bi >= 0 && b.shape()[bi] != 1) ob += idx * b.strides()[bi];
    }
    kernels::gemm(a.device(), a.dtype(), g, static_cast<char*>(a.raw_data()) + oa * int64_t(es),
                  static_cast<char*>(b.raw_data()) + ob * int64_t(es), static_cast<char*>(out.raw_data()) + i * m * n * int64_t(es));
  }
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  METALOSS_PROFILE_SCOPE("matmul", "op");
  check_same_dtype(a, b, "matmul");
  check_float(a, "matmul");
  if (a.dim() == 0 || b.dim() == 0) fail("matmul", "both operands need at least 1 dim, got " + a.desc() + " and " + b.desc());
  if (a.dim() == 1 && b.dim() == 1) {
    if (a.shape()[0] != b.shape()[0]) fail("matmul", "dot of " + a.desc() + " and " + b.desc() + ": sizes differ");
    return sum(mul(a, b));
  }
  if (a.dim() == 1) return squeeze(matmul(unsqueeze(a, 0), b), -2);
  if (b.dim() == 1) return squeeze(matmul(a, unsqueeze(b, 1)), -1);

  const int64_t k = a.shape()[a.dim() - 1];
  if (b.shape()[b.dim() - 2] != k)
    fail("matmul", "inner dims differ: " + a.desc() + " @ " + b.desc() + " (" + std::to_string(k) + " vs " +
                       std::to_string(b.shape()[b.dim() - 2]) + ")");
  Shape ba, bb;
  for (int i = 0; i < a.dim() - 2; ++i) ba.push_back(a.shape()[i]);
  for (int i = 0; i < b.dim() - 2; ++i) bb.push_back(b.shape()[i]);
  const Shape batch = broadcast_shapes(ba, bb, "matmul");
  Tensor out = bmm_fwd(a, b, batch);
  if (should_record(a, b))
    record("matmul", {a, b}, out, {a, b}, [](Node& n, const Tensor& g) -> RuleGrads {
      Tensor a = n.saved_tensor(0), b = n.saved_tensor(1), ga, gb;
      // A 2-d operand that is a transposed dense matrix (linear's W^T) gets its gradient in its
      // own layout, (g^T a)^T rather than a^T g: the same GEMM, but the permute's backward then
      // hands W a dense gradient instead of a strided one that a transposing copy must densify.
      if (n.needs_grad(0))
        ga = is_transposed_dense(a) && g.dim() == 2 ? transpose(matmul(b, transpose(g, 0, 1)), 0, 1)
                                                    : matmul(g, transpose(b, -1, -2));
      if (n.needs_grad(1))
        gb = is_transposed_dense(b) && a.dim() == 2 ? transpose(matmul(transpose(g, 0, 1), a), 0, 1)
                                                    : matmul(transpose(a, -1, -2), g);
      return {ga, gb};
    });
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  METALOSS_PROFILE_SCOPE("linear", "op");
  check_defined(x, "linear");
  check_defined(weight, "linear", "weight");
  if (weight.dim() != 2) fail("linear", "weight must be 2-d [out, in], got " + weight.desc());
  if (x.dim() == 0 || x.shape().back() != weight.shape()[1])
    fail("linear", "input " + x.desc() + " does not end in in_features " + std::to_string(weight.shape()[1]) +
                       " of weight " + weight.desc());
  Tensor y = matmul(x, transpose(weight, 0, 1));
  if (bias.defined()) {
    if (bias.dim() != 1 || bias.shape()[0] != weight.shape()[0])
      fail("linear", "bias " + bias.desc() + " does not match out_features " + std::to_string(weight.shape()[0]));
    y = add(y, bias);
  }
  return y;
}

SymmetricEigen symmetric_eigen(const Tensor& a_in) {
  METALOSS_PROFILE_SCOPE("symmetric_eigen", "op");
  check_float(a_in, "symmetric_eigen");
  if (a_in.dim() != 2 || a_in.shape()[0] != a_in.shape()[1])
    fail("symmetric_eigen", "expected a square matrix [n, n], got " + a_in.desc());
  if (a_in.is_cuda()) fail("symmetric_eigen", "runs on the CPU (LAPACK); got " + a_in.desc() + " (use .cpu())");
  const Tensor a = contiguous(a_in.detach());
  const int64_t n = a.shape()[0];
  SymmetricEigen r{Tensor::empty(Shape{n}, a.dtype()), Tensor::empty(Shape{n, n}, a.dtype())};
  kernels::symmetric_eigen(a.device(), a.dtype(), n, a.raw_data(), r.values.raw_data(), r.vectors.raw_data());
  return r;
}

}  // namespace metaloss
