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

namespace {
// A stand-in for the CUDA backend's hooks: two kernels "timed" on device 1, and the NVTX calls.
std::vector<std::string> g_ranges;
int g_starts = 0;
std::vector<profiler::DeviceEvent> fake_collect() {
  return {{"gemm", 1, 1000, 4000, 8e6, 2e9}, {"unary", 1, 6000, 1000, 4e6, 1e6}};
}
}  // namespace

TEST_CASE("profiler: device spans go to a GPU track and a device-time summary; scopes are NVTX ranges") {
  if (profiler::enabled()) {
    MESSAGE("METALOSS_PROFILE is set for this run: skipped");
    return;
  }
  const profiler::DeviceHooks saved = profiler::device_hooks();
  profiler::DeviceHooks fake;
  fake.on_start = [] { ++g_starts; };
  fake.collect = fake_collect;
  fake.range_push = [](const char* n) { g_ranges.push_back(std::string("push ") + n); };
  fake.range_pop = [] { g_ranges.push_back("pop"); };
  profiler::set_device_hooks(fake);
  const std::string path = "/tmp/metaloss_profiler_gpu_test_" + std::to_string(::getpid()) + ".json";
  profiler::start(path);
  CHECK(g_starts == 1);
  Tensor a = randn({8, 4}).set_requires_grad();
  sum(tanh(a)).backward();
  const std::string summary = profiler::stop();
  profiler::set_device_hooks(saved);
  // 4 us of gemm moving 8 MB and doing 2 GFLOP: 2000 GB/s and 500000 GFLOP/s.
  CHECK(summary.find("device time (CUDA events), 2 kernels") != std::string::npos);
  CHECK(summary.find("2000.00") != std::string::npos);
  CHECK(summary.find("500000.00") != std::string::npos);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string trace = text.str();
  CHECK(trace.find("\"name\": \"GPU 1 (device time)\"") != std::string::npos);
  CHECK(trace.find("\"name\": \"gemm\", \"cat\": \"gpu\", \"ph\": \"X\", \"ts\": 1.000, \"dur\": 4.000, \"pid\": 101") !=
        std::string::npos);
  std::remove(path.c_str());
  // Every scope was a balanced NVTX range named after the op, the backward node or the kernel.
  int depth = 0;
  bool tanh_op = false, tanh_backward = false;
  for (const std::string& r : g_ranges) {
    depth += r == "pop" ? -1 : 1;
    CHECK(depth >= 0);
    if (r == "push tanh") (tanh_op ? tanh_backward : tanh_op) = true;
  }
  CHECK(depth == 0);
  CHECK(tanh_op);
  CHECK(tanh_backward);
}
