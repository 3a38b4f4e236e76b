// The progress display (meta/progress.h): terminal lines fit the terminal, nothing is printed by a
// bar that never drew (the empty lines `search` left), plain log lines off a terminal.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "meta/progress.h"

using metaloss::Progress;

TEST_CASE("progress: the terminal line fits the width; the bar shrinks, then goes") {
  for (int columns : {200, 80, 60, 40, 20}) {
    CAPTURE(columns);
    const std::string l = Progress::bar_line("train", 500, 10000, 0.4877, 28.2, 337, columns);
    CHECK(int(l.size()) <= columns - 1);
    CHECK(l.rfind("train", 0) == 0);
  }
  CHECK(Progress::bar_line("train", 500, 10000, 0.4877, 28.2, 337, 120).find("[=>") != std::string::npos);
  CHECK(Progress::bar_line("train", 500, 10000, 0.4877, 28.2, 337, 120).find("500/10000 loss 0.4877 28.2 steps/s ETA 5:37") !=
        std::string::npos);
  CHECK(Progress::bar_line("train", 500, 10000, 0.4877, 28.2, 337, 60).find('[') == std::string::npos);  // no room
  CHECK(Progress::bar_line("train", 10000, 10000, 0.1, 28.2, 0, 120).find(std::string(30, '=')) != std::string::npos);
}

TEST_CASE("progress: a bar that drew nothing prints nothing; off a terminal, plain lines every log_every steps") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  { Progress p("idle", 10, 5, f); }  // destroyed without an update
  CHECK(std::ftell(f) == 0);
  {
    Progress p("run", 10, 5, f);
    for (int s = 1; s <= 10; ++s) p.update(s, 1.0 / s);
    p.finish();
  }
  std::rewind(f);
  char buf[512] = {0};
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  const std::string out(buf, n);
  CHECK(out.find("run step 5/10 loss 0.2000") != std::string::npos);
  CHECK(out.find("run step 10/10 loss 0.1000") != std::string::npos);
  CHECK(out.find("step 3/10") == std::string::npos);
}
