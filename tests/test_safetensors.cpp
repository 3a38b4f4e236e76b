// safetensors read/write: round trips, byte-exact layout against hand-built files, F16/BF16
// reading, and one test per error the loader and saver must report.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "engine/metaloss.h"
#include "models/safetensors.h"
#include "temp_dir.h"

using namespace metaloss;
using namespace std::string_literals;
namespace fs = std::filesystem;

using metaloss::testing::TempDir;

namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}
std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// A file from its parts: the header length field (the header's size unless given), header, data.
std::string st_file(const std::string& header, const std::string& data = "", int64_t header_len = -1) {
  const uint64_t n = header_len < 0 ? header.size() : uint64_t(header_len);
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((n >> (8 * i)) & 0xff);
  return out + header + data;
}

// Checks that loading `path` throws a runtime_error naming the path and containing `text`.
void check_load_error(const std::string& path, const std::string& text) {
  std::string msg;
  try {
    load_safetensors(path);
  } catch (const std::runtime_error& e) {
    msg = e.what();
  }
  INFO("expected \"", text, "\", got: ", msg);
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find(text) != std::string::npos);
}

// One tensor entry of a header, for hand-built files.
std::string entry(const std::string& name, const std::string& dtype, const std::string& shape, int b, int e) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
         std::to_string(b) + "," + std::to_string(e) + "]}";
}

}  // namespace

TEST_CASE("safetensors round trip of dtypes, shapes and views") {
  TempDir tmp("st");
  manual_seed(0);
  Tensor f32 = randn({2, 3});
  Tensor f64 = randn({4}, DType::Float64).set_requires_grad();  // grad state is not saved
  Tensor i64 = Tensor::from_vector(std::vector<int64_t>{1, -2, 3, INT64_MIN, INT64_MAX, 0, 7, -8}, {2, 2, 2});
  Tensor b = Tensor::from_vector(std::vector<double>{1, 0, 0, 1, 1}, {5}, DType::Bool);
  Tensor s = Tensor::scalar(-2.5);                                  // 0-d
  Tensor empty = Tensor::empty({0, 3}, DType::Float64);             // no elements
  Tensor empty_t = transpose(empty, 0, 1);                          // no elements, non-contiguous
  Tensor base = reshape(Tensor::arange(0, 12, 1, DType::Float64), {3, 4});
  Tensor t = transpose(base, 0, 1);                                 // non-contiguous
  Tensor sl = slice(base, 1, 1, 4, 2);                              // strided, offset
  Tensor ex = expand(Tensor::arange(0, 3, 1, DType::Int64), {2, 3});  // stride 0
  REQUIRE(!t.is_contiguous());
  REQUIRE(!sl.is_contiguous());

  const std::string path = tmp / "all.safetensors";
  save_safetensors(path, {{"w", f32}, {"v", f64}, {"idx", i64}, {"mask", b}, {"scalar", s}, {"empty", empty},
                          {"empty_t", empty_t}, {"t", t}, {"sl", sl}, {"ex", ex}});
  CHECK(!fs::exists(path + ".tmp"));
  SafetensorsFile f = load_safetensors(path);
  CHECK(f.metadata.empty());

  // Written (and so read back) in the reference's order: I64, F64, F32, BOOL; then by name.
  std::vector<std::string> names;
  for (auto& [name, _] : f.tensors) names.push_back(name);
  CHECK(names == std::vector<std::string>{"ex", "idx", "empty", "empty_t", "sl", "t", "v", "scalar", "w", "mask"});

  std::map<std::string, Tensor> got(f.tensors.begin(), f.tensors.end());
  for (auto& [name, want] : std::vector<std::pair<std::string, Tensor>>{
           {"w", f32}, {"v", f64}, {"idx", i64}, {"mask", b}, {"scalar", s}, {"empty", empty},
           {"empty_t", empty_t}, {"t", t}, {"sl", sl}, {"ex", ex}}) {
    CAPTURE(name);
    const Tensor& g = got.at(name);
    CHECK(g.dtype() == want.dtype());
    CHECK(g.shape() == want.shape());
    CHECK(g.is_contiguous());
    CHECK(!g.requires_grad());
    if (want.numel()) CHECK(g.to_vector() == want.to_vector());  // (kernels choke on a last dim of 0)
  }
  // int64 extremes survive exactly (to_vector goes through double)
  CHECK(got.at("idx").data<int64_t>()[3] == INT64_MIN);
  CHECK(got.at("idx").data<int64_t>()[4] == INT64_MAX);
  CHECK(got.at("scalar").dim() == 0);

  // An empty file: no tensors at all.
  save_safetensors(tmp / "none.safetensors", {});
  CHECK(read_bytes(tmp / "none.safetensors") == st_file("{}      "));
  CHECK(load_safetensors(tmp / "none.safetensors").tensors.empty());
}

