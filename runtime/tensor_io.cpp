// Tensor files: .npy (NumPy format 1.0/2.0, '<f4', C order) and .safetensors (F32 written;
// F32/F16/BF16/F64 read and converted to float32).
//
// Every error is a RuntimeError "FILE: problem". Readers check every size against the file
// before allocating, so a corrupt header cannot make them allocate more than the file holds.
// Writers go through a temporary file in the same folder and a rename: whole or nothing.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>

#include "common/atomic_file.h"
#include "runtime/runtime.h"

namespace archbench {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const fs::path& file, const std::string& message) {
  throw RuntimeError(file.string() + ": " + message);
}

// Element count and byte size of `dims` with `elem_bytes` per element; false on overflow.
bool checked_bytes(const std::vector<int64_t>& dims, uint64_t elem_bytes, uint64_t& elements, uint64_t& bytes) {
  uint64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return false;
  }
  if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
  if (__builtin_mul_overflow(n, elem_bytes, &bytes)) return false;
  elements = n;
  return true;
}

// Little-endian loads and stores, whatever the host's byte order.
template <typename T>
T load_le(const unsigned char* p) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v = static_cast<T>(v | static_cast<T>(static_cast<T>(p[i]) << (8 * i)));
  return v;
}

template <typename T>
void store_le(std::string& out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// float32 values to little-endian bytes, in place; the same call converts back.
void swap_to_le(std::vector<float>& values) {
  if constexpr (std::endian::native == std::endian::big) {
    for (float& v : values) v = std::bit_cast<float>(__builtin_bswap32(std::bit_cast<uint32_t>(v)));
  } else {
    (void)values;
  }
}

// A file open for reading, with its size; reads at absolute offsets.
class InFile {
 public:
  explicit InFile(const fs::path& file) : file_(file) {
    std::error_code ec;
    if (fs::is_directory(file, ec)) fail(file, "is a directory, not a file");
    f_ = std::fopen(file.c_str(), "rb");
    if (!f_) fail(file, std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(::fileno(f_), &st) != 0) fail(file, std::string("cannot read: ") + std::strerror(errno));
    size_ = static_cast<uint64_t>(st.st_size);
  }
  ~InFile() {
    if (f_) std::fclose(f_);
  }
  InFile(const InFile&) = delete;
  InFile& operator=(const InFile&) = delete;

  uint64_t size() const { return size_; }

  void read(uint64_t offset, void* dst, uint64_t n) {
    if (n == 0) return;
    if (offset > size_ || n > size_ - offset) fail(file_, "unexpected end of file");
    if (::fseeko(f_, static_cast<off_t>(offset), SEEK_SET) != 0)
      fail(file_, std::string("cannot read: ") + std::strerror(errno));
    size_t got = std::fread(dst, 1, static_cast<size_t>(n), f_);
    if (got != n) {
      if (std::ferror(f_)) fail(file_, std::string("cannot read: ") + std::strerror(errno));
      fail(file_, "unexpected end of file (did it change while being read?)");
    }
  }

  std::string read_string(uint64_t offset, uint64_t n) {
    std::string s(static_cast<size_t>(n), '\0');
    read(offset, s.data(), n);
    return s;
  }

 private:
  fs::path file_;
  std::FILE* f_ = nullptr;
  uint64_t size_ = 0;
};

// Writers go through AtomicFile (common/atomic_file.h); its errors become RuntimeErrors.
class AtomicWriter {
 public:
  explicit AtomicWriter(const fs::path& target) try : file_(target) {
  } catch (const std::runtime_error& e) {
    throw RuntimeError(e.what());
  }
  void write(const void* data, size_t n) {
    guard([&] { file_.write(data, n); });
  }
  void write(const std::string& s) { write(s.data(), s.size()); }
  void commit() {
    guard([&] { file_.commit(); });
  }

 private:
  template <typename F>
  static void guard(F f) {
    try {
      f();
    } catch (const std::runtime_error& e) {
      throw RuntimeError(e.what());
    }
  }
  AtomicFile file_;
};

// ---------------------------------------------------------------------------------------
// .npy

constexpr std::string_view kNpyMagic = "\x93NUMPY";

// The header as a message shows it: printable ASCII, trailing padding dropped, at most 100 chars.
std::string printable(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.remove_suffix(1);
  std::string out;
  for (char ch : s.substr(0, 100)) {
    auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(ch);
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  if (s.size() > 100) out += "...";
  return out;
}

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

// The header dictionary is a Python literal: {'descr': '<f4', 'fortran_order': False,
// 'shape': (2, 3), } — string keys, a string, a bool and a tuple of ints, any whitespace.
class NpyHeaderParser {
 public:
  NpyHeaderParser(const fs::path& file, std::string_view text) : file_(file), s_(text) {}

  NpyHeader parse() {
    NpyHeader h;
    bool have_descr = false, have_fortran = false, have_shape = false;
    ws();
    expect('{', "'{'");
    for (;;) {
      ws();
      if (peek() == '}') break;
      std::string key = string_literal("a quoted key");
      ws();
      expect(':', "':' after '" + key + "'");
      ws();
      if (key == "descr") {
        if (peek() == '[') bad("structured dtypes are not supported (only little-endian float32 '<f4' is read)");
        h.descr = string_literal("a quoted dtype after 'descr'");
        mark(have_descr, key);
      } else if (key == "fortran_order") {
        h.fortran_order = boolean();
        mark(have_fortran, key);
      } else if (key == "shape") {
        h.shape = tuple();
        mark(have_shape, key);
      } else {
        malformed("unexpected key '" + key + "'");
      }
      ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() == '}') break;
      malformed("expected ',' or '}' after the value of '" + key + "'");
    }
    ++i_;
    ws();
    if (i_ != s_.size()) malformed("text after the closing '}'");
    if (!have_descr) malformed("no 'descr'");
    if (!have_fortran) malformed("no 'fortran_order'");
    if (!have_shape) malformed("no 'shape'");
    return h;
  }

 private:
  [[noreturn]] void bad(const std::string& message) { fail(file_, message); }
  [[noreturn]] void malformed(const std::string& what) {
    bad("malformed .npy header (" + what + "): " + printable(s_));
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c, const std::string& what) {
    if (peek() != c) malformed("expected " + what);
    ++i_;
  }
  void mark(bool& seen, const std::string& key) {
    if (seen) malformed("'" + key + "' given twice");
    seen = true;
  }
  std::string string_literal(const std::string& what) {
    char q = peek();
    if (q != '\'' && q != '"') malformed("expected " + what);
    size_t end = s_.find(q, i_ + 1);
    if (end == std::string_view::npos) malformed("unterminated string");
    std::string v(s_.substr(i_ + 1, end - i_ - 1));
    if (v.find('\\') != std::string::npos) malformed("escape sequences are not supported");
    i_ = end + 1;
    return v;
  }
  bool boolean() {
    if (s_.substr(i_, 4) == "True") {
      i_ += 4;
      return true;
    }
    if (s_.substr(i_, 5) == "False") {
      i_ += 5;
      return false;
    }
    malformed("expected True or False after 'fortran_order'");
  }
  std::vector<int64_t> tuple() {
    std::vector<int64_t> dims;
    expect('(', "a tuple after 'shape'");
    for (;;) {
      ws();
      if (peek() == ')') break;
      if (peek() < '0' || peek() > '9') malformed("expected a non-negative integer in 'shape'");
      int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (__builtin_mul_overflow(v, int64_t{10}, &v) || __builtin_add_overflow(v, int64_t{peek() - '0'}, &v))
          malformed("a dimension in 'shape' does not fit int64");
        ++i_;
      }
      if (peek() == 'L') ++i_;  // Python 2 longs, from very old NumPy
      dims.push_back(v);
      ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() == ')') break;
      malformed("expected ',' or ')' in 'shape'");
    }
    ++i_;
    return dims;
  }

  const fs::path& file_;
  std::string_view s_;
  size_t i_ = 0;
};

