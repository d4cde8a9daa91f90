// Tensor, .npy and .safetensors: round trips on awkward shapes, files written by NumPy and
// PyTorch (their bytes are below, with the script that made them), exact conversions from
// F16/BF16/F64, and the exact message of every malformed input. The malformed files are
// written by the tests into a temporary folder, so nothing binary is committed.
//
// Zero-size dimensions are allowed everywhere (a [4, 0, 3] tensor holds no values and its
// files hold a header only); rank 0 is a scalar with one value, as in NumPy.
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "helpers.h"
#include "runtime/runtime.h"

using namespace archbench;
using namespace archbench::test;
namespace fs = std::filesystem;

namespace {

// A fresh folder under the system's temporary folder, removed with everything in it.
struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("archbench-tensor-io-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path operator/(const std::string& name) const { return path / name; }
  // Files in the folder (to check that failed writes leave no temporary file behind).
  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};

std::string unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

void write_bytes(const fs::path& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

template <typename T>
std::string le(T v) {
  std::string s;
  for (size_t i = 0; i < sizeof(T); ++i) s.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff));
  return s;
}

std::string f32_bytes(const std::vector<float>& values) {
  std::string s;
  for (float v : values) s += le(std::bit_cast<uint32_t>(v));
  return s;
}

// A .npy file laid out as NumPy 1.24 writes version 1.0 (see npy_bytes_match_numpy), with
// any header dictionary.
std::string npy(const std::string& dict, const std::string& data) {
  std::string header = dict;
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += "\n";
  return std::string("\x93NUMPY\x01\x00", 8) + le(static_cast<uint16_t>(header.size())) + header + data;
}

// A .safetensors file: 8-byte length, the header as given, the data.
std::string st(const std::string& header, const std::string& data) {
  return le(static_cast<uint64_t>(header.size())) + header + data;
}

// The RuntimeError message `f` throws, with the folder stripped; "" if it throws nothing.
template <typename F>
std::string error_of(const TempDir& dir, F f) {
  try {
    f();
  } catch (const RuntimeError& e) {
    std::string s = e.what();
    std::string prefix = dir.path.string() + "/";
    for (size_t p; (p = s.find(prefix)) != std::string::npos;) s.erase(p, prefix.size());
    return s;
  }
  return "";
}

std::string npy_error(const std::string& bytes) {
  TempDir dir;
  write_bytes(dir / "bad.npy", bytes);
  return error_of(dir, [&] { read_npy(dir / "bad.npy"); });
}

std::string st_error(const std::string& bytes) {
  TempDir dir;
  write_bytes(dir / "w.safetensors", bytes);
  return error_of(dir, [&] { read_safetensors(dir / "w.safetensors"); });
}

// Bit-exact equality (NaN payloads and signed zeros included).
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Awkward values: signed zero, subnormals, infinities, NaN with a payload, extremes.
Tensor awkward(std::vector<int64_t> shape) {
  Tensor t(std::move(shape));
  const float special[] = {-0.0f,
                           std::numeric_limits<float>::denorm_min(),
                           std::numeric_limits<float>::infinity(),
                           -std::numeric_limits<float>::infinity(),
                           std::bit_cast<float>(0x7fc01234u),
                           std::numeric_limits<float>::max(),
                           -std::numeric_limits<float>::min()};
  for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = i < 7 ? special[i] : static_cast<float>(i) * 0.37f - 11.0f;
  return t;
}

// Made by NumPy 1.24.2 (Debian 12's python3-numpy):
//   np.save(f, np.array([[0.0, -1.5, 3.140625], [1e-30, -0.0, 65504.0]], dtype='<f4'))
const char* kNumpyV1 =
    "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c"
    "20277368617065273a2028322c2033292c207d20202020202020202020202020202020202020202020202020202020202020"
    "2020202020202020202020202020202020202020202020202020200a000000000000c0bf000049406042a20d0000008000e0"
    "7f47";
