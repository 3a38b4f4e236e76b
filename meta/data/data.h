// metaloss::data: datasets held in memory as tensors, their readers, splits, normalisation,
// augmentation and batching.
#pragma once
#include "meta/data/augment.h"
#include "meta/data/cifar.h"
#include "meta/data/csv.h"
#include "meta/data/dataset.h"
#include "meta/data/fewshot.h"
#include "meta/data/idx.h"
#include "meta/data/normalize.h"
#include "meta/data/sampler.h"
