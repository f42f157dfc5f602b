// A thread that runs the tasks posted to it one after another, in order.
//
// For work that recurs all through a run (the engine's sink and store stages,
// a page chain's next page): a thread started per task (std::async) queues
// behind the busy threads before it first runs (the scheduler charges a new
// thread a turn), while one that sleeps between tasks is woken straight onto
// a CPU. A 200,000-user Google sync started 800 threads that way and waited
// half a second for its pages.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace dirsync {

class SerialWorker {
 public:
  SerialWorker() : thread_([this] { loop(); }) {}
  /// Runs what is still queued, then ends the thread: what the tasks use
  /// must outlive the worker (std::async's futures waited the same way).
  ~SerialWorker() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  SerialWorker(const SerialWorker&) = delete;
  SerialWorker& operator=(const SerialWorker&) = delete;

  /// The task's completion, or its exception, as std::async would give it.
  std::shared_future<void> post(std::function<void()> task) {
    std::packaged_task<void()> packaged(std::move(task));
    std::shared_future<void> done = packaged.get_future().share();
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(packaged));
    }
    wake_.notify_all();
    return done;
  }

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      std::packaged_task<void()> task = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      task();  // its exception goes to its future
      task = {};  // the captures go now, not when the next task arrives
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::packaged_task<void()>> queue_;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace dirsync
