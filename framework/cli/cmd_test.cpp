// `dirsync test FILE_test.yaml...` and `dirsync eval`.
#include "cli.hpp"
#include "testing/pipeline_test.hpp"

#include <fstream>
#include <sstream>

namespace dirsync::cli {

int cmd_test(Context& ctx) {
  int passed = 0, failed = 0;
  std::string text;
  for (const auto& file : ctx.options.args) {
    for (const auto& r : run_pipeline_tests(file)) {
      text += std::string(r.passed ? "PASS " : "FAIL ") + file + ": " + r.name + "\n";
      for (const auto& f : r.failures) text += "     " + f + "\n";
      (r.passed ? passed : failed)++;
    }
  }
  text += std::to_string(passed) + " passed, " + std::to_string(failed) + " failed\n";
  ctx.out(text);
  return failed == 0 ? 0 : 1;
}

int cmd_eval(Context& ctx) {
  Object sample;
  if (!ctx.options.object.empty()) {
    std::ifstream in(ctx.options.object, std::ios::binary);
    if (!in) throw Error(ErrorKind::config, ctx.options.object + ": error: cannot open sample object");
    std::stringstream ss;
    ss << in.rdbuf();
    Value v;
    try {
      v = parse_json(ss.str());
    } catch (const Error& e) {
      throw Error(ErrorKind::config, ctx.options.object + ": error: " + e.what());
    }
    if (!v.is_object()) throw Error(ErrorKind::config, ctx.options.object + ": error: the sample must be a JSON object");
    sample = std::move(v.as_object());
  }
  std::string text;
  if (!ctx.options.expression.empty()) {
    expr::Expression e;
    try {
      e = expr::Expression::parse(ctx.options.expression);
    } catch (const expr::ParseError& error) {
      throw Error(ErrorKind::config, "expression:1:" + std::to_string(error.offset() + 1) + ": error: " +
                                         error.what() + "\n  " + ctx.options.expression + "\n  " +
                                         std::string(error.offset(), ' ') + "^");
    }
    auto result = e.evaluate(sample);
    text = result ? to_json(*result) + "\n" : "(not written: IgnoreFlowIfNullOrEmpty)\n";
    ctx.out(text);
    return 0;
  }
  if (ctx.options.args.empty())
    throw Error(ErrorKind::config, "`dirsync eval` needs --expression TEXT or a pipeline file");
  PipelineConfig config = load_pipeline(ctx.options.args[0]);
  for (ObjectType type : {ObjectType::user, ObjectType::group}) {
    const ObjectPolicy& p = config.policy(type);
    if (!p.enabled) continue;
    bool in_scope = p.scope.matches(sample);
    text += std::string(to_string(type)) + "s: " + (in_scope ? "in scope" : "out of scope") + "\n";
    text += "  on create: " + to_json(Value(p.mapper.map(sample, true))) + "\n";
    text += "  on update: " + to_json(Value(p.mapper.map(sample, false))) + "\n";
  }
  ctx.out(text);
  return 0;
}

}  // namespace dirsync::cli
