#include "meta/search/workers.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <cstring>
#include <algorithm>
#include <deque>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace metaloss::search {

namespace {

std::string hex(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%a", v);
  return buf;
}

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

[[noreturn]] void bad_line(const char* what, const std::string& line) {
  throw std::runtime_error(std::string("search worker protocol: malformed ") + what + " line '" + line.substr(0, 200) + "'");
}

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += size_t(n);
  }
  return true;
}

// Reads one '\n'-terminated line from fd through `buffer`; false at end of input.
bool getline_fd(int fd, std::string& buffer, std::string& line) {
  for (;;) {
    const size_t nl = buffer.find('\n');
    if (nl != std::string::npos) {
      line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      return true;
    }
    char chunk[4096];
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buffer.append(chunk, size_t(n));
  }
}

}  // namespace

std::string encode_job(size_t job, const EvalJob& j) {
  if (j.genome.find_first_of("\n\r") != std::string::npos)
    throw std::logic_error("search worker protocol: a genome must be one line: '" + j.genome + "'");
  return "eval " + std::to_string(job) + " " + std::to_string(j.seed) + " " + j.genome + "\n";
}

void decode_job(const std::string& line, size_t& job, uint64_t& seed, std::string& genome) {
  std::istringstream in(line);
  std::string tag;
  unsigned long long s = 0;
  if (!(in >> tag >> job >> s) || tag != "eval" || in.get() != ' ') bad_line("job", line);
  seed = s;
  std::getline(in, genome);
}

std::string encode_result(size_t job, const Evaluation& e) {
  std::string params = e.params.empty() ? "-" : e.params;
  params.erase(std::remove(params.begin(), params.end(), ' '), params.end());  // one token
  if (params.find_first_of("\n\r\t") != std::string::npos) throw std::logic_error("search worker protocol: params span lines");
  // status: ok, failed, or rejected (a failed evaluation that refused the candidate untrained)
  const std::string status = e.status == "ok" ? "ok" : e.rejected ? "rejected" : "failed";
  return "result " + std::to_string(job) + " " + status + " " +
         hex(e.fitness) + " " + hex(e.seconds) + " " + params + " " + one_line(e.reason) + "\n";
}

void decode_result(const std::string& line, size_t& job, Evaluation& e) {
  std::istringstream in(line);
  std::string tag, fitness, seconds, params;
  if (!(in >> tag >> job >> e.status >> fitness >> seconds >> params) || tag != "result") bad_line("result", line);
  e.params = params == "-" ? std::string() : params;
  char* end = nullptr;
  e.fitness = std::strtod(fitness.c_str(), &end);
  if (*end) bad_line("result", line);
  e.seconds = std::strtod(seconds.c_str(), &end);
  if (*end) bad_line("result", line);
  if (in.get() == ' ') std::getline(in, e.reason);
  if (e.status != "ok" && e.status != "failed" && e.status != "rejected")
    bad_line("result (status must be ok, failed or rejected)", line);
  e.rejected = e.status == "rejected";
  if (e.rejected) e.status = "failed";
  if (e.status == "ok" && !std::isfinite(e.fitness)) {  // a worker's bug, not a result: fail the candidate
    e.status = "failed";
    e.reason = "worker reported a non-finite fitness";
    e.fitness = 1;
  }
}

namespace {
// A number from a /proc file ("VmRSS:", "MemAvailable:"; in kB), 0 when unreadable.
uint64_t proc_kb(const std::string& file, const char* key) {
  std::ifstream f(file);
  std::string k;
  uint64_t v = 0;
  while (f >> k) {
    if (k == key && f >> v) return v;
    f.ignore(1 << 20, '\n');
  }
  return 0;
}
}  // namespace