TEST_CASE("safetensors metadata round trip and atomic overwrite") {
  TempDir tmp("st");
  const std::string path = tmp / "meta.safetensors";
  const std::map<std::string, std::string> meta = {
      {"format", "pt"},
      {"quote\"back\\slash", "new\nline\ttab\x01\x1f"},
      {"unicode", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"},
      {"", ""}};
  Tensor x = Tensor::arange(0, 4);
  write_bytes(path, "old contents");
  save_safetensors(path, {{"we\"ird\nname \xc3\xa9", x}}, meta);
  CHECK(!fs::exists(path + ".tmp"));
  const std::string bytes = read_bytes(path);
  CHECK(bytes.substr(8, 17) == "{\"__metadata__\":{");
  CHECK(bytes.find("\\u0001\\u001f") != std::string::npos);  // control characters escaped
  SafetensorsFile f = load_safetensors(path);
  CHECK(f.metadata == meta);
  REQUIRE(f.tensors.size() == 1);
  CHECK(f.tensors[0].first == "we\"ird\nname \xc3\xa9");
  CHECK(f.tensors[0].second.to_vector() == x.to_vector());

  // \u escapes (with a surrogate pair) and whitespace that other writers may use are read.
  const std::string header =
      "{ \"__metadata__\" : { \"k\\u00e9\\ud83d\\ude00\" : \"\\/v\" } ,\n"
      "  \"x\" : { \"data_offsets\" : [ 0 , 4 ] , \"shape\" : [ ] , \"dtype\" : \"F32\" } }";
  write_bytes(tmp / "ws.safetensors", st_file(header, "\0\0\xc0\x3f"s));
  SafetensorsFile w = load_safetensors(tmp / "ws.safetensors");
  CHECK(w.metadata == std::map<std::string, std::string>{{"k\xc3\xa9\xf0\x9f\x98\x80", "/v"}});
  CHECK(w.tensors.at(0).second.item() == 1.5);

  // A failed save leaves the existing file as it was.
  const std::string before = read_bytes(path);
  CHECK_THROWS_AS(save_safetensors(path, {{"a", x}, {"a", x}}), std::runtime_error);
  CHECK(read_bytes(path) == before);
  CHECK(!fs::exists(path + ".tmp"));
}

TEST_CASE("safetensors checksum: an edited value, a renamed, added or removed tensor is named on load") {
  TempDir tmp("st_crc");
  const std::string path = tmp / "c.safetensors";
  const Tensor w = Tensor::arange(0, 6), b = Tensor::from_vector(std::vector<int64_t>{3, 4}, {2});
  save_safetensors(path, {{"weight", w}, {"bias", b}}, {{"kind", "test"}}, /*checksum=*/true);
  const SafetensorsFile f = load_safetensors(path);
  CHECK(f.metadata.at("kind") == "test");
  CHECK(f.metadata.at("metaloss_crc32").size() == 17);  // two 8-digit CRCs
  CHECK(f.tensors.size() == 2);
  // Saving what was loaded (with its stale checksum in the metadata) writes a fresh one.
  save_safetensors(path, f.tensors, f.metadata, true);
  CHECK_NOTHROW(load_safetensors(path));

  const std::string good = read_bytes(path);
  std::string edited = good;
  edited[edited.size() - 2] ^= 0x40;  // a byte of the last tensor in the buffer ("weight", F32)
  write_bytes(path, edited);
  CHECK_THROWS_WITH_AS(load_safetensors(path),
                       doctest::Contains("integrity check: tensor \"weight\" fails its checksum"), std::runtime_error);
  std::string renamed = good;
  renamed.replace(renamed.find("\"bias\""), 6, "\"bia5\"");
  write_bytes(path, renamed);
  CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains("tensor \"bia5\" fails its checksum"), std::runtime_error);
  // Without the checksum flag nothing is added: plain files stay as the reference writes them.
  save_safetensors(path, {{"weight", w}}, {{"kind", "test"}});
  CHECK(load_safetensors(path).metadata.count("metaloss_crc32") == 0);
  // A file whose checksum lists another number of tensors.
  save_safetensors(path, {{"weight", w}}, {{"metaloss_crc32", "00000000 11111111"}});
  CHECK_NOTHROW(load_safetensors(path));  // the stale key is dropped when checksum is off
  save_safetensors(tmp / "two.safetensors", {{"weight", w}, {"bias", b}}, {}, true);
  std::string two = read_bytes(tmp / "two.safetensors");
  const size_t at = two.find("metaloss_crc32\":\"") + 17;
  two.replace(at, 17, "00000000         ");  // one CRC, padded to the same length
  write_bytes(path, two);
  CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains("the file holds 2 tensors, its checksum"), std::runtime_error);
}