// ---------------------------------------------------------------------------------------
// safetensors

float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in float32
    float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));  // inf, NaN (payload kept)
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

float bf16_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

// Round to nearest, overflowing to infinity as IEEE 754 does (C++ leaves out-of-range
// conversions undefined).
float double_to_float(double d) {
  constexpr double kMax = std::numeric_limits<float>::max();
  constexpr double kHalfUlp = 0x1p103;  // half of float32's ulp at its largest binade
  double a = std::fabs(d);
  if (a > kMax && !std::isnan(a)) {
    float r = a >= kMax + kHalfUlp ? std::numeric_limits<float>::infinity() : std::numeric_limits<float>::max();
    return d < 0 ? -r : r;
  }
  return static_cast<float>(d);
}

struct DType {
  const char* name;
  uint64_t bytes;
};
constexpr DType kReadable[] = {{"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F64", 8}};

struct Entry {
  std::string name;
  std::string dtype;
  uint64_t elem_bytes = 0;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

bool non_negative_int(const nlohmann::json& v) {
  return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
}

Entry parse_entry(const fs::path& file, const std::string& name, const nlohmann::json& v, uint64_t data_len) {
  auto bad = [&](const std::string& message) { fail(file, "tensor '" + name + "': " + message); };
  if (!v.is_object()) bad("entry is not a JSON object");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!v.contains(key)) bad(std::string("no '") + key + "'");
  Entry e;
  e.name = name;
  const auto& dt = v["dtype"];
  if (!dt.is_string()) bad("'dtype' is not a string");
  e.dtype = dt.get<std::string>();
  for (const DType& d : kReadable)
    if (e.dtype == d.name) e.elem_bytes = d.bytes;
  if (e.elem_bytes == 0) bad("unsupported dtype '" + e.dtype + "' (F32, F16, BF16 and F64 are read)");
  const auto& sh = v["shape"];
  if (!sh.is_array()) bad("'shape' is not a list of non-negative integers");
  for (const auto& d : sh) {
    if (!non_negative_int(d) || d.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      bad("'shape' is not a list of non-negative integers");
    e.shape.push_back(d.get<int64_t>());
  }
  const auto& off = v["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !non_negative_int(off[0]) || !non_negative_int(off[1]))
    bad("'data_offsets' is not a pair of non-negative integers [begin, end]");
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  std::string offsets = "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
  if (e.begin > e.end) bad(offsets + " end before they begin");
  if (e.end > data_len)
    bad(offsets + " run past the end of the data (" + std::to_string(data_len) + " bytes after the header)");
  uint64_t elements = 0, bytes = 0;
  if (!checked_bytes(e.shape, e.elem_bytes, elements, bytes))
    bad("shape " + dims_text(e.shape) + " of " + e.dtype + " is too large");
  if (e.end - e.begin != bytes)
    bad(offsets + " do not match shape " + dims_text(e.shape) + " of " + e.dtype + " (" + std::to_string(bytes) +
        " bytes)");
  return e;
}

}  // namespace

// ---------------------------------------------------------------------------------------

Tensor read_npy(const fs::path& file) {
  InFile in(file);
  const uint64_t size = in.size();
  std::string pre = in.read_string(0, std::min<uint64_t>(size, 12));
  if (pre.size() < kNpyMagic.size() || std::string_view(pre).substr(0, kNpyMagic.size()) != kNpyMagic)
    fail(file, "not a .npy file (no \\x93NUMPY magic)");
  if (pre.size() < 10) fail(file, "truncated .npy header (" + std::to_string(size) + " bytes)");
  auto major = static_cast<unsigned char>(pre[6]), minor = static_cast<unsigned char>(pre[7]);
  uint64_t header_len = 0, header_start = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(pre.data());
  if (major == 1 && minor == 0) {
    header_len = load_le<uint16_t>(p + 8);
    header_start = 10;
  } else if (major == 2 && minor == 0) {
    if (pre.size() < 12) fail(file, "truncated .npy header (" + std::to_string(size) + " bytes)");
    header_len = load_le<uint32_t>(p + 8);
    header_start = 12;
  } else {
    fail(file, "unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor) +
                   " (1.0 and 2.0 are read)");
  }
  if (header_len > size - header_start)
    fail(file, "truncated .npy header (header length " + std::to_string(header_len) + ", but the file has " +
                   std::to_string(size) + " bytes)");
  std::string text = in.read_string(header_start, header_len);
  NpyHeader h = NpyHeaderParser(file, text).parse();
  if (h.descr != "<f4")
    fail(file, "dtype '" + h.descr + "' is not supported (only little-endian float32 '<f4' is read)");
  if (h.fortran_order)
    fail(file, "fortran_order arrays are not supported (save a C-order array, e.g. np.ascontiguousarray)");
  uint64_t elements = 0, bytes = 0;
  if (!checked_bytes(h.shape, 4, elements, bytes)) fail(file, "shape " + dims_text(h.shape) + " is too large");
  const uint64_t data_start = header_start + header_len, have = size - data_start;
  if (have < bytes)
    fail(file, "truncated: shape " + dims_text(h.shape) + " of float32 needs " + std::to_string(bytes) +
                   " bytes of data, the file has " + std::to_string(have));
  if (have > bytes)
    fail(file, std::to_string(have - bytes) + " unexpected bytes after the data of shape " + dims_text(h.shape));
  Tensor t;
  t.shape = h.shape;
  t.data.resize(static_cast<size_t>(elements));
  in.read(data_start, t.data.data(), bytes);
  swap_to_le(t.data);
  return t;
}

void write_npy(const fs::path& file, const Tensor& tensor) {
  uint64_t elements = 0, bytes = 0;
  if (!checked_bytes(tensor.shape, 4, elements, bytes) || elements != tensor.data.size())
    fail(file, "cannot write a tensor of shape " + dims_text(tensor.shape) + " holding " +
                   std::to_string(tensor.data.size()) + " values");
  // NumPy's own layout, byte for byte (numpy/lib/format.py): the dict, spare spaces for the
  // first dimension to grow to 21 digits, padding so that the data starts 64-byte aligned
  // (1 to 64 spaces), '\n'; version 1.0 unless the header needs more than 65535 bytes.
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < tensor.shape.size(); ++i) dict += (i ? ", " : "") + std::to_string(tensor.shape[i]);
  dict += tensor.shape.size() == 1 ? ",), }" : "), }";
  if (!tensor.shape.empty()) dict.append(21 - std::min<size_t>(21, std::to_string(tensor.shape[0]).size()), ' ');
  auto wrapped = [&](size_t prefix) {
    size_t pad = 64 - (prefix + dict.size() + 1) % 64;
    return dict + std::string(pad, ' ') + "\n";
  };
  std::string header = wrapped(10);
  std::string out(kNpyMagic);
  if (header.size() <= 65535) {
    out += std::string("\x01\x00", 2);
    store_le(out, static_cast<uint16_t>(header.size()));
  } else {
    header = wrapped(12);
    out += std::string("\x02\x00", 2);
    store_le(out, static_cast<uint32_t>(header.size()));
  }
  out += header;
  AtomicWriter w(file);
  w.write(out);
  if constexpr (std::endian::native == std::endian::little) {
    w.write(tensor.data.data(), tensor.data.size() * sizeof(float));
  } else {
    std::vector<float> le = tensor.data;
    swap_to_le(le);
    w.write(le.data(), le.size() * sizeof(float));
  }
  w.commit();
}

