// The archbench command: each subcommand wires library calls together, nothing more.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "analysis/analysis.h"
#include "networks/networks.h"
#include "reports/reports.h"

namespace {

using namespace archbench;

// A spec argument is a file path, or the name of a zoo network ("resnet50").
std::filesystem::path resolve_spec(const std::string& arg) {
  std::filesystem::path p(arg);
  if (std::filesystem::exists(p)) return p;
  std::filesystem::path zoo = zoo_dir() / (arg + ".yaml");
  if (p.extension() != ".yaml" && std::filesystem::exists(zoo)) return zoo;
  throw SpecError(
      {arg, 0, 0}, "",
      fmt::format("no such spec file, and no zoo network of that name (the zoo is in {})", zoo_dir().string()));
}

struct AnalyzeArgs {
  std::vector<std::string> specs;
  std::string input, format = "table", out;
  bool zoo = false, include_train_only = false;
};

void emit(const std::string& text, const std::string& out) {
  if (out.empty() || out == "-")
    std::fwrite(text.data(), 1, text.size(), stdout);
  else
    write_file_atomically(out, text);
}

int analyze(const AnalyzeArgs& args, bool compare) {
  Format format = parse_format(args.format);
  LoadOptions options;
  options.include_train_only = args.include_train_only;
  if (!args.input.empty()) options.input = parse_shape(args.input);
  std::vector<std::string> specs = args.specs;
  if (args.zoo || (compare && specs.empty())) {
    if (!specs.empty()) throw std::invalid_argument("give spec files or --zoo, not both");
    specs = zoo_networks();
    if (specs.empty()) throw std::invalid_argument(fmt::format("no specs found in {}", zoo_dir().string()));
  }
  if (specs.empty()) throw std::invalid_argument("analyze needs a spec (a file or a zoo name) or --zoo");
  if (specs.size() == 1 && !compare && !args.zoo) {
    Graph g = load_spec(resolve_spec(specs[0]), options);
    emit(render_analysis(g, analyse(g), format), args.out);
    return 0;
  }
  std::vector<AnalysedNetwork> nets;
  for (const std::string& s : specs) {
    Graph g = load_spec(resolve_spec(s), options);
    NetworkAnalysis a = analyse(g);
    nets.push_back({std::move(g), std::move(a)});
  }
  emit(render_comparison(nets, format), args.out);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"archbench: describe CNN architectures in YAML, analyse them, run and benchmark them."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("archbench 0.1.0"));

  AnalyzeArgs a;
  auto add_common = [&](CLI::App* cmd) {
    cmd->add_option("--input", a.input, "input shape N,C,H,W (overrides the spec's)");
    cmd->add_flag("--include-train-only", a.include_train_only, "keep branches marked train_only");
    cmd->add_option("--format", a.format, "table | json | csv | markdown")->capture_default_str();
    cmd->add_option("-o,--out", a.out, "write to this file (whole or not at all) instead of stdout");
  };
  CLI::App* analyze_cmd =
      app.add_subcommand("analyze", "per-layer shapes, MACs/FLOPs, params, memory, receptive field");
  analyze_cmd->add_option("spec", a.specs, "spec file(s) or zoo network name(s)");
  analyze_cmd->add_flag("--zoo", a.zoo, "analyse every zoo network and print one row each");
  add_common(analyze_cmd);
  CLI::App* compare_cmd = app.add_subcommand("compare", "one row per network, side by side (default: the zoo)");
  compare_cmd->add_option("spec", a.specs, "spec file(s) or zoo network name(s)");
  add_common(compare_cmd);
  CLI::App* zoo_cmd = app.add_subcommand("zoo", "list the zoo's networks");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*analyze_cmd) return analyze(a, false);
    if (*compare_cmd) return analyze(a, true);
    if (*zoo_cmd) {
      for (const auto& n : zoo_networks()) fmt::print("{}\n", n);
      return 0;
    }
  } catch (const SpecError& e) {
    fmt::print(stderr, "{}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "archbench: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
