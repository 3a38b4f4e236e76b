// The Kanji few-shot set: stroke data of Debian's python3-kanjidraw (one straight segment per
// stroke on a 0-255 canvas), rendered on demand with per-sample "handwriting" jitter.
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <unordered_set>

#include "meta/data/fewshot.h"
#include "meta/data/io.h"
#include "meta/data/splitmix.h"

namespace metaloss::data {

namespace {

// ---- a strict JSON reader (RFC 8259), keeping each value's byte offset for error messages ----
struct Json {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  double number = 0;
  std::string text;               // String; also the key of an Object member
  std::vector<std::string> keys;  // Object: member names, in file order
  std::vector<Json> items;        // Array elements or Object values
  size_t pos = 0;
};

class JsonParser {
 public:
  JsonParser(const std::string& path, const std::string& s) : path_(path), s_(s) {}

  Json document() {
    Json v = value(0);
    skip_ws();
    if (i_ != s_.size()) error("unexpected content after the top-level value");
    return v;
  }

  // "<path>: line L, column C (byte B): <what>"
  [[noreturn]] static void error_at(const std::string& path, const std::string& s, size_t pos,
                                    const std::string& what) {
    size_t line = 1, col = 1;
    for (size_t k = 0; k < pos && k < s.size(); ++k) {
      if (s[k] == '\n')
        ++line, col = 1;
      else if ((static_cast<unsigned char>(s[k]) & 0xC0) != 0x80)
        ++col;  // count UTF-8 characters
    }
    fail(path, "line " + std::to_string(line) + ", column " + std::to_string(col) + " (byte " + std::to_string(pos) +
                   "): " + what);
  }

 private:
  [[noreturn]] void error(const std::string& what) { error_at(path_, s_, i_, what); }

  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }

  void expect(char c) {
    skip_ws();
    if (i_ >= s_.size() || s_[i_] != c) error(std::string("expected '") + c + "'" + found());
    ++i_;
  }

  std::string found() const {
    if (i_ >= s_.size()) return ", found the end of the file";
    return std::string(", found '") + s_[i_] + "'";
  }

  Json value(int depth) {
    if (depth > 64) error("nesting deeper than 64 levels");
    skip_ws();
    Json v;
    v.pos = i_;
    if (i_ >= s_.size()) error("expected a value, found the end of the file");
    const char c = s_[i_];
    if (c == '{') {
      v.kind = Json::Object;
      ++i_;
      skip_ws();
      if (i_ < s_.size() && s_[i_] == '}') return ++i_, v;
      std::unordered_set<std::string> seen;
      for (;;) {
        skip_ws();
        const size_t key_pos = i_;
        if (i_ >= s_.size() || s_[i_] != '"') error("expected a member name in double quotes" + found());
        std::string key = string();
        if (!seen.insert(key).second) error_at(path_, s_, key_pos, "duplicate member name \"" + key + "\"");
        expect(':');
        v.keys.push_back(std::move(key));
        v.items.push_back(value(depth + 1));
        skip_ws();
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
          continue;
        }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      v.kind = Json::Array;
      ++i_;
      skip_ws();
      if (i_ < s_.size() && s_[i_] == ']') return ++i_, v;
      for (;;) {
        v.items.push_back(value(depth + 1));
        skip_ws();
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
          continue;
        }
        expect(']');
        return v;
      }
    }
    if (c == '"') {
      v.kind = Json::String;
      v.text = string();
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind = Json::Number;
      v.number = number();
      return v;
    }
    for (const auto& [word, kind] : {std::pair{"true", Json::Bool}, {"false", Json::Bool}, {"null", Json::Null}}) {
      if (s_.compare(i_, std::char_traits<char>::length(word), word) == 0) {
        v.kind = kind;
        v.number = word[0] == 't';
        i_ += std::char_traits<char>::length(word);
        return v;
      }
    }
    error("expected a value" + found());
  }

