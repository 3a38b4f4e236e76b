// A small persistent thread pool behind parallel_for. Workers block on a condition variable
// between jobs. (libgomp's workers spin after each parallel region and fought OpenBLAS's own
// threads for the cores: a LeNet-5 training step ran 7x slower than with OMP_WAIT_POLICY=PASSIVE
// on this 2-core machine; blocking workers avoid that without any environment setting.)
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels/cpu/strided_loop.h"

extern "C" void openblas_set_num_threads(int);

namespace metaloss::kernels {
namespace {

thread_local bool t_in_pool_task = false;

// One parallel job. It lives on the calling thread's stack; workers hold a pointer to it only
// while `active` counts them in, and the caller returns only after every task has run and every
// worker has let go of it.
struct Job {
  const TaskRef* task = nullptr;
  int n = 0;
  std::atomic<int> next{0};
  int active = 0;  // workers inside; guarded by Pool::mu_
  std::mutex error_mu;
  std::exception_ptr error;  // the first exception a task threw, rethrown by the caller

  void participate() {
    const bool was_inside = t_in_pool_task;
    t_in_pool_task = true;
    for (int i; (i = next.fetch_add(1)) < n;) {
      try {
        (*task)(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (!error) error = std::current_exception();
      }
    }
    t_in_pool_task = was_inside;
  }
};

class Pool {
 public:
  explicit Pool(int threads) { resize(threads); }
  ~Pool() { stop_workers(); }

  int threads() const { return int(workers_.size()) + 1; }

  void resize(int threads) {
    std::lock_guard<std::mutex> busy(run_mu_);
    stop_workers();
    stop_ = false;
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }

  // Runs task(i) for i in [0, n) on the workers and the calling thread; returns when all are done
  // (rethrowing the first exception a task threw). A call from inside a task, or while another
  // thread uses the pool, runs serially.
  void run(int n, const TaskRef& task) {
    std::unique_lock<std::mutex> busy(run_mu_, std::try_to_lock);
    if (!busy.owns_lock() || t_in_pool_task || workers_.empty()) {
      for (int i = 0; i < n; ++i) task(i);
      return;
    }
    Job job;
    job.task = &task;
    job.n = n;
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &job;
      ++generation_;
    }
    wake_.notify_all();
    job.participate();
    {
      std::unique_lock<std::mutex> lock(mu_);
      // All tasks are claimed once the caller's loop ends; wait for workers still running one.
      done_.wait(lock, [&] { return job.active == 0; });
      job_ = nullptr;
    }
    if (job.error) std::rethrow_exception(job.error);
  }

 private:
  void work() {
    uint64_t seen = 0;
    while (true) {
      Job* job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        job = job_;
        if (!job) continue;
        ++job->active;
      }
      job->participate();
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (--job->active == 0) done_.notify_all();
      }
    }
  }
  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::mutex run_mu_;  // one job at a time
  std::mutex mu_;      // guards job_, generation_, stop_ and Job::active
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  Job* job_ = nullptr;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

int default_threads() {
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : int(hw);
}

Pool& pool() {
  static Pool* p = new Pool(default_threads());  // never destroyed: kernels may run during exit
  return *p;
}

}  // namespace

void parallel_run(int n_tasks, TaskRef task) { pool().run(n_tasks, task); }
int pool_threads() { return pool().threads(); }

void set_num_threads(int n) {
  if (n < 1) n = 1;
  pool().resize(n);
  openblas_set_num_threads(n);
}
int get_num_threads() { return pool_threads(); }

}  // namespace metaloss::kernels
