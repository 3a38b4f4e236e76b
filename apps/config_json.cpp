#include "apps/config_json.h"

#include <cctype>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace metaloss::app {
namespace {

class FlatJson {
 public:
  FlatJson(std::string text, std::string path) : s_(std::move(text)), path_(std::move(path)) {}

  std::vector<std::string> parse() {
    std::vector<std::string> args;
    skip();
    expect('{');
    skip();
    if (peek() == '}') return finish(args);
    while (true) {
      skip();
      std::string key = string();
      skip();
      expect(':');
      skip();
      const char c = peek();
      std::string value;
      if (c == '"') {
        value = string();
      } else if (c == 't' || c == 'f') {
        value = word();
        if (value != "true" && value != "false") fail("true, false, a number or a string");
        value = value == "true" ? "on" : "off";
      } else if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) {
        value = number();
      } else {
        fail("a string, number or true/false value for \"" + key + "\" (nested objects and arrays are not options)");
      }
      // One "--key=value" argument: a flag (--nesterov) takes "=on"/"=off" too, where a separate
      // "on" would be an unexpected positional. Python-style keys (batch_size) are spelled
      // with '-' as the options are.
      for (char& ch : key)
        if (ch == '_') ch = '-';
      args.push_back("--" + key + "=" + value);
      skip();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      expect('}');
      return finish(args);
    }
  }

 private:
  std::vector<std::string> finish(std::vector<std::string>& args) {
    if (s_[i_] == '}') ++i_;
    skip();
    if (i_ != s_.size()) fail("end of file after the closing }");
    return args;
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("config file '" + path_ + "': at byte " + std::to_string(i_) + ": expected " + what);
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("'") + c + "'");
    ++i_;
  }
  std::string string() {
    expect('"');
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (s_[i_] == '\\') {
        ++i_;
        const char e = peek();
        if (e == 'n') out += '\n';
        else if (e == 't') out += '\t';
        else if (e == '"' || e == '\\' || e == '/') out += e;
        else fail("a simple escape (\\\" \\\\ \\/ \\n \\t)");
        ++i_;
      } else {
        out += s_[i_++];
      }
    }
    expect('"');
    return out;
  }
  std::string word() {
    const size_t b = i_;
    while (i_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[i_]))) ++i_;
    return s_.substr(b, i_ - b);
  }
  std::string number() {
    const size_t b = i_;
    while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || std::string("+-.eE").find(s_[i_]) != std::string::npos))
      ++i_;
    return s_.substr(b, i_ - b);
  }
  std::string s_, path_;
  size_t i_ = 0;
};

// The YAML a flat option file needs, and no more: one "key: value" per line at the left margin,
// comments (#), an optional "---" first line; values plain, 'single' or "double" quoted; true/false
// (and yes/no) as on/off. Nested mappings, lists, anchors and multi-line values are refused with
// the line they are on, as are keys given twice (JSON takes the last; a YAML typo should not).
std::vector<std::string> flat_yaml(const std::string& text, const std::string& path) {
  std::vector<std::string> args;
  std::map<std::string, int> seen;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  auto fail = [&](const std::string& what) -> std::runtime_error {
    return std::runtime_error("config file '" + path + "': line " + std::to_string(n) + ": expected " + what);
  };
  auto trim = [](std::string t) {
    const size_t b = t.find_first_not_of(" \t\r"), e = t.find_last_not_of(" \t\r");
    return b == std::string::npos ? std::string() : t.substr(b, e - b + 1);
  };
  while (std::getline(in, line)) {
    ++n;
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#' || (n == 1 && t == "---")) continue;
    if (std::isspace(static_cast<unsigned char>(line[0])))
      throw fail("'key: value' at the start of the line (nested mappings are not options)");
    if (t[0] == '-') throw fail("'key: value' (lists are not options)");
    const size_t colon = t.find(':');
    if (colon == std::string::npos) throw fail("'key: value'");
    std::string key = trim(t.substr(0, colon));
    for (char ch : key)
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-') throw fail("an option name before ':', got '" + key + "'");
    if (key.empty()) throw fail("an option name before ':'");
    std::string rest = trim(t.substr(colon + 1)), value;
    if (rest.empty()) throw fail("a value for '" + key + "' (nested mappings are not options)");
    if (rest[0] == '"' || rest[0] == '\'') {
      const char q = rest[0];
      size_t i = 1;
      for (; i < rest.size() && rest[i] != q; ++i) {
        if (q == '"' && rest[i] == '\\' && i + 1 < rest.size()) {
          const char e = rest[++i];
          if (e == 'n') value += '\n';
          else if (e == 't') value += '\t';
          else if (e == '"' || e == '\\' || e == '/') value += e;
          else throw fail("a simple escape (\\\" \\\\ \\/ \\n \\t)");
        } else {
          value += rest[i];
        }
      }
      if (i >= rest.size()) throw fail(std::string("the closing ") + q + " of the value of '" + key + "'");
      const std::string after = trim(rest.substr(i + 1));
      if (!after.empty() && after[0] != '#') throw fail("the end of the line after the quoted value of '" + key + "'");
    } else {
      const size_t hash = rest.find(" #");
      value = trim(hash == std::string::npos ? rest : rest.substr(0, hash));
      if (value[0] == '[' || value[0] == '{' || value[0] == '&' || value[0] == '*' || value[0] == '|' || value[0] == '>')
        throw fail("a plain value for '" + key + "' (lists, mappings, anchors and block scalars are not options)");
      if (value == "true" || value == "yes") value = "on";
      else if (value == "false" || value == "no") value = "off";
    }
    for (char& ch : key)
      if (ch == '_') ch = '-';
    if (const auto it = seen.find(key); it != seen.end())
      throw fail("each option once: '" + key + "' was given on line " + std::to_string(it->second) + " too");
    seen[key] = n;
    args.push_back("--" + key + "=" + value);
  }
  return args;
}

}  // namespace

std::vector<std::string> config_to_args(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("config file '" + path + "': cannot be opened");
  std::ostringstream ss;
  ss << in.rdbuf();
  const auto ends = [&](const std::string& x) { return path.size() >= x.size() && path.compare(path.size() - x.size(), x.size(), x) == 0; };
  if (ends(".yaml") || ends(".yml")) return flat_yaml(ss.str(), path);
  return FlatJson(ss.str(), path).parse();
}

}  // namespace metaloss::app
