// The GGUF reader against files written by the test's own writer, and against
// broken ones: every lie a header can tell gives one clear error naming the
// file and the problem.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/gguf.h"
#include "io/gguf_writer.h"

namespace dsv3 {
namespace {

namespace fs = std::filesystem;

class TempDir {
public:
  TempDir()
      : path_(fs::temp_directory_path() /
              ("dsv3_gguf_" + std::to_string(::getpid()) + "_" +
               std::to_string(counter_++))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string &name) const {
    return (path_ / name).string();
  }

private:
  static inline int counter_ = 0;
  fs::path path_;
};

std::vector<uint8_t> f32_bytes(const std::vector<float> &v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

void write_bytes(const std::string &path, const std::vector<uint8_t> &bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char *>(bytes.data()),
          std::streamsize(bytes.size()));
}

template <typename T> void poke(std::vector<uint8_t> &bytes, size_t at, T v) {
  std::memcpy(bytes.data() + at, &v, sizeof(T));
}

std::string open_error(const std::string &path) {
  auto r = GgufFile::open(path);
  return r.ok() ? "" : r.error().message;
}

// A file with no metadata and one F32 tensor "t" of ne = {4, 2}. Its tensor
// info starts at byte 24: u64 name length (1) | "t" | u32 n_dims @33 | u64
// ne[0] @37 | u64 ne[1] @45 | u32 type @53 | u64 offset @57; the data section
// starts at 96.
std::vector<uint8_t> one_tensor_file() {
  GgufWriter w;
  w.add_tensor("t", GgmlType::kF32, {4, 2},
               f32_bytes({1, 2, 3, 4, 5, 6, 7, 8}));
  return w.serialize();
}
constexpr size_t kNDimsAt = 33, kNe0At = 37, kTypeAt = 53, kOffsetAt = 57;

TEST(GgufReader, RoundTripsMetadataAndTensors) {
  TempDir dir;
  GgufWriter w;
  w.add_string("general.architecture", "deepseek2");
  w.add_uint32("deepseek2.block_count", 61);
  w.add_int32("some.negative", -5);
  w.add_uint64("big", uint64_t(1) << 40);
  w.add_float32("deepseek2.expert_weights_scale", 2.5f);
  w.add_bool("deepseek2.expert_weights_norm", true);
  w.add_string_array("tokenizer.ggml.tokens", {"a", "", "\xc4\xa0the"});
  w.add_int32_array("tokenizer.ggml.token_type", {1, 3, 1});
  w.add_tensor("w", GgmlType::kF32, {4, 2},
               f32_bytes({1, 2, 3, 4, 5, 6, 7, 8}));
  w.add_tensor("v", GgmlType::kF32, {3}, f32_bytes({9, 10, 11}));
  ASSERT_TRUE(w.write(dir.file("m.gguf")).ok());

  auto f = GgufFile::open(dir.file("m.gguf"));
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->version(), 3u);
  const GgufMetadata &md = f->metadata();
  EXPECT_EQ(md.get_string("general.architecture").value(), "deepseek2");
  EXPECT_EQ(md.get_int("deepseek2.block_count").value(), 61);
  EXPECT_EQ(md.get_int("some.negative").value(), -5);
  EXPECT_EQ(md.get_int("big").value(), int64_t(1) << 40);
  EXPECT_EQ(md.get_float("deepseek2.expert_weights_scale").value(), 2.5);
  EXPECT_EQ(md.get_float("deepseek2.block_count").value(),
            61.0); // integers read as numbers too
  EXPECT_TRUE(md.get_bool("deepseek2.expert_weights_norm").value());
  EXPECT_EQ(md.get_string_array("tokenizer.ggml.tokens").value(),
            (std::vector<std::string>{"a", "", "\xc4\xa0the"}));
  EXPECT_EQ(md.get_int_array("tokenizer.ggml.token_type").value(),
            (std::vector<int64_t>{1, 3, 1}));
  EXPECT_EQ(md.get_int_or("absent", 7).value(), 7);