TEST_CASE("safetensors byte-exact layout against hand-built files") {
  TempDir tmp("st");
  // The reference implementation's own serialization test vector: F32 [1,1,2,3] = 0..5; the
  // 65-byte header is padded with 7 spaces to 72.
  const std::string attn0 =
      "\x48\0\0\0\0\0\0\0"s +
      "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       " +
      "\0\0\0\0"s + "\0\0\x80\x3f"s + "\0\0\0\x40"s + "\0\0\x40\x40"s + "\0\0\x80\x40"s + "\0\0\xa0\x40"s;
  REQUIRE(attn0.size() == 8 + 72 + 24);
  save_safetensors(tmp / "attn0.safetensors", {{"attn0", reshape(Tensor::arange(0, 6), {1, 1, 2, 3})}});
  CHECK(read_bytes(tmp / "attn0.safetensors") == attn0);

  // All four dtypes and metadata: I64 first, then F64, F32, BOOL; 251-byte header + 5 spaces.
  const std::string multi =
      "\x00\x01\0\0\0\0\0\0"s +
      "{\"__metadata__\":{\"format\":\"pt\"}," + entry("b", "I64", "[2]", 0, 16) + "," +
      entry("d", "F64", "[1]", 16, 24) + "," + entry("a", "F32", "[]", 24, 28) + "," +
      entry("m", "BOOL", "[3]", 28, 31) + "}     " +
      "\x01\0\0\0\0\0\0\0"s + "\xff\xff\xff\xff\xff\xff\xff\xff"s +  // b = {1, -1}
      "\0\0\0\0\0\0\xd0\x3f"s +                                          // d = {0.25}
      "\0\0\xc0\x3f"s +                                                  // a = 1.5
      "\x01\x00\x01"s;                                                   // m = {true, false, true}
  REQUIRE(multi.size() == 8 + 256 + 31);
  save_safetensors(tmp / "multi.safetensors",
                   {{"m", Tensor::from_vector(std::vector<double>{1, 0, 1}, {3}, DType::Bool)},
                    {"a", Tensor::scalar(1.5)},
                    {"d", Tensor::from_vector(std::vector<double>{0.25}, {1}, DType::Float64)},
                    {"b", Tensor::from_vector(std::vector<int64_t>{1, -1}, {2})}},
                   {{"format", "pt"}});
  CHECK(read_bytes(tmp / "multi.safetensors") == multi);

  // ... and the hand-built bytes load as those tensors, in header order.
  write_bytes(tmp / "hand.safetensors", multi);
  SafetensorsFile f = load_safetensors(tmp / "hand.safetensors");
  CHECK(f.metadata == std::map<std::string, std::string>{{"format", "pt"}});
  REQUIRE(f.tensors.size() == 4);
  CHECK(f.tensors[0].first == "b");
  CHECK(f.tensors[0].second.dtype() == DType::Int64);
  CHECK(f.tensors[0].second.to_vector() == std::vector<double>{1, -1});
  CHECK(f.tensors[1].second.to_vector() == std::vector<double>{0.25});
  CHECK(f.tensors[2].second.dim() == 0);
  CHECK(f.tensors[2].second.item() == 1.5);
  CHECK(f.tensors[3].second.dtype() == DType::Bool);
  CHECK(f.tensors[3].second.to_vector() == std::vector<double>{1, 0, 1});
}

