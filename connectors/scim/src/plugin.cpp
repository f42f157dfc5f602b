// The `scim` source plugin: a SCIM 2.0 service provider that identity
// providers push into (mode: server, run by `dirsync serve`), or a client of
// another provider (mode: pull).
//
// Server mode's read() guarantees: an incremental read returns, for every
// resource changed after the cursor (an event seq), its latest state, users
// before groups, and the seq of the last event included as the new cursor;
// events committed while the read runs are left for the next read. A full
// read emits every current resource from one consistent snapshot.
#include "pull.hpp"
#include "records.hpp"
#include "server.hpp"
#include "store.hpp"

#include <dirsync/plugin.hpp>

#include <Poco/Exception.h>

#include <charconv>
#include <condition_variable>
#include <mutex>

namespace dirsync::scim {

namespace {

class NullLogger : public Logger {
 public:
  void log(LogLevel, std::string_view) override {}
};

std::string resolve_path(const PluginContext& ctx, const std::string& p) {
  if (p.empty()) return p;
  std::filesystem::path path(p);
  return (path.is_absolute() ? path : ctx.base_dir / path).string();
}

class ScimSource : public Source {
 public:
  explicit ScimSource(const PluginContext& ctx) : settings_(ctx.settings), log_(ctx.log ? ctx.log : &null_log_) {
    std::string mode = settings_.string("mode", "server");
    options_.flatten_enterprise = settings_.boolean("flatten_enterprise", true);
    options_.inactive_is_soft_delete = settings_.boolean("inactive_is_soft_delete", false);
    if (mode == "pull") {
      pull_ = std::make_unique<PullClient>(settings_, *log_);
      return;
    }
    if (mode != "server") throw Error(ErrorKind::config, "scim: mode '" + mode + "' is not server or pull");
    parse_listen(settings_.string("listen", "127.0.0.1:8443"), config_.host, config_.port);
    config_.base_path = settings_.string("base_path", "/scim/v2");
    while (config_.base_path.size() > 1 && config_.base_path.back() == '/') config_.base_path.pop_back();
    config_.tokens = settings_.strings("tokens");
    config_.jwt_hs256_secret = settings_.string("jwt_hs256_secret");
    config_.jwt_public_key = resolve_path(ctx, settings_.string("jwt_public_key"));
    config_.jwt_issuer = settings_.string("jwt_issuer");
    config_.jwt_audience = settings_.string("jwt_audience");
    for (const std::string& t : config_.tokens) {
      if (t.size() < 16)
        throw Error(ErrorKind::config, "scim: every entry of tokens must be at least 16 characters long");
    }
    auto resolve = [&](const std::string& p) { return resolve_path(ctx, p); };
    config_.tls_cert = resolve(settings_.string("tls_cert"));
    config_.tls_key = resolve(settings_.string("tls_key"));
    if (config_.tls_cert.empty() != config_.tls_key.empty())
      throw Error(ErrorKind::config, "scim: tls_cert and tls_key go together");
    config_.max_body_bytes = settings_.integer("max_body_bytes", 1 << 20);
    config_.rate_limit_per_minute = static_cast<int>(settings_.integer("rate_limit_per_minute", 0));
    config_.max_results = static_cast<int>(std::clamp<std::int64_t>(settings_.integer("max_results", 1000), 1, 100000));
    config_.threads = static_cast<int>(std::clamp<std::int64_t>(settings_.integer("threads", 16), 1, 256));
    config_.public_url = settings_.string("public_url");
    config_.inactive_is_soft_delete = options_.inactive_is_soft_delete;
    std::string sync = settings_.string("synchronous", "full");
    if (sync != "full" && sync != "normal")
      throw Error(ErrorKind::config, "scim: synchronous '" + sync + "' is not full or normal");
    sync_full_ = sync == "full";
    store_path_ = resolve(settings_.string("store", "scim.db"));
  }

  bool can_serve() const override { return !pull_; }

  void serve(const std::atomic<bool>& stop, const std::function<void()>& on_change) override {
    if (pull_) return Source::serve(stop, on_change);
    if (config_.tokens.empty() && config_.jwt_hs256_secret.empty() && config_.jwt_public_key.empty())
      throw Error(ErrorKind::config, "scim: server mode needs tokens, jwt_hs256_secret or jwt_public_key");
    Store& s = store();
    std::mutex m;
    std::condition_variable cv;
    bool pending = true;  // a first read catches up with changes accepted before a crash
    s.on_commit([&] {
      std::lock_guard lock(m);
      pending = true;
      cv.notify_all();
    });
    Server server(config_, s, *log_);
    server.start();
    log_->info("scim: listening on " + server.url());
    while (!stop.load()) {
      {
        std::unique_lock lock(m);
        // The host's stop flag has no notification, hence the bounded wait.
        cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return pending || stop.load(); });
        if (!pending) continue;
        pending = false;
      }
      try {
        on_change();
      } catch (const std::exception& e) {
        // The events stay in the log; the next change (or restart) retries.
        log_->error(std::string("scim: applying pushed changes failed: ") + e.what());
      }
    }
    server.stop();
    s.on_commit(nullptr);
    log_->info("scim: stopped");
  }

