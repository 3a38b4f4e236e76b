// Finite-difference checks of first, second and third derivatives (float64), in the style of
// torch.autograd.gradcheck / gradgradcheck: full Jacobians compared element by element.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/metaloss.h"

namespace metaloss::testing {

using MultiFn = std::function<Tensor(const std::vector<Tensor>&)>;

struct CheckResult {
  bool ok = true;
  std::string message;  // the first mismatch: input, element, analytic vs numeric
};

// Compares d fn / d inputs (analytic, by backward) with central differences, for every input that
// requires grad. The inputs may be non-contiguous views.
CheckResult gradcheck(const MultiFn& fn, const std::vector<Tensor>& inputs, double eps = 1e-6, double atol = 1e-5,
                      double rtol = 1e-3);

// gradcheck of (inputs, w) -> d <fn(inputs), w> / d inputs, with the backward pass recorded
// (create_graph): checks the second derivatives, including through the output gradient w.
CheckResult gradgradcheck(const MultiFn& fn, const std::vector<Tensor>& inputs, uint64_t seed = 1);

// gradcheck of the gradgrad function: third derivatives.
CheckResult gradgradgradcheck(const MultiFn& fn, const std::vector<Tensor>& inputs, uint64_t seed = 2);

// The function whose gradient gradgradcheck checks: (inputs..., w) -> flattened gradients.
MultiFn grad_function(const MultiFn& fn, size_t n_inputs);

// Element k (row-major over the logical shape) of a tensor, whatever its strides (a device
// pointer for a CUDA tensor).
double* element_ptr(const Tensor& t, int64_t k);

}  // namespace metaloss::testing
