// Element types shared by kernels and engine. Kernels know types and layouts, never autodiff.
#pragma once
#include <cstddef>
#include <cstdint>

namespace metaloss {

enum class DType : uint8_t { Float32, Float64, Int64, Bool };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int64: return 8;
    case DType::Bool: return 1;
  }
  return 0;
}
constexpr const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
  }
  return "?";
}
constexpr bool is_floating(DType t) { return t == DType::Float32 || t == DType::Float64; }

// Calls f with a value of the C++ type for dtype t (bool is stored as uint8_t).
template <class F>
decltype(auto) dispatch_dtype(DType t, F&& f) {
  switch (t) {
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
    case DType::Int64: return f(int64_t{});
    case DType::Bool: return f(uint8_t{});
  }
  return f(float{});
}

}  // namespace metaloss
