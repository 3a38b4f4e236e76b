#include "apps/config_json.h"

#include <cctype>
#include <fstream>
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

}  // namespace

std::vector<std::string> config_to_args(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("config file '" + path + "': cannot be opened");
  std::ostringstream ss;
  ss << in.rdbuf();
  return FlatJson(ss.str(), path).parse();
}

}  // namespace metaloss::app