int serve_worker(int in_fd, int out_fd, const std::function<EvalFn(const std::string& init)>& make,
                 const std::string& name) {
  // A worker dies with its master (a SIGKILLed search must not leave trainings running that
  // would compete with its resume), and was started in its own process group so that a Ctrl-C
  // aimed at the master's terminal does not kill a worker in the middle of a candidate.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() == 1) return 1;  // the master is already gone
  const int proto = ::dup(out_fd);  // the protocol keeps the real stdout; stray prints go to stderr
  if (proto < 0 || ::dup2(2, out_fd) < 0) {
    std::fprintf(stderr, "metaloss %s: cannot set up its output: %s\n", name.c_str(), std::strerror(errno));
    return 1;
  }
  std::string buffer, line;
  if (!getline_fd(in_fd, buffer, line)) return 1;  // the master went away before starting us
  // Test hook: the first worker to remove this file dies at start-up, as a crash would.
  if (const char* f = std::getenv("METALOSS_TEST_WORKER_DIES_ONCE"); f && ::unlink(f) == 0) ::raise(SIGKILL);
  EvalFn fn;
  try {
    fn = make(line);
  } catch (const std::exception& e) {
    write_all(proto, "error " + one_line(e.what()) + "\n");
    return 1;
  }
  if (!write_all(proto, "ready\n")) return 1;
  while (getline_fd(in_fd, buffer, line)) {
    size_t job = 0;
    uint64_t seed = 0;
    std::string genome;
    decode_job(line, job, seed, genome);
    Evaluation e;
    try {
      e = fn(genome, seed);
    } catch (const CandidateRejected& ex) {  // (guarded_evaluation catches it first; the same if not)
      e = Evaluation{};
      e.status = "failed";
      e.rejected = true;
      e.reason = ex.what();
    } catch (const std::exception& ex) {  // EvalFn should not throw; if it does, the candidate fails
      e = Evaluation{};
      e.status = "failed";
      e.reason = ex.what();
    }
    if (!write_all(proto, encode_result(job, e))) return 1;  // the master is gone
  }
  return 0;
}

ProcessPoolEvaluator::ProcessPoolEvaluator(int workers, std::vector<std::string> argv, std::string init,
                                           double hard_timeout, std::vector<std::string> devices)
    : argv_(std::move(argv)), init_(std::move(init)), hard_timeout_(hard_timeout) {
  if (workers < 1) throw std::invalid_argument("ProcessPoolEvaluator: workers must be >= 1, got " + std::to_string(workers));
  if (argv_.empty()) throw std::invalid_argument("ProcessPoolEvaluator: no worker command");
  if (init_.find('\n') != std::string::npos) throw std::invalid_argument("ProcessPoolEvaluator: the init line has a newline");
  std::signal(SIGPIPE, SIG_IGN);  // a dead worker's pipe is an error code, not the end of the master
  workers_.resize(size_t(workers));
  try {
    for (size_t i = 0; i < workers_.size(); ++i) {
      workers_[i].name = "proc:" + std::to_string(i + 1);
      if (!devices.empty()) {  // round-robin over the devices
        workers_[i].device = devices[i % devices.size()];
        workers_[i].device_arg = true;
      }
    }
    // The first worker alone, measured once it has loaded its data: every worker holds its own
    // copy, so the rest are started only if all of them fit in the memory available (--workers
    // 200 on a 2-core, 24 GiB machine took 22 GiB before it was stopped).
    start(0);
    wait_ready(0);
    const uint64_t rss = proc_kb("/proc/" + std::to_string(workers_[0].pid) + "/status", "VmRSS:");
    const uint64_t avail = proc_kb("/proc/meminfo", "MemAvailable:");
    if (rss > 0 && avail > 0 && double(rss) * double(workers - 1) > 0.9 * double(avail)) {
      char b[400];
      std::snprintf(b, sizeof b,
                    "%d workers need about %.1f GiB (each holds its own copy of the data: %.0f MiB measured on the "
                    "first), and %.1f GiB are available; at most %d fit",
                    workers, double(rss) * workers / (1 << 20), double(rss) / 1024, double(avail + rss) / (1 << 20),
                    std::max(1, int(0.9 * double(avail) / double(rss)) + 1));
      throw std::invalid_argument(b);
    }
    for (size_t i = 1; i < workers_.size(); ++i) start(i);
    for (size_t i = 1; i < workers_.size(); ++i) wait_ready(i);  // they load their data in parallel
  } catch (...) {
    for (size_t i = 0; i < workers_.size(); ++i) stop(i, true);
    throw;
  }
}

