// One record per op: how to make its inputs (including broadcast and non-contiguous cases), the
// op itself, an independent reference where one exists, and how many orders of derivative to
// check. The generated tests in test_ops_gradcheck.cpp iterate over these records.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "gradcheck.h"

namespace metaloss::testing {

struct Sample {
  std::string label;
  std::vector<Tensor> inputs;  // float64; differentiable ones require grad
};

struct OpRecord {
  std::string name;
  std::function<std::vector<Sample>()> samples;
  MultiFn fn;
  // Expected output values (row-major), computed without the op under test; empty if none.
  std::function<std::vector<double>(const std::vector<Tensor>&)> reference;
  int order = 2;  // highest derivative order to check: 1, 2 or 3
};

const std::vector<OpRecord>& op_records();

}  // namespace metaloss::testing
