// Every op name the engine records on the tape (the first argument of record()): the op list.
// The engine refuses a name missing here in debug builds (the sanitize preset's CTest runs every
// test that way), and the test suite checks that some op record (tests/op_records.cpp) exercises
// each name, forward or in a backward rule, and names the ops without one. A new op is a line
// here, its rule, and its record (docs/adding-an-op.md).
#pragma once
#include <cstring>

namespace metaloss {

inline constexpr const char* kOpNames[] = {
    // elementwise (engine/ops/elementwise.cpp)
    "abs", "add", "add_scalar", "add_scaled", "cast", "clamp", "div", "exp", "leaky_relu", "log", "maximum",
    "minimum", "mul", "mul_scalar", "neg", "pow", "pow_scalar", "rdiv_scalar", "relu", "relu_backward", "rsqrt",
    "rsub_scalar", "sigmoid", "sigmoid_backward", "sign", "softplus", "sqrt", "square", "sub", "tanh",
    "tanh_backward", "where",
    // reductions and softmax (reduce.cpp)
    "sum", "amax", "amin", "softmax", "log_softmax",
    // linear algebra, convolution and pooling (linalg.cpp, conv_pool.cpp)
    "matmul", "im2col", "col2im", "conv2d_direct", "conv2d_input_grad", "conv2d_weight_grad", "avg_pool2d",
    "avg_pool2d_backward", "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward",
    // indexing (index.cpp)
    "gather", "index_select", "index_add", "scatter_add",
    // shape and memory (shape.cpp)
    "reshape", "permute", "expand", "slice", "slice_backward", "cat", "contiguous", "to_device",
};

inline bool is_op_name(const char* name) {
  for (const char* n : kOpNames)
    if (std::strcmp(n, name) == 0) return true;
  return false;
}

}  // namespace metaloss