void ProcessPoolEvaluator::wait_ready(size_t i) {
  // A worker that reports an error would report it again (bad data, bad options): that ends the
  // search. One that dies without a word (a crash, the OOM killer) is started again, as a worker
  // dying during a candidate is, up to kStartTries times.
  for (int attempt = 1;; ++attempt) {
    std::string line;
    if (read_line(i, line, -1) && line == "ready") return;
    if (workers_[i].pid > 0 && line.rfind("error ", 0) != 0 && !line.empty()) ::kill(workers_[i].pid, SIGKILL);
    const bool reported = line.rfind("error ", 0) == 0;
    const std::string why = reported ? line.substr(6)
                            : line.empty() ? exit_reason(i)
                                           : "unexpected first line '" + line.substr(0, 200) + "'";
    if (reported || !line.empty() || attempt == kStartTries)
      throw std::runtime_error("search worker " + workers_[i].name + " (" + argv_[0] + ") failed to start" +
                               (attempt > 1 ? " " + std::to_string(attempt) + " times" : "") + ": " + why);
    std::fprintf(stderr, "search worker %s died at start-up (%s); starting it again\n", workers_[i].name.c_str(),
                 why.c_str());
    stop(i, true);
    start(i);
  }
}

ProcessPoolEvaluator::~ProcessPoolEvaluator() {
  // Killed, not asked: after an error a worker may be busy with a candidate nobody will read.
  for (size_t i = 0; i < workers_.size(); ++i) stop(i, true);
}

std::string ProcessPoolEvaluator::describe() const {
  std::string d;  // the devices, in worker order, when any worker is off the CPU
  for (const auto& w : workers_)
    if (w.device != "cpu") d = " on ";
  if (!d.empty())
    for (size_t i = 0; i < workers_.size(); ++i) d += (i ? "," : "") + workers_[i].device;
  return std::to_string(workers_.size()) + " worker process" + (workers_.size() == 1 ? "" : "es") + d;
}

