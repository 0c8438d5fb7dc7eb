// cvmsim trace: read platform event traces (docs/cli.md "trace", docs/formats.md "Event
// trace"): summarise one, draw it as a sequence diagram, fingerprint it, or find where two
// runs part.
#include <fmt/core.h>

#include <filesystem>
#include <system_error>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/output.h"
#include "common/file_io.h"
#include "trace/diff.h"
#include "trace/digest.h"
#include "trace/reader.h"
#include "trace/sequence_svg.h"
#include "trace/summary.h"

namespace cvmsim::cli {
namespace {

struct TraceOptions {
  std::string file;
  std::string other;  // diff: trace B
  std::string out;    // diagram: the SVG
  std::size_t max_rows = 400;
  OutputFormat format = OutputFormat::text;
};

void show(const TraceOptions& o) {
  const auto events = trace::read_trace(o.file);
  const trace::Summary summary = trace::summarise(events);
  const std::string fingerprint = trace::digest(events);
  if (o.format == OutputFormat::json) {
    nlohmann::json doc = trace::summary_to_json(summary);
    doc["file"] = o.file;
    doc["digest"] = fingerprint;
    print_json(doc);
    return;
  }
  fmt::print("trace {}: {}digest {}\n", o.file, trace::format_summary_text(summary), fingerprint);
}

// Writing the diagram over its own trace would lose the trace; paths can differ and still
// name one file (links, "./"), so ask the file system.
void refuse_same_file(const std::string& in, const std::string& out) {
  std::error_code ec;
  if (std::filesystem::equivalent(in, out, ec) && !ec) {
    throw CLI::ValidationError("--out",
                               fmt::format("{} is the input trace; choose another file", out));
  }
}

void diagram(const TraceOptions& o) {
  refuse_same_file(o.file, o.out);
  const auto events = trace::read_trace(o.file);
  trace::SvgOptions options;
  options.max_rows = o.max_rows;
  options.title = fmt::format("{} ({} events)", std::filesystem::path(o.file).filename().string(),
                              events.size());
  write_text_file_atomic(o.out, trace::render_sequence_svg(events, options));
  if (o.format == OutputFormat::json) {
    print_json({{"file", o.file}, {"svg", o.out}, {"events", events.size()}});
  } else {
    fmt::print("{}: sequence diagram of {} events\n", o.out, events.size());
  }
}

void digest(const TraceOptions& o) {
  const auto events = trace::read_trace(o.file);
  const std::string fingerprint = trace::digest(events);
  if (o.format == OutputFormat::json) {
    print_json({{"file", o.file}, {"events", events.size()}, {"digest", fingerprint}});
  } else {
    fmt::print("{}  {}\n", fingerprint, o.file);
  }
}

void diff(const TraceOptions& o) {
  const auto a = trace::read_trace(o.file);
  const auto b = trace::read_trace(o.other);
  const auto divergence = trace::first_divergence(a, b);
  if (!divergence) {
    const std::string fingerprint = trace::digest(a);
    if (o.format == OutputFormat::json) {
      print_json({{"identical", true},
                  {"a_file", o.file},
                  {"b_file", o.other},
                  {"events", a.size()},
                  {"digest", fingerprint}});
    } else {
      fmt::print("no divergence: {} events identical (digest {})\n", a.size(), fingerprint);
    }
    return;
  }
  if (o.format == OutputFormat::json) {
    nlohmann::json doc = trace::divergence_to_json(*divergence, a, b);
    doc["a_file"] = o.file;
    doc["b_file"] = o.other;
    print_json(doc);
  } else {
    fmt::print("A = {}\nB = {}\n{}", o.file, o.other, trace::format_divergence(*divergence, a, b));
  }
  fmt::print(stderr, "cvmsim: trace diff: the traces diverge at event {} (exit code {})\n",
             divergence->index, static_cast<int>(kExitExpectation));
  throw ExitWith{kExitExpectation};
}

}  // namespace

void register_trace_commands(CLI::App& app) {
  CLI::App* group = app.add_subcommand("trace", "Read platform event traces (Chrome Trace JSON)");
  group->require_subcommand(1);

  auto show_o = std::make_shared<TraceOptions>();
  CLI::App* show_cmd = group->add_subcommand(
      "show", "Summarise a trace: events per category, name, actor and VM; refusals; digest");
  show_cmd->add_option("FILE", show_o->file, "Trace file")->required();
  add_output_option(*show_cmd, show_o->format);
  show_cmd->callback([show_o] { show(*show_o); });

  auto diagram_o = std::make_shared<TraceOptions>();
  CLI::App* diagram_cmd =
      group->add_subcommand("diagram", "Draw a trace as an SVG sequence diagram");
  diagram_cmd->add_option("FILE", diagram_o->file, "Trace file")->required();
  diagram_cmd->add_option("--out", diagram_o->out, "The SVG file to write")->required();
  diagram_cmd
      ->add_option("--max-rows", diagram_o->max_rows,
                   "Rows to draw; later events are summed up in one row")
      ->check(CLI::Range(std::size_t{1}, trace::kMaxSvgRows))
      ->default_str("400");
  add_output_option(*diagram_cmd, diagram_o->format);
  diagram_cmd->callback([diagram_o] { diagram(*diagram_o); });

  auto diff_o = std::make_shared<TraceOptions>();
  CLI::App* diff_cmd = group->add_subcommand(
      "diff", "Find the first event where two traces differ (exit 5 when they do)");
  diff_cmd->add_option("A", diff_o->file, "First trace")->required();
  diff_cmd->add_option("B", diff_o->other, "Second trace")->required();
  add_output_option(*diff_cmd, diff_o->format);
  diff_cmd->callback([diff_o] { diff(*diff_o); });

  auto digest_o = std::make_shared<TraceOptions>();
  CLI::App* digest_cmd =
      group->add_subcommand("digest", "Print the SHA-256 digest of a trace's events");
  digest_cmd->add_option("FILE", digest_o->file, "Trace file")->required();
  add_output_option(*digest_cmd, digest_o->format);
  digest_cmd->callback([digest_o] { digest(*digest_o); });
}

}  // namespace cvmsim::cli
