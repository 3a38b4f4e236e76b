// libFuzzer target: the --config readers (apps/config_json.cpp), JSON and flat YAML on the same
// bytes: every accepted file becomes option arguments, each one "--name=value".
#include <filesystem>
#include <unistd.h>

#include "apps/config_json.h"
#include "fuzz_util.h"

namespace {
void check_args(const std::vector<std::string>& args) {
  for (const std::string& a : args)
    if (a.rfind("--", 0) != 0 || a.find('=') == std::string::npos)
      fuzz::finding("fuzz_config", "an argument is not --name=value: " + a);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = fuzz::as_file(data, size, ".json");
  static const std::string yaml = "/tmp/metaloss-fuzz-" + std::to_string(::getpid()) + ".yaml";
  std::filesystem::copy_file(path, yaml, std::filesystem::copy_options::overwrite_existing);
  fuzz::expect_clean("fuzz_config", [&] { check_args(metaloss::app::config_to_args(path)); });
  fuzz::expect_clean("fuzz_config", [&] { check_args(metaloss::app::config_to_args(yaml)); });
  return 0;
}