void ProcessPoolEvaluator::start(size_t i) {
  Worker& w = workers_[i];
  int to[2], from[2];
  if (::pipe2(to, O_CLOEXEC) != 0) throw std::runtime_error(std::string("search workers: pipe failed: ") + std::strerror(errno));
  if (::pipe2(from, O_CLOEXEC) != 0) {
    ::close(to[0]);
    ::close(to[1]);
    throw std::runtime_error(std::string("search workers: pipe failed: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, to[0], 0);
  posix_spawn_file_actions_adddup2(&fa, from[1], 1);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);  // its own process group
  std::vector<std::string> argv = argv_;
  if (w.device_arg) argv.insert(argv.end(), {"--device", w.device});
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv_[0].c_str(), &fa, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(to[0]);
  ::close(from[1]);
  if (rc != 0) {
    ::close(to[1]);
    ::close(from[0]);
    throw std::runtime_error("search workers: cannot start " + argv_[0] + ": " + std::strerror(rc));
  }
  w.pid = pid;
  w.to = to[1];
  w.from = from[0];
  w.buffer.clear();
  if (!write_all(w.to, init_ + "\n")) throw std::runtime_error("search worker " + w.name + " exited at start: " + exit_reason(i));
}

void ProcessPoolEvaluator::stop(size_t i, bool kill_it) {
  Worker& w = workers_[i];
  if (w.to >= 0) ::close(w.to);  // end of input: an idle worker exits
  if (w.pid > 0) {
    if (kill_it) ::kill(w.pid, SIGKILL);
    int st = 0;
    while (::waitpid(w.pid, &st, 0) < 0 && errno == EINTR) {
    }
  }
  if (w.from >= 0) ::close(w.from);
  w.pid = -1;
  w.to = w.from = -1;
}

std::string ProcessPoolEvaluator::exit_reason(size_t i) {
  Worker& w = workers_[i];
  if (w.pid <= 0) return "not running";
  int st = 0;
  pid_t r;
  while ((r = ::waitpid(w.pid, &st, 0)) < 0 && errno == EINTR) {
  }
  w.pid = -1;
  if (r < 0) return std::string("lost (") + std::strerror(errno) + ")";
  if (WIFSIGNALED(st)) return "killed by signal " + std::to_string(WTERMSIG(st)) + " (" + strsignal(WTERMSIG(st)) + ")";
  return "exited with status " + std::to_string(WEXITSTATUS(st));
}

bool ProcessPoolEvaluator::read_line(size_t i, std::string& line, int timeout_ms) {
  Worker& w = workers_[i];
  if (w.buffer.find('\n') == std::string::npos && timeout_ms >= 0) {
    pollfd p{w.from, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) == 0) return false;
  }
  return getline_fd(w.from, w.buffer, line);
}

void ProcessPoolEvaluator::evaluate(const std::vector<EvalJob>& jobs,
                                    const std::function<void(size_t, const Evaluation&)>& done) {
  using clock = std::chrono::steady_clock;
  std::deque<size_t> pending;
  for (size_t j = 0; j < jobs.size(); ++j) pending.push_back(j);
  std::vector<long> busy(workers_.size(), -1);
  std::vector<clock::time_point> since(workers_.size());
  size_t finished = 0;
  auto restart = [&](size_t i) {
    stop(i, true);
    start(i);
    std::string line;
    if (!read_line(i, line, -1) || line != "ready") {
      if (workers_[i].pid > 0 && !line.empty() && line.rfind("error ", 0) != 0) ::kill(workers_[i].pid, SIGKILL);
      throw std::runtime_error("search worker " + workers_[i].name + " could not be restarted: " +
                               (line.rfind("error ", 0) == 0 ? line.substr(6)
                                : line.empty()                ? exit_reason(i)
                                                              : "unexpected line '" + line.substr(0, 200) + "'"));
    }
  };
  auto fail = [&](size_t i, const std::string& why) {
    const size_t j = size_t(busy[i]);
    Evaluation e;
    e.status = "failed";
    e.reason = why;
    e.seed = jobs[j].seed;
    e.seconds = std::chrono::duration<double>(clock::now() - since[i]).count();
    e.worker = workers_[i].name;
    e.device = workers_[i].device;
    busy[i] = -1;
    ++finished;
    done(j, e);
  };
  while (finished < jobs.size()) {
    for (size_t i = 0; i < workers_.size() && !pending.empty(); ++i) {
      if (busy[i] >= 0) continue;
      const size_t j = pending.front();
      const std::string msg = encode_job(j, jobs[j]);
      if (!write_all(workers_[i].to, msg)) {  // died while idle: replace it, send again
        restart(i);
        if (!write_all(workers_[i].to, msg))
          throw std::runtime_error("search worker " + workers_[i].name + " does not accept jobs: " + exit_reason(i));
      }
      pending.pop_front();
      busy[i] = long(j);
      since[i] = clock::now();
    }
    std::vector<pollfd> fds;
    std::vector<size_t> who;
    for (size_t i = 0; i < workers_.size(); ++i)
      if (busy[i] >= 0) {
        fds.push_back({workers_[i].from, POLLIN, 0});
        who.push_back(i);
      }
    int timeout_ms = -1;
    if (hard_timeout_ > 0) timeout_ms = 1000;
    for (size_t i : who)  // a line already buffered needs no waiting
      if (workers_[i].buffer.find('\n') != std::string::npos) timeout_ms = 0;
    const int n = ::poll(fds.data(), nfds_t(fds.size()), timeout_ms);
    if (n < 0 && errno != EINTR) throw std::runtime_error(std::string("search workers: poll failed: ") + std::strerror(errno));
    for (size_t f = 0; f < fds.size(); ++f) {
      const size_t i = who[f];
      if (!(fds[f].revents & (POLLIN | POLLHUP | POLLERR)) && workers_[i].buffer.find('\n') == std::string::npos) continue;
      std::string line;
      if (!getline_fd(workers_[i].from, workers_[i].buffer, line)) {
        fail(i, "worker " + workers_[i].name + " " + exit_reason(i) + " while evaluating this candidate");
        restart(i);
        continue;
      }
      size_t j = 0;
      Evaluation e;
      decode_result(line, j, e);
      if (long(j) != busy[i])
        throw std::runtime_error("search worker " + workers_[i].name + " answered job " + std::to_string(j) +
                                 ", expected " + std::to_string(busy[i]));
      e.seed = jobs[j].seed;
      e.worker = workers_[i].name;
      e.device = workers_[i].device;
      busy[i] = -1;
      ++finished;
      done(j, e);
    }
    if (hard_timeout_ > 0)
      for (size_t i = 0; i < workers_.size(); ++i)
        if (busy[i] >= 0 && std::chrono::duration<double>(clock::now() - since[i]).count() > hard_timeout_) {
          pollfd p{workers_[i].from, POLLIN, 0};  // an answer may have arrived while we were busy
          if (workers_[i].buffer.find('\n') != std::string::npos || ::poll(&p, 1, 0) > 0) continue;
          ::kill(workers_[i].pid, SIGKILL);
          exit_reason(i);
          fail(i, "over the hard time limit of " + std::to_string(hard_timeout_) + " s (worker " + workers_[i].name +
                      " killed)");
          restart(i);
        }
  }
}

}  // namespace metaloss::search
