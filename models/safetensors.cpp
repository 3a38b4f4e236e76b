#include "models/safetensors.h"

#include <zlib.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <stdexcept>

#include "engine/ops.h"

namespace metaloss {

// The format is little-endian and tensors are copied byte for byte.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

constexpr uint64_t kMaxHeader = 100'000'000;  // the reference implementation's limit
constexpr size_t npos = std::string::npos;

// ---- dtypes -------------------------------------------------------------------------------
// Every dtype of the format, in the order of the reference's Dtype enum (which it sorts by when
// writing), with its element size and, when metaloss reads it, the dtype it loads as.
struct StDtype {
  const char* name;
  size_t size;
  bool supported;
  DType loads_as;
};
constexpr StDtype kDtypes[] = {
    {"BOOL", 1, true, DType::Bool},        {"U8", 1, false, {}},       {"I8", 1, false, {}},
    {"F8_E5M2", 1, false, {}},             {"F8_E4M3", 1, false, {}},  {"I16", 2, false, {}},
    {"U16", 2, false, {}},                 {"F16", 2, true, DType::Float32},
    {"BF16", 2, true, DType::Float32},     {"I32", 4, false, {}},      {"U32", 4, false, {}},
    {"F32", 4, true, DType::Float32},      {"F64", 8, true, DType::Float64},
    {"I64", 8, true, DType::Int64},        {"U64", 8, false, {}},
};

const StDtype* find_dtype(const std::string& name) {
  for (const StDtype& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

// Name of a metaloss dtype in the format, and its rank in the reference's enum order.
const char* st_name(DType t) {
  switch (t) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    case DType::Int64: return "I64";
    case DType::Bool: return "BOOL";
  }
  return "?";
}
int st_rank(DType t) { return int(find_dtype(st_name(t)) - kDtypes); }

// Exact conversions: every binary16 / bfloat16 value is a float32 value.
float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: man * 2^-24
    const float f = std::ldexp(float(man), -24);
    return sign ? -f : f;
  }
  if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (man << 13));  // inf, nan
  return std::bit_cast<float>(sign | ((exp + 127 - 15) << 23) | (man << 13));
}
float bf16_to_float(uint16_t b) { return std::bit_cast<float>(uint32_t(b) << 16); }

std::string shape_str(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}
std::string range_str(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

// Offset of the first byte of s that is not part of well-formed UTF-8 (JSON text must be UTF-8;
// the reference rejects headers that are not), or npos.
size_t utf8_error(const std::string& s) {
  static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};  // smallest non-overlong code point
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    const int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (n < 0 || i + n >= s.size()) return i;
    uint32_t cp = n == 0 ? c : c & (0x3fu >> n);
    for (int k = 1; k <= n; ++k) {
      const unsigned char d = s[i + k];
      if ((d & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < kMin[n] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return i;
    i += n + 1;
  }
  return npos;
}

// ---- writing ------------------------------------------------------------------------------
// Compact JSON string, escaped as serde_json and Python's json do (so headers match theirs).
void put_json_string(std::string& out, const std::string& s) {
  out += '"';
  for (const unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", unsigned(c));
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  out += '"';
}

// A file descriptor that closes itself; write_all retries short writes and EINTR.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  bool write_all(const void* data, size_t n) const {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t w = ::write(fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w == 0) errno = EIO;  // no progress and no error code: call it an I/O error
      if (w <= 0) return false;
      p += w;
      n -= size_t(w);
    }
    return true;
  }
};

// ---- reading: a strict parser for the header's JSON subset ----------------------------------
struct Entry {
  std::string name, dtype;
  std::vector<uint64_t> shape;
  uint64_t begin = 0, end = 0;
};

