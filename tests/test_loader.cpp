#include <fmt/format.h>
#include <boost/test/unit_test.hpp>
#include <fstream>
#include <sstream>

#include "helpers.h"
#include "networks/ops.h"
#include "networks/yaml_config.h"

using namespace archbench;
using namespace archbench::test;

namespace {
std::vector<std::string> names(const Graph& g) {
  std::vector<std::string> out;
  for (size_t i = 1; i < g.layers.size(); ++i) out.push_back(g.layers[i].name);
  return out;
}
std::vector<std::string> inputs_of(const Graph& g, const std::string& name) {
  std::vector<std::string> out;
  for (int j : layer(g, name).inputs) out.push_back(g.layers[j].name);
  return out;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(loader)

BOOST_AUTO_TEST_CASE(layers_chain_sequentially_and_merge_by_name) {
  Graph g = load_text(R"(
name: chain
input: [2, 3, 8, 8]
layers:
  - {name: a, op: conv, out: 4, kernel: 3, padding: 1}
  - {name: b, op: relu}
  - {name: c, op: conv, out: 4, kernel: 1, inputs: a}
  - {name: sum, op: add, inputs: [b, c]}
)");
  BOOST_TEST(g.name == "chain");
  BOOST_TEST(names(g) == (std::vector<std::string>{"a", "b", "c", "sum"}), boost::test_tools::per_element());
  BOOST_TEST(inputs_of(g, "a") == std::vector<std::string>{"input"}, boost::test_tools::per_element());
  BOOST_TEST(inputs_of(g, "b") == std::vector<std::string>{"a"}, boost::test_tools::per_element());
  BOOST_TEST(inputs_of(g, "sum") == (std::vector<std::string>{"b", "c"}), boost::test_tools::per_element());
  BOOST_TEST((layer(g, "sum").output == Shape{2, 4, 8, 8}));
}

BOOST_AUTO_TEST_CASE(forward_references_are_ordered_topologically) {
  Graph g = load_text(R"(
name: fwd
input: [1, 3, 8, 8]
layers:
  - {name: sum, op: add, inputs: [left, right]}
  - {name: left, op: relu, inputs: input}
  - {name: right, op: sigmoid, inputs: input}
)");
  BOOST_TEST(names(g) == (std::vector<std::string>{"left", "right", "sum"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(blocks_repeat_overrides_and_when) {
  Graph g = load_text(R"(
name: blocks
input: [1, 3, 32, 32]
blocks:
  unit:
    params: {c: ~, stride: 1, proj: false}
    layers:
      - {name: conv, op: conv, out: $c, kernel: 3, stride: $stride, padding: 1}
      - {name: proj, op: conv, inputs: x, out: $c, kernel: 1, stride: $stride, when: $proj}
      - {name: add, op: add, inputs: [conv, "${proj ? 'proj' : 'x'}"]}
layers:
  - {name: stem, op: conv, out: 8, kernel: 1}
  - {block: unit, repeat: 3, name: "stage.${i}", args: {c: "${i == 0 ? 8 : 16}"}, overrides: {1: {stride: 2, proj: true}}}
  - {name: head, op: global_avgpool}
)");
  BOOST_TEST(
      names(g) == (std::vector<std::string>{"stem", "stage.0.conv", "stage.0.add", "stage.1.conv", "stage.1.proj",
                                            "stage.1.add", "stage.2.conv", "stage.2.add", "head"}),
      boost::test_tools::per_element());
  BOOST_TEST(inputs_of(g, "stage.0.add") == (std::vector<std::string>{"stage.0.conv", "stem"}),
             boost::test_tools::per_element());
  BOOST_TEST(inputs_of(g, "stage.1.conv") == std::vector<std::string>{"stage.0.add"}, boost::test_tools::per_element());
  BOOST_TEST(inputs_of(g, "stage.2.add") == (std::vector<std::string>{"stage.2.conv", "stage.1.add"}),
             boost::test_tools::per_element());
  BOOST_TEST((layer(g, "stage.1.add").output == Shape{1, 16, 16, 16}));
  BOOST_TEST((layer(g, "stage.2.add").output == Shape{1, 16, 16, 16}));
  BOOST_TEST((layer(g, "stage.0.add").output == Shape{1, 8, 32, 32}));
}

BOOST_AUTO_TEST_CASE(multi_port_blocks_and_block_outputs) {
  Graph g = load_text(R"(
name: ports
input: [1, 4, 8, 8]
blocks:
  fuse:
    params: {}
    inputs: [main, skip]
    output: joined
    layers:
      - {name: joined, op: concat, inputs: [main, skip]}
      - {name: unused_tail, op: relu}
layers:
  - {name: a, op: relu}
  - {name: b, op: sigmoid, inputs: input}
  - {block: fuse, name: f, inputs: [a, b]}
  - {name: after, op: tanh}
)");
  BOOST_TEST(inputs_of(g, "f.joined") == (std::vector<std::string>{"a", "b"}), boost::test_tools::per_element());
  BOOST_TEST(inputs_of(g, "after") == std::vector<std::string>{"f.joined"}, boost::test_tools::per_element());
  BOOST_TEST(layer(g, "after").output.c == 8);
}

BOOST_AUTO_TEST_CASE(includes_bring_blocks_and_whole_networks) {
  Graph g = load_text(R"(
name: uses_include
input: [1, 3, 16, 16]
include: [tiny_blocks.yaml, tiny_backbone.yaml]
layers:
  - {block: tiny_backbone, name: backbone}
  - {block: conv_bn_relu, name: head, args: {out: 4, kernel: 1}}
)",
                      "fixtures/main.yaml");
  BOOST_TEST(names(g) == (std::vector<std::string>{"backbone.stem.conv", "backbone.stem.bn", "backbone.stem.relu",
                                                   "backbone.pool", "head.conv", "head.bn", "head.relu"}),
             boost::test_tools::per_element());
  const auto& conv = std::get<ConvAttrs>(layer(g, "head.conv").attrs);
  BOOST_TEST(conv.win.pad_top == 0);  // default pad = kernel / 2 evaluated with kernel = 1
  BOOST_TEST((layer(g, "head.relu").output == Shape{1, 4, 8, 8}));
}

BOOST_AUTO_TEST_CASE(train_only_branches_and_endpoints) {
  const char* spec = R"(
name: aux
input: [1, 3, 8, 8]
layers:
  - {name: a, op: conv, out: 4, kernel: 3, padding: 1, endpoint: early}
  - {name: aux_pool, op: global_avgpool, train_only: true, endpoint: aux_out}
  - {name: aux_fc, op: fc, out: 10, train_only: true}
  - {name: b, op: relu}
  - {name: fc, op: fc, out: 10, inputs: b}
endpoints: {features: b}
)";
  Graph g = load_text(spec);
  BOOST_TEST(names(g) == (std::vector<std::string>{"a", "b", "fc"}), boost::test_tools::per_element());
  BOOST_TEST(inputs_of(g, "b") == std::vector<std::string>{"a"}, boost::test_tools::per_element());
  BOOST_TEST(g.endpoints.at("early") == "a");
  BOOST_TEST(g.endpoints.at("features") == "b");
  BOOST_TEST(g.endpoints.count("aux_out") == 0u);
  LoadOptions all;
  all.include_train_only = true;
  Graph full = load_text(spec, "inline.yaml", all);
  BOOST_TEST(names(full) == (std::vector<std::string>{"a", "aux_pool", "aux_fc", "b", "fc"}),
             boost::test_tools::per_element());
  BOOST_TEST(full.endpoints.at("aux_out") == "aux_pool");
  BOOST_TEST(full.outputs().size() == 2u);
}

BOOST_AUTO_TEST_CASE(repeat_ports_use_the_index_and_block_endpoints_are_prefixed) {
  Graph g = load_text(R"(
name: unet_like
input: [1, 2, 16, 16]
blocks:
  down:
    params: {}
    layers:
      - {name: conv, op: conv, out: 2, kernel: 3, padding: 1, endpoint: features}
      - {name: pool, op: maxpool, kernel: 2}
  up:
    inputs: [x, skip]
    params: {}
    layers:
      - {name: up, op: upsample, scale: 2}
      - {name: cat, op: concat, inputs: [skip, up]}
      - {name: mix, op: conv, out: 2, kernel: 1}
layers:
  - {block: down, repeat: 3, name: "enc${i}"}
  - {block: up, repeat: 3, name: "dec${i}", inputs: [enc2, "enc${2 - i}.conv"]}
)");
  BOOST_TEST(inputs_of(g, "dec0.cat") == (std::vector<std::string>{"enc2.conv", "dec0.up"}),
             boost::test_tools::per_element());
  BOOST_TEST(inputs_of(g, "dec2.cat") == (std::vector<std::string>{"enc0.conv", "dec2.up"}),
             boost::test_tools::per_element());
  BOOST_TEST(inputs_of(g, "dec1.up") == std::vector<std::string>{"dec0.mix"}, boost::test_tools::per_element());
  BOOST_TEST((layer(g, "dec2.mix").output == Shape{1, 2, 16, 16}));
  BOOST_TEST(g.endpoints.at("enc1.features") == "enc1.conv");
  BOOST_TEST(g.endpoints.size() == 3u);
}

BOOST_AUTO_TEST_CASE(input_override) {
  LoadOptions o;
  o.input = Shape{4, 3, 64, 48};
  Graph g = load_text("name: n\ninput: [1, 3, 8, 8]\nlayers:\n  - {name: c, op: conv, out: 2, kernel: 3, stride: 2}\n",
                      "inline.yaml", o);
  BOOST_TEST((layer(g, "c").output == Shape{4, 2, 31, 23}));
}

BOOST_AUTO_TEST_CASE(the_documented_example_loads) {
  for (const char* doc_file : {"README.md", "docs/SPEC-FORMAT.md"}) {
    BOOST_TEST_CONTEXT(doc_file) {
      std::ifstream in(test_dir() / ".." / doc_file);
      std::stringstream ss;
      ss << in.rdbuf();
      std::string doc = ss.str();
      size_t start = doc.find("```yaml\n");
      BOOST_TEST_REQUIRE(start != std::string::npos);
      start += 8;
      std::string yaml = doc.substr(start, doc.find("```", start) - start);
      Graph g = load_text(yaml);
      BOOST_TEST(g.name == "tiny_resnet");
      BOOST_TEST(g.endpoints.at("stage2") == "stage2.2.relu2");
      BOOST_TEST((layer(g, "fc").output == Shape{1, 10, 1, 1}));
      BOOST_TEST(g.find("aux") == -1);
      BOOST_TEST(g.find("stage2.0.skip") > 0);
      BOOST_TEST(g.find("stage2.1.skip") == -1);
    }
  }
}

// Plain scalars take YAML 1.2's core types (scanned by hand, see loader.cpp); the error for a
// kernel that is not an integer says which type the scalar took.
BOOST_AUTO_TEST_CASE(plain_scalars_take_yaml_core_types) {
  auto kernel = [](const std::string& text) -> std::string {
    try {
      Graph g =
          load_text("name: n\ninput: [1, 3, 8, 8]\nlayers:\n  - {name: c, op: conv, out: 2, kernel: " + text + "}\n");
      return "integer " + std::to_string(std::get<ConvAttrs>(layer(g, "c").attrs).win.kh);
    } catch (const SpecError& e) {
      std::string what = e.what();
      return what.substr(what.find(", got ") + 6);
    }
  };
  BOOST_TEST(kernel("3") == "integer 3");
  BOOST_TEST(kernel("+3") == "integer 3");
  BOOST_TEST(kernel("1.5") == "number 1.5");
  BOOST_TEST(kernel("3.") == "number 3");
  BOOST_TEST(kernel(".5") == "number 0.5");
  BOOST_TEST(kernel("1e1") == "number 10");
  BOOST_TEST(kernel("-2.5E-1") == "number -0.25");
  BOOST_TEST(kernel("'3'") == "string '3'");
  BOOST_TEST(kernel("1.2.3") == "string '1.2.3'");
  BOOST_TEST(kernel("1e") == "string '1e'");
  BOOST_TEST(kernel("e5") == "string 'e5'");
  BOOST_TEST(kernel("+-1") == "string '+-1'");
  BOOST_TEST(kernel(".") == "string '.'");
  BOOST_TEST(kernel("true") == "boolean true");
}

// yaml-cpp keeps both entries of a repeated key and lookups take the first, so every mapping
// of a spec refuses them, at the second one.
BOOST_AUTO_TEST_CASE(duplicate_keys_are_refused_in_every_mapping) {
  const std::string head = "name: n\ninput: [1, 3, 8, 8]\n";
  const std::string block = "blocks:\n  b:\n    params: {c: 2}\n    layers:\n      - {name: r, op: relu}\n";
  auto error = [](const std::string& text) -> std::string {
    try {
      load_text(text);
    } catch (const SpecError& e) {
      return e.what();
    }
    return "(it loaded)";
  };
  std::string prefix = (test_dir() / "inline.yaml").string();
  BOOST_TEST(error(head + "blocks:\n  b: {layers: [{name: r, op: relu}]}\n  b: {layers: [{name: s, op: relu}]}\n" +
                   "layers:\n  - {block: b}\n") == prefix + ":5:3: error: duplicate key 'b'");
  BOOST_TEST(error(head + "blocks:\n  b:\n    params: {c: 2, c: 3}\n    layers: [{name: r, op: relu}]\n" +
                   "layers:\n  - {block: b}\n") == prefix + ":5:20: error: duplicate key 'c'");
  BOOST_TEST(error(head + block + "layers:\n  - {block: b, args: {c: 1, c: 2}}\n") ==
             prefix + ":9:29: error: duplicate key 'c'");
  BOOST_TEST(error(head + block + "layers:\n  - {block: b, name: u, name: v}\n") ==
             prefix + ":9:25: error: duplicate key 'name'");
  BOOST_TEST(error(head + block + "layers:\n  - {block: b, repeat: 2, overrides: {1: {c: 1}, 1: {c: 2}}}\n") ==
             prefix + ":9:50: error: duplicate key '1'");
  BOOST_TEST(error(head + "layers:\n  - {name: r, op: relu}\nendpoints: {e: r, e: input}\n") ==
             prefix + ":5:19: error: duplicate key 'e'");
  BOOST_TEST(error(head + "layers:\n  - {name: r, op: relu, when: false, when: true}\n  - {name: s, op: relu}\n") ==
             prefix + ":4:38: error: duplicate key 'when'");
}

// Sweep files and tuned databases share load_yaml_config, and with it the same two checks.
BOOST_AUTO_TEST_CASE(config_files_refuse_duplicate_keys_and_alias_bombs) {
  std::filesystem::path dir = scratch("yaml_config");
  auto error = [&](const std::string& text) -> std::string {
    {
      std::ofstream out(dir / "config.yaml");
      out << text;
    }
    try {
      load_yaml_config(dir / "config.yaml", "sweep file");
    } catch (const SpecError& e) {
      std::string what = e.what();
      return what.substr(what.find(':') + 1);
    }
    return "(it loaded)";
  };
  BOOST_TEST(error("name: a\nthreads: [1, 2]\nname: b\n") == "3:1: error: duplicate key 'name'");
  BOOST_TEST(error("cases:\n  - {threads: 1, threads: 2}\n") == "2:18: error: duplicate key 'threads'");
  std::string bomb = "a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n";
  for (int level = 1; level <= 7; ++level) {
    bomb += fmt::format("a{0}: &a{0} [*a{1}", level, level - 1);
    for (int k = 1; k < 10; ++k) bomb += fmt::format(", *a{}", level - 1);
    bomb += "]\n";
  }
  std::string got = error(bomb);
  BOOST_TEST(got.ends_with(": error: the sweep file expands to more than 1000000 YAML nodes (aliases?)"));
  BOOST_TEST(error("name: a\nshared: &s {x: 1}\nuse: *s\n") == "(it loaded)");
}

BOOST_AUTO_TEST_CASE(a_spec_needs_a_layer) {
  const std::string head = "name: n\ninput: [1, 3, 8, 8]\n";
  std::string prefix = (test_dir() / "inline.yaml").string();
  for (const std::string& layers :
       {std::string("layers: []\n"), std::string("layers:\n  - {name: r, op: relu, when: false}\n")}) {
    BOOST_CHECK_EXCEPTION(load_text(head + layers), SpecError, [&](const SpecError& e) {
      return std::string(e.what()) == prefix + (layers[8] == '[' ? ":3:9" : ":4:3") + ": error: the spec has no layers";
    });
  }
}

BOOST_AUTO_TEST_CASE(parse_shape_flag) {
  BOOST_TEST((parse_shape("8,3,224,224") == Shape{8, 3, 224, 224}));
  BOOST_CHECK_EXCEPTION(parse_shape("8,3,224"), std::invalid_argument, [](const std::invalid_argument& e) {
    return std::string(e.what()) == "--input '8,3,224': expected 4 sizes N,C,H,W";
  });
  BOOST_CHECK_EXCEPTION(parse_shape("1,3,0,4"), std::invalid_argument, [](const std::invalid_argument& e) {
    return std::string(e.what()) == "--input '1,3,0,4': '0' must be a positive integer (expected N,C,H,W)";
  });
  BOOST_CHECK_EXCEPTION(parse_shape("1,3,x,4"), std::invalid_argument, [](const std::invalid_argument& e) {
    return std::string(e.what()) == "--input '1,3,x,4': 'x' is not an integer (expected N,C,H,W)";
  });
  BOOST_CHECK_EXCEPTION(parse_shape("100000,100000,100000,100000"), std::invalid_argument,
                        [](const std::invalid_argument& e) {
                          return std::string(e.what()) ==
                                 "--input '100000,100000,100000,100000': the tensor has more bytes than 64 bits hold";
                        });
}

BOOST_AUTO_TEST_SUITE_END()
