// The zoo against published figures and against torchvision itself
// (tests/fixtures/torchvision_counts.json, made by tests/reference/torchvision_counts.py).
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "analysis/analysis.h"
#include "helpers.h"
#include "reports/reports.h"

using namespace archbench;
using namespace archbench::test;

namespace {

Graph zoo_spec(const std::string& name, bool train_only = false) {
  LoadOptions o;
  o.include_train_only = train_only;
  return load_spec(zoo_dir() / (name + ".yaml"), o);
}

Graph zoo_at(const std::string& name, const Shape& input, bool train_only) {
  LoadOptions o;
  o.include_train_only = train_only;
  o.input = input;
  return load_spec(zoo_dir() / (name + ".yaml"), o);
}

const nlohmann::json& torchvision() {
  static const nlohmann::json j = [] {
    std::ifstream in(test_dir() / "fixtures" / "torchvision_counts.json");
    return nlohmann::json::parse(in);
  }();
  return j;
}

std::string op_type(OpKind op) {
  switch (op) {
    case OpKind::Conv:
      return "conv";
    case OpKind::ConvTranspose:
      return "conv_transpose";
    case OpKind::BatchNorm:
      return "batchnorm";
    case OpKind::FullyConnected:
      return "fc";
    default:
      return op_name(op);
  }
}

double gmacs_3(int64_t macs) { return std::round(static_cast<double>(macs) / 1e6) / 1e3; }

}  // namespace

BOOST_AUTO_TEST_SUITE(zoo)

BOOST_AUTO_TEST_CASE(every_zoo_spec_loads_and_renders) {
  std::vector<std::string> names = zoo_networks();
  const std::vector<std::string> required = {"alexnet",
                                             "alexnet_original",
                                             "vgg11",
                                             "vgg16",
                                             "vgg16_bn",
                                             "vgg19",
                                             "googlenet",
                                             "resnet18",
                                             "resnet34",
                                             "resnet50",
                                             "resnet101",
                                             "resnet152",
                                             "densenet121",
                                             "se_resnet50",
                                             "efficientnet_b0",
                                             "mobilenet_v2",
                                             "fcn32s",
                                             "fcn16s",
                                             "fcn8s",
                                             "fcn_resnet50",
                                             "unet",
                                             "deeplabv3_resnet50",
                                             "deeplabv3plus",
                                             "resnet50_dcn",
                                             "resnet50_dcnv2",
                                             "deeplab_v1_largefov",
                                             "deeplab_v2_resnet101"};
  for (const std::string& r : required) BOOST_TEST_CONTEXT(r) {
      BOOST_TEST((std::find(names.begin(), names.end(), r) != names.end()));
    }
  for (const std::string& n : names) {
    BOOST_TEST_CONTEXT(n) {
      for (bool train_only : {false, true}) {
        Graph g = zoo_spec(n, train_only);
        BOOST_TEST(g.name == n);
        NetworkAnalysis a = analyse(g);
        BOOST_TEST(a.totals.macs > 0);
        BOOST_TEST(a.totals.peak_activation_bytes <= a.totals.arena_bytes);
        BOOST_TEST(placement_error(a.memory) == "");
        BOOST_TEST(analysis_json(g, a)["layers"].size() == g.layers.size() - 1);
      }
    }
  }
}

// ../shared/reference/published-numbers.md and torchvision's weight metadata.
BOOST_AUTO_TEST_CASE(published_params_and_gmacs) {
  struct Row {
    const char* name;
    int64_t params;
    double gmacs;
    bool train_only;
  };
  const Row rows[] = {
      {"alexnet", 61'100'840, 0.714, false},       {"vgg11", 132'863'336, 7.609, false},
      {"vgg16", 138'357'544, 15.470, false},       {"vgg16_bn", 138'365'992, 15.470, false},
      {"vgg19", 143'667'240, 19.632, false},       {"resnet18", 11'689'512, 1.814, false},
      {"resnet34", 21'797'672, 3.664, false},      {"resnet50", 25'557'032, 4.089, false},
      {"resnet101", 44'549'160, 7.801, false},     {"resnet152", 60'192'808, 11.514, false},
      {"fcn_resnet50", 35'322'218, 152.717, true}, {"deeplabv3_resnet50", 42'004'074, 178.722, true},
      {"googlenet", 6'624'904, 1.498, false},      {"densenet121", 7'978'856, 2.834, false},
      {"mobilenet_v2", 3'504'872, 0.301, false},   {"efficientnet_b0", 5'288'548, 0.386, false},
  };
  for (const Row& r : rows) {
    BOOST_TEST_CONTEXT(r.name) {
      Graph g = zoo_spec(r.name, r.train_only);
      NetworkAnalysis a = analyse(g);
      BOOST_TEST(a.totals.params == r.params);
      BOOST_TEST(gmacs_3(a.totals.macs) == r.gmacs, boost::test_tools::tolerance(1e-9));
    }
  }
}