TEST_CASE("safetensors reads F16 and BF16 as float32") {
  TempDir tmp("st");
  // F16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), -0, inf, 0x3555, nan
  const std::string f16 = "\x00\x3c\x00\xc0\xff\x7b\x01\x00\x00\x80\x00\x7c\x55\x35\x00\x7e"s;
  // BF16: 1, -5, inf, 0x0001 (smallest subnormal, 2^-133)
  const std::string bf16 = "\x80\x3f\xa0\xc0\x80\x7f\x01\x00"s;
  const std::string header = "{" + entry("h", "F16", "[2,4]", 0, 16) + "," + entry("b", "BF16", "[4]", 16, 24) + "}";
  write_bytes(tmp / "half.safetensors", st_file(header, f16 + bf16));
  SafetensorsFile f = load_safetensors(tmp / "half.safetensors");
  const Tensor& h = f.tensors.at(0).second;
  const Tensor& b = f.tensors.at(1).second;
  CHECK(h.dtype() == DType::Float32);
  CHECK(h.shape() == Shape{2, 4});
  const float* hv = h.data<float>();
  CHECK(hv[0] == 1.0f);
  CHECK(hv[1] == -2.0f);
  CHECK(hv[2] == 65504.0f);
  CHECK(hv[3] == std::ldexp(1.0f, -24));
  CHECK((hv[4] == 0.0f && std::signbit(hv[4])));
  CHECK(hv[5] == INFINITY);
  CHECK(hv[6] == 0.333251953125f);
  CHECK(std::isnan(hv[7]));
  CHECK(b.dtype() == DType::Float32);
  const float* bv = b.data<float>();
  CHECK(bv[0] == 1.0f);
  CHECK(bv[1] == -5.0f);
  CHECK(bv[2] == INFINITY);
  CHECK(bv[3] == std::ldexp(1.0f, -133));
}

TEST_CASE("safetensors load errors name the file and the problem") {
  TempDir tmp("st");
  int k = 0;
  // Writes `bytes` to a fresh file and checks the load error.
  auto bad = [&](const std::string& bytes, const std::string& text) {
    const std::string path = tmp / ("bad" + std::to_string(k++) + ".safetensors");
    write_bytes(path, bytes);
    check_load_error(path, text);
  };
  const std::string f32x2 = entry("x", "F32", "[2]", 0, 8);
  const std::string eight(8, '\0');

  SUBCASE("file missing") { check_load_error(tmp / "nope.safetensors", "no such file"); }
  SUBCASE("not a regular file") { check_load_error(tmp.path.string(), "not a regular file"); }
  SUBCASE("truncated") {
    bad("\x10\0\0"s, "truncated: the file has 3 bytes");
    bad(st_file("{}", "", 100), "truncated: header length 100 runs past the end of the file (10 bytes)");
    bad(st_file("{}", "", int64_t(1) << 40), "exceeds the 100 MB limit");
    bad(st_file("{" + f32x2 + "}", "\0\0\0\0"s), "truncated: tensor \"x\" has data_offsets [0, 8] past the end of the data buffer (4 bytes)");
  }
  SUBCASE("malformed JSON, with the byte position") {
    bad(st_file("[]"), "header byte 0: malformed JSON: the header must start with '{' but found '['");
    bad(st_file(" {}"), "header byte 0: malformed JSON: the header must start with '{'");
    bad(st_file("{\"x\":{\"dtype\":\"F32\",\"shape\":[2] \"data_offsets\":[0,8]}}", eight),
        "header byte 32: malformed JSON: expected ',' or '}' but found '\"'");
    bad(st_file("{\"x\":{\"dtype\":\"F32\""), "header byte 19: malformed JSON: expected ',' or '}' but the header ends there");
    bad(st_file("{\"x"), "header byte 3: malformed JSON: unterminated string");
    bad(st_file("{}  x"), "header byte 4: malformed JSON: unexpected content after the header object");
    bad(st_file("{\"a\\q\":1}"), "header byte 3: malformed JSON: bad escape");
    bad(st_file("{\"a\nb\":1}"), "header byte 3: malformed JSON: control character in a string");
    bad(st_file("{\"\xff\":1}"), "header byte 2: malformed JSON: not valid UTF-8");
    bad(st_file("{\"\\ud800\":1}"), "header byte 2: malformed JSON: high surrogate without its low half");
    bad(st_file("{\"x\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}", eight),
        "header byte 29: malformed JSON: leading zero");
    bad(st_file("{\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", eight),
        "header byte 29: expected a non-negative integer but found '-'");
    bad(st_file("{\"x\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", eight),
        "header byte 29: expected an integer, found a fraction or exponent");
    bad(st_file("{\"x\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", eight),
        "header byte 29: integer does not fit in 64 bits");
    bad(st_file("{\"x\":{\"dtype\":5,\"shape\":[2],\"data_offsets\":[0,8]}}", eight),
        "header byte 14: expected a dtype string but found '5'");
    bad(st_file("{\"__metadata__\":{\"a\":1}}"), "header byte 21: expected a string (metadata values are strings)");
  }
  SUBCASE("header structure") {
    bad(st_file("{\"x\":{\"dtype\":\"F32\",\"shape\":[2]}}"), "header byte 1: tensor \"x\" has no \"data_offsets\" field");
    bad(st_file("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", eight),
        "unknown field \"extra\" in tensor \"x\"");
    bad(st_file("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", eight),
        "data_offsets of tensor \"x\" must be [begin, end]");
    bad(st_file("{\"x\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", eight),
        "duplicate field \"dtype\" in tensor \"x\"");
  }
  SUBCASE("duplicate names") {
    bad(st_file("{" + f32x2 + "," + entry("x", "F32", "[2]", 8, 16) + "}", std::string(16, '\0')),
        "header byte 54: duplicate tensor name \"x\"");
    bad(st_file("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}"), "duplicate metadata key \"a\"");
    bad(st_file("{\"__metadata__\":{},\"__metadata__\":{}}"), "duplicate tensor name \"__metadata__\"");
  }
  SUBCASE("dtypes") {
    bad(st_file("{" + entry("x", "F33", "[2]", 0, 8) + "}", eight), "tensor \"x\" has unknown dtype \"F33\"");
    bad(st_file("{" + entry("x", "I32", "[2]", 0, 8) + "}", eight),
        "tensor \"x\" has dtype I32, which metaloss does not read (it reads F32, F64, I64, BOOL, and F16/BF16 as float32)");
    bad(st_file("{" + entry("m", "BOOL", "[2]", 0, 2) + "}", "\x01\x02"s),
        "BOOL tensor \"m\" holds byte 2 at element 1 (expected 0 or 1)");
    bad(st_file("{" + entry("x", "F32", "[1,1,1,1,1,1,1,1,1]", 0, 4) + "}", "\0\0\0\0"s), "has 9 dims; metaloss supports at most");
  }
  SUBCASE("shape/offset size mismatch") {
    bad(st_file("{" + entry("x", "F32", "[2,3]", 0, 20) + "}", std::string(20, '\0')),
        "shape/offset size mismatch: tensor \"x\" is F32 [2, 3] = 24 bytes but its data_offsets [0, 20] span 20");
    bad(st_file("{" + entry("x", "F32", "[2]", 8, 0) + "}", eight), "tensor \"x\" has data_offsets [8, 0] ending before they begin");
    bad(st_file("{" + entry("x", "F64", "[4294967296,4294967296]", 0, 0) + "}"), "whose size overflows");
  }
  SUBCASE("coverage of the buffer") {
    bad(st_file("{" + f32x2 + "," + entry("y", "F32", "[2]", 4, 12) + "}", std::string(12, '\0')),
        "tensors \"x\" [0, 8] and \"y\" [4, 12] overlap in the data buffer");
    bad(st_file("{" + f32x2 + "," + entry("y", "F32", "[1]", 12, 16) + "}", std::string(16, '\0')),
        "non-contiguous data: bytes [8, 12] of the data buffer belong to no tensor (gap before \"y\")");
    bad(st_file("{" + entry("y", "F32", "[1]", 4, 8) + "}", eight), "bytes [0, 4] of the data buffer belong to no tensor");
    bad(st_file("{" + f32x2 + "}", std::string(11, '\0')),
        "non-contiguous data: the last 3 bytes of the data buffer belong to no tensor");
    bad(st_file("{}", "x"), "the last 1 bytes of the data buffer belong to no tensor");
  }
}

