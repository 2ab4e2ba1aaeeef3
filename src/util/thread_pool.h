#pragma once
// A fixed set of worker threads that run numbered tasks. The caller's thread
// is worker 0, so ThreadPool(1) runs everything inline with no threads.
//
// Which worker runs which task is not fixed; code that must be reproducible
// makes each task's result depend only on the task number (see Trainer).
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mnist {

constexpr int kMaxThreads = 256;

// Worker threads for a request: the number itself, or every core for 0;
// UsageError naming --threads outside 0..kMaxThreads.
int resolve_threads(int requested);

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(task, worker) for every task in [0, tasks) and waits for all.
  // The first exception thrown by a task is rethrown here.
  void run(int tasks, const std::function<void(int task, int worker)>& fn);

 private:
  void work(int worker);
  void drain(int worker);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int, int)>* job_ = nullptr;
  int tasks_ = 0;
  int next_task_ = 0;
  int unfinished_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
};

}  // namespace mnist
