#include "meta/seeds.h"

namespace metaloss::seeds {

const std::vector<StreamInfo>& streams() {
  static const std::vector<StreamInfo> table{
      {Stream::Init, "init"},           {Stream::Split, "split"},
      {Stream::Order, "order"},         {Stream::LossInit, "loss-init"},
      {Stream::Dropout, "dropout"},     {Stream::EvoReject, "evomal-reject"},
      {Stream::EvoSupport, "evomal-support"}, {Stream::EvoQuery, "evomal-query"},
      {Stream::EvoWeights, "evomal-weights"}, {Stream::Signature, "signature"},
      {Stream::Ml3Support, "ml3-support"},    {Stream::Ml3Query, "ml3-query"},
      {Stream::AdaLflValid, "adalfl-valid"},  {Stream::IndexedBase, "indexed"},
  };
  return table;
}

Generator derive(uint64_t seed, Stream stream, uint64_t index) {
  const uint64_t id = uint64_t(stream) + index;
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (id + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return Generator(z ^ (z >> 31));
}

void seed_dropout(uint64_t seed) { manual_seed(derive(seed, Stream::Dropout).seed()); }

}  // namespace metaloss::seeds
