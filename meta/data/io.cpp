#include "meta/data/io.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace metaloss::data {

void fail(const std::string& path, const std::string& problem) { throw std::runtime_error(path + ": " + problem); }

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail(path, "no such file");
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) fail(path, std::string("cannot open: ") + std::strerror(errno));
  std::string out;
  // Grow geometrically: the decompressed size is unknown up front.
  size_t used = 0;
  out.resize(1 << 20);
  for (;;) {
    if (used == out.size()) out.resize(out.size() * 2);
    const unsigned want = unsigned(std::min<size_t>(out.size() - used, 1u << 30));
    const int got = gzread(f, out.data() + used, want);
    if (got <= 0) break;
    used += size_t(got);
  }
  int err = Z_OK;
  const char* msg = gzerror(f, &err);
  std::string zmsg = msg ? msg : "";
  if (zmsg.rfind(path + ": ", 0) == 0) zmsg.erase(0, path.size() + 2);  // zlib prefixes the path too
  gzclose(f);
  if (err == Z_BUF_ERROR) fail(path, "truncated gzip stream (" + zmsg + ")");
  if (err != Z_OK && err != Z_STREAM_END) fail(path, "corrupt gzip stream (" + zmsg + ")");
  out.resize(used);
  return out;
}

void require_dir(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) fail(dir, "no such directory");
}

std::string find_first(const std::string& dir, std::initializer_list<const char*> names) {
  std::error_code ec;
  for (const char* n : names) {
    std::string p = (std::filesystem::path(dir) / n).string();
    if (std::filesystem::is_regular_file(p, ec)) return p;
  }
  return "";
}

}  // namespace metaloss::data
