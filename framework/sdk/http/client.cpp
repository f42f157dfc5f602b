// Poco-backed implementation of dirsync::http::Client (see http.hpp for the
// retry guarantees).
#include <dirsync/http.hpp>
#include <dirsync/plugin.hpp>

#include <Poco/Exception.h>
#include <Poco/Net/AcceptCertificateHandler.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLException.h>
#include <Poco/Net/SSLManager.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <random>
#include <thread>

namespace dirsync::http {

namespace {

class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point now() override { return std::chrono::system_clock::now(); }
  void sleep_for(std::chrono::milliseconds d) override { std::this_thread::sleep_for(d); }
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

struct Target {
  bool https = false;
  std::string host;
  std::uint16_t port = 0;
  std::string path_and_query;  // verbatim
  std::string key() const { return (https ? "https://" : "http://") + host + ":" + std::to_string(port); }
};

Target split_url(const std::string& url) {
  Target t;
  std::string_view rest(url);
  if (rest.starts_with("https://")) {
    t.https = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    throw Error(ErrorKind::config, "unsupported url '" + redact_url(url) + "': expected http:// or https://");
  }
  std::size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  t.path_and_query = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (t.path_and_query.front() == '?') t.path_and_query.insert(0, "/");
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  std::size_t colon = authority.rfind(':');
  bool bracketed = !authority.empty() && authority.front() == '[';
  if (colon != std::string_view::npos && (!bracketed || authority.rfind(']') < colon)) {
    int port = 0;
    for (char c : authority.substr(colon + 1)) {
      if (!std::isdigit(static_cast<unsigned char>(c)) || port > 65535)
        throw Error(ErrorKind::config, "invalid port in url '" + redact_url(url) + "'");
      port = port * 10 + (c - '0');
    }
    if (port <= 0 || port > 65535) throw Error(ErrorKind::config, "invalid port in url '" + redact_url(url) + "'");
    t.port = static_cast<std::uint16_t>(port);
    authority = authority.substr(0, colon);
  } else {
    t.port = t.https ? 443 : 80;
  }
  if (bracketed && authority.size() >= 2) authority = authority.substr(1, authority.size() - 2);
  if (authority.empty()) throw Error(ErrorKind::config, "url '" + redact_url(url) + "' has no host");
  t.host = std::string(authority);
  return t;
}

// A failure worth retrying (the server or the network may recover) versus one
// that will not change by waiting (bad certificate, unknown host).
struct TransportError : Error {
  TransportError(const std::string& m, bool transient_) : Error(ErrorKind::connection, m), transient(transient_) {}
  bool transient;
};

// Reads a fixed-length body straight from the session into `body`. Poco's
// response stream refills a 4 KB buffer, so a 450 KB page was ~110 recv
// calls and two extra copies; HTTPSession::read hands over what the session
// has buffered and then receives into the caller's memory, as much as the
// socket holds. It is protected, hence the member pointer taken through a
// derived class; the call still dispatches to HTTPSClientSession's TLS read.
struct SessionBody : Poco::Net::HTTPClientSession {
  static void fill(Poco::Net::HTTPSession& session, std::string& body, std::size_t length) {
    int (Poco::Net::HTTPSession::*receive)(char*, std::streamsize) = &SessionBody::read;
    body.resize(length);
    std::size_t got = 0;
    while (got < length) {
      int n = (session.*receive)(body.data() + got, static_cast<std::streamsize>(length - got));
      if (n <= 0) {
        body.resize(got);
        return;  // the caller reports the truncation
      }
      got += static_cast<std::size_t>(n);
    }
  }
};

void ensure_ssl_initialized() {
  static std::once_flag once;
  std::call_once(once, [] { Poco::Net::initializeSSL(); });
}

}  // namespace

std::string_view Response::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return {};
}

Clock& Clock::system() {
  static SystemClock clock;
  return clock;
}

struct Client::Impl {
  ClientOptions options;
  Poco::Net::Context::Ptr tls;
  std::mutex mutex;
  std::multimap<std::string, std::unique_ptr<Poco::Net::HTTPClientSession>> idle;
  std::mt19937_64 rng{std::random_device{}()};

  Clock& clock() { return options.clock ? *options.clock : Clock::system(); }