  const GgufTensor &t = f->tensors().at("w");
  EXPECT_EQ(t.type, GgmlType::kF32);
  EXPECT_EQ(t.ne, (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(t.torch_shape(), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(t.nbytes, 32u);
  EXPECT_EQ(reinterpret_cast<const float *>(t.data)[7], 8.0f);
  EXPECT_EQ(reinterpret_cast<const float *>(f->tensors().at("v").data)[2],
            11.0f);
  EXPECT_EQ((t.data - f->mapping().data()) % 32, 0);
}

TEST(GgufReader, ParsesBytesInMemoryAsItReadsFiles) {
  std::vector<uint8_t> bytes = one_tensor_file();
  auto f = GgufFile::parse(bytes.data(), bytes.size(), "in-memory.gguf");
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->path(), "in-memory.gguf");
  const GgufTensor &t = f->tensors().at("t");
  EXPECT_EQ(t.data, bytes.data() + 96); // points into the caller's bytes
  EXPECT_EQ(reinterpret_cast<const float *>(t.data)[7], 8.0f);

  auto files = GgufModelFiles::from_file(std::move(*f));
  ASSERT_TRUE(files.ok()) << files.error().message;
  EXPECT_EQ(files->num_parts(), 1u);
  EXPECT_EQ(files->path(), "in-memory.gguf");
  EXPECT_EQ(files->get("t")->nbytes, 32u);

  poke<uint64_t>(bytes, kOffsetAt, 64); // past the data section's 32 bytes
  auto bad = GgufFile::parse(bytes.data(), bytes.size(), "in-memory.gguf");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message.rfind("in-memory.gguf: tensor 't'", 0), 0u)
      << bad.error().message;

  GgufWriter part; // a part of a split model is not a whole model
  part.add_uint32("split.no", 1);
  part.add_uint32("split.count", 2);
  const std::vector<uint8_t> part_bytes = part.serialize();
  auto one = GgufFile::parse(part_bytes.data(), part_bytes.size(), "part.gguf");
  ASSERT_TRUE(one.ok()) << one.error().message;
  auto refused = GgufModelFiles::from_file(std::move(*one));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("split.count = 2, split.no = 1"),
            std::string::npos)
      << refused.error().message;
}

TEST(GgufReader, GettersNameKeyAndTypes) {
  TempDir dir;
  GgufWriter w;
  w.add_string("name", "x");
  w.add_float32("f", 1.5f);
  ASSERT_TRUE(w.write(dir.file("m.gguf")).ok());
  auto f = GgufFile::open(dir.file("m.gguf"));
  ASSERT_TRUE(f.ok()) << f.error().message;
  auto i = f->metadata().get_int("name");
  ASSERT_FALSE(i.ok());
  EXPECT_NE(i.error().message.find("'name' is string, expected an integer"),
            std::string::npos)
      << i.error().message;
  EXPECT_FALSE(f->metadata().get_int("f").ok());
  auto missing = f->metadata().get_string("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("'nope' is missing"),
            std::string::npos);
  EXPECT_FALSE(f->metadata().get_string_array("name").ok());
}

TEST(GgufReader, ReadsVersion2) {
  TempDir dir;
  GgufWriter w(2);
  w.add_uint32("general.alignment", 64);
  w.add_tensor("a", GgmlType::kF32, {2}, f32_bytes({1, 2}));
  w.add_tensor("b", GgmlType::kF32, {2}, f32_bytes({3, 4}));
  ASSERT_TRUE(w.write(dir.file("v2.gguf")).ok());
  auto f = GgufFile::open(dir.file("v2.gguf"));
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->version(), 2u);
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ((f->tensors().at("b").data - f->mapping().data()) % 64, 0);
  EXPECT_EQ(reinterpret_cast<const float *>(f->tensors().at("b").data)[1],
            4.0f);
}

struct Corruption {
  const char *what;
  std::function<void(std::vector<uint8_t> &)> apply;
  const char *expected_message;
};

