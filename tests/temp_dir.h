// A fresh directory for one test case, removed with everything in it afterwards. Unique per
// process and instance, so parallel CTest runs and repeated cases do not collide.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace metaloss::testing {

struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag = "tmp") {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("metaloss_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

}  // namespace metaloss::testing