  Poco::Net::Context::Ptr tls_context() {
    std::lock_guard lock(mutex);
    if (!tls) {
      ensure_ssl_initialized();
      auto mode = options.insecure_skip_tls_verify ? Poco::Net::Context::VERIFY_NONE
                                                   : Poco::Net::Context::VERIFY_RELAXED;
      tls = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", "", options.ca_file, mode, 9, true,
                                   "ALL:!ADH:!LOW:!EXP:!MD5:@STRENGTH");
      // Host name checks are Poco's "extended verification"; keep them on
      // unless the pipeline asked for insecure mode.
      tls->enableExtendedCertificateVerification(!options.insecure_skip_tls_verify);
    }
    return tls;
  }

  std::unique_ptr<Poco::Net::HTTPClientSession> take(const Target& t, bool& reused) {
    {
      std::lock_guard lock(mutex);
      auto it = idle.find(t.key());
      if (it != idle.end()) {
        auto s = std::move(it->second);
        idle.erase(it);
        reused = true;
        return s;
      }
    }
    reused = false;
    std::unique_ptr<Poco::Net::HTTPClientSession> s;
    if (t.https)
      s = std::make_unique<Poco::Net::HTTPSClientSession>(t.host, t.port, tls_context());
    else
      s = std::make_unique<Poco::Net::HTTPClientSession>(t.host, t.port);
    if (!options.proxy.empty()) {
      Target proxy = split_url(options.proxy);
      s->setProxy(proxy.host, proxy.port);
    }
    s->setKeepAlive(true);
    s->setTimeout(Poco::Timespan(options.connect_timeout.count() * 1000),
                  Poco::Timespan(options.io_timeout.count() * 1000),
                  Poco::Timespan(options.io_timeout.count() * 1000));
    return s;
  }

  void give_back(const Target& t, std::unique_ptr<Poco::Net::HTTPClientSession> s) {
    std::lock_guard lock(mutex);
    if (idle.count(t.key()) < 8) idle.emplace(t.key(), std::move(s));
  }

  Response exchange(Poco::Net::HTTPClientSession& session, const Target& t, const Request& request) {
    Poco::Net::HTTPRequest req(request.method, t.path_and_query, Poco::Net::HTTPMessage::HTTP_1_1);
    req.setHost(t.host, t.port);
    req.set("User-Agent", options.user_agent);
    req.set("Accept-Encoding", "identity");
    for (const auto& [k, v] : request.headers) req.set(k, v);
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
        request.method == "PATCH")
      req.setContentLength(static_cast<std::streamsize>(request.body.size()));
    std::ostream& os = session.sendRequest(req);
    // Header and body are separate writes: without TCP_NODELAY a POST's body
    // waits for the server's delayed ACK.
    session.socket().setNoDelay(true);
    os.write(request.body.data(), static_cast<std::streamsize>(request.body.size()));
    Poco::Net::HTTPResponse resp;
    std::istream& is = session.receiveResponse(resp);
    Response out;
    out.status = static_cast<int>(resp.getStatus());
    for (const auto& [k, v] : resp) out.headers.emplace_back(k, v);
    const auto status = resp.getStatus();
    if (request.method != "HEAD" && status >= 200 && status != Poco::Net::HTTPResponse::HTTP_NO_CONTENT &&
        status != Poco::Net::HTTPResponse::HTTP_NOT_MODIFIED && !resp.getChunkedTransferEncoding() &&
        resp.hasContentLength()) {
      SessionBody::fill(session, out.body, static_cast<std::size_t>(resp.getContentLength64()));
    } else {
      char buf[65536];
      while (is.read(buf, sizeof buf) || is.gcount() > 0)
        out.body.append(buf, static_cast<std::size_t>(is.gcount()));
    }
    if (request.method != "HEAD" && resp.hasContentLength() &&
        static_cast<std::int64_t>(out.body.size()) != resp.getContentLength64())
      throw TransportError("truncated body: got " + std::to_string(out.body.size()) + " of " +
                               std::to_string(resp.getContentLength64()) + " bytes",
                           true);
    if (!resp.getKeepAlive()) session.reset();
    return out;
  }

  Response send_once(const Request& request) {
    Target t = split_url(request.url);
    // A pooled connection the server has meanwhile closed fails before any
    // response arrives; that is not a server fault, so retry it once on a
    // fresh connection without spending the retry policy. Not a POST: the
    // server may have acted on it before the connection dropped, and a
    // resend could create an object twice; its caller decides.
    const bool stale_resend = request.method != "POST";
    for (int round = 0;; ++round) {
      bool reused = false;
      auto session = take(t, reused);
      try {
        Response r = exchange(*session, t, request);
        give_back(t, std::move(session));
        return r;
      } catch (const TransportError&) {
        throw;
      } catch (const Poco::Net::NoMessageException&) {
        if (reused && round == 0 && stale_resend) continue;
        throw TransportError("connection closed before a response", true);
      } catch (const Poco::Net::ConnectionResetException&) {
        if (reused && round == 0 && stale_resend) continue;
        throw TransportError("connection reset", true);
      } catch (const Poco::Net::ConnectionRefusedException&) {
        throw TransportError("connection refused", true);
      } catch (const Poco::TimeoutException&) {
        throw TransportError("timed out", true);
      } catch (const Poco::Net::HostNotFoundException&) {
        throw TransportError("host not found", false);
      } catch (const Poco::Net::NoAddressFoundException&) {
        throw TransportError("host not found", false);
      } catch (const Poco::Net::CertificateValidationException& e) {
        throw TransportError("tls certificate verification failed: " + e.message(), false);
      } catch (const Poco::Net::SSLException& e) {
        throw TransportError("tls handshake failed: " + e.displayText(), false);
      } catch (const Poco::Exception& e) {
        if (reused && round == 0 && stale_resend) continue;
        throw TransportError(e.displayText(), true);
      } catch (const std::ios_base::failure& e) {
        throw TransportError(e.what(), true);
      }
    }
  }

  void log(LogLevel level, const std::string& message) {
    if (options.log) options.log->log(level, message);
  }
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>()) { impl_->options = std::move(options); }
Client::~Client() = default;

