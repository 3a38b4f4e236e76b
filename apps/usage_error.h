// Exit code 2 means "the command line was wrong" (README); every other failure exits 1. Library
// code throws std::invalid_argument for any bad value, a corrupt run configuration or an engine
// shape error included, so the CLI cannot map that type to 2: it throws UsageError for what the
// user typed, and converts a library complaint to one only where the value came from an option.
#pragma once
#include <stdexcept>
#include <string>
#include <utility>

namespace metaloss::app {

struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// Runs f(); a std::invalid_argument it throws is about the value of `option` and becomes a
// UsageError (prefixed "option: " unless the message already starts with it).
template <class F>
decltype(auto) as_usage(const std::string& option, F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (const UsageError&) {
    throw;
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    throw UsageError(m.rfind(option, 0) == 0 ? m : option + ": " + m);
  }
}

}  // namespace metaloss::app
