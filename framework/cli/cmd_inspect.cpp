// `dirsync validate`, `runs`, `plugins` and `test-connection`.
#include "cli.hpp"
#include "state/state_store.hpp"

namespace dirsync::cli {

int cmd_validate(Context& ctx) {
  PipelineHost host(ctx.options.args[0], ctx.options.host, ctx.logger, ctx.redactor);
  const auto& c = host.config();
  std::string text = c.file.string() + ": valid pipeline '" + c.name + "'\n";
  text += "  source: " + c.source.type + " (" + host.source_plugin().file.string() + ")\n";
  text += "  sink:   " + c.sink.type + " (" + host.sink_plugin().file.string() + ")\n";
  for (ObjectType t : {ObjectType::user, ObjectType::group}) {
    const ObjectPolicy& p = c.policy(t);
    if (!p.enabled) continue;
    text += "  " + std::string(to_string(t)) + "s: " + std::to_string(p.mapper.mappings().size()) +
            " attribute mappings, " + std::to_string(p.match.size()) + " matching keys, scope " +
            (p.scope.empty() ? "all objects" : "filtered") + "\n";
  }
  ctx.out(text);
  return 0;
}

int cmd_runs(Context& ctx) {
  PipelineHost host(ctx.options.args[0], ctx.options.host, ctx.logger, ctx.redactor);
  StateStore state(host.config().state_path, host.config().name);
  auto runs = state.runs(static_cast<int>(ctx.options.limit));
  std::string text;
  if (ctx.options.json) {
    for (const auto& r : runs) {
      Object o{{"id", Value(r.id)},
               {"pipeline", Value(r.pipeline)},
               {"started_at", Value(r.started_at)},
               {"finished_at", Value(r.finished_at)},
               {"mode", Value(r.mode)},
               {"status", Value(r.status)},
               {"processed", Value(r.counts.processed)},
               {"created", Value(r.counts.created)},
               {"updated", Value(r.counts.updated)},
               {"disabled", Value(r.counts.disabled)},
               {"deleted", Value(r.counts.deleted)},
               {"skipped", Value(r.counts.skipped)},
               {"failed", Value(r.counts.failed)},
               {"error", Value(r.error)},
               {"note", Value(r.note)}};
      if (ctx.options.errors) {
        List errors;
        for (const auto& e : state.run_errors(r.id, 1000))
          errors.emplace_back(Object{{"object_type", Value(e.object_type)},
                                     {"source_id", Value(e.source_id)},
                                     {"operation", Value(e.operation)},
                                     {"message", Value(e.message)}});
        o.set("errors", Value(std::move(errors)));
      }
      text += to_json(Value(std::move(o))) + "\n";
    }
  } else {
    char line[512];
    std::snprintf(line, sizeof line, "%-5s %-20s %-11s %-8s %9s %8s %8s %8s %8s %8s %6s\n", "RUN", "STARTED", "MODE",
                  "STATUS", "PROCESSED", "CREATED", "UPDATED", "DISABLED", "DELETED", "SKIPPED", "FAILED");
    text += line;
    for (const auto& r : runs) {
      std::snprintf(line, sizeof line, "%-5lld %-20s %-11s %-8s %9lld %8lld %8lld %8lld %8lld %8lld %6lld\n",
                    (long long)r.id, r.started_at.c_str(), r.mode.c_str(), r.status.c_str(),
                    (long long)r.counts.processed, (long long)r.counts.created, (long long)r.counts.updated,
                    (long long)r.counts.disabled, (long long)r.counts.deleted, (long long)r.counts.skipped,
                    (long long)r.counts.failed);
      text += line;
      if (!r.error.empty()) text += "      error: " + r.error + "\n";
      if (!r.note.empty()) text += "      note: " + r.note + "\n";
      if (ctx.options.errors)
        for (const auto& e : state.run_errors(r.id, 100))
          text += "      " + e.operation + " " + e.object_type + " " + e.source_id + ": " + e.message + "\n";
    }
  }
  ctx.out(text);
  return 0;
}

int cmd_plugins(Context& ctx) {
  auto registry = PluginRegistry::scan(PluginRegistry::default_dirs(ctx.options.host.plugin_dirs));
  std::string text;
  if (ctx.options.json) {
    for (const auto& p : registry.plugins()) {
      const auto& d = *p->descriptor;
      List fields;
      for (const auto& f : d.schema)
        fields.emplace_back(Object{{"key", Value(f.key)},
                                   {"type", Value(std::string(to_string(f.type)))},
                                   {"required", Value(f.required)},
                                   {"secret", Value(f.secret)},
                                   {"default", Value(f.default_value)},
                                   {"doc", Value(f.doc)}});
      text += to_json(Value(Object{{"name", Value(d.name)},
                                   {"kind", Value(std::string(to_string(d.kind)))},
                                   {"version", Value(d.version)},
                                   {"abi", Value(std::int64_t(d.abi_version))},
                                   {"file", Value(p->file.string())},
                                   {"summary", Value(d.summary)},
                                   {"config", Value(std::move(fields))}})) +
              "\n";
    }
  } else {
    for (const auto& p : registry.plugins()) {
      const auto& d = *p->descriptor;
      text += d.name + "  " + std::string(to_string(d.kind)) + "  v" + d.version + "  " + p->file.string() + "\n";
      if (!d.summary.empty()) text += "    " + d.summary + "\n";
      for (const auto& f : d.schema) {
        text += "    " + f.key + " (" + std::string(to_string(f.type)) + (f.required ? ", required" : "") +
                (f.secret ? ", secret" : "") + (f.default_value.empty() ? "" : ", default " + f.default_value) +
                ")  " + f.doc + "\n";
      }
    }
    if (registry.plugins().empty()) {
      text += "no plugins found; searched:";
      for (const auto& d : registry.dirs()) text += " " + d.string();
      text += "\n";
    }
  }
  for (const auto& problem : registry.problems()) ctx.logger->warn("refused {}", problem);
  ctx.out(text);
  return 0;
}

int cmd_test_connection(Context& ctx) {
  PipelineHost host(ctx.options.args[0], ctx.options.host, ctx.logger, ctx.redactor);
  std::string text;
  int code = 0;
  auto check = [&](const std::string& what, const auto& make) {
    try {
      auto plugin = make();
      for (const auto& line : plugin->test_connection()) text += "  ok  " + what + ": " + line + "\n";
    } catch (const Error& e) {
      text += "  FAIL " + what + ": " + std::string(e.what()) + "\n";
      if (code == 0) code = exit_code_for(e.kind());
    }
  };
  check("source " + host.config().source.type, [&] { return host.make_source(); });
  check("sink " + host.config().sink.type, [&] { return host.make_sink(); });
  ctx.out(text);
  return code;
}

}  // namespace dirsync::cli