TEST(GgufReader, RefusesBrokenHeadersByName) {
  const std::vector<Corruption> cases = {
      {"magic", [](auto &b) { b[0] = 'X'; }, "magic is not \"GGUF\""},
      {"version 1", [](auto &b) { poke<uint32_t>(b, 4, 1); },
       "GGUF version 1 is not supported"},
      {"version 4", [](auto &b) { poke<uint32_t>(b, 4, 4); },
       "GGUF version 4 is not supported"},
      {"tensor count", [](auto &b) { poke<uint64_t>(b, 8, uint64_t(1) << 60); },
       "tensor count 1152921504606846976 is absurd"},
      {"kv count", [](auto &b) { poke<uint64_t>(b, 16, 1000000); },
       "metadata count 1000000 is absurd"},
      {"name length", [](auto &b) { poke<uint64_t>(b, 24, uint64_t(1) << 40); },
       "a tensor name at byte 24 claims 1099511627776 bytes"},
      {"n_dims", [](auto &b) { poke<uint32_t>(b, kNDimsAt, 5); },
       "tensor 't' has 5 dimensions"},
      {"zero dim", [](auto &b) { poke<uint64_t>(b, kNe0At, 0); },
       "tensor 't': dimension 0 is 0"},
      {"unknown type", [](auto &b) { poke<uint32_t>(b, kTypeAt, 4); },
       "tensor 't' has ggml type 4, which is not a known type"},
      {"block size",
       [](auto &b) { poke<uint32_t>(b, kTypeAt, uint32_t(GgmlType::kQ4_K)); },
       "row length 4 is not a multiple of 256, the block size of Q4_K"},
      {"misaligned", [](auto &b) { poke<uint64_t>(b, kOffsetAt, 4); },
       "offset 4 is not a multiple of the alignment 32"},
      {"past the end", [](auto &b) { poke<uint64_t>(b, kOffsetAt, 64); },
       "lie past its end (32 bytes; truncated or corrupt file?)"},
      {"truncated data", [](auto &b) { b.resize(b.size() - 4); },
       "lie past its end"},
      {"truncated header", [](auto &b) { b.resize(60); },
       "truncated at byte 57"},
  };
  TempDir dir;
  for (const auto &c : cases) {
    std::vector<uint8_t> bytes = one_tensor_file();
    ASSERT_EQ(bytes.size(), 128u);
    c.apply(bytes);
    const std::string path = dir.file("bad.gguf");
    write_bytes(path, bytes);
    const std::string err = open_error(path);
    EXPECT_NE(err.find(c.expected_message), std::string::npos)
        << c.what << ": " << err;
    EXPECT_NE(err.find(path), std::string::npos) << c.what << ": " << err;
  }
}

