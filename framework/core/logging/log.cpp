#include "logging/log.hpp"

#include <dirsync/value.hpp>

#include <spdlog/details/fmt_helper.h>
#include <spdlog/sinks/base_sink.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace dirsync {

namespace {

class RedactingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  RedactingSink(LogFormat format, std::shared_ptr<const Redactor> redactor)
      : format_(format), redactor_(std::move(redactor)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string text = redactor_->redact(std::string_view(msg.payload.data(), msg.payload.size()));
    auto seconds = std::chrono::system_clock::to_time_t(msg.time);
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char stamp[96];
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, int(millis));
    auto level = spdlog::level::to_string_view(msg.level);
    std::string line;
    if (format_ == LogFormat::json) {
      line = "{\"ts\":\"";
      line += stamp;
      line += "\",\"level\":\"";
      line.append(level.data(), level.size());
      line += "\",\"msg\":";
      append_json_string(line, text);
      line += "}\n";
    } else {
      line = stamp;
      line += ' ';
      line.append(level.data(), level.size());
      line += "  ";
      line += text;
      line += '\n';
    }
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }

 private:
  LogFormat format_;
  std::shared_ptr<const Redactor> redactor_;
};

}  // namespace

std::shared_ptr<spdlog::logger> make_logger(LogFormat format, spdlog::level::level_enum level,
                                            std::shared_ptr<const Redactor> redactor) {
  auto sink = std::make_shared<RedactingSink>(format, std::move(redactor));
  auto logger = std::make_shared<spdlog::logger>("dirsync", sink);
  logger->set_level(level);
  logger->flush_on(spdlog::level::warn);
  return logger;
}

void PluginLogger::log(LogLevel level, std::string_view message) {
  auto lvl = level == LogLevel::debug  ? spdlog::level::debug
             : level == LogLevel::info ? spdlog::level::info
             : level == LogLevel::warn ? spdlog::level::warn
                                       : spdlog::level::err;
  logger_->log(lvl, "[{}] {}", plugin_, message);
}

}  // namespace dirsync