Weights read_safetensors(const fs::path& file) {
  InFile in(file);
  const uint64_t size = in.size();
  if (size < 8) fail(file, "not a safetensors file (" + std::to_string(size) + " bytes, no 8-byte header length)");
  unsigned char len_bytes[8];
  in.read(0, len_bytes, 8);
  const uint64_t header_len = load_le<uint64_t>(len_bytes);
  if (header_len > size - 8)
    fail(file, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                   std::to_string(size) + " bytes)");
  std::string text = in.read_string(8, header_len);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail(file, "header is not valid JSON (error at byte " + std::to_string(e.byte) + " of " +
                   std::to_string(header_len) + ")");
  } catch (const nlohmann::json::out_of_range&) {
    // A number too large for a double (found by tests/fuzz/fuzz_tensor_files).
    fail(file, "header is not valid JSON (a number out of range)");
  }
  if (!header.is_object()) fail(file, "header is not a JSON object");
  const uint64_t data_start = 8 + header_len, data_len = size - data_start;

  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      bool ok = value.is_object();
      if (ok)
        for (const auto& m : value) ok = ok && m.is_string();
      if (!ok) fail(file, "'__metadata__' is not an object of strings");
      continue;
    }
    entries.push_back(parse_entry(file, name, value, data_len));
  }

  // Byte ranges must not overlap (empty tensors occupy nothing).
  std::vector<const Entry*> by_offset;
  for (const Entry& e : entries)
    if (e.end > e.begin) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  const Entry* reach = nullptr;  // the entry reaching furthest so far
  for (const Entry* e : by_offset) {
    if (reach && e->begin < reach->end)
      fail(file, "tensors '" + reach->name + "' and '" + e->name + "' overlap: data_offsets [" +
                     std::to_string(reach->begin) + ", " + std::to_string(reach->end) + "] and [" +
                     std::to_string(e->begin) + ", " + std::to_string(e->end) + "]");
    if (!reach || e->end > reach->end) reach = e;
  }

  Weights weights;
  for (const Entry& e : entries) {
    Tensor t;
    t.shape = e.shape;
    const uint64_t n = (e.end - e.begin) / e.elem_bytes;
    t.data.resize(static_cast<size_t>(n));
    const uint64_t at = data_start + e.begin;
    if (e.dtype == "F32") {
      in.read(at, t.data.data(), e.end - e.begin);
      swap_to_le(t.data);
    } else {
      std::vector<unsigned char> raw(static_cast<size_t>(e.end - e.begin));
      in.read(at, raw.data(), raw.size());
      for (size_t i = 0; i < t.data.size(); ++i) {
        const unsigned char* p = raw.data() + i * e.elem_bytes;
        if (e.dtype == "F16")
          t.data[i] = half_to_float(load_le<uint16_t>(p));
        else if (e.dtype == "BF16")
          t.data[i] = bf16_to_float(load_le<uint16_t>(p));
        else
          t.data[i] = double_to_float(std::bit_cast<double>(load_le<uint64_t>(p)));
      }
    }
    weights.emplace(e.name, std::move(t));
  }
  return weights;
}

