#!/usr/bin/env node
// An independent SCIM 2.0 service provider for DirSync's REST sink tests.
//
// Protocol work (schema validation, filters, PATCH semantics, error bodies) is
// SCIMMY's, through scimmy-routers: DirSync's own SCIM code is not involved, so
// a test against this server checks the sink against someone else's reading of
// RFC 7643/7644. This file adds only what SCIMMY leaves to the application: an
// in-memory store, bearer-token auth, uniqueness of userName, members that must
// exist, and knobs that imitate restrictive SaaS providers (Miro).
//
// Usage: node server.js [--host 127.0.0.1] [--port 0] [--token T] [--base-path /scim/v2]
//                       [--groups-update-only] [--max-patch-members N]
//                       [--seed-groups groups.json] [--seed-users users.json]
// The token may come from SCIM_APP_TOKEN instead of --token. Once listening, the
// server prints exactly one line to stdout, `listening 127.0.0.1:PORT`, and
// nothing else there: a parent that reads only that line must never block it.
//
// Inspection, with the same bearer token (outside the SCIM base path):
//   GET    /_admin/dump       {"Users":[...],"Groups":[...]}, every resource as SCIM JSON
//   GET    /_admin/requests   every request since start (or the last DELETE): method,
//                             path, query, status, body; the SCIM requests only
//   DELETE /_admin/requests   forget them
//   POST   /_admin/groups     create a group even with --groups-update-only (seeding)
//   POST   /_admin/users      create a user (seeding, e.g. one to be matched)
import crypto from "node:crypto";
import fs from "node:fs";
import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";

