// scim-bench URL TOKEN [--clients 8] [--requests 20000] [--lookups 1000]
//
// POST /Users from N concurrent keep-alive clients over loopback and reports
// creates/s with p50/p99 latency; then, with --lookups, times
// `userName eq` lookups (indexed) and a `co` filter (full scan) against
// whatever the store holds.
#include <dirsync/value.hpp>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/URI.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

using Clock = std::chrono::steady_clock;

namespace {

struct Target {
  std::string host;
  std::uint16_t port;
  std::string path;
  std::string token;
};

int send(Poco::Net::HTTPClientSession& s, const Target& t, const std::string& method, const std::string& path,
         const std::string& body, std::string* out = nullptr) {
  Poco::Net::HTTPRequest req(method, t.path + path, Poco::Net::HTTPMessage::HTTP_1_1);
  req.set("Authorization", "Bearer " + t.token);
  if (!body.empty()) {
    req.setContentType("application/scim+json");
    req.setContentLength(static_cast<std::streamsize>(body.size()));
  }
  s.sendRequest(req) << body;
  Poco::Net::HTTPResponse resp;
  std::istream& in = s.receiveResponse(resp);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (out) *out = std::move(text);
  return resp.getStatus();
}

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: scim-bench URL TOKEN [--clients N] [--requests N] [--lookups N] [--prefix P]\n";
    return 2;
  }
  Poco::URI uri(argv[1]);
  Target t{uri.getHost(), uri.getPort(), uri.getPath(), argv[2]};
  int clients = 8, requests = 20000, lookups = 0;
  std::string prefix = "bench";
  for (int i = 3; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--clients")) clients = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--requests")) requests = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--lookups")) lookups = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--prefix")) prefix = argv[i + 1];
  }
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(clients));
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      Poco::Net::HTTPClientSession s(t.host, t.port);
      s.setKeepAlive(true);
      for (int i; (i = next.fetch_add(1)) < requests;) {
        std::string n = prefix + std::to_string(i);
        std::string body = R"({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"userName":")" +
                           n + R"(@example.com","externalId":")" + n +
                           R"(","active":true,"displayName":"User )" + n +
                           R"(","name":{"givenName":"User","familyName":")" + n +
                           R"("},"emails":[{"primary":true,"type":"work","value":")" + n +
                           R"(@example.com"}],"title":"Engineer","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Dept )" +
                           std::to_string(i % 50) + R"(","employeeNumber":")" + std::to_string(i) + R"("}})";
        auto t0 = Clock::now();
        int status = send(s, t, "POST", "/Users", body);
        latencies[static_cast<std::size_t>(c)].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (status != 201) failures.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::printf("POST /Users: %d requests, %d clients, %d failures, %.2f s, %.0f creates/s, p50 %.2f ms, p99 %.2f ms\n",
              requests, clients, failures.load(), seconds, requests / seconds, pct(all, 0.50), pct(all, 0.99));

  if (lookups > 0) {
    Poco::Net::HTTPClientSession s(t.host, t.port);
    s.setKeepAlive(true);
    std::mt19937 rng(42);
    std::vector<double> eq;
    for (int i = 0; i < lookups; ++i) {
      std::string n = prefix + std::to_string(static_cast<int>(rng() % static_cast<unsigned>(requests)));
      std::string path = "/Users?filter=" + Poco::URI("").toString();
      std::string q;
      Poco::URI::encode("userName eq \"" + n + "@EXAMPLE.com\"", "&=+?#\"", q);
      auto t0 = Clock::now();
      std::string out;
      int status = send(s, t, "GET", "/Users?filter=" + q, "", &out);
      eq.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (status != 200 || out.find("\"totalResults\":1") == std::string::npos) failures.fetch_add(1);
    }
    std::printf("GET filter userName eq (indexed): %d lookups, p50 %.3f ms, p99 %.3f ms, failures %d\n", lookups,
                pct(eq, 0.5), pct(eq, 0.99), failures.load());
    std::vector<double> scan;
    for (int i = 0; i < 5; ++i) {
      std::string q;
      Poco::URI::encode("emails[type eq \"work\" and value co \"" + prefix + "77777@\"]", "&=+?#\"[]", q);
      auto t0 = Clock::now();
      std::string out;
      int status = send(s, t, "GET", "/Users?count=10&filter=" + q, "", &out);
      scan.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (status != 200) failures.fetch_add(1);
    }
    std::printf("GET filter emails[type eq \"work\" and value co ...] (full scan): p50 %.1f ms, max %.1f ms\n",
                pct(scan, 0.5), pct(scan, 1.0));
  }
  return failures.load() == 0 ? 0 : 1;
}