void write_safetensors(const fs::path& file, const Weights& weights) {
  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const auto& [name, t] : weights) {
    if (name == "__metadata__") fail(file, "cannot write a tensor named '__metadata__' (the name is reserved)");
    uint64_t elements = 0, bytes = 0;
    if (!checked_bytes(t.shape, 4, elements, bytes) || elements != t.data.size())
      fail(file, "cannot write tensor '" + name + "': shape " + dims_text(t.shape) + " holding " +
                     std::to_string(t.data.size()) + " values");
    header[name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::type_error&) {
    fail(file, "cannot write: a tensor name is not valid UTF-8");
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::string prefix;
  store_le(prefix, static_cast<uint64_t>(text.size()));
  AtomicWriter w(file);
  w.write(prefix);
  w.write(text);
  for (const auto& [name, t] : weights) {
    if constexpr (std::endian::native == std::endian::little) {
      w.write(t.data.data(), t.data.size() * sizeof(float));
    } else {
      std::vector<float> le = t.data;
      swap_to_le(le);
      w.write(le.data(), le.size() * sizeof(float));
    }
  }
  w.commit();
}

Tensor read_input(const fs::path& file, const Shape& shape) {
  Tensor x = read_npy(file);
  if (x.shape.size() != 4 || x.nchw() != shape)
    fail(file, "the input has shape " + dims_text(x.shape) + ", the network takes " +
                   dims_text(shape));
  return x;
}

}  // namespace archbench