class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : s_(text), path_(path) {}

  void parse(std::vector<Entry>& entries, std::map<std::string, std::string>& metadata) {
    if (s_.empty() || s_[0] != '{') fail("malformed JSON: the header must start with '{'" + found(), 0);
    std::set<std::string> names;
    object([&](const std::string& key, size_t at) {
      if (!names.insert(key).second) fail("duplicate tensor name \"" + key + "\"", at);
      if (key == "__metadata__") {
        object([&](const std::string& k, size_t kat) {
          if (!metadata.emplace(k, string("a string (metadata values are strings)")).second)
            fail("duplicate metadata key \"" + k + "\"", kat);
        });
        return;
      }
      Entry e;
      e.name = key;
      std::set<std::string> fields;
      object([&](const std::string& field, size_t fat) {
        if (!fields.insert(field).second) fail("duplicate field \"" + field + "\" in tensor \"" + key + "\"", fat);
        if (field == "dtype") {
          e.dtype = string("a dtype string");
        } else if (field == "shape") {
          e.shape = integers();
        } else if (field == "data_offsets") {
          skip_ws();
          const size_t oat = i_;
          const std::vector<uint64_t> o = integers();
          if (o.size() != 2) fail("data_offsets of tensor \"" + key + "\" must be [begin, end]", oat);
          e.begin = o[0];
          e.end = o[1];
        } else {
          fail("unknown field \"" + field + "\" in tensor \"" + key + "\"", fat);
        }
      });
      for (const char* f : {"dtype", "shape", "data_offsets"})
        if (!fields.count(f)) fail("tensor \"" + key + "\" has no \"" + f + "\" field", at);
      entries.push_back(std::move(e));
    });
    skip_ws();
    if (i_ < s_.size()) fail("malformed JSON: unexpected content after the header object" + found(), i_);
  }

 private:
  const std::string& s_;
  const std::string& path_;
  size_t i_ = 0;

  [[noreturn]] void fail(const std::string& what, size_t at) const {
    throw std::runtime_error("load_safetensors: " + path_ + ": header byte " + std::to_string(at) + ": " + what);
  }
  // " but found 'x'", for syntax errors.
  std::string found() const {
    if (i_ >= s_.size()) return " but the header ends there";
    const unsigned char c = s_[i_];
    if (c < 0x20 || c >= 0x7f) return " but found byte " + std::to_string(unsigned(c));
    return std::string(" but found '") + char(c) + "'";
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c) {
    skip_ws();
    if (peek() != c) fail(std::string("malformed JSON: expected '") + c + "'" + found(), i_);
    ++i_;
  }

  // { "key": value, ... }: on_member(key, key position) must consume the value.
  template <class F>
  void object(F&& on_member) {
    expect('{');
    skip_ws();
    if (peek() == '}') {
      ++i_;
      return;
    }
    for (;;) {
      skip_ws();
      const size_t at = i_;
      const std::string key = string("a string key");
      expect(':');
      on_member(key, at);
      skip_ws();
      if (peek() == '}') {
        ++i_;
        return;
      }
      if (peek() != ',') fail("malformed JSON: expected ',' or '}'" + found(), i_);
      ++i_;
    }
  }

  // [ integer, ... ]
  std::vector<uint64_t> integers() {
    std::vector<uint64_t> v;
    expect('[');
    skip_ws();
    if (peek() == ']') {
      ++i_;
      return v;
    }
    for (;;) {
      v.push_back(integer());
      skip_ws();
      if (peek() == ']') {
        ++i_;
        return v;
      }
      if (peek() != ',') fail("malformed JSON: expected ',' or ']'" + found(), i_);
      ++i_;
    }
  }

  // A non-negative JSON integer (shapes and offsets are usize in the reference).
  uint64_t integer() {
    skip_ws();
    const size_t at = i_;
    if (peek() < '0' || peek() > '9') fail("expected a non-negative integer" + found(), i_);
    if (peek() == '0' && i_ + 1 < s_.size() && s_[i_ + 1] >= '0' && s_[i_ + 1] <= '9')
      fail("malformed JSON: leading zero in a number", i_);
    uint64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      const uint64_t d = uint64_t(peek() - '0');
      if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) fail("integer does not fit in 64 bits", at);
      v = v * 10 + d;
      ++i_;
    }
    if (peek() == '.' || peek() == 'e' || peek() == 'E') fail("expected an integer, found a fraction or exponent", at);
    return v;
  }

  unsigned hex4() {
    unsigned v = 0;
    for (int k = 0; k < 4; ++k, ++i_) {
      const char c = peek();
      const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) fail("malformed JSON: bad \\u escape" + found(), i_);
      v = v * 16 + unsigned(d);
    }
    return v;
  }

  // A JSON string, unescaped to UTF-8. `what` says what was expected, for the error.
  std::string string(const char* what) {
    skip_ws();
    if (peek() != '"') fail(std::string("expected ") + what + found(), i_);
    ++i_;
    std::string out;
    for (;;) {
      if (i_ >= s_.size()) fail("malformed JSON: unterminated string", i_);
      const unsigned char c = s_[i_];
      if (c == '"') {
        ++i_;
        return out;
      }
      if (c < 0x20) fail("malformed JSON: control character in a string", i_);
      if (c != '\\') {
        out += char(c);
        ++i_;
        continue;
      }
      const size_t at = i_++;
      const char e = peek();
      ++i_;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xdc00 && cp <= 0xdfff) fail("malformed JSON: lone low surrogate", at);
          if (cp >= 0xd800 && cp <= 0xdbff) {  // a surrogate pair encodes one code point
            if (peek() != '\\' || i_ + 1 >= s_.size() || s_[i_ + 1] != 'u')
              fail("malformed JSON: high surrogate without its low half", at);
            i_ += 2;
            const uint32_t lo = hex4();
            if (lo < 0xdc00 || lo > 0xdfff) fail("malformed JSON: high surrogate without its low half", at);
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          if (cp < 0x80) {
            out += char(cp);
          } else if (cp < 0x800) {
            out += char(0xc0 | (cp >> 6));
            out += char(0x80 | (cp & 0x3f));
          } else if (cp < 0x10000) {
            out += char(0xe0 | (cp >> 12));
            out += char(0x80 | ((cp >> 6) & 0x3f));
            out += char(0x80 | (cp & 0x3f));
          } else {
            out += char(0xf0 | (cp >> 18));
            out += char(0x80 | ((cp >> 12) & 0x3f));
            out += char(0x80 | ((cp >> 6) & 0x3f));
            out += char(0x80 | (cp & 0x3f));
          }
          break;
        }
        default: fail("malformed JSON: bad escape in a string", at);
      }
    }
  }
};

}  // namespace

