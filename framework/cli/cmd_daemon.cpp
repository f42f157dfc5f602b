// `dirsync daemon`: runs pipelines on their schedule, and lets push-shaped
// sources (the SCIM endpoint) trigger incremental runs as changes arrive.
//
// Each pipeline has one thread. A pipeline run never overlaps itself (the
// state store's lock), and a failed run is simply retried at the next tick:
// the safety rules make every run safe to repeat.
#include "cli.hpp"
#include "sync/runner.hpp"

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>

namespace dirsync::cli {

namespace {

std::atomic<bool> g_stop{false};  // set by SIGINT/SIGTERM: the one piece of process-wide state a signal needs

void on_signal(int) { g_stop = true; }

struct Trigger {
  std::mutex mutex;
  std::condition_variable cv;
  bool pending = false;
  void fire() {
    {
      std::lock_guard lock(mutex);
      pending = true;
    }
    cv.notify_one();
  }
  /// Waits until fired, stopped, or `ms` elapsed; true when fired.
  bool wait(std::int64_t ms) {
    std::unique_lock lock(mutex);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!pending && !g_stop) {
      // Wake up regularly to notice a stop request delivered by a signal.
      auto step = std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
      cv.wait_until(lock, step);
      if (std::chrono::steady_clock::now() >= deadline) break;
    }
    bool fired = pending;
    pending = false;
    return fired;
  }
};

void run_pipeline(Context& ctx, const std::string& file) {
  PipelineHost host(file, ctx.options.host, ctx.logger, ctx.redactor);
  const PipelineConfig& config = host.config();
  auto sink = host.make_sink();
  auto source = host.make_source();
  StateStore state(config.state_path, config.name);
  Trigger trigger;
  std::thread server;
  if (source->can_serve()) {
    auto listener = host.make_source();  // its own instance: serving and reading run concurrently
    server = std::thread([&, listener = std::move(listener)]() mutable {
      try {
        listener->serve(g_stop, [&] { trigger.fire(); });
      } catch (const std::exception& e) {
        ctx.logger->error("pipeline '{}': serve stopped: {}", config.name, ctx.redactor->redact(e.what()));
        g_stop = true;
        trigger.cv.notify_all();
      }
    });
  }
  std::int64_t every = config.schedule_every_ms > 0 ? config.schedule_every_ms : 3'600'000;
  bool first = true;
  while (!g_stop) {
    if (!first) trigger.wait(every);
    first = false;
    if (g_stop) break;
    try {
      RunOptions options;
      options.keep_source_state = host.source_plugin().descriptor->partial_records;
      RunReport r = Runner(config, *source, *sink, state, host.host_log(), *ctx.redactor).run(options);
      ctx.logger->info("pipeline '{}': run {} {} ({}): processed {}, created {}, updated {}, disabled {}, deleted {}, "
                       "failed {}",
                       config.name, r.run_id, r.status, r.mode, r.counts.processed, r.counts.created,
                       r.counts.updated, r.counts.disabled, r.counts.deleted, r.counts.failed);
    } catch (const Error& e) {
      ctx.logger->error("pipeline '{}': {}", config.name, ctx.redactor->redact(e.what()));
    }
  }
  if (server.joinable()) server.join();
}

}  // namespace

int cmd_daemon(Context& ctx) {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  // Validate every pipeline before starting any: a typo stops the daemon at once.
  for (const auto& file : ctx.options.args) PipelineHost(file, ctx.options.host, ctx.logger, ctx.redactor);
  std::vector<std::thread> threads;
  for (const auto& file : ctx.options.args) {
    threads.emplace_back([&ctx, file] {
      try {
        run_pipeline(ctx, file);
      } catch (const std::exception& e) {
        ctx.logger->error("{}: {}", file, ctx.redactor->redact(e.what()));
        g_stop = true;
      }
    });
  }
  for (auto& t : threads) t.join();
  return 0;
}

}  // namespace dirsync::cli