  ReadResult read(const ReadRequest& request, Emitter& out) override {
    if (pull_) return pull_->read(request, out);
    Store& s = store();
    ReadResult result;
    result.mode = request.mode;
    std::int64_t cursor = -1;
    if (request.mode == ReadMode::incremental) {
      auto [end, ec] = std::from_chars(request.cursor.data(), request.cursor.data() + request.cursor.size(), cursor);
      if (ec != std::errc() || end != request.cursor.data() + request.cursor.size() || cursor < 0) {
        result.mode = ReadMode::full;
        result.note = request.cursor.empty() ? "no cursor yet: full read"
                                             : "cursor '" + request.cursor + "' is not an event number: full read";
      }
    }
    s.snapshot([&](Connection& c) {
      Stmt& max = c.stmt("SELECT coalesce(max(seq), 0) FROM events");
      max.step();
      std::int64_t last = max.integer(0);
      max.reset();
      if (result.mode == ReadMode::incremental && cursor > last) {
        result.mode = ReadMode::full;
        result.note = "cursor " + std::to_string(cursor) + " is beyond the last event " + std::to_string(last) +
                      " (store replaced?): full read";
      }
      Stmt& pruned = c.stmt("SELECT coalesce(max(value), 0) FROM meta WHERE key = 'pruned_through'");
      pruned.step();
      std::int64_t gone = pruned.integer(0);
      pruned.reset();
      if (result.mode == ReadMode::incremental && cursor < gone) {
        result.mode = ReadMode::full;
        result.note = "events after cursor " + std::to_string(cursor) + " up to " + std::to_string(gone) +
                      " were pruned (an older state store?): full read";
      }
      std::int64_t emitted = 0;
      for (ResourceKind kind : {ResourceKind::user, ResourceKind::group}) {
        if ((kind == ResourceKind::user && !request.users) || (kind == ResourceKind::group && !request.groups))
          continue;
        int code = kind == ResourceKind::user ? 0 : 1;
        if (result.mode == ReadMode::full) {
          Stmt& scan = c.stmt("SELECT json FROM resources WHERE kind=?1 ORDER BY id");
          scan.bind(1, code);
          while (scan.step()) {
            Value v = parse_json(scan.view(0));
            out.emit(to_change(kind, std::move(v.as_object()), false, options_));
            ++emitted;
          }
          scan.reset();
        } else {
          Stmt& events = c.stmt(
              "SELECT change, json FROM events WHERE seq IN (SELECT max(seq) FROM events WHERE seq > ?1 AND "
              "seq <= ?2 AND kind = ?3 GROUP BY id) ORDER BY seq");
          events.bind(1, cursor).bind(2, last).bind(3, code);
          while (events.step()) {
            bool deleted = events.view(0) == "deleted";
            Value v = parse_json(events.view(1));
            out.emit(to_change(kind, std::move(v.as_object()), deleted, options_));
            ++emitted;
          }
          events.reset();
        }
      }
      result.cursor = std::to_string(last);
      if (result.note.empty()) {
        result.note = std::to_string(emitted) + (result.mode == ReadMode::full ? " resources" : " changes") +
                      " up to event " + std::to_string(last);
      }
    });
    result.complete = true;
    // The host stored `cursor` after applying everything up to it, so those
    // events are no longer needed: the log stays as long as the backlog.
    if (result.mode == ReadMode::incremental && cursor > 0) {
      s.write([&](Tx& tx) { tx.prune_events(cursor); });
    }
    return result;
  }

  std::vector<std::string> test_connection() override {
    if (pull_) return pull_->test_connection();
    std::vector<std::string> lines;
    if (config_.tokens.empty() && config_.jwt_hs256_secret.empty() && config_.jwt_public_key.empty())
      throw Error(ErrorKind::config, "scim: server mode needs tokens, jwt_hs256_secret or jwt_public_key");
    lines.push_back(std::to_string(config_.tokens.size()) + " bearer token(s) configured" +
                    (config_.jwt_hs256_secret.empty() && config_.jwt_public_key.empty() ? "" : ", jwt access tokens"));
    Store& s = store();
    lines.push_back("store " + store_path_ + ": " + std::to_string(s.count(ResourceKind::user)) + " users, " +
                    std::to_string(s.count(ResourceKind::group)) + " groups, last event " +
                    std::to_string(s.max_seq()));
    lines.push_back("listens on " + config_.host + ":" + std::to_string(config_.port) + config_.base_path +
                    (config_.tls_cert.empty() ? " (plain http: put TLS in front or set tls_cert)" : " (tls)"));
    return lines;
  }

