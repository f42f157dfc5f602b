// dirsync-sim's Google module answers like the Directory API: the token
// endpoint's assertion checks, paging and bounds, the query subset,
// projections and Google's error body. The connector tests rely on these.

#include <catch2/catch.hpp>
#include <chrono>
#include <dirsync/http.hpp>
#include <dirsync/oauth.hpp>
#include <dirsync/value.hpp>
#include <sstream>

#include "google_fixture.hpp"
#include "support/sim_process.hpp"
#include "support/test_support.hpp"

using namespace dirsync;
using dirsync::test::SimProcess;
using dirsync::test::TempDir;

namespace {

const std::string kEmail = test::kGoogleTestEmail;
const std::string kUserScope = "https://www.googleapis.com/auth/admin.directory.user.readonly";
const std::string kGroupScope = "https://www.googleapis.com/auth/admin.directory.group.readonly";

std::string new_key_pem() { return test::new_google_test_key(); }

struct Sim {
  TempDir dir;
  std::string pem = new_key_pem();
  SimProcess sim;
  http::Client client;

  explicit Sim(std::vector<std::string> args) : sim(start(dir, pem, std::move(args))), client(options()) {}

  static http::ClientOptions options() {
    http::ClientOptions o;
    o.retry.max_attempts = 1;
    return o;
  }
  static std::vector<std::string> start(TempDir& dir, const std::string& pem, std::vector<std::string> args) {
    test::write_file(dir / "sa.json", test::google_key_json(pem));
    args.insert(args.end(), {"--google-service-account", (dir / "sa.json").string(), "--graph-users", "0",
                             "--graph-groups", "0"});
    return args;
  }

  static std::int64_t now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  /// Posts an assertion with these claims (JSON object members, no braces).
  http::Response token_with(const std::string& claims, const std::string& key_pem) {
    std::string jwt = http::sign_rs256_jwt(R"({"alg":"RS256","typ":"JWT"})", "{" + claims + "}", key_pem);
    http::Request r{"POST",
                    sim.url() + "/token",
                    {{"Content-Type", "application/x-www-form-urlencoded"}},
                    http::form_encode(
                        {{"grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"}, {"assertion", jwt}})};
    return client.send(r);
  }
  std::string claims(std::int64_t iat, std::int64_t exp, const std::string& aud, const std::string& sub,
                     const std::string& scope = kUserScope) {
    return R"("iss":")" + kEmail + R"(","scope":")" + scope + R"(","aud":")" + aud + R"(","iat":)" +
           std::to_string(iat) + R"(,"exp":)" + std::to_string(exp) +
           (sub.empty() ? "" : R"(,"sub":")" + sub + "\"");
  }

  std::string token() {
    http::Response r = token_with(claims(now(), now() + 3600, sim.url() + "/token", "admin@example.com",
                                         kUserScope + " " + kGroupScope),
                                  pem);
    REQUIRE(r.status == 200);
    return parse_json(r.body).as_object().find("access_token")->as_string();
  }

  http::Response get(const std::string& path_and_query, const std::string& bearer) {
    return client.send({"GET", sim.url() + path_and_query, {{"Authorization", "Bearer " + bearer}}, {}});
  }
};

std::string reason_of(const http::Response& r) {
  Value doc = parse_json(r.body);
  const Object& error = doc.as_object().find("error")->as_object();
  CHECK(error.find("code")->as_integer() == r.status);
  CHECK(error.find("message")->is_string());
  const Object& first = error.find("errors")->as_list().at(0).as_object();
  CHECK(first.find("domain")->is_string());
  return first.find("reason")->as_string();
}

std::string oauth_error(const http::Response& r) {
  Value doc = parse_json(r.body);
  return doc.as_object().find("error")->as_string() + ": " +
         doc.as_object().find("error_description")->as_string();
}

}  // namespace

