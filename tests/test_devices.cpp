// Every method on the host check device cpu:1: nothing may stay behind on "cpu" (an op mixing
// the two throws), and the numbers equal the CPU's bit for bit. tests/cuda runs the same body on
// cuda:0 within float tolerances.
#include <doctest/doctest.h>

#include "method_devices.h"

TEST_CASE("devices: every method on the host check device cpu:1 equals the CPU bitwise") {
  metaloss::testing::check_methods_on(metaloss::Device::cpu(1), {0, 0, 0});
}
