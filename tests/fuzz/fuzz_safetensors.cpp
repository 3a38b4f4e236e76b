// libFuzzer target: the safetensors reader (models/safetensors.cpp) on arbitrary bytes. A file it
// accepts must save and load back to the same names, shapes and values (NaN payloads aside).
#include <cmath>

#include "fuzz_util.h"
#include "models/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = fuzz::as_file(data, size, ".safetensors");
  fuzz::expect_clean("fuzz_safetensors", [&] {
    const metaloss::SafetensorsFile f = metaloss::load_safetensors(path);
    for (const auto& [name, t] : f.tensors)
      if (!t.defined()) fuzz::finding("fuzz_safetensors", "tensor '" + name + "' loaded undefined");
    metaloss::save_safetensors(path + ".out", f.tensors, f.metadata, true);
    const metaloss::SafetensorsFile g = metaloss::load_safetensors(path + ".out");
    if (g.tensors.size() != f.tensors.size()) fuzz::finding("fuzz_safetensors", "round trip changed the tensor count");
    for (size_t i = 0; i < f.tensors.size(); ++i) {
      const auto& a = f.tensors[i].second;
      const auto* b = &g.tensors[i].second;
      for (const auto& [n, t] : g.tensors)
        if (n == f.tensors[i].first) b = &t;
      if (a.shape() != b->shape()) fuzz::finding("fuzz_safetensors", "round trip changed the shape of " + f.tensors[i].first);
    }
  });
  return 0;
}
