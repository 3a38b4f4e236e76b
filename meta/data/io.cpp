#include "meta/data/io.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace metaloss::data {

void fail(const std::string& path, const std::string& problem) { throw std::runtime_error(path + ": " + problem); }

void write_file(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, std::string("writing failed: cannot create ") + tmp + ": " + std::strerror(errno));
  int err = 0;  // the first failure's errno: later calls overwrite it
  for (size_t done = 0; done < content.size() && !err;) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) err = n < 0 ? errno : ENOSPC;
    else done += size_t(n);
  }
  if (!err && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && !err) err = errno;
  if (!err && std::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err) {
    ::unlink(tmp.c_str());
    fail(path, std::string("writing failed: ") + std::strerror(err));
  }
}

namespace {

gzFile open_for_reading(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail(path, "no such file");
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) fail(path, std::string("cannot open: ") + std::strerror(errno));
  return f;
}

// Closes `f`, raising if the stream was truncated or corrupt.
void close_checked(gzFile f, const std::string& path) {
  int err = Z_OK;
  const char* msg = gzerror(f, &err);
  std::string zmsg = msg ? msg : "";
  if (zmsg.rfind(path + ": ", 0) == 0) zmsg.erase(0, path.size() + 2);  // zlib prefixes the path too
  gzclose(f);
  if (err == Z_BUF_ERROR) fail(path, "truncated gzip stream (" + zmsg + ")");
  if (err != Z_OK && err != Z_STREAM_END) fail(path, "corrupt gzip stream (" + zmsg + ")");
}

}  // namespace

std::string read_file(const std::string& path, size_t max_bytes) {
  gzFile f = open_for_reading(path);
  std::string out;
  // Grow geometrically: the decompressed size is unknown up front. One byte past the limit is
  // read to tell "exactly the limit" from "more", and never more than that is decompressed.
  const size_t cap = max_bytes == SIZE_MAX ? SIZE_MAX : max_bytes + 1;
  size_t used = 0;
  out.resize(std::min<size_t>(cap, 1 << 20));
  for (;;) {
    if (used == out.size()) {
      if (used == cap) break;
      out.resize(std::min(cap, out.size() * 2));
    }
    const unsigned want = unsigned(std::min<size_t>(out.size() - used, 1u << 30));
    const int got = gzread(f, out.data() + used, want);
    if (got <= 0) break;
    used += size_t(got);
  }
  if (used > max_bytes) {
    gzclose(f);
    fail(path, "holds more than the " + std::to_string(max_bytes) + " bytes expected (after decompression); stopped reading there");
  }
  close_checked(f, path);
  out.resize(used);
  return out;
}

std::string read_file_head(const std::string& path, size_t n) {
  gzFile f = open_for_reading(path);
  std::string out(n, '\0');
  size_t used = 0;
  while (used < n) {
    const int got = gzread(f, out.data() + used, unsigned(n - used));
    if (got <= 0) break;
    used += size_t(got);
  }
  int err = Z_OK;
  gzerror(f, &err);
  gzclose(f);
  if (err != Z_OK && err != Z_STREAM_END && err != Z_BUF_ERROR) fail(path, "corrupt gzip stream");
  out.resize(used);
  return out;
}

uint64_t max_content_bytes(const std::string& path) {
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) fail(path, "cannot read its size: " + ec.message());
  std::FILE* f = std::fopen(path.c_str(), "rb");
  unsigned char magic[2] = {0, 0};
  const bool gz = f && std::fread(magic, 1, 2, f) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  if (f) std::fclose(f);
  // Deflate expands at most 1032 : 1 (258-byte matches coded in 2 bits); a little slack for headers.
  return gz ? size * 1032 + 4096 : size;
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