//   np.lib.format.write_array(f, np.array([1.0, 2.0, -3.0], dtype='<f4'), version=(2, 0))
const char* kNumpyV2 =
    "934e554d50590200740000007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73"
    "652c20277368617065273a2028332c292c207d20202020202020202020202020202020202020202020202020202020202020"
    "2020202020202020202020202020202020202020202020202020200a0000803f00000040000040c0";

// PyTorch 1.13's tensors laid out as safetensors.torch.save_file does (the safetensors
// package is not in Debian, so the layout is written out; it sorts by alignment, then name):
//   ts = {"conv.weight": torch.tensor([[1.0, -2.0], [0.5, 0.1]]),
//         "h": torch.tensor([1.0, -2.0, 65504.0, 2**-24, 0.333251953125], dtype=torch.float16),
//         "b": torch.tensor([1.0, -3.0, 0.1], dtype=torch.bfloat16),
//         "d": torch.tensor([0.1, -1e-3], dtype=torch.float64)}
//   order = sorted(ts, key=lambda k: (-ts[k].element_size(), k))
//   hdr = {"__metadata__": {"format": "pt"}}, then per name in order {"dtype": ..., "shape": ...,
//   "data_offsets": [off, off + nbytes]} and the bytes of t.view(torch.uint8);
//   h = json.dumps(hdr, separators=(",", ":")).encode(), padded with spaces to a multiple of 8;
//   file = struct.pack("<Q", len(h)) + h + data
const char* kTorchSafetensors =
    "08010000000000007b225f5f6d657461646174615f5f223a7b22666f726d6174223a227074227d2c2264223a7b2264747970"
    "65223a22463634222c227368617065223a5b325d2c22646174615f6f666673657473223a5b302c31365d7d2c22636f6e762e"
    "776569676874223a7b226474797065223a22463332222c227368617065223a5b322c325d2c22646174615f6f666673657473"
    "223a5b31362c33325d7d2c2262223a7b226474797065223a2242463136222c227368617065223a5b335d2c22646174615f6f"
    "666673657473223a5b33322c33385d7d2c2268223a7b226474797065223a22463136222c227368617065223a5b355d2c2264"
    "6174615f6f666673657473223a5b33382c34385d7d7d9a9999999999b93ffca9f1d24d6250bf0000803f000000c00000003f"
    "cdcccc3d803f40c0cd3d003c00c0ff7b01005535";

}  // namespace

BOOST_AUTO_TEST_SUITE(tensor_io)

BOOST_AUTO_TEST_CASE(tensor_shapes_and_indexing) {
  Tensor t(std::vector<int64_t>{2, 3, 4, 5});
  BOOST_TEST(t.size() == 120);
  BOOST_TEST(t.data == std::vector<float>(120, 0.0f));
  BOOST_TEST((t.nchw() == Shape{2, 3, 4, 5}));
  t.at(1, 2, 3, 4) = 7.0f;
  t.at(0, 1, 0, 2) = 5.0f;
  BOOST_TEST(t.data[119] == 7.0f);  // row-major
  BOOST_TEST(t.data[(0 * 3 + 1) * 20 + 0 * 5 + 2] == 5.0f);
  const Tensor& c = t;
  BOOST_TEST(c.at(1, 2, 3, 4) == 7.0f);

  Tensor s(Shape{1, 8, 2, 3});
  BOOST_TEST((s.shape == std::vector<int64_t>{1, 8, 2, 3}));
  BOOST_TEST(s.size() == 48);
  BOOST_TEST(Tensor(std::vector<int64_t>{}).size() == 1);  // rank 0: a scalar
  BOOST_TEST(Tensor(std::vector<int64_t>{4, 0, 3}).size() == 0);
  BOOST_TEST(Tensor().size() == 0);

  BOOST_CHECK_EXCEPTION(Tensor(std::vector<int64_t>{3, 5}).nchw(), std::logic_error, [](const std::logic_error& e) {
    return std::string(e.what()) == "tensor of rank 2 [3, 5] is not N, C, H, W";
  });
  BOOST_CHECK_EXCEPTION(Tensor(std::vector<int64_t>{2, -1}), std::length_error, [](const std::length_error& e) {
    return std::string(e.what()) == "tensor shape [2, -1] has a negative dimension";
  });
  BOOST_CHECK_EXCEPTION(
      Tensor(std::vector<int64_t>{1LL << 32, 1LL << 32}), std::length_error, [](const std::length_error& e) {
        return std::string(e.what()) == "tensor shape [4294967296, 4294967296] has more elements than int64 can count";
      });
  BOOST_CHECK_THROW(Tensor(std::vector<int64_t>{1LL << 31, 1LL << 31, 4}), std::length_error);  // 2^64 bytes
}

