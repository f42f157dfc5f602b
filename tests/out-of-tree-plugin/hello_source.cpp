// The smallest useful source: two users, always a complete full read.
#include <dirsync/plugin.hpp>

namespace {

class HelloSource final : public dirsync::Source {
 public:
  explicit HelloSource(std::string domain) : domain_(std::move(domain)) {}

  dirsync::ReadResult read(const dirsync::ReadRequest&, dirsync::Emitter& out) override {
    for (const char* name : {"ada", "grace"}) {
      dirsync::Change change;
      change.record.id = name;
      change.record.attributes.set("mail", dirsync::Value(std::string(name) + "@" + domain_));
      out.emit(std::move(change));
    }
    return {true, dirsync::ReadMode::full, "", ""};
  }
  std::vector<std::string> test_connection() override { return {"nothing to connect to"}; }

 private:
  std::string domain_;
};

const dirsync::PluginDescriptor* descriptor() {
  static const dirsync::PluginDescriptor d = [] {
    dirsync::PluginDescriptor d;
    d.name = "hello";
    d.kind = dirsync::PluginKind::source;
    d.version = "0.1.0";
    d.summary = "two users, from outside the tree";
    d.schema = {{"domain", dirsync::FieldType::string, false, false, "example.org", "mail domain"}};
    d.make_source = [](const dirsync::PluginContext& ctx) {
      return std::make_unique<HelloSource>(ctx.settings.string("domain"));
    };
    return d;
  }();
  return &d;
}

}  // namespace

DIRSYNC_PLUGIN(descriptor)