// ---- save -----------------------------------------------------------------------------------
// The integrity check of files metaloss writes with provenance (checkpoints, models, learned
// losses): CRC-32 of each tensor's name and data bytes, so an edited value or a renamed tensor is
// named on load instead of resuming into another result.
namespace {
constexpr const char* kChecksumKey = "metaloss_crc32";

uint32_t tensor_crc(const std::string& name, const void* bytes, size_t n) {
  uLong c = crc32(0L, Z_NULL, 0);
  c = crc32(c, reinterpret_cast<const Bytef*>(name.data()), uInt(name.size()));
  static const Bytef separator = 0;  // between the name and the bytes
  c = crc32(c, &separator, 1);
  for (size_t done = 0; done < n;) {  // uInt chunks
    const size_t k = std::min<size_t>(n - done, 1u << 30);
    c = crc32(c, static_cast<const Bytef*>(bytes) + done, uInt(k));
    done += k;
  }
  return uint32_t(c);
}

std::string crc_hex(uint32_t c) {
  char b[9];
  std::snprintf(b, sizeof b, "%08x", c);
  return b;
}
}  // namespace

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata_in, bool checksum) {
  auto error = [&](const std::string& what) { return std::runtime_error("save_safetensors: " + path + ": " + what); };

  struct Item {
    const std::string* name;
    Tensor values;  // contiguous
  };
  std::vector<Item> items;
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    if (!t.defined()) throw error("tensor \"" + name + "\" is undefined");
    if (name == "__metadata__") throw error("\"__metadata__\" is reserved and cannot name a tensor");
    if (!seen.insert(name).second) throw error("duplicate tensor name \"" + name + "\"");
    if (utf8_error(name) != npos) throw error("tensor name \"" + name + "\" is not valid UTF-8");
    Tensor c = t.detach().cpu();  // detached: writing a file is not part of any graph; host bytes
    // Row-major values; an empty tensor has no bytes to arrange (and kernels need not see it).
    items.push_back({&name, c.is_contiguous() || c.numel() == 0 ? c : contiguous(c)});
  }
  for (const auto& [k, v] : metadata_in)
    if (utf8_error(k) != npos || utf8_error(v) != npos) throw error("metadata entry \"" + k + "\" is not valid UTF-8");

  // The reference's layout: descending dtype enum order (largest alignment first), then name.
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    const int ra = st_rank(a.values.dtype()), rb = st_rank(b.values.dtype());
    return ra != rb ? ra > rb : *a.name < *b.name;
  });

  std::map<std::string, std::string> metadata = metadata_in;
  metadata.erase(kChecksumKey);
  if (checksum) {  // one CRC-32 per tensor, in the order of the header (the layout order above)
    std::string list;
    for (const Item& it : items) {
      const size_t n = size_t(it.values.numel()) * dtype_size(it.values.dtype());
      std::vector<uint8_t> b;
      const void* bytes = it.values.raw_data();
      if (it.values.dtype() == DType::Bool) {  // as written: exactly 0 or 1
        b.assign(it.values.data<uint8_t>(), it.values.data<uint8_t>() + n);
        for (uint8_t& x : b) x = x != 0;
        bytes = b.data();
      }
      list += (list.empty() ? "" : " ") + crc_hex(tensor_crc(*it.name, bytes, n));
    }
    metadata[kChecksumKey] = list;
  }
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    for (auto it = metadata.begin(); it != metadata.end(); ++it) {
      if (it != metadata.begin()) header += ',';
      put_json_string(header, it->first);
      header += ':';
      put_json_string(header, it->second);
    }
    header += '}';
  }
  uint64_t offset = 0;
  for (const Item& it : items) {
    if (header.size() > 1) header += ',';
    put_json_string(header, *it.name);
    header += ":{\"dtype\":\"" + std::string(st_name(it.values.dtype())) + "\",\"shape\":[";
    for (int d = 0; d < it.values.dim(); ++d) {
      if (d) header += ',';
      header += std::to_string(it.values.shape()[d]);
    }
    const uint64_t n = uint64_t(it.values.numel()) * dtype_size(it.values.dtype());
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + n) + "]}";
    offset += n;
  }
  header += '}';
  header.resize((header.size() + 7) / 8 * 8, ' ');  // 8-byte alignment of the data buffer
  const uint64_t header_len = header.size();

  // Write a temporary file, make it durable, then rename it over the target: readers (and a
  // crash) see the old file or the complete new one.
  const std::string tmp = path + ".tmp";
  {
    Fd f;
    f.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f.fd < 0) throw error("cannot create " + tmp + ": " + std::strerror(errno));
    // Remember the first failure's errno: later calls overwrite it.
    int err = 0;
    auto check = [&](bool ok) {
      if (!ok && !err) err = errno ? errno : EIO;
    };
    check(f.write_all(&header_len, 8) && f.write_all(header.data(), header.size()));
    for (const Item& it : items) {
      if (err) break;
      const size_t n = size_t(it.values.numel()) * dtype_size(it.values.dtype());
      if (it.values.dtype() == DType::Bool) {  // the format's BOOL bytes are exactly 0 or 1
        std::vector<uint8_t> b(it.values.data<uint8_t>(), it.values.data<uint8_t>() + n);
        for (uint8_t& x : b) x = x != 0;
        check(f.write_all(b.data(), n));
      } else {
        check(f.write_all(it.values.raw_data(), n));
      }
    }
    if (!err) check(::fsync(f.fd) == 0);
    check(::close(f.fd) == 0);
    f.fd = -1;
    if (err) {
      ::unlink(tmp.c_str());
      throw error("writing " + tmp + " failed: " + std::strerror(err));
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw error("cannot rename " + tmp + " to " + path + ": " + why);
  }
  // fsync the directory so that the rename itself survives a crash (best effort).
  std::string dir = std::filesystem::path(path).parent_path().string();
  Fd d;
  d.fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d.fd >= 0) ::fsync(d.fd);
}

