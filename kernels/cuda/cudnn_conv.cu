// conv2d through cuDNN (legacy cudnnConvolution* API): forward, backward data, backward filter of
// contiguous NCHW x [n, c, h, w] with w [k, c, kh, kw] into y [n, k, oh, ow], groups 1, cross
// correlation (as conv2d in PyTorch). Outputs are overwritten (beta = 0).
//
// Precision: the convolution descriptor asks for CUDNN_FMA_MATH and algorithms that report a
// tensor-op math type are skipped. With CUDNN_DEFAULT_MATH, cuDNN may use TF32 tensor cores for
// float32 on Ampere and later (H100 included), which keeps only 10 mantissa bits of the inputs:
// results would drift ~1e-3 from the CPU's, far outside what gradient checks tolerate.
//
// Algorithms come from the cuDNN heuristics (cudnnGet*Algorithm_v7, no benchmarking) and are
// cached per (device, op, dtype, geometry). Workspace comes from the caching allocator and is
// released right after the launch: all work is on the device's one stream, so a later user of
// the block queues behind this convolution.
#ifdef METALOSS_WITH_CUDNN

#include <cudnn.h>

#include <array>
#include <climits>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda/check.h"
#include "kernels/cuda/cuda_kernels.h"

namespace metaloss::kernels::cuda {
namespace {

[[noreturn]] void throw_cudnn(cudnnStatus_t s, const char* what, const char* call) {
  std::string msg = std::string("cuDNN error in ") + what + " (" + call + "): " + cudnnGetErrorString(s);
#if CUDNN_MAJOR >= 9
  char detail[512] = {};
  cudnnGetLastErrorString(detail, sizeof detail);  // cuDNN's own explanation, when it has one
  if (detail[0]) msg += std::string(": ") + detail;
#endif
  throw std::runtime_error(msg);
}
#define ML_CUDNN_CHECK(call, what)                                  \
  do {                                                              \
    const cudnnStatus_t ml_st_ = (call);                            \
    if (ml_st_ != CUDNN_STATUS_SUCCESS) throw_cudnn(ml_st_, what, #call); \
  } while (0)

// ---- descriptors (RAII) -------------------------------------------------------------------------

struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  TensorDesc(cudnnDataType_t t, int n, int c, int h, int w, const char* what) {
    ML_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d), what);
    const cudnnStatus_t s = cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, t, n, c, h, w);
    if (s != CUDNN_STATUS_SUCCESS) {
      cudnnDestroyTensorDescriptor(d);
      throw_cudnn(s, what, "cudnnSetTensor4dDescriptor");
    }
  }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
};

struct FilterDesc {
  cudnnFilterDescriptor_t d = nullptr;
  FilterDesc(cudnnDataType_t t, int k, int c, int h, int w, const char* what) {
    ML_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d), what);
    const cudnnStatus_t s = cudnnSetFilter4dDescriptor(d, t, CUDNN_TENSOR_NCHW, k, c, h, w);
    if (s != CUDNN_STATUS_SUCCESS) {
      cudnnDestroyFilterDescriptor(d);
      throw_cudnn(s, what, "cudnnSetFilter4dDescriptor");
    }
  }
  ~FilterDesc() { cudnnDestroyFilterDescriptor(d); }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
};

struct ConvDesc {
  cudnnConvolutionDescriptor_t d = nullptr;
  ConvDesc(cudnnDataType_t t, int ph, int pw, int sh, int sw, int dh, int dw, const char* what) {
    ML_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d), what);
    cudnnStatus_t s = cudnnSetConvolution2dDescriptor(d, ph, pw, sh, sw, dh, dw, CUDNN_CROSS_CORRELATION, t);
    if (s == CUDNN_STATUS_SUCCESS) s = cudnnSetConvolutionMathType(d, CUDNN_FMA_MATH);  // no TF32 (see top)
    if (s != CUDNN_STATUS_SUCCESS) {
      cudnnDestroyConvolutionDescriptor(d);
      throw_cudnn(s, what, "cudnnSetConvolution2dDescriptor/cudnnSetConvolutionMathType");
    }
  }
  ~ConvDesc() { cudnnDestroyConvolutionDescriptor(d); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
};

