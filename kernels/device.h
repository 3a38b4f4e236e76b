// Where a tensor's memory lives: the host ("cpu") or one CUDA device ("cuda:N").
//
// "cpu:N" (N = 1..7) is host memory run by the CPU kernels, but a device of its own: every op
// refuses to mix it with "cpu" as it refuses to mix cpu and cuda. It exists so that a machine
// without a GPU can check that a method keeps every tensor of a run on the run's device (a
// forgotten .to(device) fails there exactly as it would on a GPU); results on cpu:N are
// bit-identical to cpu.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

namespace metaloss {

enum class DeviceType : uint8_t { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;  // CUDA ordinal; 0 for the CPU ("cpu"), 1..7 for the host check devices "cpu:N"

  constexpr Device() = default;
  constexpr Device(DeviceType t, int i = 0) : type(t), index(i) {}
  static constexpr Device cpu(int i = 0) { return Device(DeviceType::CPU, i); }
  static constexpr Device cuda(int i = 0) { return Device(DeviceType::CUDA, i); }
  constexpr bool is_cpu() const { return type == DeviceType::CPU; }
  constexpr bool is_cuda() const { return type == DeviceType::CUDA; }
  constexpr bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  constexpr bool operator!=(const Device& o) const { return !(*this == o); }

  static constexpr int kHostCheckDevices = 7;  // cpu:1 .. cpu:7

  std::string str() const {
    if (is_cpu()) return index == 0 ? "cpu" : "cpu:" + std::to_string(index);
    return "cuda:" + std::to_string(index);
  }
  // "cpu", "cpu:N" (N = 0..7), "cuda" (= cuda:0) or "cuda:N".
  static Device parse(const std::string& s) {
    if (s == "cpu") return cpu();
    if (s == "cuda") return cuda(0);
    auto numbered = [&s](const char* prefix, size_t n) {
      return s.rfind(prefix, 0) == 0 && s.size() > n && s.size() < n + 4 &&
             s.find_first_not_of("0123456789", n) == std::string::npos;
    };
    if (numbered("cuda:", 5)) return cuda(std::stoi(s.substr(5)));
    if (numbered("cpu:", 4) && std::stoi(s.substr(4)) <= kHostCheckDevices) return cpu(std::stoi(s.substr(4)));
    throw std::invalid_argument("device: '" + s + "' is not a device (expected cpu, cuda, cuda:N or cpu:1..cpu:7)");
  }
};

}  // namespace metaloss