// ---- load -----------------------------------------------------------------------------------
SafetensorsFile load_safetensors(const std::string& path) {
  auto error = [&](const std::string& what) { return std::runtime_error("load_safetensors: " + path + ": " + what); };

  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found) throw error("no such file");
  if (ec) throw error("cannot open: " + ec.message());
  if (!std::filesystem::is_regular_file(status)) throw error("not a regular file");
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) throw error("cannot read its size: " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) throw error(std::string("cannot open: ") + std::strerror(errno));

  if (file_size < 8)
    throw error("truncated: the file has " + std::to_string(file_size) + " bytes, fewer than the 8-byte header length");
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  if (n > kMaxHeader)
    throw error("header length " + std::to_string(n) + " exceeds the 100 MB limit (corrupt, or not a safetensors file)");
  if (n > file_size - 8)
    throw error("truncated: header length " + std::to_string(n) + " runs past the end of the file (" +
                std::to_string(file_size) + " bytes)");
  std::string text(n, '\0');
  if (!in.read(text.data(), std::streamsize(n))) throw error("read error in the header");
  if (const size_t bad = utf8_error(text); bad != npos)
    throw error("header byte " + std::to_string(bad) + ": malformed JSON: not valid UTF-8");

  SafetensorsFile out;
  std::vector<Entry> entries;
  HeaderParser(text, path).parse(entries, out.metadata);

  // Each entry on its own: dtype, shape against offsets, offsets inside the buffer.
  const uint64_t buffer_size = file_size - 8 - n;
  for (const Entry& e : entries) {
    const std::string who = "tensor \"" + e.name + "\"";
    const StDtype* dt = find_dtype(e.dtype);
    if (!dt) throw error(who + " has unknown dtype \"" + e.dtype + "\"");
    if (!dt->supported)
      throw error(who + " has dtype " + e.dtype +
                  ", which metaloss does not read (it reads F32, F64, I64, BOOL, and F16/BF16 as float32)");
    if (e.shape.size() > size_t(kMaxDims))
      throw error(who + " has " + std::to_string(e.shape.size()) + " dims; metaloss supports at most " +
                  std::to_string(kMaxDims));
    uint64_t bytes = dt->size;
    bool overflow = false;
    for (uint64_t d : e.shape)
      overflow |= d > uint64_t(std::numeric_limits<int64_t>::max()) || __builtin_mul_overflow(bytes, d, &bytes);
    if (overflow || bytes > uint64_t(std::numeric_limits<int64_t>::max()))
      throw error(who + " has shape " + shape_str(e.shape) + ", whose size overflows");
    if (e.end < e.begin) throw error(who + " has data_offsets " + range_str(e.begin, e.end) + " ending before they begin");
    if (e.end - e.begin != bytes)
      throw error("shape/offset size mismatch: " + who + " is " + e.dtype + " " + shape_str(e.shape) + " = " +
                  std::to_string(bytes) + " bytes but its data_offsets " + range_str(e.begin, e.end) + " span " +
                  std::to_string(e.end - e.begin));
    if (e.end > buffer_size)
      throw error("truncated: " + who + " has data_offsets " + range_str(e.begin, e.end) +
                  " past the end of the data buffer (" + std::to_string(buffer_size) + " bytes)");
  }

  // Together the tensors must tile the buffer: no overlap, no gap, nothing after the last one
  // (as the reference requires; it rules out hidden payloads and aliasing).
  std::vector<size_t> order(entries.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::pair(entries[a].begin, entries[a].end) < std::pair(entries[b].begin, entries[b].end);
  });
  uint64_t cursor = 0;
  const Entry* prev = nullptr;
  for (size_t i : order) {
    const Entry& e = entries[i];
    if (e.begin < cursor)
      throw error("tensors \"" + prev->name + "\" " + range_str(prev->begin, prev->end) + " and \"" + e.name + "\" " +
                  range_str(e.begin, e.end) + " overlap in the data buffer");
    if (e.begin > cursor)
      throw error("non-contiguous data: bytes " + range_str(cursor, e.begin) +
                  " of the data buffer belong to no tensor (gap before \"" + e.name + "\")");
    cursor = e.end;
    prev = &e;
  }
  if (cursor != buffer_size)
    throw error("non-contiguous data: the last " + std::to_string(buffer_size - cursor) +
                " bytes of the data buffer belong to no tensor");

  // Read the data in file order, straight into the tensors (through a staging buffer for
  // dtypes that are converted).
  std::vector<Tensor> loaded(entries.size());
  std::vector<uint32_t> crcs(entries.size());
  std::vector<uint16_t> staging;
  for (size_t i : order) {
    const Entry& e = entries[i];
    const StDtype* dt = find_dtype(e.dtype);
    Shape shape;
    for (uint64_t d : e.shape) shape.push_back(int64_t(d));
    Tensor t = Tensor::empty(shape, dt->loads_as);
    const size_t bytes = size_t(e.end - e.begin);
    const bool convert = dt->size == 2;  // F16, BF16
    if (convert) staging.resize(bytes / 2);
    char* dst = convert ? reinterpret_cast<char*>(staging.data()) : static_cast<char*>(t.raw_data());
    if (!in.read(dst, std::streamsize(bytes)))
      throw error("truncated: the file ended while reading tensor \"" + e.name + "\"");
    crcs[i] = tensor_crc(e.name, dst, bytes);
    if (convert) {
      float* f = t.data<float>();
      for (size_t k = 0; k < staging.size(); ++k)
        f[k] = e.dtype == "F16" ? half_to_float(staging[k]) : bf16_to_float(staging[k]);
    }
    if (t.dtype() == DType::Bool) {
      const uint8_t* b = t.data<uint8_t>();
      for (size_t k = 0; k < bytes; ++k)
        if (b[k] > 1)
          throw error("BOOL tensor \"" + e.name + "\" holds byte " + std::to_string(b[k]) + " at element " +
                      std::to_string(k) + " (expected 0 or 1)");
    }
    loaded[i] = t;
  }
  if (const auto it = out.metadata.find(kChecksumKey); it != out.metadata.end()) {
    std::vector<std::string> want;
    for (size_t p = 0; p < it->second.size();) {
      size_t q = it->second.find(' ', p);
      if (q == std::string::npos) q = it->second.size();
      want.push_back(it->second.substr(p, q - p));
      p = q + 1;
    }
    if (want.size() != entries.size())
      throw error("integrity check: the file holds " + std::to_string(entries.size()) + " tensors, its checksum (metadata \"" +
                  kChecksumKey + "\") lists " + std::to_string(want.size()) + " (a tensor was added or removed)");
    for (size_t i = 0; i < entries.size(); ++i)
      if (want[i] != crc_hex(crcs[i]))
        throw error("integrity check: tensor \"" + entries[i].name + "\" fails its checksum (stored " + want[i] + ", data " +
                    crc_hex(crcs[i]) + "): the file was edited or damaged after it was written (or the tensor renamed)");
  }
  out.tensors.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) out.tensors.emplace_back(entries[i].name, loaded[i]);
  return out;
}

}  // namespace metaloss
