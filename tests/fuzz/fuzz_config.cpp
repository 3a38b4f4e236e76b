// libFuzzer target: the --config JSON reader (apps/config_json.cpp): every accepted file becomes
// option arguments, each an "--name" followed by at most one value.
#include "apps/config_json.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = fuzz::as_file(data, size, ".json");
  fuzz::expect_clean("fuzz_config", [&] {
    const std::vector<std::string> args = metaloss::app::config_to_args(path);
    if (!args.empty() && args[0].rfind("--", 0) != 0) fuzz::finding("fuzz_config", "first argument is not an option");
  });
  return 0;
}
