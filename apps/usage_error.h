// Exit code 2 means "the command line was wrong" (README); every other failure exits 1. Library
// code throws std::invalid_argument for any bad value, a corrupt run configuration or an engine
// shape error included, so the CLI cannot map that type to 2: it throws UsageError for what the
// user typed, and converts a library complaint to one only where the value came from an option.
#pragma once
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "engine/runtime.h"

namespace metaloss::app {

struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// Runs f(); a std::invalid_argument it throws is about the value of `option` and becomes a
// UsageError (prefixed "option: " unless the message already starts with it).
template <class F>
decltype(auto) as_usage(const std::string& option, F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (const UsageError&) {
    throw;
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    throw UsageError(m.rfind(option, 0) == 0 ? m : option + ": " + m);
  }
}

// --device of every command: "cpu", "cuda", "cuda:N" or a host check device "cpu:N".
inline constexpr const char* kDeviceHelp =
    "cpu, cuda or cuda:N: where the data, models and learned losses live and every step runs "
    "(cpu:1..cpu:7: the CPU, as a device of its own, to check that nothing stays behind on cpu)";

// The device named by `text`, usable in this build and on this machine; a UsageError (exit 2)
// naming `option`, the device and what is missing otherwise.
inline Device parse_device_option(const std::string& text, const std::string& option) {
  return as_usage(option, [&] {
    const Device d = Device::parse(text);
    check_device(d, option.c_str());
    return d;
  });
}

// --devices of the searches' workers: a comma-separated list of devices (worker i runs on entry
// i mod the count), or "cuda" alone for every visible GPU in turn. Each entry checked as --device.
inline std::vector<Device> parse_devices_option(const std::string& text, const std::string& option) {
  std::vector<Device> out;
  if (text == "cuda") {
    const int n = cuda_device_count();
    if (n == 0) throw UsageError(option + " cuda: no CUDA device found" + (built_with_cuda() ? "" : " (metaloss was built without CUDA)"));
    for (int i = 0; i < n; ++i) out.push_back(Device::cuda(i));
    return out;
  }
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty()) throw UsageError(option + ": empty entry in '" + text + "' (expected a comma-separated list of devices)");
    out.push_back(parse_device_option(item, option));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

}  // namespace metaloss::app
