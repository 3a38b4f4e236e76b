// Evaluating candidates in other processes. The master sends jobs and reads results as single
// text lines, so the same protocol runs over pipes (ProcessPoolEvaluator, `--workers N`) and over
// MPI messages (apps/mpi_search.cpp, `mpirun -np N metaloss search --mpi`):
//   master -> worker   <init line>                     once: the run's configuration (JSON)
//   worker -> master   ready | error <message>         after building its task from it
//   master -> worker   eval <job> <seed> <genome>
//   worker -> master   result <job> <status> <fitness> <seconds> <params|-> <reason>
// Numbers are exact (seeds in decimal, doubles as hex floats), so a result does not depend on
// which process computed it. A worker that dies while evaluating (crash, out of memory, killed)
// fails that candidate with the reason and is replaced; the search goes on.
#pragma once
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "meta/search/population.h"

namespace metaloss::search {

std::string encode_job(size_t job, const EvalJob& j);
void decode_job(const std::string& line, size_t& job, uint64_t& seed, std::string& genome);
std::string encode_result(size_t job, const Evaluation& e);
void decode_result(const std::string& line, size_t& job, Evaluation& e);

// The worker side over file descriptors: reads the init line, builds the EvalFn with
// make(init) (an exception is reported to the master as "error ..."), answers "ready", then
// evaluates jobs until end of input. Returns the process exit code. Anything the evaluation
// prints to stdout is redirected to stderr first, so it cannot corrupt the protocol.
int serve_worker(int in_fd, int out_fd, const std::function<EvalFn(const std::string& init)>& make,
                 const std::string& name);

// N worker processes started with `argv` (argv[0] is the executable path; e.g.
// {"/proc/self/exe", "search-worker"}), each sent `init` and waited for. Jobs go to whichever
// worker is idle. hard_timeout > 0: a worker busy with one candidate for longer is killed, the
// candidate fails ("over the hard time limit") and a new worker takes its place. `devices`
// (optional): worker i is started with `--device devices[i % size]` appended to argv, and its
// results are recorded as computed there; empty: every worker on the CPU.
class ProcessPoolEvaluator : public Evaluator {
 public:
  ProcessPoolEvaluator(int workers, std::vector<std::string> argv, std::string init, double hard_timeout = 0,
                       std::vector<std::string> devices = {});
  ~ProcessPoolEvaluator() override;
  void evaluate(const std::vector<EvalJob>& jobs, const std::function<void(size_t, const Evaluation&)>& done) override;
  std::string describe() const override;

 private:
  static constexpr int kStartTries = 3;  // starts of one worker before a silent death ends the search
  void wait_ready(size_t i);  // its "ready" line; restarts a worker that died without a word
  struct Worker {
    pid_t pid = -1;
    int to = -1, from = -1;  // its stdin (we write), its stdout (we read)
    std::string buffer;      // bytes read past the last complete line
    std::string name;
    std::string device = "cpu";
    bool device_arg = false;  // started with --device (devices were given)
  };
  std::vector<std::string> argv_;
  std::string init_;
  double hard_timeout_;
  std::vector<Worker> workers_;
  void start(size_t i);
  void stop(size_t i, bool kill_it);
  std::string exit_reason(size_t i);  // reaps the process, says how it ended
  bool read_line(size_t i, std::string& line, int timeout_ms);
};

}  // namespace metaloss::search
