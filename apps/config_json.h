// `--config FILE.json`: a flat JSON object whose keys are long option names of the command
// ({"model": "lenet5", "lr": 0.01, "nesterov": true, "batch_size": 64}). It becomes "--key=value"
// arguments (true/false as on/off, `_` in keys as `-`) placed
// before the command line's own, so options given on the command line win. A FILE.yaml / FILE.yml
// is read as flat YAML instead: "key: value" lines, comments, true/false/yes/no, quoted strings.
#pragma once
#include <string>
#include <vector>

namespace metaloss::app {

// Throws std::runtime_error naming the file, the byte offset (JSON) or line (YAML) and what was expected.
std::vector<std::string> config_to_args(const std::string& path);

}  // namespace metaloss::app