TEST(GgufReader, RefusesOverlapDuplicatesAndBadAlignment) {
  TempDir dir;
  { // Two tensors whose offsets both say 0.
    GgufWriter w;
    w.add_tensor("a", GgmlType::kF32, {8},
                 f32_bytes(std::vector<float>(8, 1.0f)));
    w.add_tensor("b", GgmlType::kF32, {8},
                 f32_bytes(std::vector<float>(8, 2.0f)));
    std::vector<uint8_t> bytes = w.serialize();
    // Second tensor info: 24 + (8+1+4+8+4+8) = 57; its offset field is 25 bytes
    // further.
    poke<uint64_t>(bytes, 57 + 25, 0);
    write_bytes(dir.file("overlap.gguf"), bytes);
    EXPECT_NE(open_error(dir.file("overlap.gguf"))
                  .find("tensors 'a' and 'b' overlap"),
              std::string::npos)
        << open_error(dir.file("overlap.gguf"));
  }
  {
    GgufWriter w;
    w.add_tensor("a", GgmlType::kF32, {2}, f32_bytes({1, 2}));
    w.add_tensor("a", GgmlType::kF32, {2}, f32_bytes({1, 2}));
    write_bytes(dir.file("dup.gguf"), w.serialize());
    EXPECT_NE(open_error(dir.file("dup.gguf")).find("tensor 'a' appears twice"),
              std::string::npos);
  }
  {
    GgufWriter w;
    w.add_string("k", "x");
    w.add_string("k", "y");
    write_bytes(dir.file("dupkey.gguf"), w.serialize());
    EXPECT_NE(open_error(dir.file("dupkey.gguf"))
                  .find("metadata key 'k' appears twice"),
              std::string::npos);
  }
  {
    GgufWriter w;
    w.add_uint32("general.alignment", 48);
    write_bytes(dir.file("align.gguf"), w.serialize());
    EXPECT_NE(
        open_error(dir.file("align.gguf")).find("general.alignment is 48"),
        std::string::npos)
        << open_error(dir.file("align.gguf"));
  }
  { // An array that claims more elements than the file has bytes.
    GgufWriter w;
    w.add_int32_array("arr", {1, 2, 3});
    std::vector<uint8_t> bytes = w.serialize();
    // key: u64 len @24 + "arr" | u32 type @35 | u32 elem type @39 | u64 count
    // @43
    poke<uint64_t>(bytes, 43, uint64_t(1) << 59);
    write_bytes(dir.file("arr.gguf"), bytes);
    EXPECT_NE(open_error(dir.file("arr.gguf")).find("metadata 'arr': array of"),
              std::string::npos)
        << open_error(dir.file("arr.gguf"));
  }
  EXPECT_NE(open_error(dir.file("absent.gguf")).find("absent.gguf"),
            std::string::npos);
}

TEST(GgufReader, OpensSplitFilesFromAnyPart) {
  TempDir dir;
  const std::string prefix = dir.file("model");
  for (int i = 1; i <= 3; ++i) {
    GgufWriter w;
    w.add_uint32("split.no", uint32_t(i - 1));
    w.add_uint32("split.count", 3);
    if (i == 1) {
      w.add_string("general.architecture", "deepseek2");
      w.add_int32("split.tensors.count", 3);
    }
    w.add_tensor("t" + std::to_string(i), GgmlType::kF32, {2},
                 f32_bytes({float(i), 0}));
    ASSERT_TRUE(w.write(gguf_split_path(prefix, i, 3)).ok());
  }
  EXPECT_EQ(gguf_split_path(prefix, 2, 3), prefix + "-00002-of-00003.gguf");
  auto m = GgufModelFiles::open(prefix + "-00002-of-00003.gguf");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->num_parts(), 3u);
  EXPECT_EQ(m->metadata().get_string("general.architecture").value(),
            "deepseek2");
  ASSERT_TRUE(m->has("t3"));
  EXPECT_EQ(reinterpret_cast<const float *>(m->get("t3")->data)[0], 3.0f);
  EXPECT_FALSE(m->get("t4").ok());

  fs::remove(gguf_split_path(prefix, 3, 3));
  auto missing = GgufModelFiles::open(prefix + "-00001-of-00003.gguf");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("model-00003-of-00003.gguf"),
            std::string::npos)
      << missing.error().message;

  GgufWriter wrong; // part 3 claims to be part 1
  wrong.add_uint32("split.no", 0);
  wrong.add_uint32("split.count", 3);
  ASSERT_TRUE(wrong.write(gguf_split_path(prefix, 3, 3)).ok());
  auto mismatch = GgufModelFiles::open(prefix + "-00001-of-00003.gguf");
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.error().message.find("split.no = 0, expected 3 and 2"),
            std::string::npos)
      << mismatch.error().message;
}

TEST(GgufReader, SplitNames) {
  auto s = parse_gguf_split_name("/x/DeepSeek-V3-Q4_K_M-00002-of-00009.gguf");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->prefix, "/x/DeepSeek-V3-Q4_K_M");
  EXPECT_EQ(s->index, 2);
  EXPECT_EQ(s->count, 9);
  EXPECT_FALSE(parse_gguf_split_name("/x/model.gguf").has_value());
  EXPECT_FALSE(parse_gguf_split_name("/x/m-00003-of-00002.gguf").has_value());
}

} // namespace
} // namespace dsv3