// mmdetection's DCN backbones: ResNet-50 (25,557,032 parameters, 4,089,184,256 MACs) plus one
// offset conv per deformable 3x3 (13: layer2's 4, layer3's 6, layer4's 3), each 3x3 with a bias
// from `planes` channels to 18 (DCNv1) or 27 (DCNv2) at the block's output size (28, 14, 7).
// DCNv2: 4 x (27 x 128 x 9 + 27) + 6 x (27 x 256 x 9 + 27) + 3 x (27 x 512 x 9 + 27) = 871,263
// parameters; MACs 4 x 784 x 27 x 1152 + 6 x 196 x 27 x 2304 + 3 x 49 x 27 x 4608 = 188,987,904.
// DCNv1 two thirds of each: 580,842 and 125,991,936. A deformable conv's MACs are its conv's;
// its sampling (one sample per input channel, tap and output pixel) is counted apart:
// 4 x 784 x 1152 + 6 x 196 x 2304 + 3 x 49 x 4608 = 6,999,552 samples, 4 gathers each.
// bench/peers/pytorch_dcn.py checks the parameter count against the PyTorch model.
BOOST_AUTO_TEST_CASE(dcn_backbones_count_the_offset_convs_and_the_sampling) {
  struct Row {
    const char* name;
    int64_t params, macs, sampling_flops;
  };
  // Sampling FLOPs: 7 per sample (8 with a mask), plus per tap and output pixel 12 for the
  // position and corner weights (16 with a sigmoid mask): 6,999,552 x 7 + 40,131 x 12 and
  // 6,999,552 x 8 + 40,131 x 16 (40,131 = 9 x (4 x 784 + 6 x 196 + 3 x 49)).
  const Row rows[] = {{"resnet50_dcn", 25'557'032 + 580'842, 4'089'184'256 + 125'991'936, 49'478'436},
                      {"resnet50_dcnv2", 25'557'032 + 871'263, 4'089'184'256 + 188'987'904, 56'638'512}};
  for (const Row& r : rows) {
    BOOST_TEST_CONTEXT(r.name) {
      Graph g = zoo_spec(r.name, false);
      NetworkAnalysis a = analyse(g);
      BOOST_TEST(a.totals.params == r.params);
      BOOST_TEST(a.totals.macs == r.macs);
      int64_t deformable = 0, samples = 0, flops = 0;
      for (const Layer& l : g.layers)
        if (l.op == OpKind::DeformConv) {
          ++deformable;
          samples += deform_sampling(g, l).samples;
          flops += deform_sampling(g, l).flops;
        }
      BOOST_TEST(deformable == 13);
      BOOST_TEST(samples == 6'999'552);
      BOOST_TEST(flops == r.sampling_flops);
      nlohmann::ordered_json j = analysis_json(g, a);
      BOOST_TEST(j["totals"]["deform_sampling"]["samples"] == 6'999'552);
      BOOST_TEST(j["totals"]["deform_sampling"]["gathers"] == 4 * 6'999'552);
      BOOST_TEST(j["totals"]["feature_receptive_field"]["data_dependent"] == true);
      const Layer& first = layer(g, "layer2.0.conv2");
      BOOST_TEST(first.inputs.size() == 2u);
      BOOST_TEST(g.layers[static_cast<size_t>(first.inputs[1])].name == "layer2.0.conv2.conv_offset");
      BOOST_TEST(g.layers[static_cast<size_t>(first.inputs[1])].output.c ==
                 (r.name == std::string("resnet50_dcn") ? 18 : 27));
    }
  }
}

