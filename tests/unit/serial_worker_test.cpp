// The engine's pipeline stages: tasks run in the order posted, on one thread
// that outlives them all, and a failure reaches the task's own future only.
#include <dirsync/serial_worker.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

using dirsync::SerialWorker;

TEST_CASE("serial worker: tasks run in order on one thread, not the caller's") {
  SerialWorker worker;
  std::vector<int> order;  // touched by the worker's thread only, read after its last future
  std::vector<std::thread::id> threads;
  std::shared_future<void> last;
  for (int i = 0; i < 50; ++i)
    last = worker.post([&, i] {
      order.push_back(i);
      threads.push_back(std::this_thread::get_id());
    });
  last.get();
  REQUIRE(order.size() == 50);
  for (int i = 0; i < 50; ++i) CHECK(order[static_cast<std::size_t>(i)] == i);
  for (const auto& t : threads) CHECK(t == threads.front());
  CHECK(threads.front() != std::this_thread::get_id());
}

TEST_CASE("serial worker: a task's exception reaches its future and the next task still runs") {
  SerialWorker worker;
  auto failed = worker.post([] { throw std::runtime_error("batch failed"); });
  std::atomic<bool> ran{false};
  auto next = worker.post([&] { ran = true; });
  CHECK_THROWS_WITH(failed.get(), "batch failed");
  next.get();
  CHECK(ran);
}

TEST_CASE("serial worker: destruction runs the tasks still queued") {
  std::atomic<int> ran{0};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  {
    SerialWorker worker;
    worker.post([&] {
      released.wait();  // holds the queue: the ten below are (almost always) still queued at the destructor
      ++ran;
    });
    for (int i = 0; i < 10; ++i) worker.post([&] { ++ran; });
    release.set_value();
  }
  CHECK(ran == 11);
}