// ---- handles and algorithm cache ----------------------------------------------------------------

// One mutex for everything cuDNN here: handle creation, the algorithm cache and each call (a
// handle must not be used by two host threads at once; the GPU work is serialised on the one
// stream anyway).
std::mutex g_mutex;

// One handle per device, created on first use and deliberately never destroyed (destroying it
// from a static destructor could run after the CUDA runtime has shut down).
cudnnHandle_t handle_for(int device, const char* what) {
  static std::map<int, cudnnHandle_t> handles;
  auto it = handles.find(device);
  if (it != handles.end()) return it->second;
  cudnnHandle_t h = nullptr;
  ML_CUDNN_CHECK(cudnnCreate(&h), what);  // binds to the current device
  handles.emplace(device, h);
  return h;
}

enum class Op : int { Forward, BackwardData, BackwardFilter };

struct Choice {
  int algo = 0;
  size_t workspace = 0;
};
// The heuristics' preferred algorithm and, as a fallback when its workspace cannot be allocated,
// the usable algorithm with the smallest workspace.
struct Choices {
  Choice best, smallest;
};
using Key = std::array<int64_t, 16>;
std::map<Key, Choices> g_algos;

// FP32/FP64-exact algorithms only: a tensor-op math type would mean TF32 (or lower) inputs.
template <class Perf>
bool usable(const Perf& p) {
  return p.status == CUDNN_STATUS_SUCCESS && p.mathType != CUDNN_TENSOR_OP_MATH &&
         p.mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
}

struct Problem {
  cudnnHandle_t h;
  const TensorDesc& x;
  const FilterDesc& w;
  const ConvDesc& conv;
  const TensorDesc& y;
};

// Workspace of `algo` for `op`; false when cuDNN does not support the algorithm here.
bool workspace_of(Op op, const Problem& p, int algo, size_t* bytes) {
  switch (op) {
    case Op::Forward:
      return cudnnGetConvolutionForwardWorkspaceSize(p.h, p.x.d, p.w.d, p.conv.d, p.y.d, cudnnConvolutionFwdAlgo_t(algo),
                                                     bytes) == CUDNN_STATUS_SUCCESS;
    case Op::BackwardData:
      return cudnnGetConvolutionBackwardDataWorkspaceSize(p.h, p.w.d, p.y.d, p.conv.d, p.x.d,
                                                          cudnnConvolutionBwdDataAlgo_t(algo), bytes) == CUDNN_STATUS_SUCCESS;
    case Op::BackwardFilter:
      return cudnnGetConvolutionBackwardFilterWorkspaceSize(p.h, p.x.d, p.y.d, p.conv.d, p.w.d,
                                                            cudnnConvolutionBwdFilterAlgo_t(algo), bytes) == CUDNN_STATUS_SUCCESS;
  }
  return false;
}