// DeepLab-LargeFOV: the paper's 20.5M parameters (ICLR 2015, Table 2): VGG-16's convs
// (14,714,688), fc6 3x3x512x1024 + 1024, fc7 1024x1024 + 1024, fc8 1024x21 + 21. The CRF adds
// none; its FLOPs are reported apart and in the total, its field is the whole image.
BOOST_AUTO_TEST_CASE(deeplab_v1_and_v2_end_in_a_dense_crf) {
  Graph v1 = zoo_spec("deeplab_v1_largefov", false);
  NetworkAnalysis a = analyse(v1);
  BOOST_TEST(a.totals.params == 14'714'688 + 4'719'616 + 1'049'600 + 21'525);
  const Layer& crf = layer(v1, "crf");
  BOOST_TEST((crf.op == OpKind::DenseCrf));
  BOOST_TEST(crf.output == (Shape{1, 21, 513, 513}));
  DenseCrfCost c = dense_crf_cost(v1, crf);
  BOOST_TEST(c.pixels == 513 * 513);
  BOOST_TEST(c.lattice_bound_bilateral == 6 * 513 * 513);
  BOOST_TEST(a.layers[static_cast<size_t>(v1.find("crf"))].cost.flops == c.flops);
  BOOST_TEST(a.layers[static_cast<size_t>(v1.find("crf"))].rf.h.size == Rational(513));
  // ResNet-101 (44,549,160 with its fc) less the fc (2,049,000), plus the four ASPP convs.
  Graph v2 = zoo_spec("deeplab_v2_resnet101", false);
  BOOST_TEST(analyse(v2).totals.params == 44'549'160 - 2'049'000 + 4 * (2048 * 9 * 21 + 21));
  BOOST_TEST(layer(v2, "backbone.layer4.2.relu3").output == (Shape{1, 2048, 65, 65}));  // output stride 8
}

BOOST_AUTO_TEST_CASE(torchvision_twins_match_module_by_module) {
  for (const auto& [name, ref] : torchvision()["networks"].items()) {
    BOOST_TEST_CONTEXT(name) {
      bool has_aux = ref.contains("no_aux");
      auto in = ref["input"].get<std::vector<int64_t>>();
      Graph g = zoo_at(name, Shape{in[0], in[1], in[2], in[3]}, has_aux);
      NetworkAnalysis a = analyse(g);
      BOOST_TEST(a.totals.params == ref["params"].get<int64_t>());
      BOOST_TEST(a.totals.macs == ref["macs"].get<int64_t>());
      auto out = ref["output_shape"].get<std::vector<int64_t>>();
      const Shape& o = g.layers[a.final_layer].output;
      BOOST_TEST(o.n == out[0]);
      BOOST_TEST(o.c == out[1]);
      if (out.size() == 4) {
        BOOST_TEST(o.h == out[2]);
        BOOST_TEST(o.w == out[3]);
      }
      for (const auto& [module, m] : ref["modules"].items()) {
        BOOST_TEST_CONTEXT(module) {
          int i = g.find(module);
          BOOST_TEST_REQUIRE(i >= 0);
          const Layer& l = g.layers[i];
          BOOST_TEST(op_type(l.op) == m["type"].get<std::string>());
          BOOST_TEST(layer_cost(g, l).params == m["params"].get<int64_t>());
          if (m.contains("output_shape")) {
            auto s = m["output_shape"].get<std::vector<int64_t>>();
            BOOST_TEST((l.output == Shape{s[0], s[1], s[2], s[3]}));
          }
        }
      }
      if (has_aux) {  // and without the train-only aux head
        Graph lean = zoo_at(name, Shape{in[0], in[1], in[2], in[3]}, false);
        NetworkAnalysis b = analyse(lean);
        BOOST_TEST(b.totals.params == ref["no_aux"]["params"].get<int64_t>());
        BOOST_TEST(b.totals.macs == ref["no_aux"]["macs"].get<int64_t>());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(networks_without_a_torchvision_twin) {
  // Caffe's bvlc_alexnet (the 2012 two-tower net): 60,965,224 parameters.
  BOOST_TEST(analyse(zoo_spec("alexnet_original")).totals.params == 60'965'224);
  // timm's seresnet50: resnet50's parameters plus 2,530,992 in the SE fc layers, whose
  // weights are also their MACs (1x1 spatial): 2,530,992 - 11,048 biases.
  NetworkAnalysis se = analyse(zoo_spec("se_resnet50"));
  BOOST_TEST(se.totals.params == 28'088'024);
  BOOST_TEST(se.totals.macs == 4'089'184'256 + 2'514'944);
  // torchvision googlenet(aux_logits=True): the two auxiliary classifiers included.
  BOOST_TEST(analyse(zoo_spec("googlenet", true)).totals.params == 13'004'888);
  // U-Net (Ronneberger et al. 2015), 1 input channel, 64..1024 channels, 2 classes, biased
  // convs: encoder 18,842,048 (3x3 pairs 37,568 / 221,440 / 885,248 / 3,539,968 /
  // 14,157,824) + decoder 12,188,480 (2x2 up-convs 2,097,664 / 524,544 / 131,200 / 32,832 and
  // 3x3 pairs 7,078,912 / 1,769,984 / 442,624 / 110,720) + the 1x1 classifier 130.
  BOOST_TEST(analyse(zoo_spec("unet")).totals.params == 31'030'658);
}

BOOST_AUTO_TEST_CASE(segmentation_output_sizes_and_aligned_merges) {
  struct Row {
    const char* name;
    Shape out;
  };
  const Row rows[] = {{"fcn32s", {1, 21, 500, 500}},
                      {"fcn16s", {1, 21, 500, 500}},
                      {"fcn8s", {1, 21, 500, 500}},
                      {"unet", {1, 2, 388, 388}},
                      {"deeplabv3plus", {1, 21, 512, 512}},
                      {"fcn_resnet50", {1, 21, 520, 520}},
                      {"deeplabv3_resnet50", {1, 21, 520, 520}}};
  for (const Row& r : rows) {
    BOOST_TEST_CONTEXT(r.name) {
      Graph g = zoo_spec(r.name);
      NetworkAnalysis a = analyse(g);
      BOOST_TEST(g.layers[a.final_layer].output == r.out);
      for (size_t i = 1; i < g.layers.size(); ++i) {
        if (g.layers[i].op != OpKind::Add && g.layers[i].op != OpKind::Concat) continue;
        // DeepLabV3+'s decoder joins stride-4 features with ASPP output upsampled bilinearly
        // (align_corners=False) from stride 16: ResNet's strided layers keep pixel centres at
        // 16x, the upsampling assumes centre-aligned grids, so the paths are 6 pixels apart.
        bool expect_aligned = g.layers[i].name != "classifier.concat" || r.name != std::string("deeplabv3plus");
        BOOST_TEST_CONTEXT(g.layers[i].name) { BOOST_TEST(a.layers[i].rf.aligned == expect_aligned); }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(vgg16_pool5_and_resnet50_peak_memory) {
  Graph vgg = zoo_spec("vgg16");
  auto rf = receptive_fields(vgg);
  const ReceptiveField& pool5 = rf[vgg.find(vgg.endpoints.at("pool5"))];
  BOOST_TEST(pool5.h.size == Rational(212));
  BOOST_TEST(pool5.h.stride == Rational(32));
  BOOST_TEST(pool5.h.padding == Rational(90));
  // ResNet-50's peak is at layer1.0's projection shortcut: the block input (64x56x56), the
  // main path's bn3 output (256x56x56) waiting for the add, and the shortcut (256x56x56).
  Graph r50 = zoo_spec("resnet50");
  NetworkAnalysis a = analyse(r50);
  BOOST_TEST(a.totals.peak_activation_bytes == (64 + 256 + 256) * 56 * 56 * 4);
  BOOST_TEST(r50.layers[a.memory.peak_step].name == "layer1.0.downsample.0");
  BOOST_TEST(r50.endpoints.at("layer4") == "layer4.2.relu3");
  // Endpoints inside a named block use carry its prefix.
  BOOST_TEST(zoo_spec("fcn_resnet50").endpoints.at("backbone.layer3") == "backbone.layer3.5.relu3");
}

BOOST_AUTO_TEST_SUITE_END()
