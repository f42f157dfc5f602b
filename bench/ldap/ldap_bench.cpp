// 100,000 users into slapd: DirSync's LDAP sink (loaded as the host loads
// it, batches of 1,000 creates) versus `ldapadd` of the same entries as LDIF,
// each against a fresh server with the same configuration. Then the whole
// pipeline through `dirsync run` (file source -> ldap sink), and its
// no-change rerun, which must make zero LDAP writes (entryCSNs compared).
//
// The machine is shared, so wall times are noisy: the runs alternate, the
// best of ROUNDS is reported, and CPU seconds (server + client) beside them.
//
//   ldap_bench [users=100000] [rounds=3]      (rounds 0: only the dirsync run part)
#include "support/slapd.hpp"

#include <dirsync/plugin.hpp>

#include <boost/dll/shared_library.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <cstdio>
#include <iostream>
#include <map>

using namespace dirsync;
using namespace dirsync::test;
using Clock = std::chrono::steady_clock;

namespace {

struct Quiet : Logger {
  void log(LogLevel, std::string_view) override {}
};

struct User {
  std::string uid, given, sn, mail, title, number;
};

User user(int i) {
  std::string n = std::to_string(i);
  return {"u" + n, "Given" + n, "Family" + n, "u" + n + "@example.com", "Title " + std::to_string(i % 50),
          std::to_string(100000 + i)};
}

struct Timing {
  double wall = 0;
  double cpu = 0;  ///< slapd + client, user + system
};

// CPU seconds slapd has used so far (utime + stime from /proc).
double server_cpu(const Slapd& slapd) {
  std::ifstream in("/proc/" + std::to_string(slapd.pid()) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t pos = stat.rfind(')');
  std::vector<std::string> fields;
  std::string field;
  for (std::size_t i = pos + 2; i < stat.size(); ++i) {
    if (stat[i] == ' ') {
      fields.push_back(field);
      field.clear();
    } else {
      field += stat[i];
    }
  }
  // Fields after the command: state is [0], utime [11], stime [12].
  return (std::stod(fields.at(11)) + std::stod(fields.at(12))) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double own_cpu(int who) {
  rusage u{};
  getrusage(who, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::size_t count_people(Slapd& slapd) {
  return slapd.search("ou=people,dc=example,dc=com", "(objectClass=inetOrgPerson)", {"1.1"}).size();
}

Timing bench_ldapadd(int n) {
  Slapd slapd;
  std::string ldif;
  ldif.reserve(static_cast<std::size_t>(n) * 300);
  for (int i = 0; i < n; ++i) {
    User u = user(i);
    ldif += "dn: uid=" + u.uid + ",ou=people,dc=example,dc=com\nobjectClass: top\nobjectClass: person\n"
            "objectClass: organizationalPerson\nobjectClass: inetOrgPerson\nuid: " + u.uid + "\ncn: " + u.given +
            " " + u.sn + "\nsn: " + u.sn + "\ngivenName: " + u.given + "\nmail: " + u.mail + "\ntitle: " + u.title +
            "\nemployeeNumber: " + u.number + "\n\n";
  }
  write_file(slapd.dir() / "users.ldif", ldif);
  double server0 = server_cpu(slapd), client0 = own_cpu(RUSAGE_CHILDREN);
  auto start = Clock::now();
  auto r = slapd.tool("ldapadd", {"-f", (slapd.dir() / "users.ldif").string()});
  Timing t{seconds_since(start), server_cpu(slapd) - server0 + own_cpu(RUSAGE_CHILDREN) - client0};
  if (r.exit_code != 0) throw std::runtime_error("ldapadd failed: " + r.err.substr(0, 500));
  if (count_people(slapd) != static_cast<std::size_t>(n)) throw std::runtime_error("ldapadd: wrong count");
  return t;
}

struct SinkMaker {
  boost::dll::shared_library lib{(plugin_dir() / "dirsync-ldap.so").string()};
  const PluginDescriptor* d = lib.get_alias<PluginEntryPoint>("dirsync_plugin")();
  Quiet quiet;
  std::unique_ptr<Sink> make(Slapd& slapd, int depth) {
    PluginContext ctx;
    ctx.settings = Settings(Object{{"url", slapd.url()},
                                   {"bind_dn", slapd.root_dn()},
                                   {"bind_password", slapd.root_password()},
                                   {"base_dn", "dc=example,dc=com"},
                                   {"user_dn", "uid={uid},ou=people,dc=example,dc=com"},
                                   {"pipeline_depth", std::int64_t{depth}}});
    ctx.log = &quiet;
    auto sink = d->make_sink(ctx);
    sink->prepare({TargetSchema{ObjectType::user, {}}});
    return sink;
  }
};

// Applies `ops` in batches; returns the number of failures and fills ids.
std::size_t apply_all(Sink& sink, const std::vector<Operation>& ops, int batch, std::vector<std::string>* ids) {
  std::vector<OpResult> results(static_cast<std::size_t>(batch));
  std::size_t failed = 0;
  for (std::size_t i = 0; i < ops.size(); i += static_cast<std::size_t>(batch)) {
    std::size_t len = std::min(ops.size() - i, static_cast<std::size_t>(batch));
    sink.apply(std::span<const Operation>(ops.data() + i, len), std::span<OpResult>(results.data(), len));
    for (std::size_t k = 0; k < len; ++k) {
      failed += results[k].ok ? 0 : 1;
      if (ids) ids->push_back(results[k].target_id);
    }
  }
  return failed;
}

Timing bench_sink(int n, int batch, int depth, Slapd* keep = nullptr, std::vector<std::string>* ids = nullptr) {
  Slapd own;
  Slapd& slapd = keep ? *keep : own;
  SinkMaker maker;
  // Operations are built before the clock starts: the host's mapping cost is
  // measured by the pipeline run below, this is the sink and the server.
  std::vector<Operation> ops(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    User u = user(i);
    auto& op = ops[static_cast<std::size_t>(i)];
    op.kind = OpKind::create;
    op.source_id = "s" + std::to_string(i);
    op.attributes = Object{{"uid", u.uid},     {"cn", u.given + " " + u.sn}, {"sn", u.sn},
                           {"givenName", u.given}, {"mail", u.mail},         {"title", u.title},
                           {"employeeNumber", u.number}};
  }
  double server0 = server_cpu(slapd), client0 = own_cpu(RUSAGE_SELF);
  auto start = Clock::now();
  auto sink = maker.make(slapd, depth);
  std::size_t failed = apply_all(*sink, ops, batch, ids);
  Timing t{seconds_since(start), server_cpu(slapd) - server0 + own_cpu(RUSAGE_SELF) - client0};
  if (failed) throw std::runtime_error("sink: " + std::to_string(failed) + " failures");
  if (count_people(slapd) != static_cast<std::size_t>(n)) throw std::runtime_error("sink: wrong count");
  return t;
}

// An incremental run's shape: a new sink (nothing cached) and one changed
// attribute per entry, by target id; then ldapmodify of the same changes.
void bench_updates(int n) {
  Slapd slapd;
  std::vector<std::string> ids;
  bench_sink(n, 1000, 64, &slapd, &ids);
  std::vector<Operation> ops(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto& op = ops[static_cast<std::size_t>(i)];
    op.kind = OpKind::update;
    op.target_id = ids[static_cast<std::size_t>(i)];
    op.attributes = Object{{"title", "Updated " + std::to_string(i)}};
  }
  SinkMaker maker;
  double server0 = server_cpu(slapd), client0 = own_cpu(RUSAGE_SELF);
  auto start = Clock::now();
  auto sink = maker.make(slapd, 64);
  std::size_t failed = apply_all(*sink, ops, 1000, nullptr);
  Timing t{seconds_since(start), server_cpu(slapd) - server0 + own_cpu(RUSAGE_SELF) - client0};
  if (failed) throw std::runtime_error("updates: " + std::to_string(failed) + " failures");

  std::string ldif;
  for (int i = 0; i < n; ++i)
    ldif += "dn: uid=u" + std::to_string(i) + ",ou=people,dc=example,dc=com\nchangetype: modify\nreplace: title\n"
            "title: Again " + std::to_string(i) + "\n\n";
  write_file(slapd.dir() / "changes.ldif", ldif);
  server0 = server_cpu(slapd);
  client0 = own_cpu(RUSAGE_CHILDREN);
  start = Clock::now();
  auto r = slapd.tool("ldapmodify", {"-f", (slapd.dir() / "changes.ldif").string()});
  Timing m{seconds_since(start), server_cpu(slapd) - server0 + own_cpu(RUSAGE_CHILDREN) - client0};
  if (r.exit_code != 0) throw std::runtime_error("ldapmodify failed: " + r.err.substr(0, 500));
  std::printf("updates by target id, fresh sink:       %7.2f s  %8.0f users/s  cpu %6.2f s\n", t.wall, n / t.wall,
              t.cpu);
  std::printf("ldapmodify of the same changes by DN:   %7.2f s  %8.0f users/s  cpu %6.2f s  ratio %.2fx\n", m.wall,
              n / m.wall, m.cpu, m.wall / t.wall);
}

void bench_pipeline(int n) {
  Slapd slapd;
  TempDir dir;
  std::string csv = "id,uid,givenName,surname,mail,jobTitle,employeeId\n";
  for (int i = 0; i < n; ++i) {
    User u = user(i);
    csv += "s" + std::to_string(i) + "," + u.uid + "," + u.given + "," + u.sn + "," + u.mail + "," + u.title + "," +
           u.number + "\n";
  }
  write_file(dir / "users.csv", csv);
  write_file(dir / "bench.yaml", R"(version: 1
name: bench-file-to-ldap
source: { type: file, users: users.csv }
sink:
  type: ldap
  url: )" + slapd.url() + R"(
  bind_dn: )" + slapd.root_dn() + R"(
  bind_password: ${env:BENCH_LDAP_PASSWORD}
  base_dn: dc=example,dc=com
  user_dn: "uid={uid},ou=people,dc=example,dc=com"
state: { path: state.db }
users:
  match:
    - { target: uid, source: uid }
  mappings:
    - { target: uid, source: uid }
    - { target: cn, expression: 'Join(" ", [givenName], [surname])' }
    - { target: sn, source: surname }
    - { target: givenName, source: givenName }
    - { target: mail, source: mail }
    - { target: title, source: jobTitle }
    - { target: employeeNumber, source: employeeId }
  on_missing: disable
)");
  std::map<std::string, std::string> env{{"BENCH_LDAP_PASSWORD", slapd.root_password()}};
  double server0 = server_cpu(slapd), client0 = own_cpu(RUSAGE_CHILDREN);
  auto start = Clock::now();
  auto first = run_dirsync({"run", (dir / "bench.yaml").string()}, env);
  double t1 = seconds_since(start);
  double server1 = server_cpu(slapd) - server0, client1 = own_cpu(RUSAGE_CHILDREN) - client0;
  if (first.exit_code != 0) throw std::runtime_error("first run failed: " + first.all().substr(0, 2000));
  auto before = slapd.entry_csns();
  server0 = server_cpu(slapd);
  client0 = own_cpu(RUSAGE_CHILDREN);
  start = Clock::now();
  auto second = run_dirsync({"run", (dir / "bench.yaml").string()}, env);
  double t2 = seconds_since(start);
  double server2 = server_cpu(slapd) - server0, client2 = own_cpu(RUSAGE_CHILDREN) - client0;
  if (second.exit_code != 0) throw std::runtime_error("rerun failed: " + second.all().substr(0, 2000));
  auto after = slapd.entry_csns();
  std::size_t writes = after.size() == before.size() ? 0 : 1;
  for (const auto& [dn, csn] : after) writes += before[dn] == csn ? 0 : 1;
  std::printf("dirsync run, file -> ldap, first run:   %7.2f s  %8.0f users/s  cpu dirsync %.2f s + slapd %.2f s"
              "  (%zu people)\n",
              t1, n / t1, client1, server1, count_people(slapd));
  std::printf("dirsync run, no-change rerun:           %7.2f s  cpu dirsync %.2f s + slapd %.2f s"
              "  entries written: %zu\n",
              t2, client2, server2, writes);
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 100000;
  int rounds = argc > 2 ? std::max(0, std::atoi(argv[2])) : 3;  // 0: only the pipeline
  try {
    std::vector<Timing> add, sink1, sink64;
    for (int r = 0; r < rounds; ++r) {
      add.push_back(bench_ldapadd(n));
      sink64.push_back(bench_sink(n, 1000, 64));
      sink1.push_back(bench_sink(n, 1000, 1));
      std::printf("round %d: ldapadd %.2f s, sink depth 64 %.2f s, sink depth 1 %.2f s\n", r + 1, add.back().wall,
                  sink64.back().wall, sink1.back().wall);
      std::fflush(stdout);
    }
    if (rounds == 0) {
      bench_updates(n);
      bench_pipeline(n);
      return 0;
    }
    auto best = [](const std::vector<Timing>& v) {
      return *std::min_element(v.begin(), v.end(), [](const Timing& a, const Timing& b) { return a.wall < b.wall; });
    };
    Timing a = best(add), s64 = best(sink64), s1 = best(sink1);
    std::printf("best of %d, %d users:\n", rounds, n);
    std::printf("  ldapadd -f users.ldif      %7.2f s  %7.0f users/s  cpu %6.2f s\n", a.wall, n / a.wall, a.cpu);
    std::printf("  sink, depth 64 (default)   %7.2f s  %7.0f users/s  cpu %6.2f s  ratio %.2fx\n", s64.wall,
                n / s64.wall, s64.cpu, a.wall / s64.wall);
    std::printf("  sink, depth 1              %7.2f s  %7.0f users/s  cpu %6.2f s  ratio %.2fx\n", s1.wall,
                n / s1.wall, s1.cpu, a.wall / s1.wall);
    std::fflush(stdout);
    bench_updates(n);
    bench_pipeline(n);
  } catch (const std::exception& e) {
    std::cerr << "ldap_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