function parseArgs(argv) {
  const options = {
    host: "127.0.0.1",
    port: 0,
    token: process.env.SCIM_APP_TOKEN ?? "",
    basePath: "/scim/v2",
    groupsUpdateOnly: false,
    maxPatchMembers: 0,
    seedGroups: null,
    seedUsers: null,
  };
  const valueOf = (i, name) => {
    if (i + 1 >= argv.length) fail(`option ${name} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    switch (arg) {
      case "--host": options.host = valueOf(i++, arg); break;
      case "--port": options.port = Number.parseInt(valueOf(i++, arg), 10); break;
      case "--token": options.token = valueOf(i++, arg); break;
      case "--base-path": options.basePath = valueOf(i++, arg).replace(/\/$/, ""); break;
      case "--groups-update-only": options.groupsUpdateOnly = true; break;
      case "--max-patch-members": options.maxPatchMembers = Number.parseInt(valueOf(i++, arg), 10); break;
      case "--seed-groups": options.seedGroups = valueOf(i++, arg); break;
      case "--seed-users": options.seedUsers = valueOf(i++, arg); break;
      default: fail(`unknown option '${arg}'`);
    }
  }
  if (!options.token) fail("no bearer token: pass --token or set SCIM_APP_TOKEN");
  if (!Number.isInteger(options.port) || options.port < 0) fail("--port must be an integer >= 0");
  if (!Number.isInteger(options.maxPatchMembers) || options.maxPatchMembers < 0)
    fail("--max-patch-members must be an integer >= 0");
  return options;
}

function fail(message) {
  process.stderr.write(`scim-app-server: ${message}\n`);
  process.exit(2);
}

const options = parseArgs(process.argv.slice(2));

// ---- store -----------------------------------------------------------------

const store = { Users: new Map(), Groups: new Map() };

function scimError(status, scimType, detail) {
  return new SCIMMY.Types.Error(status, scimType, detail);
}

function plain(instance) {
  // SCIMMY hands over schema-class instances; the store keeps plain JSON so a
  // dump shows exactly what a client would read back.
  const copy = JSON.parse(JSON.stringify(instance));
  delete copy.id;
  delete copy.meta;
  return copy;
}

function save(kind, id, instance) {
  const now = new Date().toISOString();
  const existing = id ? store[kind].get(id) : undefined;
  if (id && !existing) throw scimError(404, null, `Resource ${id} not found`);
  const record = {
    ...plain(instance),
    id: id ?? crypto.randomUUID(),
    meta: { created: existing?.meta.created ?? now, lastModified: now },
  };
  store[kind].set(record.id, record);
  return record;
}

function checkUniqueUserName(user, id) {
  const name = String(user.userName ?? "").toLowerCase();
  for (const other of store.Users.values()) {
    // userName is caseExact=false in RFC 7643, so uniqueness ignores case too.
    if (other.id !== id && String(other.userName).toLowerCase() === name)
      throw scimError(409, "uniqueness", `userName '${user.userName}' is already taken by ${other.id}`);
  }
}

function checkMembersExist(group) {
  for (const member of group.members ?? []) {
    if (!store.Users.has(member.value) && !store.Groups.has(member.value))
      throw scimError(400, "invalidValue", `member '${member.value}' is neither a user nor a group here`);
  }
}

function egress(kind) {
  return (resource) => {
    if (resource.id) {
      const found = store[kind].get(resource.id);
      if (!found) throw scimError(404, null, `Resource ${resource.id} not found`);
      return found;
    }
    const all = [...store[kind].values()];
    return resource.filter ? resource.filter.match(all) : all;
  };
}

function degress(kind) {
  return (resource) => {
    if (!store[kind].delete(resource.id)) throw scimError(404, null, `Resource ${resource.id} not found`);
    if (kind === "Users") {
      for (const group of store.Groups.values())
        group.members = (group.members ?? []).filter((m) => m.value !== resource.id);
    }
  };
}

SCIMMY.Resources.declare(SCIMMY.Resources.User.extend(SCIMMY.Schemas.EnterpriseUser, false))
  .ingress((resource, instance) => {
    checkUniqueUserName(instance, resource.id);
    return save("Users", resource.id, instance);
  })
  .egress(egress("Users"))
  .degress(degress("Users"));

SCIMMY.Resources.declare(SCIMMY.Resources.Group)
  .ingress((resource, instance) => {
    checkMembersExist(instance);
    return save("Groups", resource.id, instance);
  })
  .egress(egress("Groups"))
  .degress(degress("Groups"));

// Seeding may fix ids, so that a seed file of groups can name seeded users.
async function create(Resource, kind, item) {
  const written = await new Resource().write(item);
  if (typeof item?.id !== "string" || !item.id) return written;
  if (store[kind].has(item.id)) throw scimError(409, "uniqueness", `id '${item.id}' is already taken`);
  const record = store[kind].get(written.id);
  store[kind].delete(written.id);
  record.id = item.id;
  store[kind].set(record.id, record);
  return new Resource.schema(record, "out", Resource.basepath());
}

async function seed(file, Resource, kind) {
  if (!file) return;
  let items;
  try {
    items = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (ex) {
    fail(`cannot read seed file ${file}: ${ex.message}`);
  }
  if (!Array.isArray(items)) fail(`seed file ${file}: expected a JSON array`);
  for (const item of items) {
    try {
      await create(Resource, kind, item);
    } catch (ex) {
      fail(`seed file ${file}: ${ex.message}`);
    }
  }
}

// ---- HTTP ------------------------------------------------------------------

const app = express();
app.disable("x-powered-by");

const requests = [];
const bearer = `Bearer ${options.token}`;
const authorized = (req) => req.header("Authorization") === bearer;

function sendError(res, status, scimType, detail) {
  res.status(status).type("application/scim+json").send(new SCIMMY.Messages.Error({ status, scimType, detail }));
}

// The log is written when the answer is known, so a test sees the status too,
// and before parsing, so that a body that does not parse is logged as well.
app.use(options.basePath, (req, res, next) => {
  const entry = { method: req.method, path: req.path, query: req.query };
  res.on("finish", () => {
    // body-parser marks a parsed body with _body; otherwise req.body is a placeholder {}.
    entry.body = req._body ? req.body : null;
    entry.status = res.statusCode;
    requests.push(entry);
  });
  next();
});
app.use(express.json({ type: ["application/scim+json", "application/json"], limit: "10mb" }));

// Provider restrictions run before SCIMMY so that a refused request changes nothing.
app.use(options.basePath, (req, res, next) => {
  if (!authorized(req)) return next();  // SCIMMY answers 401 itself
  const groupPath = /^\/Groups(\/[^/]+)?\/?$/.exec(req.path);
  if (options.groupsUpdateOnly && groupPath) {
    const creating = req.method === "POST" && !groupPath[1];
    const deleting = req.method === "DELETE" && groupPath[1];
    if (creating || deleting)
      return sendError(res, 403, null, `groups can only be updated here: ${req.method} ${req.path} is not allowed`);
  }
  if (options.maxPatchMembers > 0 && req.method === "PATCH" && groupPath?.[1]) {
    const count = memberChanges(req.body, store.Groups.get(groupPath[1].slice(1)));
    if (count > options.maxPatchMembers)
      return sendError(res, 400, "invalidValue",
        `PATCH changes ${count} members; at most ${options.maxPatchMembers} per request are allowed`);
  }
  next();
});

// How many memberships one PatchOp adds, removes or replaces, counted the way a
// provider with a per-request limit would: each member value named, and for a
// path filter (members[value eq "x"]) or a bare "remove members", what it hits.
function memberChanges(body, group) {
  let count = 0;
  for (const op of Array.isArray(body?.Operations) ? body.Operations : []) {
    const path = typeof op?.path === "string" ? op.path.trim() : "";
    const values = (v) => (Array.isArray(v) ? v.length : v ? 1 : 0);
    if (/^members$/i.test(path)) {
      count += op.value !== undefined ? values(op.value) : (group?.members?.length ?? 0);
    } else if (/^members\[/i.test(path)) {
      count += 1;
    } else if (!path && op?.value && typeof op.value === "object") {
      count += values(op.value.members);
    }
  }
  return count;
}

app.use(
  options.basePath,
  new SCIMMYRouters({
    type: "bearer",
    docUri: "https://example.invalid/scim-app-server",
    handler: (req) => {
      if (!authorized(req)) throw new Error("a valid bearer token is required");
      return "scim-app-server-admin";
    },
  }),
);

const admin = express.Router();
admin.use((req, res, next) =>
  authorized(req) ? next() : sendError(res, 401, null, "a valid bearer token is required"));
admin.get("/dump", (req, res) => {
  const out = (Resource, kind) =>
    [...store[kind].values()].map((r) => new Resource.schema(r, "out", Resource.basepath()));
  res.json({ Users: out(SCIMMY.Resources.User, "Users"), Groups: out(SCIMMY.Resources.Group, "Groups") });
});
admin.get("/requests", (req, res) => res.json(requests));
admin.delete("/requests", (req, res) => {
  requests.length = 0;
  res.status(204).end();
});
const adminCreate = (Resource, kind) => async (req, res) => {
  try {
    res.status(201).json(await create(Resource, kind, req.body));
  } catch (ex) {
    sendError(res, ex.status ?? 500, ex.scimType ?? null, ex.message);
  }
};
admin.post("/groups", adminCreate(SCIMMY.Resources.Group, "Groups"));
admin.post("/users", adminCreate(SCIMMY.Resources.User, "Users"));
app.use("/_admin", admin);

app.use((req, res) => sendError(res, 404, null, `no such endpoint: ${req.method} ${req.path}`));
// Errors outside SCIMMY's routers, such as a body that is not JSON, still get a SCIM error body.
app.use((ex, req, res, next) => {
  const status = Number.isInteger(ex.status) && ex.status >= 400 && ex.status < 600 ? ex.status : 500;
  req.body = null;  // what did not parse is not logged as an empty object
  sendError(res, status, status === 400 ? "invalidSyntax" : null, ex.message);
});

// Users before groups: seeded groups may name seeded users as members.
SCIMMY.Resources.User.basepath(options.basePath);
SCIMMY.Resources.Group.basepath(options.basePath);
await seed(options.seedUsers, SCIMMY.Resources.User, "Users");
await seed(options.seedGroups, SCIMMY.Resources.Group, "Groups");

const server = app.listen(options.port, options.host, () => {
  const { address, port } = server.address();
  process.stdout.write(`listening ${address}:${port}\n`);
});
server.on("error", (ex) => fail(`cannot listen on ${options.host}:${options.port}: ${ex.message}`));
// Keep-alive connections from a client pool must not outlive a test's SIGTERM.
process.on("SIGTERM", () => {
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
});
