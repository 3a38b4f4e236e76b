// A small persistent thread pool behind parallel_for. Workers block on a condition variable
// between jobs. (libgomp's workers spin after each parallel region and fought OpenBLAS's own
// threads for the cores: a LeNet-5 training step ran 7x slower than with OMP_WAIT_POLICY=PASSIVE
// on this 2-core machine; blocking workers avoid that without any environment setting.)
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels/cpu/strided_loop.h"

extern "C" void openblas_set_num_threads(int);

namespace metaloss::kernels {
namespace {

thread_local bool t_in_pool_task = false;

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

  // Runs task(i) for i in [0, n) on the workers and the calling thread; returns when all are done.
  // A call from inside a task, or while another thread uses the pool, runs serially.
  void run(int n, const std::function<void(int)>& task) {
    std::unique_lock<std::mutex> busy(run_mu_, std::try_to_lock);
    if (!busy.owns_lock() || t_in_pool_task || workers_.empty()) {
      for (int i = 0; i < n; ++i) task(i);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      task_ = &task;
      n_tasks_ = n;
      next_.store(0);
      remaining_.store(n);
      ++generation_;
    }
    wake_.notify_all();
    drain();
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return remaining_.load() == 0; });
    task_ = nullptr;
  }

 private:
  void drain() {
    t_in_pool_task = true;
    for (int i; (i = next_.fetch_add(1)) < n_tasks_;) {
      (*task_)(i);
      if (remaining_.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lock(mu_);
        done_.notify_all();
      }
    }
    t_in_pool_task = false;
  }
  void work() {
    uint64_t seen = 0;
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      drain();
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
  std::mutex mu_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* task_ = nullptr;
  int n_tasks_ = 0;
  std::atomic<int> next_{0}, remaining_{0};
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

void parallel_run(int n_tasks, const std::function<void(int)>& task) { pool().run(n_tasks, task); }
int pool_threads() { return pool().threads(); }

void set_num_threads(int n) {
  if (n < 1) n = 1;
  pool().resize(n);
  openblas_set_num_threads(n);
}
int get_num_threads() { return pool_threads(); }

}  // namespace metaloss::kernels