BOOST_AUTO_TEST_CASE(npy_round_trips_awkward_shapes) {
  TempDir dir;
  const std::vector<std::vector<int64_t>> shapes = {{7}, {1, 1}, {3, 1, 5}, {2, 3, 4, 5}, {1, 2, 1, 3, 2},
                                                    {},  {0},    {4, 0, 3}, {1000003}};
  for (const auto& shape : shapes) {
    Tensor t = awkward(shape);
    BOOST_TEST_CONTEXT("shape rank " << shape.size() << ", " << t.size() << " values") {
      write_npy(dir / "t.npy", t);
      Tensor back = read_npy(dir / "t.npy");
      BOOST_TEST(back.shape == t.shape);
      BOOST_TEST(same_bits(back.data, t.data));
      // The data starts 64-byte aligned and the file holds nothing else.
      BOOST_TEST(fs::file_size(dir / "t.npy") % 64 == (t.data.size() * 4) % 64);
    }
  }
  BOOST_TEST((dir.files() == std::vector<std::string>{"t.npy"}));  // no temporary file left
}

BOOST_AUTO_TEST_CASE(npy_bytes_match_numpy) {
  TempDir dir;
  // Reading NumPy's files (format 1.0 and 2.0).
  write_bytes(dir / "v1.npy", unhex(kNumpyV1));
  Tensor a = read_npy(dir / "v1.npy");
  BOOST_TEST((a.shape == std::vector<int64_t>{2, 3}));
  const std::vector<float> expected = {0.0f, -1.5f, 3.140625f, 1e-30f, -0.0f, 65504.0f};
  BOOST_TEST(same_bits(a.data, expected));
  write_bytes(dir / "v2.npy", unhex(kNumpyV2));
  Tensor b = read_npy(dir / "v2.npy");
  BOOST_TEST((b.shape == std::vector<int64_t>{3}));
  BOOST_TEST((b.data == std::vector<float>{1.0f, 2.0f, -3.0f}));
  // Writing: the same bytes as np.save.
  write_npy(dir / "out.npy", a);
  BOOST_TEST(read_bytes(dir / "out.npy") == unhex(kNumpyV1));
  // The helper below writes the same layout as NumPy too.
  BOOST_TEST(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" + std::string(20, ' '),
                 f32_bytes(expected)) == unhex(kNumpyV1));
}

BOOST_AUTO_TEST_CASE(npy_header_over_64k_is_written_as_version_2) {
  TempDir dir;
  Tensor t(std::vector<int64_t>(30000, 1));  // "1, " x 30000: a 90,000-byte header
  t.data[0] = 42.0f;
  write_npy(dir / "long.npy", t);
  std::string bytes = read_bytes(dir / "long.npy");
  BOOST_TEST(bytes.substr(0, 8) == std::string("\x93NUMPY\x02\x00", 8));
  BOOST_TEST((bytes.size() - 4) % 64 == 0);
  Tensor back = read_npy(dir / "long.npy");
  BOOST_TEST(back.shape == t.shape);
  BOOST_TEST((back.data == std::vector<float>{42.0f}));
}