// Candidate algorithms in the heuristics' order of preference (usable ones only).
std::vector<int> candidates(Op op, const Problem& p, const char* what) {
  std::vector<int> out;
  int max_count = 0, returned = 0;
  auto collect = [&](const auto& perf) {
    for (int i = 0; i < returned; ++i)
      if (usable(perf[i])) out.push_back(int(perf[i].algo));
  };
  switch (op) {
    case Op::Forward: {
      ML_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(p.h, &max_count), what);
      std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(size_t(max_count > 0 ? max_count : 1));
      ML_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(p.h, p.x.d, p.w.d, p.conv.d, p.y.d, int(perf.size()),
                                                            &returned, perf.data()),
                     what);
      collect(perf);
      out.push_back(int(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM));  // last resort: supports every case
      break;
    }
    case Op::BackwardData: {
      ML_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(p.h, &max_count), what);
      std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(size_t(max_count > 0 ? max_count : 1));
      ML_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(p.h, p.w.d, p.y.d, p.conv.d, p.x.d, int(perf.size()),
                                                                 &returned, perf.data()),
                     what);
      collect(perf);
      out.push_back(int(CUDNN_CONVOLUTION_BWD_DATA_ALGO_0));
      break;
    }
    case Op::BackwardFilter: {
      ML_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(p.h, &max_count), what);
      std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(size_t(max_count > 0 ? max_count : 1));
      ML_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(p.h, p.x.d, p.y.d, p.conv.d, p.w.d, int(perf.size()),
                                                                   &returned, perf.data()),
                     what);
      collect(perf);
      out.push_back(int(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0));
      break;
    }
  }
  return out;
}

Choices choose(Op op, const Problem& p, const Key& key, const char* what) {
  auto it = g_algos.find(key);
  if (it != g_algos.end()) return it->second;
  Choices c;
  bool found = false;
  for (int algo : candidates(op, p, what)) {
    size_t bytes = 0;
    if (!workspace_of(op, p, algo, &bytes)) continue;
    if (!found) {
      c.best = c.smallest = {algo, bytes};
      found = true;
    } else if (bytes < c.smallest.workspace) {
      c.smallest = {algo, bytes};
    }
  }
  if (!found) throw std::runtime_error(std::string("cuDNN error in ") + what + ": no supported convolution algorithm");
  g_algos.emplace(key, c);
  return c;
}

// Workspace from the caching allocator, returned when the call ends (see the top comment).
struct Workspace {
  int device = 0;
  void* p = nullptr;
  size_t bytes = 0;
  Workspace(int dev, size_t b) : device(dev), p(b ? allocate(dev, b) : nullptr), bytes(b) {}
  ~Workspace() {
    if (p) release(device, p, bytes);
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
};

int to_int(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX)
    throw std::invalid_argument(std::string("kernel ") + what + ": size " + std::to_string(v) + " does not fit cuDNN's int");
  return int(v);
}