 private:
  Store& store() {
    std::lock_guard lock(store_mutex_);
    if (!store_) store_ = std::make_unique<Store>(store_path_, sync_full_);
    return *store_;
  }

  Settings settings_;
  NullLogger null_log_;
  Logger* log_;
  RecordOptions options_;
  ServerConfig config_;
  bool sync_full_ = true;
  std::string store_path_;
  std::unique_ptr<PullClient> pull_;
  std::mutex store_mutex_;
  std::unique_ptr<Store> store_;
};

ConfigField field(std::string key, FieldType type, std::string default_value, std::string doc, bool secret = false) {
  ConfigField f;
  f.key = std::move(key);
  f.type = type;
  f.default_value = std::move(default_value);
  f.doc = std::move(doc);
  f.secret = secret;
  return f;
}

const PluginDescriptor* descriptor() {
  static const PluginDescriptor d = [] {
    PluginDescriptor p;
    p.name = "scim";
    p.kind = PluginKind::source;
    p.version = "0.1.0";
    p.summary = "SCIM 2.0: service-provider endpoint that Entra/Okta push into (serve), or pull from a provider";
    p.schema = {
        field("mode", FieldType::string, "server", "server (IdPs push into `dirsync serve`) or pull"),
        field("listen", FieldType::string, "127.0.0.1:8443", "server: host:port to listen on (port 0 = any)"),
        field("base_path", FieldType::string, "/scim/v2", "server: URL path prefix of the endpoint"),
        field("store", FieldType::string, "scim.db", "server: SQLite file of resources and events (pipeline-relative)"),
        field("tokens", FieldType::list, "", "server: accepted bearer tokens (>= 16 chars; several for rotation)",
              true),
        field("jwt_hs256_secret", FieldType::string, "", "server: accept HS256 JWT access tokens signed with this",
              true),
        field("jwt_public_key", FieldType::string, "", "server: accept RS256 JWT access tokens (PEM public key)"),
        field("jwt_issuer", FieldType::string, "", "server: required JWT iss"),
        field("jwt_audience", FieldType::string, "", "server: required JWT aud"),
        field("tls_cert", FieldType::string, "", "server: PEM certificate; serves https when set"),
        field("tls_key", FieldType::string, "", "server: PEM private key of tls_cert"),
        field("max_body_bytes", FieldType::integer, "1048576", "server: larger request bodies get 413"),
        field("rate_limit_per_minute", FieldType::integer, "0", "server: requests per client address; 0 = unlimited"),
        field("max_results", FieldType::integer, "1000", "server: largest page of a list (filter.maxResults)"),
        field("threads", FieldType::integer, "16", "server: concurrent requests"),
        field("public_url", FieldType::string, "", "server: base URL for meta.location (default from Host)"),
        field("synchronous", FieldType::string, "full", "server: SQLite synchronous: full (power-safe) or normal"),
        field("inactive_is_soft_delete", FieldType::boolean, "false",
              "emit active=false users as soft deletions instead of upserts"),
        field("flatten_enterprise", FieldType::boolean, "true",
              "copy enterprise extension attributes (department, manager, ...) to top-level keys"),
        field("base_url", FieldType::string, "", "pull: the provider's SCIM base URL"),
        field("token", FieldType::string, "", "pull: static bearer token", true),
        field("token_url", FieldType::string, "", "pull: OAuth2 token endpoint (client credentials)"),
        field("client_id", FieldType::string, "", "pull: OAuth2 client id"),
        field("client_secret", FieldType::string, "", "pull: OAuth2 client secret", true),
        field("scope", FieldType::string, "", "pull: OAuth2 scope"),
        field("page_size", FieldType::integer, "100", "pull: count per page"),
        field("filter", FieldType::string, "", "pull: SCIM filter applied to Users"),
        field("insecure_skip_tls_verify", FieldType::boolean, "false", "pull: test setups only"),
        field("ca_file", FieldType::string, "", "pull: extra trusted CA certificates (PEM)"),
    };
    p.make_source = [](const PluginContext& ctx) -> std::unique_ptr<Source> {
      return std::make_unique<ScimSource>(ctx);
    };
    p.partial_records = false;  // every record is a whole object: the host need not keep snapshots
    return p;
  }();
  return &d;
}

}  // namespace

}  // namespace dirsync::scim

const dirsync::PluginDescriptor* dirsync_scim_plugin() { return dirsync::scim::descriptor(); }
DIRSYNC_PLUGIN(dirsync_scim_plugin)
