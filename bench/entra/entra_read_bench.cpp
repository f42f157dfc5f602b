// Reads a tenant from a running dirsync-sim through the entra plugin alone
// (no mapping, no state, no sink) and prints objects/s and peak RSS: the
// source's share of an end-to-end sync. With --parse-only, downloads every
// users page first and then times only the page parser (simdjson on-demand).
//
//   entra_read_bench PLUGIN_DIR SIM_URL [--no-prefetch] [--groups] [--parse-only]
#include "../../connectors/entra/graph_page.hpp"

#include <dirsync/http.hpp>
#include <dirsync/oauth.hpp>
#include <dirsync/plugin.hpp>

#include <boost/dll/shared_library.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

class Quiet : public dirsync::Logger {
 public:
  void log(dirsync::LogLevel, std::string_view m) override { std::fprintf(stderr, "%.*s\n", int(m.size()), m.data()); }
};

class Count : public dirsync::Emitter {
 public:
  void emit(dirsync::Change&& c) override {
    ++objects;
    attributes += c.record.attributes.size();
  }
  std::size_t objects = 0, attributes = 0;
};

int parse_only(const std::string& url) {
  dirsync::http::Client client;
  dirsync::http::TokenProvider tokens(
      dirsync::http::client_secret_grant(url + "/contoso/oauth2/v2.0/token", "sim-client", "sim-secret",
                                         url + "/.default"),
      client);
  dirsync::http::AuthorizedClient api(client, tokens);
  std::vector<std::string> pages;
  std::size_t bytes = 0;
  std::string next = url +
                     "/v1.0/users?$select=id,mail,userPrincipalName,displayName,givenName,surname,department,"
                     "jobTitle,userType,accountEnabled,businessPhones&$top=999";
  while (!next.empty()) {
    dirsync::http::Response r = api.send({"GET", next, {}, {}});
    if (!r.ok()) {
      std::fprintf(stderr, "status %d\n", r.status);
      return 1;
    }
    next = dirsync::entra::page_links(r.body).next;
    bytes += r.body.size();
    pages.push_back(std::move(r.body));
  }
  std::size_t users = 0;
  auto start = std::chrono::steady_clock::now();
  for (const auto& page : pages)
    dirsync::entra::parse_page(page, dirsync::ObjectType::user, dirsync::entra::ItemShape::object, false,
                               [&](dirsync::Change&&) { ++users; });
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("parsed %zu users from %zu pages (%.0f MB, %.0f bytes/user) in %.3f s: %.0f users/s, %.0f MB/s\n",
              users, pages.size(), bytes / 1e6, double(bytes) / double(users), s, users / s, bytes / 1e6 / s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: entra_read_bench PLUGIN_DIR SIM_URL [--no-prefetch] [--groups] [--parse-only]\n");
    return 2;
  }
  bool prefetch = true, groups = false;
  for (int i = 3; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--parse-only")) return parse_only(argv[2]);
    if (!std::strcmp(argv[i], "--no-prefetch")) prefetch = false;
    if (!std::strcmp(argv[i], "--groups")) groups = true;
  }
  boost::dll::shared_library lib(std::string(argv[1]) + "/dirsync-entra.so");
  const dirsync::PluginDescriptor* d = lib.get_alias<dirsync::PluginEntryPoint>("dirsync_plugin")();
  Quiet log;
  dirsync::PluginContext ctx;
  ctx.log = &log;
  ctx.settings = dirsync::Settings(dirsync::Object{{"tenant_id", "contoso"},
                                                   {"client_id", "sim-client"},
                                                   {"client_secret", "sim-secret"},
                                                   {"authority", argv[2]},
                                                   {"graph_url", argv[2]},
                                                   {"prefetch", prefetch}});
  auto source = d->make_source(ctx);
  dirsync::ReadRequest request;
  request.groups = groups;
  request.user_attributes = {"mail", "userPrincipalName", "displayName", "givenName", "surname",
                             "department", "jobTitle", "userType", "accountEnabled"};
  request.group_attributes = {"displayName", "description"};
  Count out;
  auto start = std::chrono::steady_clock::now();
  source->read(request, out);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("objects %zu  attributes %zu  %.2f s  %.0f objects/s  peak RSS %ld MB  cpu %.2f s\n", out.objects,
              out.attributes, s, out.objects / s, ru.ru_maxrss / 1024,
              ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
  return 0;
}