  // JSON's number grammar exactly (no leading '+', no leading zeros, no bare '.').
  double number() {
    const size_t start = i_;
    auto digits = [&] {
      const size_t from = i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      if (i_ == from) error("expected a digit in a number" + found());
    };
    if (s_[i_] == '-') ++i_;
    if (i_ < s_.size() && s_[i_] == '0')
      ++i_;
    else
      digits();
    if (i_ < s_.size() && s_[i_] == '.') ++i_, digits();
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      digits();
    }
    double x = 0;
    const auto [end, ec] = std::from_chars(s_.data() + start, s_.data() + i_, x);  // locale-independent
    if (ec != std::errc() || end != s_.data() + i_) error_at(path_, s_, start, "number out of range");
    return x;
  }

  unsigned hex4() {
    if (i_ + 4 > s_.size()) error("truncated \\u escape");
    unsigned u = 0;
    for (int k = 0; k < 4; ++k, ++i_) {
      const char h = s_[i_];
      u <<= 4;
      if (h >= '0' && h <= '9')
        u |= unsigned(h - '0');
      else if (h >= 'a' && h <= 'f')
        u |= unsigned(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        u |= unsigned(h - 'A' + 10);
      else
        error("expected 4 hex digits after \\u");
    }
    return u;
  }

  static void put_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | cp >> 6), out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | cp >> 12), out += char(0x80 | (cp >> 6 & 0x3F)), out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | cp >> 18), out += char(0x80 | (cp >> 12 & 0x3F));
      out += char(0x80 | (cp >> 6 & 0x3F)), out += char(0x80 | (cp & 0x3F));
    }
  }

  std::string string() {
    ++i_;  // the opening quote
    std::string out;
    for (;;) {
      if (i_ >= s_.size()) error("unterminated string");
      const char c = s_[i_];
      if (c == '"') return ++i_, out;
      if (static_cast<unsigned char>(c) < 0x20) error("control character in a string");
      if (c != '\\') {
        out += c, ++i_;
        continue;
      }
      if (++i_ >= s_.size()) error("unterminated string");
      const char e = s_[i_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00) {  // a high surrogate must pair with a low one
            if (s_.compare(i_, 2, "\\u") != 0) error("unpaired UTF-16 surrogate in \\u escape");
            i_ += 2;
            const unsigned lo = hex4();
            if (lo < 0xDC00 || lo >= 0xE000) error("unpaired UTF-16 surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            error("unpaired UTF-16 surrogate in \\u escape");
          }
          put_utf8(out, cp);
          break;
        }
        default:
          --i_, error(std::string("invalid escape '\\") + e + "'");
      }
    }
  }

  const std::string& path_;
  const std::string& s_;
  size_t i_ = 0;
};

// ---- the dataset ---------------------------------------------------------------------------
struct Character {
  std::string name;
  std::vector<std::array<double, 4>> strokes;  // x1, y1, x2, y2 on the 0-255 canvas
};

class KanjiDataset final : public FewShotDataset {
 public:
  KanjiDataset(std::string path, KanjiOptions o, std::vector<Character> chars)
      : path_(std::move(path)), o_(o), chars_(std::move(chars)) {}
  std::string name() const override { return "kanji:" + path_; }
  int64_t num_classes() const override { return int64_t(chars_.size()); }
  int64_t samples_per_class(int64_t) const override { return o_.samples_per_class; }
  int64_t channels() const override { return 1; }
  int64_t height() const override { return o_.size; }
  int64_t width() const override { return o_.size; }
  std::string class_name(int64_t cls) const override { return chars_.at(size_t(cls)).name; }
  void sample(int64_t cls, int64_t index, float* out) const override;

 private:
  std::string path_;
  KanjiOptions o_;
  std::vector<Character> chars_;
};

// Max-composites one anti-aliased thick segment: coverage falls linearly from 1 to 0 over the
// pixel straddling the stroke's edge (distance half_width +- 0.5 from the centre line).
void draw_segment(float* img, int64_t S, double ax, double ay, double bx, double by, double half_width) {
  const double reach = half_width + 0.5;
  const int64_t x0 = std::max<int64_t>(0, int64_t(std::floor(std::min(ax, bx) - reach)));
  const int64_t x1 = std::min<int64_t>(S - 1, int64_t(std::ceil(std::max(ax, bx) + reach)));
  const int64_t y0 = std::max<int64_t>(0, int64_t(std::floor(std::min(ay, by) - reach)));
  const int64_t y1 = std::min<int64_t>(S - 1, int64_t(std::ceil(std::max(ay, by) + reach)));
  const double dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
  for (int64_t y = y0; y <= y1; ++y) {
    for (int64_t x = x0; x <= x1; ++x) {
      const double px = double(x) + 0.5 - ax, py = double(y) + 0.5 - ay;  // pixel centre
      const double t = len2 > 0 ? std::clamp((px * dx + py * dy) / len2, 0.0, 1.0) : 0.0;
      const double ex = px - t * dx, ey = py - t * dy;
      const double cover = std::clamp(reach - std::sqrt(ex * ex + ey * ey), 0.0, 1.0);
      float& p = img[y * S + x];
      p = std::max(p, float(cover));
    }
  }
}

