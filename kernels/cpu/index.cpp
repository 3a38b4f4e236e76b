// Indexing kernels: gather / scatter_add along a dim, index_select / index_add.
#include <cstring>
#include <stdexcept>
#include <string>
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/strided_loop.h"

namespace metaloss::kernels {

namespace cpu {

// out[p] = x[p with p[dim] = index[p]]; out and index share a shape.
void gather(const View& x, int dim, const View& index, const View& out) {
  dispatch_dtype(x.dtype, [&](auto t) {
    using T = decltype(t);
    const T* xp = x.ptr<const T>();
    T* op = out.ptr<T>();
    // out position offsets advance with the dim coordinate too: track it via out's own stride.
    const int nd = index.ndim;
    int64_t pos[kMaxDims] = {};
    const int64_t n = index.numel();
    const int64_t* ip = index.ptr<const int64_t>();
    int64_t oi = 0, ox = 0, oo = 0;
    for (int64_t k = 0; k < n; ++k) {
      op[oo] = xp[ox + ip[oi] * x.strides[dim]];
      for (int d = nd - 1; d >= 0; --d) {
        const int64_t sx = d == dim ? 0 : x.strides[d];
        oi += index.strides[d];
        ox += sx;
        oo += out.strides[d];
        if (++pos[d] < index.shape[d]) break;
        oi -= index.strides[d] * index.shape[d];
        ox -= sx * index.shape[d];
        oo -= out.strides[d] * index.shape[d];
        pos[d] = 0;
      }
    }
  });
}

// out[p with p[dim] = index[p]] += src[p]; src and index share a shape.
void scatter_add(const View& out, int dim, const View& index, const View& src) {
  dispatch_dtype(out.dtype, [&](auto t) {
    using T = decltype(t);
    T* op = out.ptr<T>();
    const T* sp = src.ptr<const T>();
    const int nd = index.ndim;
    int64_t pos[kMaxDims] = {};
    const int64_t n = index.numel();
    const int64_t* ip = index.ptr<const int64_t>();
    int64_t oi = 0, oo = 0, os = 0;
    for (int64_t k = 0; k < n; ++k) {
      op[oo + ip[oi] * out.strides[dim]] += sp[os];
      for (int d = nd - 1; d >= 0; --d) {
        const int64_t so = d == dim ? 0 : out.strides[d];
        oi += index.strides[d];
        oo += so;
        os += src.strides[d];
        if (++pos[d] < index.shape[d]) break;
        oi -= index.strides[d] * index.shape[d];
        oo -= so * index.shape[d];
        os -= src.strides[d] * index.shape[d];
        pos[d] = 0;
      }
    }
  });
}

// out = x with dim replaced by the n entries of index; out contiguous-or-strided view.
void index_select(const View& x, int dim, const int64_t* index, int64_t n, const View& out) {
  if (x.contiguous() && out.contiguous() && x.dtype == out.dtype) {
    // Rows of `inner` contiguous elements: one memcpy per selected row (a batch of 128 images
    // is 128 memcpys, not 128 strided-copy kernel calls).
    int64_t outer = 1, inner = int64_t(dtype_size(x.dtype));
    for (int d = 0; d < dim; ++d) outer *= x.shape[d];
    for (int d = dim + 1; d < x.ndim; ++d) inner *= x.shape[d];
    const int64_t rows_in = x.shape[dim];
    const char* src = static_cast<const char*>(x.data);
    char* dst = static_cast<char*>(out.data);
    parallel_for(outer * n, inner, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        const int64_t o = k / n, j = k % n;
        std::memcpy(dst + k * inner, src + (o * rows_in + index[j]) * inner, size_t(inner));
      }
    });
    return;
  }
  for (int64_t j = 0; j < n; ++j) {
    View src = x, dst = out;
    src.data = static_cast<char*>(x.data) + index[j] * x.strides[dim] * int64_t(dtype_size(x.dtype));
    dst.data = static_cast<char*>(out.data) + j * out.strides[dim] * int64_t(dtype_size(out.dtype));
    src.shape[dim] = dst.shape[dim] = 1;
    cpu::copy(src, dst);
  }
}

// out[.., index[j], ..] += src[.., j, ..]
void index_add(const View& out, int dim, const int64_t* index, int64_t n, const View& src) {
  for (int64_t j = 0; j < n; ++j) {
    View s = src, d = out;
    s.data = static_cast<char*>(src.data) + j * src.strides[dim] * int64_t(dtype_size(src.dtype));
    d.data = static_cast<char*>(out.data) + index[j] * out.strides[dim] * int64_t(dtype_size(out.dtype));
    s.shape[dim] = d.shape[dim] = 1;
    cpu::binary(BinaryOp::Add, d, s, d);
  }
}

int64_t find_bad_index(const View& index, int64_t size) {
  if (!index.contiguous()) throw std::invalid_argument("kernel find_bad_index: index must be contiguous");
  const int64_t* ip = index.ptr<const int64_t>();
  const int64_t n = index.numel();
  for (int64_t k = 0; k < n; ++k)
    if (ip[k] < 0 || ip[k] >= size) return k;
  return -1;
}

}  // namespace cpu
}  // namespace metaloss::kernels
