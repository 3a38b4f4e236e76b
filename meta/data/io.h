// File helpers shared by the readers: whole-file reads through zlib (plain or gzip, picked by
// content, not by name) and error messages that always start with the offending path.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>

namespace metaloss::data {

// std::runtime_error("<path>: <problem>"), so every reader names the file the same way.
[[noreturn]] void fail(const std::string& path, const std::string& problem);

// Whole contents of `path`. gzopen reads plain files transparently, so one reader serves both;
// a truncated or corrupt gzip stream raises instead of returning a silently short buffer.
// A decompressed size above `max_bytes` raises (naming the limit) as soon as it is passed, so a gzip
// bomb is never inflated whole.
std::string read_file(const std::string& path, size_t max_bytes = SIZE_MAX);

// The first `n` decompressed bytes (fewer if the file is shorter): headers, read before the rest.
std::string read_file_head(const std::string& path, size_t n);

// An upper bound on the decompressed size of `path` (its size if plain, 1032 x its size if gzip):
// a header declaring more is a lie, refused before any allocation.
uint64_t max_content_bytes(const std::string& path);

// Writes `content` to `path` atomically: a temporary file beside it, fsync, rename. A full disk,
// a missing folder or a failed close raises "<path>: writing failed: <reason>" and leaves any
// earlier file at `path` as it was (never an empty or truncated result file).
void write_file(const std::string& path, const std::string& content);

// Throws "<dir>: no such directory" unless dir is a directory.
void require_dir(const std::string& dir);

// The first of `names` (relative to dir) that exists, or "" if none does.
std::string find_first(const std::string& dir, std::initializer_list<const char*> names);

}  // namespace metaloss::data