void KanjiDataset::sample(int64_t cls, int64_t index, float* out) const {
  const Character& ch = chars_.at(size_t(cls));
  if (index < 0 || index >= o_.samples_per_class)
    throw std::out_of_range(name() + ": sample " + std::to_string(index) + " of class " + std::to_string(cls) +
                            " is outside [0, " + std::to_string(o_.samples_per_class) + ")");
  SplitMix rng(hash_seed({o_.seed, uint64_t(cls), uint64_t(index)}));
  const int64_t S = o_.size;
  // One stroke width and one affine map per sample: what changes between two writers.
  const double half_width = 0.5 * rng.uniform(o_.width_min, o_.width_max);
  const double angle = rng.uniform(-o_.rotation_deg, o_.rotation_deg) * 3.141592653589793 / 180.0;
  const double scale = 1.0 + rng.uniform(-o_.scale_jitter, o_.scale_jitter);
  const double shear = rng.uniform(-o_.shear, o_.shear);
  const double tx = 255.0 * rng.uniform(-o_.translate, o_.translate);
  const double ty = 255.0 * rng.uniform(-o_.translate, o_.translate);
  // A = rotation * scale * [[1, shear], [0, 1]], applied about the canvas centre.
  const double c = std::cos(angle) * scale, s = std::sin(angle) * scale;
  const double a00 = c, a01 = c * shear - s, a10 = s, a11 = s * shear + c;
  // The canvas maps inside a 10 % margin so that jittered, rotated strokes stay in the image.
  const double margin = 0.1 * double(S), k = (double(S) - 2 * margin) / 255.0;
  auto to_pixel = [&](double x, double y, double& px, double& py) {
    x -= 127.5, y -= 127.5;
    px = margin + k * (a00 * x + a01 * y + 127.5 + tx);
    py = margin + k * (a10 * x + a11 * y + 127.5 + ty);
  };
  std::fill(out, out + S * S, 0.0f);
  for (const auto& st : ch.strokes) {
    // Each end point moves on its own: how a hand misses the ideal stroke.
    const double x1 = st[0] + o_.endpoint_jitter * rng.normal(), y1 = st[1] + o_.endpoint_jitter * rng.normal();
    const double x2 = st[2] + o_.endpoint_jitter * rng.normal(), y2 = st[3] + o_.endpoint_jitter * rng.normal();
    double ax, ay, bx, by;
    to_pixel(x1, y1, ax, ay);
    to_pixel(x2, y2, bx, by);
    draw_segment(out, S, ax, ay, bx, by, half_width);
  }
}

void check_options(const KanjiOptions& o) {
  auto bad = [](const std::string& what) { throw std::invalid_argument("KanjiOptions: " + what); };
  if (o.size < 4) bad("size must be >= 4, got " + std::to_string(o.size));
  if (o.samples_per_class < 1) bad("samples_per_class must be >= 1, got " + std::to_string(o.samples_per_class));
  if (!(o.width_min > 0 && o.width_min <= o.width_max)) bad("need 0 < width_min <= width_max");
  if (!(o.endpoint_jitter >= 0 && o.rotation_deg >= 0 && o.scale_jitter >= 0 && o.scale_jitter < 1 && o.shear >= 0 &&
        o.translate >= 0))
    bad("jitter ranges must be >= 0 (scale_jitter < 1)");
}

}  // namespace

std::string default_kanji_path() { return "/usr/lib/python3/dist-packages/kanjidraw/data.json"; }

std::shared_ptr<FewShotDataset> load_kanji(const std::string& path, const KanjiOptions& options) {
  check_options(options);
  const std::string text = read_file(path);
  const Json root = JsonParser(path, text).document();
  auto bad = [&](const Json& at, const std::string& what) { JsonParser::error_at(path, text, at.pos, what); };
  if (root.kind != Json::Object) bad(root, "expected an object of stroke count -> characters");
  // Groups in stroke-count order, whatever order the file lists them in.
  std::vector<std::pair<int64_t, size_t>> groups;
  for (size_t g = 0; g < root.keys.size(); ++g) {
    const std::string& key = root.keys[g];
    int64_t count = 0;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), count);
    if (ec != std::errc() || end != key.data() + key.size() || count < 1)
      bad(root.items[g], "stroke-count key \"" + key + "\" is not a positive integer");
    groups.emplace_back(count, g);
  }
  std::stable_sort(groups.begin(), groups.end());
  std::vector<Character> chars;
  std::unordered_set<std::string> seen;
  for (const auto& [count, g] : groups) {
    const Json& group = root.items[g];
    if (group.kind != Json::Object) bad(group, "expected an object of character -> strokes");
    for (size_t c = 0; c < group.keys.size(); ++c) {
      const Json& strokes = group.items[c];
      Character ch{group.keys[c], {}};
      if (!seen.insert(ch.name).second) bad(strokes, "character \"" + ch.name + "\" appears twice");
      if (strokes.kind != Json::Array || strokes.items.empty())
        bad(strokes, "expected a non-empty list of strokes for \"" + ch.name + "\"");
      for (const Json& st : strokes.items) {
        if (st.kind != Json::Array || st.items.size() != 4) bad(st, "a stroke of \"" + ch.name + "\" is not 4 numbers");
        std::array<double, 4> xy{};
        for (size_t k = 0; k < 4; ++k) {
          const Json& v = st.items[k];
          if (v.kind != Json::Number || !(v.number >= 0 && v.number <= 255))
            bad(v, "a stroke coordinate of \"" + ch.name + "\" is not a number in [0, 255]");
          xy[k] = v.number;
        }
        ch.strokes.push_back(xy);
      }
      chars.push_back(std::move(ch));
    }
  }
  if (chars.empty()) fail(path, "no characters");
  return std::make_shared<KanjiDataset>(path, options, std::move(chars));
}

}  // namespace metaloss::data