const ClientOptions& Client::options() const { return impl_->options; }

Response Client::send_once(const Request& request) {
  try {
    return impl_->send_once(request);
  } catch (const TransportError& e) {
    throw Error(ErrorKind::connection,
                request.method + " " + redact_url(request.url) + " failed: " + e.what());
  }
}

Response Client::send(const Request& request) {
  const RetryPolicy& policy = impl_->options.retry;
  std::chrono::milliseconds waited{0};
  for (int attempt = 1;; ++attempt) {
    std::optional<std::chrono::milliseconds> server_wait;
    std::string why;
    Response response;
    try {
      response = impl_->send_once(request);
      bool retryable = std::find(policy.statuses.begin(), policy.statuses.end(), response.status) !=
                       policy.statuses.end();
      if (!retryable && policy.retry_if) retryable = policy.retry_if(response);
      if (!retryable) return response;
      server_wait = parse_retry_after(response.header("Retry-After"), impl_->clock().now());
      why = "status " + std::to_string(response.status);
    } catch (const TransportError& e) {
      if (!e.transient || !policy.retry_transport_errors || attempt >= policy.max_attempts)
        throw Error(ErrorKind::connection, request.method + " " + redact_url(request.url) + " failed" +
                                               (attempt > 1 ? " after " + std::to_string(attempt) + " attempts"
                                                            : std::string()) +
                                               ": " + e.what());
      why = e.what();
    }
    if (attempt >= policy.max_attempts) return response;
    std::chrono::milliseconds wait;
    if (server_wait) {
      wait = *server_wait;
    } else {
      double unit;
      {
        std::lock_guard lock(impl_->mutex);
        unit = std::uniform_real_distribution<double>(0.0, 1.0)(impl_->rng);
      }
      wait = backoff_delay(policy, attempt, unit);
    }
    if (waited + wait > policy.budget) {
      if (response.status != 0) return response;
      throw Error(ErrorKind::connection, request.method + " " + redact_url(request.url) +
                                             " failed: retry budget of " + std::to_string(policy.budget.count()) +
                                             " ms exhausted: " + why);
    }
    impl_->log(LogLevel::warn, request.method + " " + redact_url(request.url) + ": " + why + ", retrying in " +
                                   std::to_string(wait.count()) + " ms (attempt " + std::to_string(attempt + 1) +
                                   " of " + std::to_string(policy.max_attempts) + ")");
    impl_->clock().sleep_for(wait);
    waited += wait;
  }
}

}  // namespace dirsync::http