TEST_CASE("safetensors save errors name the file and the problem") {
  TempDir tmp("st");
  const std::string path = tmp / "out.safetensors";
  Tensor x = Tensor::zeros({2});
  // The message of the runtime_error that saving throws ("" when it saves).
  auto save_error = [](const std::string& p, const std::vector<std::pair<std::string, Tensor>>& ts,
                       const std::map<std::string, std::string>& meta = {}) -> std::string {
    try {
      save_safetensors(p, ts, meta);
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  };
  auto has = [](const std::string& msg, const std::string& text) {
    INFO("expected \"", text, "\", got: ", msg);
    CHECK(msg.find(text) != std::string::npos);
  };
  has(save_error(path, {{"a", x}, {"a", x}}), path + ": duplicate tensor name \"a\"");
  has(save_error(path, {{"__metadata__", x}}), path + ": \"__metadata__\" is reserved");
  has(save_error(path, {{"u", Tensor()}}), path + ": tensor \"u\" is undefined");
  has(save_error(path, {{"\xff", x}}), path + ": tensor name \"\xff\" is not valid UTF-8");
  has(save_error(path, {{"x", x}}, {{"k", "\xc3"}}), path + ": metadata entry \"k\" is not valid UTF-8");
  const std::string nodir = tmp / "missing/out.safetensors";
  has(save_error(nodir, {{"x", x}}), nodir + ": cannot create " + nodir + ".tmp: No such file or directory");
  CHECK(!fs::exists(path));
}