TEST_CASE("the token endpoint verifies the assertion's signature and claims") {
  Sim s({"--google-users", "3", "--google-groups", "0"});
  std::string aud = s.sim.url() + "/token";
  auto now = Sim::now();
  CHECK(s.token_with(s.claims(now, now + 3600, aud, "admin@example.com"), s.pem).status == 200);

  http::Response r = s.token_with(s.claims(now, now + 3600, aud, "admin@example.com"), new_key_pem());
  CHECK(r.status == 400);
  CHECK(oauth_error(r) == "invalid_grant: Invalid JWT Signature.");
  r = s.token_with(s.claims(now, now + 3600, "https://oauth2.googleapis.com/token", "admin@example.com"),
                   s.pem);
  CHECK(oauth_error(r) == "invalid_grant: Invalid JWT: Failed audience check.");
  r = s.token_with(s.claims(now, now + 7200, aud, "admin@example.com"), s.pem);  // more than an hour
  CHECK(oauth_error(r).find("short-lived token") != std::string::npos);
  r = s.token_with(s.claims(now - 7200, now - 3600, aud, "admin@example.com"), s.pem);  // expired
  CHECK(oauth_error(r).find("iat and exp") != std::string::npos);
  r = s.token_with(s.claims(now + 3600, now + 4000, aud, "admin@example.com"), s.pem);  // from the future
  CHECK(r.status == 400);
  r = s.token_with(s.claims(now, now + 3600, aud, "nobody@example.com"), s.pem);
  CHECK(oauth_error(r) == "invalid_grant: Invalid email or User ID");

  // Without `sub` Google issues a token for the service account itself,
  // which is no admin: the API refuses it.
  r = s.token_with(s.claims(now, now + 3600, aud, ""), s.pem);
  REQUIRE(r.status == 200);
  std::string own = parse_json(r.body).as_object().find("access_token")->as_string();
  http::Response api = s.get("/admin/directory/v1/users?customer=my_customer", own);
  CHECK(api.status == 403);
  CHECK(reason_of(api) == "forbidden");
  CHECK(s.get("/admin/directory/v1/users?customer=my_customer", "forged").status == 401);
}

TEST_CASE("users.list pages with tokens absent on the last page and enforces its parameters") {
  Sim s({"--google-users", "25", "--google-groups", "0"});
  std::string t = s.token();
  std::string base = "/admin/directory/v1/users?customer=my_customer&maxResults=10";
  int pages = 0, users = 0;
  std::string url = base;
  for (;;) {
    http::Response r = s.get(url, t);
    REQUIRE(r.status == 200);
    ++pages;
    Value doc = parse_json(r.body);
    users += static_cast<int>(doc.as_object().find("users")->as_list().size());
    const Value* next = doc.as_object().find("nextPageToken");
    if (!next) break;
    url = base + "&pageToken=" + http::url_encode(next->as_string());
  }
  CHECK(pages == 3);
  CHECK(users == 25);

  http::Response r = s.get("/admin/directory/v1/users?maxResults=10", t);
  CHECK(r.status == 400);
  CHECK(reason_of(r) == "badRequest");
  CHECK(s.get("/admin/directory/v1/users?customer=my_customer&maxResults=501", t).status == 400);
  CHECK(s.get("/admin/directory/v1/users?customer=my_customer&maxResults=0", t).status == 400);
  CHECK(s.get("/admin/directory/v1/users?domain=example.com&maxResults=500", t).status == 200);
  CHECK(s.get("/admin/directory/v1/users?domain=other.example", t).status == 403);
  CHECK(s.get("/admin/directory/v1/groups?customer=my_customer&maxResults=201", t).status == 400);
  // A page token replayed with another query is refused.
  http::Response first = s.get(base, t);
  std::string token = parse_json(first.body).as_object().find("nextPageToken")->as_string();
  CHECK(s.get(base + "&query=isAdmin%3Dtrue&pageToken=" + http::url_encode(token), t).status == 400);
}

