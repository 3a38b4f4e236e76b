#include "meta/search/method.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace metaloss::search {

#define METALOSS_SEARCH_METHOD(name) std::unique_ptr<SearchMethod> make_##name##_method();
#include "meta/search/methods.inc"
#undef METALOSS_SEARCH_METHOD

namespace {
const std::vector<std::unique_ptr<SearchMethod>>& registry() {
  static const std::vector<std::unique_ptr<SearchMethod>> methods = [] {
    std::vector<std::unique_ptr<SearchMethod>> m;
#define METALOSS_SEARCH_METHOD(name) m.push_back(make_##name##_method());
#include "meta/search/methods.inc"
#undef METALOSS_SEARCH_METHOD
    return m;
  }();
  return methods;
}
}  // namespace

const SearchMethod& find_method(const std::string& name) {
  for (const auto& m : registry())
    if (m->name() == name) return *m;
  std::string names;
  for (const auto& m : registry()) names += (names.empty() ? "" : ", ") + m->name();
  throw std::invalid_argument("search method '" + name + "' (this metaloss searches " + names + ")");
}

std::vector<std::string> method_names() {
  std::vector<std::string> out;
  for (const auto& m : registry()) out.push_back(m->name());
  return out;
}

int SearchMethod::loop_generations(const RunConfig& c) const { return int(need_int(c, "generations")); }

const std::string& need(const RunConfig& c, const std::string& key) {
  auto it = c.find(key);
  if (it == c.end()) throw std::runtime_error("run configuration: missing '" + key + "'");
  return it->second;
}

double need_double(const RunConfig& c, const std::string& key) {
  const std::string& v = need(c, key);
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end) throw std::runtime_error("run configuration: '" + key + "' is '" + v + "', expected a number");
  return d;
}

int64_t need_int(const RunConfig& c, const std::string& key) {
  const double d = need_double(c, key);
  if (d != std::floor(d)) throw std::runtime_error("run configuration: '" + key + "' must be an integer");
  return int64_t(d);
}

uint64_t need_seed(const RunConfig& c) {
  const std::string& v = need(c, "seed");
  if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos)
    throw std::runtime_error("run configuration: 'seed' is '" + v + "', expected a non-negative integer");
  return std::stoull(v);
}

std::string config_number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace metaloss::search