BOOST_AUTO_TEST_CASE(npy_reader_accepts_what_numpy_accepts) {
  TempDir dir;
  // Any key order and whitespace, double quotes, no trailing comma, Python 2 longs.
  write_bytes(dir / "a.npy",
              npy("{\"shape\": ( 2 ,1L ),'fortran_order':False,\n 'descr' : \"<f4\"}", f32_bytes({1.0f, 2.0f})));
  Tensor t = read_npy(dir / "a.npy");
  BOOST_TEST((t.shape == std::vector<int64_t>{2, 1}));
  BOOST_TEST((t.data == std::vector<float>{1.0f, 2.0f}));
}

BOOST_AUTO_TEST_CASE(npy_errors_name_the_file_and_the_problem) {
  const std::string good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  const std::string data = f32_bytes({1, 2, 3, 4, 5, 6});
  BOOST_TEST(npy_error(npy(good, data)) == "");

  TempDir dir;
  BOOST_TEST(error_of(dir, [&] { read_npy(dir / "missing.npy"); }) ==
             "missing.npy: cannot open: No such file or directory");
  fs::create_directory(dir / "folder.npy");
  BOOST_TEST(error_of(dir, [&] { read_npy(dir / "folder.npy"); }) == "folder.npy: is a directory, not a file");

  BOOST_TEST(npy_error(npy(good, data.substr(0, 20))) ==
             "bad.npy: truncated: shape [2, 3] of float32 needs 24 bytes of data, the file has 20");
  BOOST_TEST(npy_error(npy(good, data + "xyz")) == "bad.npy: 3 unexpected bytes after the data of shape [2, 3]");
  BOOST_TEST(npy_error(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", std::string(24, '\0'))) ==
             "bad.npy: dtype '<f8' is not supported (only little-endian float32 '<f4' is read)");
  BOOST_TEST(npy_error(npy("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", std::string(12, '\0'))) ==
             "bad.npy: dtype '<i4' is not supported (only little-endian float32 '<f4' is read)");
  BOOST_TEST(npy_error(npy("{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }", std::string(12, '\0'))) ==
             "bad.npy: dtype '>f4' is not supported (only little-endian float32 '<f4' is read)");
  BOOST_TEST(npy_error(npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }", "")) ==
             "bad.npy: structured dtypes are not supported (only little-endian float32 '<f4' is read)");
  BOOST_TEST(npy_error(npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", data)) ==
             "bad.npy: fortran_order arrays are not supported (save a C-order array, e.g. np.ascontiguousarray)");
  BOOST_TEST(npy_error("PK\x03\x04 this is a zip file") == "bad.npy: not a .npy file (no \\x93NUMPY magic)");
  BOOST_TEST(npy_error("") == "bad.npy: not a .npy file (no \\x93NUMPY magic)");
  BOOST_TEST(npy_error(std::string("\x93NUMPY\x01", 7)) == "bad.npy: truncated .npy header (7 bytes)");
  BOOST_TEST(npy_error(std::string("\x93NUMPY\x03\x00", 8) + le(uint32_t{4}) + "{}  ") ==
             "bad.npy: unsupported .npy format version 3.0 (1.0 and 2.0 are read)");
  BOOST_TEST(npy_error(std::string("\x93NUMPY\x01\x00", 8) + le(uint16_t{118}) + good) ==
             "bad.npy: truncated .npy header (header length 118, but the file has 69 bytes)");
  // Header garbage.
  BOOST_TEST(npy_error(npy("\x01\x02garbage", data)) ==
             "bad.npy: malformed .npy header (expected '{'): \\x01\\x02garbage");
  BOOST_TEST(npy_error(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } extra", data)) ==
             "bad.npy: malformed .npy header (text after the closing '}'): "
             "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } extra");
  BOOST_TEST(npy_error(npy("{'descr': '<f4', 'fortran_order': False}", data)) ==
             "bad.npy: malformed .npy header (no 'shape'): {'descr': '<f4', 'fortran_order': False}");
  BOOST_TEST(npy_error(npy("{'descr': '<f4', 'fortran_order': 0, 'shape': (6,)}", data)) ==
             "bad.npy: malformed .npy header (expected True or False after 'fortran_order'): "
             "{'descr': '<f4', 'fortran_order': 0, 'shape': (6,)}");
  BOOST_TEST(npy_error(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}", data)) ==
             "bad.npy: malformed .npy header (expected a non-negative integer in 'shape'): "
             "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}");
  BOOST_TEST(npy_error(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", data)) ==
             "bad.npy: malformed .npy header (a dimension in 'shape' does not fit int64): "
             "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}");
  BOOST_TEST(npy_error(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", data)) ==
             "bad.npy: malformed .npy header (unexpected key 'x'): "
             "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}");
  BOOST_TEST(npy_error(npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", data)) ==
             "bad.npy: malformed .npy header ('descr' given twice): "
             "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}");
  BOOST_TEST(npy_error(npy("{'descr: '<f4'}", data)) ==
             "bad.npy: malformed .npy header (expected ':' after 'descr: '): {'descr: '<f4'}");
  // Long headers are cut at 100 characters in the message.
  BOOST_TEST(npy_error(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'comment': '" +
                               std::string(100, 'x') + "'}",
                           data)) ==
             "bad.npy: malformed .npy header (unexpected key 'comment'): {'descr': '<f4', 'fortran_order': False, "
             "'shape': (2, 3), 'comment': 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...");
  // A shape whose byte count overflows is refused before anything is allocated.
  BOOST_TEST(npy_error(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", data)) ==
             "bad.npy: shape [4294967296, 4294967296] is too large");
  BOOST_TEST(npy_error(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,)}", data)) ==
             "bad.npy: truncated: shape [1000000000000] of float32 needs 4000000000000 bytes of data, the file has 24");
}

BOOST_AUTO_TEST_CASE(writes_are_whole_or_nothing) {
  TempDir dir;
  Tensor t = awkward({2, 3});
  write_npy(dir / "keep.npy", t);
  write_safetensors(dir / "keep.safetensors", {{"x", t}});
  const std::string npy_before = read_bytes(dir / "keep.npy"), st_before = read_bytes(dir / "keep.safetensors");

  Tensor bad;
  bad.shape = {2, 3};
  bad.data = {1, 2, 3, 4, 5};
  BOOST_TEST(error_of(dir, [&] { write_npy(dir / "keep.npy", bad); }) ==
             "keep.npy: cannot write a tensor of shape [2, 3] holding 5 values");
  BOOST_TEST(error_of(dir, [&] {
               write_safetensors(dir / "keep.safetensors", {{"a", t}, {"b", bad}});
             }) == "keep.safetensors: cannot write tensor 'b': shape [2, 3] holding 5 values");
  BOOST_TEST(error_of(dir, [&] {
               write_safetensors(dir / "keep.safetensors", {{"__metadata__", t}});
             }) == "keep.safetensors: cannot write a tensor named '__metadata__' (the name is reserved)");
  BOOST_TEST(error_of(dir, [&] {
               write_safetensors(dir / "keep.safetensors", {{"bad\xff", t}});
             }) == "keep.safetensors: cannot write: a tensor name is not valid UTF-8");
  BOOST_TEST(error_of(dir, [&] { write_npy(dir / "no" / "such" / "folder.npy", t); }) ==
             "no/such/folder.npy: cannot write: No such file or directory");
  BOOST_TEST(read_bytes(dir / "keep.npy") == npy_before);
  BOOST_TEST(read_bytes(dir / "keep.safetensors") == st_before);
  BOOST_TEST((dir.files() == std::vector<std::string>{"keep.npy", "keep.safetensors"}));
}

BOOST_AUTO_TEST_CASE(safetensors_round_trip) {
  TempDir dir;
  Weights w;
  w["conv.weight"] = awkward({4, 3, 3, 3});
  w["conv.bias"] = awkward({4});
  w["empty"] = awkward({2, 0});
  w["scalar"] = awkward({});
  w["deep"] = awkward({1, 2, 1, 2, 1, 3});
  write_safetensors(dir / "w.safetensors", w);
  Weights back = read_safetensors(dir / "w.safetensors");
  BOOST_TEST(back.size() == w.size());
  for (const auto& [name, t] : w) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST_REQUIRE(back.count(name) == 1);
      BOOST_TEST(back[name].shape == t.shape);
      BOOST_TEST(same_bits(back[name].data, t.data));
    }
  }
  // The layout: an 8-aligned header with the metadata PyTorch loaders look for, F32 data in
  // name order with no gaps.
  std::string bytes = read_bytes(dir / "w.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  BOOST_TEST(n % 8 == 0);
  BOOST_TEST(bytes.substr(8, 31) == R"({"__metadata__":{"format":"pt"})");
  BOOST_TEST(bytes.find(R"("conv.bias":{"data_offsets":[0,16],"dtype":"F32","shape":[4]})") != std::string::npos);
  BOOST_TEST(bytes.size() == 8 + n + (4 + 108 + 0 + 1 + 12) * 4);

  write_safetensors(dir / "none.safetensors", {});
  BOOST_TEST(read_safetensors(dir / "none.safetensors").empty());
}

BOOST_AUTO_TEST_CASE(safetensors_written_by_torch) {
  TempDir dir;
  write_bytes(dir / "torch.safetensors", unhex(kTorchSafetensors));
  Weights w = read_safetensors(dir / "torch.safetensors");
  BOOST_TEST(w.size() == 4);
  BOOST_TEST((w["conv.weight"].shape == std::vector<int64_t>{2, 2}));
  BOOST_TEST((w["conv.weight"].data == std::vector<float>{1.0f, -2.0f, 0.5f, 0.1f}));
  BOOST_TEST((w["h"].shape == std::vector<int64_t>{5}));
  BOOST_TEST((w["h"].data == std::vector<float>{1.0f, -2.0f, 65504.0f, 0x1p-24f, 0.333251953125f}));
  BOOST_TEST((w["b"].data == std::vector<float>{1.0f, -3.0f, 0.10009765625f}));  // bf16(0.1) = 0x3dcd
  BOOST_TEST((w["d"].data == std::vector<float>{0.1f, -1e-3f}));                 // rounded to nearest
}

BOOST_AUTO_TEST_CASE(f16_bf16_f64_convert_exactly) {
  // F16: zeros, one, -2, the largest normal, the smallest and largest subnormals, the smallest
  // normal, infinities, a NaN (payload kept), 1/3 rounded.
  const std::vector<uint16_t> f16 = {0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff,
                                     0x0400, 0x7c00, 0xfc00, 0x7e01, 0x3555, 0x8001};
  const std::vector<float> f16_values = {0.0f,
                                         -0.0f,
                                         1.0f,
                                         -2.0f,
                                         65504.0f,
                                         0x1p-24f,
                                         1023 * 0x1p-24f,
                                         0x1p-14f,
                                         INFINITY,
                                         -INFINITY,
                                         std::bit_cast<float>(0x7fc02000u),
                                         0.333251953125f,
                                         -0x1p-24f};
  // BF16: one, -3, infinities, the smallest subnormal, a NaN, bf16(0.1).
  const std::vector<uint16_t> bf16 = {0x3f80, 0xc040, 0x7f80, 0xff80, 0x0001, 0x7fc1, 0x3dcd, 0x8000};
  const std::vector<float> bf16_values = {
      1.0f, -3.0f, INFINITY, -INFINITY, 0x1p-133f, std::bit_cast<float>(0x7fc10000u), 0.10009765625f, -0.0f};
  // F64: rounded to nearest; past float32's range (half an ulp above FLT_MAX and beyond) infinity.
  const double fmax = std::numeric_limits<float>::max();
  const std::vector<double> f64 = {0.1, -1e-3, 1e-50, -1e300, fmax + 0x1p102, -(fmax + 0x1p103), 1e300, NAN};
  const std::vector<float> f64_values = {0.1f,
                                         -1e-3f,
                                         0.0f,
                                         -INFINITY,
                                         std::numeric_limits<float>::max(),
                                         -INFINITY,
                                         INFINITY,
                                         std::numeric_limits<float>::quiet_NaN()};

  std::string data;
  for (uint16_t v : f16) data += le(v);
  for (uint16_t v : bf16) data += le(v);
  for (double v : f64) data += le(std::bit_cast<uint64_t>(v));
  const std::string header = R"({"h":{"dtype":"F16","shape":[13],"data_offsets":[0,26]},)"
                             R"("b":{"dtype":"BF16","shape":[2,4],"data_offsets":[26,42]},)"
                             R"("d":{"dtype":"F64","shape":[8],"data_offsets":[42,106]}})";
  TempDir dir;
  write_bytes(dir / "x.safetensors", st(header, data));
  Weights w = read_safetensors(dir / "x.safetensors");
  BOOST_TEST(same_bits(w["h"].data, f16_values));
  BOOST_TEST((w["b"].shape == std::vector<int64_t>{2, 4}));
  BOOST_TEST(same_bits(w["b"].data, bf16_values));
  BOOST_TEST(same_bits(std::vector<float>(w["d"].data.begin(), w["d"].data.end() - 1),
                       std::vector<float>(f64_values.begin(), f64_values.end() - 1)));
  BOOST_TEST(std::isnan(w["d"].data.back()));
}

BOOST_AUTO_TEST_CASE(safetensors_errors_name_the_file_and_the_problem) {
  const std::string one = R"({"fc.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  BOOST_TEST(st_error(st(one, f32_bytes({1, 2}))) == "");

  TempDir dir;
  BOOST_TEST(error_of(dir, [&] { read_safetensors(dir / "missing.safetensors"); }) ==
             "missing.safetensors: cannot open: No such file or directory");
  BOOST_TEST(st_error("abc") == "w.safetensors: not a safetensors file (3 bytes, no 8-byte header length)");
  BOOST_TEST(st_error(le(uint64_t{1000}) + one) ==
             "w.safetensors: header length 1000 runs past the end of the file (70 bytes)");
  BOOST_TEST(st_error(le(~uint64_t{0}) + one) ==
             "w.safetensors: header length 18446744073709551615 runs past the end of the file (70 bytes)");
  BOOST_TEST(st_error(st("{\"a\": [1, 2,}", "")) == "w.safetensors: header is not valid JSON (error at byte 13 of 13)");
  BOOST_TEST(st_error(st("\x89PNG garbage", "")) == "w.safetensors: header is not valid JSON (error at byte 1 of 12)");
  // A number beyond a double's range (libFuzzer's find: tests/fuzz/regressions/tensor_files).
  BOOST_TEST(st_error(st("{\"a\": 1e999}", "")) == "w.safetensors: header is not valid JSON (a number out of range)");
  BOOST_TEST(st_error(st("[1, 2]", "")) == "w.safetensors: header is not a JSON object");
  BOOST_TEST(st_error(st(R"({"a": 3})", "")) == "w.safetensors: tensor 'a': entry is not a JSON object");
  BOOST_TEST(st_error(st(R"({"a": {"shape": [], "data_offsets": [0, 4]}})", "abcd")) ==
             "w.safetensors: tensor 'a': no 'dtype'");
  BOOST_TEST(st_error(st(R"({"a": {"dtype": "F32", "data_offsets": [0, 4]}})", "abcd")) ==
             "w.safetensors: tensor 'a': no 'shape'");
  BOOST_TEST(st_error(st(R"({"a": {"dtype": "F32", "shape": []}})", "abcd")) ==
             "w.safetensors: tensor 'a': no 'data_offsets'");
  BOOST_TEST(st_error(st(R"({"a": {"dtype": "I32", "shape": [1], "data_offsets": [0, 4]}})", "abcd")) ==
             "w.safetensors: tensor 'a': unsupported dtype 'I32' (F32, F16, BF16 and F64 are read)");
  BOOST_TEST(st_error(st(R"({"a": {"dtype": "float32", "shape": [1], "data_offsets": [0, 4]}})", "abcd")) ==
             "w.safetensors: tensor 'a': unsupported dtype 'float32' (F32, F16, BF16 and F64 are read)");
  BOOST_TEST(st_error(st(R"({"a": {"dtype": 4, "shape": [1], "data_offsets": [0, 4]}})", "abcd")) ==
             "w.safetensors: tensor 'a': 'dtype' is not a string");
  BOOST_TEST(st_error(st(R"({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", "abcd")) ==
             "w.safetensors: tensor 'a': 'shape' is not a list of non-negative integers");
  BOOST_TEST(st_error(st(R"({"a": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})", "abcd")) ==
             "w.safetensors: tensor 'a': 'shape' is not a list of non-negative integers");
  BOOST_TEST(st_error(st(R"({"a": {"dtype": "F32", "shape": 1, "data_offsets": [0, 4]}})", "abcd")) ==
             "w.safetensors: tensor 'a': 'shape' is not a list of non-negative integers");
  BOOST_TEST(st_error(st(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}})", "abcd")) ==
             "w.safetensors: tensor 'a': 'data_offsets' is not a pair of non-negative integers [begin, end]");
  BOOST_TEST(st_error(st(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", "abcd")) ==
             "w.safetensors: tensor 'a': 'data_offsets' is not a pair of non-negative integers [begin, end]");
  BOOST_TEST(st_error(st(R"({"a": {"dtype": "F32", "shape": [0], "data_offsets": [4, 0]}})", "abcd")) ==
             "w.safetensors: tensor 'a': data_offsets [4, 0] end before they begin");
  BOOST_TEST(st_error(st(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", "abcd")) ==
             "w.safetensors: tensor 'a': data_offsets [0, 8] run past the end of the data (4 bytes after the header)");
  BOOST_TEST(st_error(st(R"({"fc.weight": {"dtype": "F32", "shape": [10, 20], "data_offsets": [0, 400]}})",
                         std::string(400, '\0'))) ==
             "w.safetensors: tensor 'fc.weight': data_offsets [0, 400] do not match shape [10, 20] of F32 (800 bytes)");
  BOOST_TEST(st_error(st(R"({"h": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 4]}})", "abcd")) ==
             "w.safetensors: tensor 'h': data_offsets [0, 4] do not match shape [3] of BF16 (6 bytes)");
  BOOST_TEST(st_error(st(R"({"a": {"dtype": "F64", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}})",
                         "abcd")) == "w.safetensors: tensor 'a': shape [4294967296, 4294967296] of F64 is too large");
  BOOST_TEST(st_error(st(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                         R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                         std::string(12, '\0'))) ==
             "w.safetensors: tensors 'a' and 'b' overlap: data_offsets [0, 8] and [4, 12]");
  BOOST_TEST(st_error(st(R"({"big": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},)"
                         R"( "c": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
                         std::string(16, '\0'))) ==
             "w.safetensors: tensors 'big' and 'c' overlap: data_offsets [0, 16] and [8, 12]");
  BOOST_TEST(st_error(st(R"({"__metadata__": {"format": 1}})", "")) ==
             "w.safetensors: '__metadata__' is not an object of strings");
  // Empty tensors take no bytes and overlap nothing; gaps between tensors are allowed.
  BOOST_TEST(st_error(st(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                         R"( "e": {"dtype": "F16", "shape": [0, 5], "data_offsets": [4, 4]},)"
                         R"( "b": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]},)"
                         R"( "__metadata__": {"format": "pt"}})",
                         std::string(16, '\0'))) == "");
}

BOOST_AUTO_TEST_SUITE_END()