TEST_CASE("users.list understands a subset of the query grammar") {
  Sim s({"--google-users", "120", "--google-groups", "0"});
  std::string t = s.token();
  auto list = [&](const std::string& query) {
    http::Response r = s.get(
        "/admin/directory/v1/users?customer=my_customer&maxResults=500&query=" + http::url_encode(query), t);
    REQUIRE(r.status == 200);
    Value doc = parse_json(r.body);
    const Value* users = doc.as_object().find("users");
    return users ? users->as_list() : List{};
  };
  List sales = list("orgUnitPath=/Sales isSuspended=false");
  REQUIRE_FALSE(sales.empty());
  bool sub_ou = false;
  for (const Value& u : sales) {
    std::string ou = u.as_object().find("orgUnitPath")->as_string();
    CHECK((ou == "/Sales" || ou == "/Sales/EMEA"));
    sub_ou |= ou == "/Sales/EMEA";
    CHECK_FALSE(u.as_object().find("suspended")->as_bool());
  }
  CHECK(sub_ou);
  List admins = list("isAdmin=true");
  REQUIRE(admins.size() == 1);
  CHECK(admins[0].as_object().find("primaryEmail")->as_string() == "admin@example.com");
  CHECK(list("email:admi*").size() == 1);
  CHECK(list("orgUnitPath='/'").size() == 120);
  CHECK(s.get("/admin/directory/v1/users?customer=my_customer&query=shoeSize%3D9", t).status == 400);
}

TEST_CASE("projection and viewType change which fields a user has") {
  Sim s({"--google-users", "2", "--google-groups", "0"});
  std::string t = s.token();
  auto first_user = [&](const std::string& params) {
    http::Response r = s.get("/admin/directory/v1/users?customer=my_customer" + params, t);
    REQUIRE(r.status == 200);
    return parse_json(r.body).as_object().find("users")->as_list().at(0).as_object();
  };
  CHECK(first_user("").find("customSchemas") == nullptr);
  CHECK(first_user("&projection=full").find("customSchemas") != nullptr);
  Object custom = first_user("&projection=custom&customFieldMask=HR");
  CHECK(custom.find("customSchemas")->as_object().find("HR") != nullptr);
  CHECK(first_user("&projection=custom&customFieldMask=Other").find("customSchemas") == nullptr);
  CHECK(s.get("/admin/directory/v1/users?customer=my_customer&projection=custom", t).status == 400);
  Object pub = first_user("&viewType=domain_public");
  CHECK(pub.find("suspended") == nullptr);
  CHECK(pub.find("orgUnitPath") == nullptr);
  CHECK(pub.find("primaryEmail") != nullptr);
}

TEST_CASE("members.list lists nested groups, the customer and derived members") {
  Sim s({"--google-users", "40", "--google-groups", "3"});
  std::string t = s.token();
  http::Response groups = s.get("/admin/directory/v1/groups?customer=my_customer", t);
  REQUIRE(groups.status == 200);
  Value groups_doc = parse_json(groups.body);
  const List& g = groups_doc.as_object().find("groups")->as_list();
  REQUIRE(g.size() == 3);
  std::string outer = g[2].as_object().find("id")->as_string();
  std::string inner = g[1].as_object().find("id")->as_string();
  auto members = [&](const std::string& id, const std::string& extra) {
    http::Response r = s.get("/admin/directory/v1/groups/" + id + "/members?maxResults=200" + extra, t);
    REQUIRE(r.status == 200);
    return parse_json(r.body).as_object().find("members")->as_list();
  };
  List direct = members(outer, "");
  bool nested = false;
  for (const Value& m : direct)
    nested |=
        m.as_object().find("type")->as_string() == "GROUP" && m.as_object().find("id")->as_string() == inner;
  CHECK(nested);
  CHECK(members(outer, "&includeDerivedMembership=true").size() > direct.size());
  List owners = members(outer, "&roles=OWNER");
  for (const Value& m : owners) CHECK(m.as_object().find("role")->as_string() == "OWNER");
  bool customer = false;
  for (const Value& m : members(g[0].as_object().find("id")->as_string(), ""))
    customer |= m.as_object().find("type")->as_string() == "CUSTOMER";
  CHECK(customer);
  CHECK(s.get("/admin/directory/v1/groups/nope/members", t).status == 404);
  // A token without a group scope cannot list groups.
  http::Response narrow = s.token_with(
      s.claims(Sim::now(), Sim::now() + 3600, s.sim.url() + "/token", "admin@example.com"), s.pem);
  std::string user_only = parse_json(narrow.body).as_object().find("access_token")->as_string();
  http::Response denied = s.get("/admin/directory/v1/groups?customer=my_customer", user_only);
  CHECK(denied.status == 403);
  CHECK(reason_of(denied) == "insufficientPermissions");
}
