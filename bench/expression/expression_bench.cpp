// Evaluates a 10-mapping, 3-filter pipeline (the issue's performance target:
// >= 1,000,000 objects/s on one core) over Graph-shaped users held in
// memory, so that only scoping and mapping are measured.
//
//   bench_expression [OBJECTS] [ROUNDS]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include "expression/expression.hpp"
#include "mapping/attribute_mapping.hpp"
#include "scope/scope_filter.hpp"

using namespace dirsync;

namespace {

mapping::AttributeMapping direct(const char* target, const char* source) {
  mapping::AttributeMapping m;
  m.target = target;
  m.kind = mapping::Kind::direct;
  m.source = source;
  return m;
}

mapping::AttributeMapping expression(const char* target, const char* text) {
  mapping::AttributeMapping m;
  m.target = target;
  m.kind = mapping::Kind::expression;
  m.expression = expr::Expression::parse(text);
  return m;
}

const char* kDepartments[] = {"Sales", "Support", "Engineering", "Finance", "Marketing"};
const char* kGiven[] = {"Ann", "Zoë", "José", "Björn", "Li", "Oluwaseun", "Marie-Claire"};
const char* kSurnames[] = {"Lee", "Müller", "Núñez", "Østergård", "Smith", "Kowalczyk", "O'Brien"};

Object user(std::size_t i) {
  std::string n = std::to_string(i);
  std::string given = kGiven[i % 7], surname = kSurnames[(i / 7) % 7];
  std::string upn = "user" + n + "@contoso.com";
  Object o{
      {"id", "00aa00aa-bb11-cc22-dd33-" + std::string(12 - std::min<std::size_t>(12, n.size()), '0') + n},
      {"displayName", given + " " + surname},
      {"givenName", given},
      {"surname", surname},
      {"userPrincipalName", upn},
      {"accountEnabled", i % 10 != 0},
      {"department", kDepartments[i % 5]},
      {"jobTitle", i % 4 == 0 ? Value() : Value("Engineer")},
      {"employeeId", std::to_string(500 + i % 2000)},
      {"officeLocation", "Building " + std::to_string(i % 40)},
      {"businessPhones", List{"+1 555 0100"}},
  };
  if (i % 3 != 0) o.set("mail", given + "." + surname + "@contoso.com");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t objects = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100000;
  int rounds = argc > 2 ? std::atoi(argv[2]) : 10;

  mapping::Mapper mapper({
      direct("display_name", "displayName"),
      direct("office", "officeLocation"),
      expression("email", "Coalesce([mail], [userPrincipalName])"),
      expression("full_name", R"(Join(" ", [givenName], [surname]))"),
      expression("login", "ToLower([userPrincipalName])"),
      expression("team",
                 R"(Switch([department], "Other", "Sales", "S", "Support", "T", "Engineering", "E"))"),
      expression("state", R"(IIF([accountEnabled] = "True", "active", "inactive"))"),
      expression("alias", "Append(Mid([givenName], 1, 1), [surname])"),
      expression("ascii_surname", "NormalizeDiacritics([surname])"),
      expression("nick", R"(Replace([userPrincipalName], "@contoso.com", , , "", , ))"),
  });
  using scope::Clause;
  auto filter = scope::ScopeFilter::compile({
      {Clause{"accountEnabled", "IS TRUE", {}, false, {}},
       Clause{"department", "EQUALS", List{"Sales", "Support"}, false, {}}},
      {Clause{"userPrincipalName", "ENDS_WITH", "@contoso.com", true, {}},
       Clause{"jobTitle", "IS NOT NULL", {}, false, {}}},
      {Clause{"employeeId", "Greater_Than", 1000, false, {}}},
  });

  std::vector<Object> users;
  users.reserve(objects);
  for (std::size_t i = 0; i < objects; ++i) users.push_back(user(i));

  std::size_t in_scope = 0, attributes = 0;
  // CPU time of this thread as well as wall time: on a shared machine the
  // wall clock also counts the time other processes held the core.
  timespec cpu0{}, cpu1{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu0);
  auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < rounds; ++r) {
    for (const Object& u : users) {
      // Every object is evaluated in full, in scope or not, so the number
      // is the cost of the whole pipeline per object.
      in_scope += filter.matches(u);
      attributes += mapper.map(u, false).size();
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu1);
  double cpu = static_cast<double>(cpu1.tv_sec - cpu0.tv_sec) +
               static_cast<double>(cpu1.tv_nsec - cpu0.tv_nsec) * 1e-9;
  double total = static_cast<double>(objects) * rounds;
  std::printf("objects: %.0f  in scope: %zu  attributes: %zu\n", total, in_scope, attributes);
  std::printf("scope + 10 mappings, wall: %.2f s, %.0f objects/s, %.0f ns/object\n", seconds, total / seconds,
              seconds * 1e9 / total);
  std::printf("scope + 10 mappings, cpu:  %.2f s, %.0f objects/s, %.0f ns/object\n", cpu, total / cpu,
              cpu * 1e9 / total);
  return 0;
}
