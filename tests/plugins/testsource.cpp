// A source for tests: generates `count` users, can pause at a given object
// (so a test can SIGKILL the process at a known point), and has a secret
// `token` it deliberately tries to leak, to prove the host redacts it.
#include <dirsync/plugin.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <string>

namespace {

using namespace dirsync;

class TestSource final : public Source {
 public:
  explicit TestSource(const PluginContext& ctx) : ctx_(ctx) {}

  ReadResult read(const ReadRequest& request, Emitter& out) override {
    const Settings& s = ctx_.settings;
    std::string token = s.string("token");
    // Careless on purpose: the host must mask this.
    ctx_.log->info("connecting with token " + token);
    if (s.boolean("fail_auth")) throw Error(ErrorKind::auth, "token " + token + " was rejected (HTTP 401)");
    std::int64_t count = s.integer("count", 10);
    std::int64_t pause_after = s.integer("pause_after", -1);
    std::int64_t fail_after = s.integer("fail_after", -1);
    std::string suffix = s.string("name_suffix");
    for (std::int64_t i = 0; i < count; ++i) {
      if (i == pause_after) pause();
      if (i == fail_after) throw Error(ErrorKind::read, "page failed after retries (HTTP 503)");
      Change c;
      c.record.type = ObjectType::user;
      c.record.id = "id-" + std::to_string(i);
      c.record.attributes.set("mail", Value("user" + std::to_string(i) + "@example.com"));
      c.record.attributes.set("displayName", Value("User " + std::to_string(i) + suffix));
      c.record.attributes.set("accountEnabled", Value(true));
      out.emit(std::move(c));
    }
    return {true, request.mode, "", ""};
  }

  std::vector<std::string> test_connection() override {
    if (ctx_.settings.boolean("fail_auth"))
      throw Error(ErrorKind::auth, "token " + ctx_.settings.string("token") + " was rejected (HTTP 401)");
    return {"generated users"};
  }

 private:
  /// Tells the test we are here (by writing to its FIFO), then waits to be killed.
  void pause() {
    std::string fifo = ctx_.settings.string("pause_fifo");
    int fd = open(fifo.c_str(), O_WRONLY);
    if (fd >= 0) {
      ssize_t ignored = write(fd, "paused\n", 7);
      (void)ignored;
      close(fd);
    }
    for (;;) ::pause();
  }

  PluginContext ctx_;
};

const PluginDescriptor* descriptor() {
  static const PluginDescriptor d = [] {
    PluginDescriptor d;
    d.name = "testsource";
    d.kind = PluginKind::source;
    d.version = "1.0.0";
    d.summary = "generated users for tests";
    d.schema = {
        {"count", FieldType::integer, false, false, "10", "number of users"},
        {"token", FieldType::string, false, true, "", "a secret the plugin tries to leak"},
        {"fail_auth", FieldType::boolean, false, false, "false", "refuse the token"},
        {"pause_after", FieldType::integer, false, false, "-1", "pause before this object"},
        {"pause_fifo", FieldType::string, false, false, "", "FIFO to announce the pause on"},
        {"fail_after", FieldType::integer, false, false, "-1", "fail the read before this object"},
        {"name_suffix", FieldType::string, false, false, "", "appended to display names"},
    };
    d.make_source = [](const PluginContext& ctx) { return std::make_unique<TestSource>(ctx); };
    return d;
  }();
  return &d;
}

}  // namespace

DIRSYNC_PLUGIN(descriptor)
