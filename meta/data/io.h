// File helpers shared by the readers: whole-file reads through zlib (plain or gzip, picked by
// content, not by name) and error messages that always start with the offending path.
#pragma once
#include <initializer_list>
#include <stdexcept>
#include <string>

namespace metaloss::data {

// std::runtime_error("<path>: <problem>"), so every reader names the file the same way.
[[noreturn]] void fail(const std::string& path, const std::string& problem);

// Whole contents of `path`. gzopen reads plain files transparently, so one reader serves both;
// a truncated or corrupt gzip stream raises instead of returning a silently short buffer.
std::string read_file(const std::string& path);

// Throws "<dir>: no such directory" unless dir is a directory.
void require_dir(const std::string& dir);

// The first of `names` (relative to dir) that exists, or "" if none does.
std::string find_first(const std::string& dir, std::initializer_list<const char*> names);

}  // namespace metaloss::data
