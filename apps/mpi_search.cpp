#include "apps/mpi_search.h"
#include "apps/usage_error.h"

#include <stdexcept>

#ifdef METALOSS_WITH_MPI
#include <mpi.h>

#include <deque>

#include "meta/search/workers.h"
#endif

namespace metaloss::app {

#ifndef METALOSS_WITH_MPI

namespace {
[[noreturn]] void no_mpi() {
  throw UsageError("--mpi: this metaloss was built without MPI (configure with Open MPI installed, "
                              "Debian libopenmpi-dev, or -DMETALOSS_MPI=ON)");
}
}  // namespace

bool mpi_built() { return false; }
void mpi_start(int*, char***) { no_mpi(); }
void mpi_stop() {}
void mpi_abort(int) {}
int mpi_rank() { no_mpi(); }
int mpi_size() { no_mpi(); }
int mpi_serve(const std::function<search::EvalFn(const std::string&)>&) { no_mpi(); }
std::unique_ptr<search::Evaluator> make_mpi_evaluator(const std::string&, std::vector<std::string>) { no_mpi(); }

#else

namespace {

constexpr int kTagToWorker = 1, kTagToMaster = 2;

void send(const std::string& s, int to, int tag) {
  MPI_Send(s.data(), int(s.size()), MPI_CHAR, to, tag, MPI_COMM_WORLD);
}

std::string receive(int from, int tag, int* source) {
  MPI_Status st;
  MPI_Probe(from, tag, MPI_COMM_WORLD, &st);
  int n = 0;
  MPI_Get_count(&st, MPI_CHAR, &n);
  std::string s(size_t(n), '\0');
  MPI_Recv(s.data(), n, MPI_CHAR, st.MPI_SOURCE, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  if (source) *source = st.MPI_SOURCE;
  return s;
}

std::string chomp(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

class MpiEvaluator : public search::Evaluator {
 public:
  MpiEvaluator(const std::string& init, std::vector<std::string> devices)
      : workers_(mpi_size() - 1), devices_(std::move(devices)) {
    for (int w = 1; w <= workers_; ++w) send(init, w, kTagToWorker);
    for (int w = 1; w <= workers_; ++w) {
      int src = 0;
      const std::string reply = receive(MPI_ANY_SOURCE, kTagToMaster, &src);
      if (reply != "ready")
        throw std::runtime_error("MPI search worker rank " + std::to_string(src) + " failed to start: " +
                                 (reply.rfind("error ", 0) == 0 ? reply.substr(6) : reply));
    }
  }
  ~MpiEvaluator() override {
    for (int w = 1; w <= workers_; ++w) send("quit", w, kTagToWorker);
  }
  void evaluate(const std::vector<search::EvalJob>& jobs,
                const std::function<void(size_t, const search::Evaluation&)>& done) override {
    std::deque<size_t> pending;
    for (size_t j = 0; j < jobs.size(); ++j) pending.push_back(j);
    std::vector<long> busy(size_t(workers_) + 1, -1);
    size_t finished = 0;
    while (finished < jobs.size()) {
      for (int w = 1; w <= workers_ && !pending.empty(); ++w) {
        if (busy[size_t(w)] >= 0) continue;
        const size_t j = pending.front();
        pending.pop_front();
        send(chomp(search::encode_job(j, jobs[j])), w, kTagToWorker);
        busy[size_t(w)] = long(j);
      }
      int src = 0;
      const std::string line = receive(MPI_ANY_SOURCE, kTagToMaster, &src);
      size_t j = 0;
      search::Evaluation e;
      search::decode_result(line, j, e);
      if (src < 1 || src > workers_ || busy[size_t(src)] != long(j))
        throw std::runtime_error("MPI search: rank " + std::to_string(src) + " answered job " + std::to_string(j) +
                                 " it was not given");
      busy[size_t(src)] = -1;
      e.seed = jobs[j].seed;
      e.worker = "mpi:" + std::to_string(src);
      e.device = size_t(src - 1) < devices_.size() ? devices_[size_t(src - 1)] : "cpu";
      ++finished;
      done(j, e);
    }
  }
  std::string describe() const override {
    std::string d;
    for (const auto& x : devices_)
      if (x != "cpu") d = " on ";
    if (!d.empty())
      for (size_t i = 0; i < devices_.size(); ++i) d += (i ? "," : "") + devices_[i];
    return std::to_string(workers_) + " MPI worker rank" + (workers_ == 1 ? "" : "s") + d;
  }

 private:
  int workers_;
  std::vector<std::string> devices_;
};

bool started = false;

}  // namespace

bool mpi_built() { return true; }

void mpi_start(int* argc, char*** argv) {
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  started = true;
}

void mpi_stop() {
  if (started) MPI_Finalize();
  started = false;
}

void mpi_abort(int code) {
  if (started) MPI_Abort(MPI_COMM_WORLD, code);
}

int mpi_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int mpi_size() {
  int n = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

int mpi_serve(const std::function<search::EvalFn(const std::string&)>& make) {
  const std::string init = receive(0, kTagToWorker, nullptr);
  if (init == "quit") return 0;  // the master failed before starting us
  search::EvalFn fn;
  try {
    fn = make(init);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    for (char& c : msg)
      if (c == '\n') c = ' ';
    send("error " + msg, 0, kTagToMaster);
    return 1;
  }
  send("ready", 0, kTagToMaster);
  for (;;) {
    const std::string line = receive(0, kTagToWorker, nullptr);
    if (line == "quit") return 0;
    size_t job = 0;
    uint64_t seed = 0;
    std::string genome;
    search::decode_job(line, job, seed, genome);
    search::Evaluation e;
    try {
      e = fn(genome, seed);
    } catch (const search::CandidateRejected& ex) {
      e = search::Evaluation{};
      e.status = "failed";
      e.rejected = true;
      e.reason = ex.what();
    } catch (const std::exception& ex) {
      e = search::Evaluation{};
      e.status = "failed";
      e.reason = ex.what();
    }
    send(chomp(search::encode_result(job, e)), 0, kTagToMaster);
  }
}

std::unique_ptr<search::Evaluator> make_mpi_evaluator(const std::string& init, std::vector<std::string> rank_devices) {
  return std::make_unique<MpiEvaluator>(init, std::move(rank_devices));
}

#endif

}  // namespace metaloss::app
