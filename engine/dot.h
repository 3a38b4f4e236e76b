// Graphviz DOT export of recorded graphs, for studying gradient-through-gradient mechanics.
// Nodes show op name, output dtype/shape and creation order; nodes recorded by a backward pass
// run with create_graph are filled blue and say which op's backward rule created them.
#pragma once
#include <string>
#include <vector>

#include "engine/autograd.h"

namespace metaloss {

std::string to_dot(const std::vector<Tensor>& outputs);
std::string to_dot(const Tape& tape);

}  // namespace metaloss
