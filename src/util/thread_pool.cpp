#include "util/thread_pool.h"

#include <algorithm>
#include <string>

#include "util/error.h"

namespace mnist {

int resolve_threads(int requested) {
  if (requested < 0 || requested > kMaxThreads) {
    throw UsageError("--threads: must be 0 (every core) or a count up to " + std::to_string(kMaxThreads) +
                     ", got " + std::to_string(requested));
  }
  if (requested > 0) return requested;
  return std::max(1u, std::thread::hardware_concurrency());
}

ThreadPool::ThreadPool(int threads) {
  for (int w = 1; w < threads; ++w) workers_.emplace_back([this, w] { work(w); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run(int tasks, const std::function<void(int, int)>& fn) {
  if (tasks <= 0) return;
  {
    std::lock_guard lock(mutex_);
    job_ = &fn;
    tasks_ = tasks;
    next_task_ = 0;
    unfinished_ = tasks;
    error_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  drain(0);
  std::unique_lock lock(mutex_);
  done_.wait(lock, [this] { return unfinished_ == 0; });
  job_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

// Takes tasks until none are left.
void ThreadPool::drain(int worker) {
  for (;;) {
    const std::function<void(int, int)>* job;
    int task;
    {
      std::lock_guard lock(mutex_);
      if (next_task_ >= tasks_) return;
      task = next_task_++;
      job = job_;
    }
    try {
      (*job)(task, worker);
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    std::lock_guard lock(mutex_);
    if (--unfinished_ == 0) done_.notify_all();
  }
}

void ThreadPool::work(int worker) {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
    }
    drain(worker);
  }
}

}  // namespace mnist
