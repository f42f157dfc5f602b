// rest-bench-server: the local endpoint of bench/rest/run.sh. It must never be
// what limits the measured requests/s, so it does the least an API can: read
// the request, answer 201 with a fresh id to a POST and 200 with an empty list
// (a SCIM ListResponse) to anything else, from a Poco thread pool over
// keep-alive connections. It counts requests and
// prints the count (and its own CPU time) when stopped, so the benchmark can
// check that every user reached it.
//
//   rest-bench-server [--port 0] [--threads 16]
// Prints `listening 127.0.0.1:PORT` once listening; stops on SIGINT/SIGTERM.
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/NullStream.h>
#include <Poco/StreamCopier.h>
#include <Poco/ThreadPool.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <sys/resource.h>

namespace {

std::atomic<unsigned long long> g_requests{0};
std::atomic<unsigned long long> g_next_id{1};

class Handler : public Poco::Net::HTTPRequestHandler {
 public:
  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override {
    // The body is drained so that the connection can be kept alive.
    Poco::NullOutputStream sink;
    Poco::StreamCopier::copyStream(request.stream(), sink);
    g_requests.fetch_add(1, std::memory_order_relaxed);
    std::string body;
    if (request.getMethod() == Poco::Net::HTTPRequest::HTTP_POST) {
      response.setStatus(Poco::Net::HTTPResponse::HTTP_CREATED);
      body = "{\"id\":\"b-" + std::to_string(g_next_id.fetch_add(1, std::memory_order_relaxed)) + "\"}";
    } else {
      // An empty SCIM ListResponse: a generic lookup with `results: /Resources` and the
      // scim profile's filter lookups both read it as "no such object".
      response.setStatus(Poco::Net::HTTPResponse::HTTP_OK);
      body = R"({"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[]})";
    }
    response.setContentType("application/json");
    response.setContentLength(static_cast<std::streamsize>(body.size()));
    response.send().write(body.data(), static_cast<std::streamsize>(body.size()));
  }
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
    return new Handler;
  }
};

}  // namespace

int main(int argc, char** argv) {
  unsigned short port = 0;
  int threads = 16;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--port" && i + 1 < argc) {
      port = static_cast<unsigned short>(std::stoi(argv[++i]));
    } else if (arg == "--threads" && i + 1 < argc) {
      threads = std::stoi(argv[++i]);
    } else {
      std::cerr << "usage: rest-bench-server [--port 0] [--threads 16]\n";
      return 2;
    }
  }
  // Blocked before any thread starts, so that only sigwait below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Poco::ThreadPool pool(threads, threads);
  auto* params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(threads);
  params->setMaxQueued(1024);
  params->setKeepAlive(true);
  params->setMaxKeepAliveRequests(0);  // unlimited
  Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", port));
  Poco::Net::HTTPServer server(new Factory, pool, socket, params);
  server.start();
  std::cout << "listening 127.0.0.1:" << socket.address().port() << std::endl;

  int signal = 0;
  sigwait(&signals, &signal);
  server.stopAll(true);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::fprintf(stderr, "requests %llu cpu %.2f s\n", g_requests.load(),
               static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                   static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6);
  return 0;
}
