// The profiler: off by default; when on, records ops, backward nodes and kernels with bytes and
// FLOPs, writes a Chrome trace and a summary.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "engine/metaloss.h"
#include "kernels/profiler.h"

using namespace metaloss;

TEST_CASE("profiler records ops, backward nodes and kernels into a Chrome trace") {
  if (profiler::enabled()) {
    MESSAGE("METALOSS_PROFILE is set for this run: skipped");
    return;
  }
  const std::string path = "/tmp/metaloss_profiler_test_" + std::to_string(::getpid()) + ".json";
  profiler::start(path);
  Tensor a = randn({64, 32}).set_requires_grad(), b = randn({32, 16});
  Tensor loss = sum(tanh(matmul(a, b)));
  loss.backward();
  const std::string summary = profiler::stop();
  CHECK(!profiler::enabled());
  CHECK(summary.find("trace written to " + path) != std::string::npos);
  CHECK(summary.find("op        matmul") != std::string::npos);
  CHECK(summary.find("backward  tanh") != std::string::npos);
  CHECK(summary.find("kernel    gemm") != std::string::npos);
  CHECK(summary.find("high-water mark") != std::string::npos);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string trace = text.str();
  CHECK(trace.rfind("{\"displayTimeUnit\"", 0) == 0);
  CHECK(trace.find("\"name\": \"gemm\", \"cat\": \"kernel\", \"ph\": \"X\"") != std::string::npos);
  CHECK(trace.find("\"flops\": 65536") != std::string::npos);  // 2 * 64 * 32 * 16 for the forward GEMM
  std::remove(path.c_str());
  // Off again: nothing is recorded.
  sum(tanh(a)).backward();
  CHECK(profiler::stop().empty());
}
