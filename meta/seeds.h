// Every random stream of the project, derived from one recorded seed. A stream is a name in this
// table, never a bare number at the call site, so two commands that mean the same stream (the
// dropout masks of `train --seed s` and of `learn`'s baseline for seed s) draw the same numbers,
// and a new stream cannot collide with an old one (the test suite checks the ids are distinct).
// The ids are the ones the code used before the table existed: changing one changes results.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/random.h"

namespace metaloss::seeds {

enum class Stream : uint64_t {
  Init = 0,        // base-model initialisation
  Split = 1,       // train / validation split
  Order = 2,       // batch order (and augmentation) of training
  LossInit = 3,    // initialisation of a learned loss network (ML3, AdaLFL)
  Dropout = 4,     // dropout masks (the default generator)
  EvoReject = 5,   // EvoMAL: rejection-protocol base models
  EvoSupport = 6,  // EvoMAL: unrolled-optimisation support batches
  EvoQuery = 7,    // EvoMAL: its query batches
  EvoWeights = 8,  // EvoMAL: initial edge weights
  Signature = 20,  // GP search: the run seed's behaviour signature inputs (and Signature + 1)
  Ml3Support = 100,
  Ml3Query = 101,
  AdaLflValid = 200,       // AdaLFL: validation batches of the online meta steps
  IndexedBase = 1ull << 32,  // derive(seed, X, i) for per-step streams: X + i, i < 2^32
};

// The registry, for tests and for `--help`-style listings: every stream with its name.
struct StreamInfo {
  Stream id;
  const char* name;
};
const std::vector<StreamInfo>& streams();

// An independent, reproducible generator: splitmix64 of the seed and the stream id (+ index).
Generator derive(uint64_t seed, Stream stream, uint64_t index = 0);

// Seeds the default generator (which the Dropout layers draw from) for `seed`: the one place
// every command calls before it trains a base model.
void seed_dropout(uint64_t seed);

}  // namespace metaloss::seeds
