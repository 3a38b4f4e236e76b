// The seed-stream registry (meta/seeds.h): one table of named streams for every command.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "engine/metaloss.h"
#include "meta/seeds.h"
#include "models/layers.h"

using namespace metaloss;

TEST_CASE("seeds: every stream has a distinct id and name, clear of the indexed range") {
  std::set<uint64_t> ids;
  std::set<std::string> names;
  for (const auto& s : seeds::streams()) {
    CAPTURE(s.name);
    CHECK(ids.insert(uint64_t(s.id)).second);
    CHECK(names.insert(s.name).second);
    if (s.id != seeds::Stream::IndexedBase) CHECK(uint64_t(s.id) < uint64_t(seeds::Stream::IndexedBase));
  }
  // Signature + 1 is a stream of its own: it must not be another entry's id.
  CHECK(ids.count(uint64_t(seeds::Stream::Signature) + 1) == 0);
}

TEST_CASE("seeds: derive is a pure function of (seed, stream, index) and streams differ") {
  auto first = [](Generator g) { return g.seed(); };
  CHECK(first(seeds::derive(7, seeds::Stream::Init)) == first(seeds::derive(7, seeds::Stream::Init)));
  CHECK(first(seeds::derive(7, seeds::Stream::Init)) != first(seeds::derive(8, seeds::Stream::Init)));
  CHECK(first(seeds::derive(7, seeds::Stream::Init)) != first(seeds::derive(7, seeds::Stream::Split)));
  CHECK(first(seeds::derive(7, seeds::Stream::IndexedBase, 3)) != first(seeds::derive(7, seeds::Stream::IndexedBase, 4)));
  // The ids are the ones used before the registry: a pinned value of the old splitmix64 formula.
  uint64_t z = 7 + 0x9E3779B97F4A7C15ull * (4 + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  CHECK(first(seeds::derive(7, seeds::Stream::Dropout)) == (z ^ (z >> 31)));
}

TEST_CASE("seeds: seed_dropout gives train and learn the same dropout masks for a seed") {
  auto mask = [](uint64_t seed) {
    seeds::seed_dropout(seed);
    NoGrad ng;
    Dropout d(0.5);
    d.train();
    return d.forward(Tensor::ones({64})).to_vector();
  };
  CHECK(mask(3) == mask(3));
  CHECK(mask(3) != mask(4));
}