// x [n, c, h, w], w [k, c, kh, kw], y [n, k, oh, ow]:
//   Forward:        a = x, b = w, out = y
//   BackwardData:   a = dy, b = w, out = dx
//   BackwardFilter: a = x, b = dy, out = dw
void run(Op op, const char* what, DType t, const Conv2dGeom& g, int64_t k, const void* a, const void* b, void* out) {
  if (t != DType::Float32 && t != DType::Float64)
    throw std::invalid_argument(std::string("kernel ") + what + ": unsupported dtype " + dtype_name(t));
  if (g.n == 0 || g.c == 0 || k == 0 || g.h == 0 || g.w == 0 || g.oh == 0 || g.ow == 0) {
    // Nothing to compute; an empty reduction still defines the output (cuDNN rejects empty dims).
    int64_t count = op == Op::Forward ? g.n * k * g.oh * g.ow
                    : op == Op::BackwardData ? g.n * g.c * g.h * g.w
                                             : k * g.c * g.kh * g.kw;
    if (count > 0)
      ML_CUDA_CHECK(cudaMemsetAsync(out, 0, size_t(count) * dtype_size(t), stream()), what);  // all-zero bits = 0.0
    return;
  }
  const cudnnDataType_t dt = t == DType::Float32 ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
  const TensorDesc xd(dt, to_int(g.n, what), to_int(g.c, what), to_int(g.h, what), to_int(g.w, what), what);
  const FilterDesc wd(dt, to_int(k, what), to_int(g.c, what), to_int(g.kh, what), to_int(g.kw, what), what);
  const TensorDesc yd(dt, to_int(g.n, what), to_int(k, what), to_int(g.oh, what), to_int(g.ow, what), what);
  const ConvDesc cd(dt, to_int(g.ph, what), to_int(g.pw, what), to_int(g.sh, what), to_int(g.sw, what), to_int(g.dh, what),
                    to_int(g.dw, what), what);
  {
    // The caller's output size must be cuDNN's, or cuDNN would read/write out of bounds.
    int n = 0, c = 0, h = 0, w = 0;
    ML_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(cd.d, xd.d, wd.d, &n, &c, &h, &w), what);
    if (n != g.n || c != k || h != g.oh || w != g.ow)
      throw std::invalid_argument(std::string("kernel ") + what + ": output size " + std::to_string(g.oh) + "x" +
                                  std::to_string(g.ow) + " does not match the geometry (cuDNN computes " +
                                  std::to_string(h) + "x" + std::to_string(w) + ")");
  }

  std::lock_guard<std::mutex> lock(g_mutex);
  const int device = current_device();
  const cudnnHandle_t h = handle_for(device, what);
  ML_CUDNN_CHECK(cudnnSetStream(h, stream()), what);
  const Problem p{h, xd, wd, cd, yd};
  const Key key{device, int64_t(op), int64_t(t), g.n, g.c, g.h, g.w, k, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw};
  const Choices choices = choose(op, p, key, what);

  // Preferred algorithm; if its workspace cannot be had, the one needing the least.
  Choice c = choices.best;
  std::unique_ptr<Workspace> ws;
  try {
    ws = std::make_unique<Workspace>(device, c.workspace);
  } catch (const std::runtime_error&) {
    if (choices.smallest.workspace >= c.workspace) throw;
    c = choices.smallest;
    ws = std::make_unique<Workspace>(device, c.workspace);
  }

  const float one_f = 1.0f, zero_f = 0.0f;
  const double one_d = 1.0, zero_d = 0.0;
  // alpha/beta are float for float tensors and double for double tensors.
  const void* one = t == DType::Float32 ? static_cast<const void*>(&one_f) : static_cast<const void*>(&one_d);
  const void* zero = t == DType::Float32 ? static_cast<const void*>(&zero_f) : static_cast<const void*>(&zero_d);
  switch (op) {
    case Op::Forward:
      ML_CUDNN_CHECK(cudnnConvolutionForward(h, one, xd.d, a, wd.d, b, cd.d, cudnnConvolutionFwdAlgo_t(c.algo), ws->p,
                                             c.workspace, zero, yd.d, out),
                     what);
      break;
    case Op::BackwardData:
      ML_CUDNN_CHECK(cudnnConvolutionBackwardData(h, one, wd.d, b, yd.d, a, cd.d, cudnnConvolutionBwdDataAlgo_t(c.algo),
                                                  ws->p, c.workspace, zero, xd.d, out),
                     what);
      break;
    case Op::BackwardFilter:
      ML_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, one, xd.d, a, yd.d, b, cd.d,
                                                    cudnnConvolutionBwdFilterAlgo_t(c.algo), ws->p, c.workspace, zero,
                                                    wd.d, out),
                     what);
      break;
  }
  ML_CUDA_CHECK_LAUNCH(what);
}

}  // namespace

void conv2d_forward(DType t, const Conv2dGeom& g, int64_t out_channels, const void* x, const void* w, void* y) {
  run(Op::Forward, "conv2d_forward", t, g, out_channels, x, w, y);
}
void conv2d_backward_data(DType t, const Conv2dGeom& g, int64_t out_channels, const void* dy, const void* w, void* dx) {
  run(Op::BackwardData, "conv2d_backward_data", t, g, out_channels, dy, w, dx);
}
void conv2d_backward_filter(DType t, const Conv2dGeom& g, int64_t out_channels, const void* x, const void* dy, void* dw) {
  run(Op::BackwardFilter, "conv2d_backward_filter", t, g, out_channels, x, dy, dw);
}

}  // namespace metaloss::kernels::cuda

#endif  // METALOSS_WITH_CUDNN
