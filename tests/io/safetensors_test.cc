// The loader against broken files written by the test itself: every lie a header can tell
// must give one clear error naming the file and the problem, never a crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"

namespace dsv3 {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("dsv3_io_" + std::to_string(::getpid()) + "_" +
                                                 std::to_string(counter_++))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

// A raw safetensors file with the given header text and `data_bytes` of payload.
void write_raw(const std::string& path, const std::string& header, size_t data_bytes,
               uint64_t claimed_len = UINT64_MAX) {
  std::ofstream f(path, std::ios::binary);
  const uint64_t len = claimed_len == UINT64_MAX ? header.size() : claimed_len;
  for (int i = 0; i < 8; ++i) f.put(char(len >> (8 * i)));
  f << header << std::string(data_bytes, '\0');
}

std::string open_error(const std::string& path) {
  auto r = SafetensorsFile::open(path);
  return r.ok() ? "" : r.error().message;
}

TEST(Safetensors, RoundTripsWrittenTensors) {
  TempDir dir;
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::vector<uint16_t> b = {f32_to_bf16(0.5f), f32_to_bf16(-2.0f)};
  std::vector<TensorToWrite> ts = {
      {"a", DType::kF32, {2, 3}, {reinterpret_cast<const uint8_t*>(a.data()), 24}},
      {"b", DType::kBF16, {2}, {reinterpret_cast<const uint8_t*>(b.data()), 4}}};
  ASSERT_TRUE(write_safetensors(dir.file("x.safetensors"), ts, {{"format", "pt"}}).ok());
  auto st = SafetensorsFile::open(dir.file("x.safetensors"));
  ASSERT_TRUE(st.ok()) << st.error().message;
  const TensorView& ta = st->tensors().at("a");
  EXPECT_EQ(ta.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(reinterpret_cast<const float*>(ta.data)[5], 6.0f);
  EXPECT_EQ(bf16_to_f32(reinterpret_cast<const uint16_t*>(st->tensors().at("b").data)[1]), -2.0f);
  EXPECT_EQ(st->metadata().at("format"), "pt");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(ta.data) % 8, 0u) << "data must stay 8-byte aligned";
}

TEST(Safetensors, ParsesBytesInMemoryAsItReadsFiles) {
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[size_t(i)] = char(header.size() >> (8 * i));
  bytes += header + std::string(8, '\0');
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  auto st = SafetensorsFile::parse(data, bytes.size(), "in-memory.safetensors");
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->path(), "in-memory.safetensors");
  EXPECT_EQ(st->tensors().at("a").data, data + 8 + header.size());  // into the caller's bytes

  auto short_data = SafetensorsFile::parse(data, bytes.size() - 1, "in-memory.safetensors");
  ASSERT_FALSE(short_data.ok());
  EXPECT_EQ(short_data.error().message.rfind("in-memory.safetensors: ", 0), 0u)
      << short_data.error().message;
}

TEST(Safetensors, RefusesMissingAndShortFiles) {
  TempDir dir;
  EXPECT_NE(open_error(dir.file("nope.safetensors")).find("cannot open"), std::string::npos);
  std::ofstream(dir.file("short.safetensors")) << "abc";
  EXPECT_NE(open_error(dir.file("short.safetensors")).find("too short"), std::string::npos);
}

TEST(Safetensors, RefusesAbsurdHeaderLength) {
  TempDir dir;
  write_raw(dir.file("h.safetensors"), "{}", 0, uint64_t(1) << 60);
  EXPECT_NE(open_error(dir.file("h.safetensors")).find("header length"), std::string::npos);
  write_raw(dir.file("h2.safetensors"), "{}", 0, 1000);  // longer than the file
  EXPECT_NE(open_error(dir.file("h2.safetensors")).find("absurd"), std::string::npos);
}

TEST(Safetensors, RefusesBadJson) {
  TempDir dir;
  write_raw(dir.file("j.safetensors"), "{\"a\": [", 0);
  const std::string e = open_error(dir.file("j.safetensors"));
  EXPECT_NE(e.find("not a valid JSON"), std::string::npos) << e;
  EXPECT_NE(e.find("j.safetensors"), std::string::npos) << e;
}

TEST(Safetensors, RefusesOffsetsPastTheEnd) {
  TempDir dir;
  write_raw(dir.file("t.safetensors"),
            R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8);  // truncated
  const std::string e = open_error(dir.file("t.safetensors"));
  EXPECT_NE(e.find("'w'"), std::string::npos) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
}

TEST(Safetensors, RefusesSizeThatDisagreesWithShape) {
  TempDir dir;
  write_raw(dir.file("s.safetensors"),
            R"({"w":{"dtype":"BF16","shape":[4],"data_offsets":[0,16]}})", 16);
  const std::string e = open_error(dir.file("s.safetensors"));
  EXPECT_NE(e.find("expected 8"), std::string::npos) << e;
}

TEST(Safetensors, RefusesOverlappingTensors) {
  TempDir dir;
  write_raw(dir.file("o.safetensors"),
            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12);
  const std::string e = open_error(dir.file("o.safetensors"));
  EXPECT_NE(e.find("overlap"), std::string::npos) << e;
}

// The data section must be tiled exactly by the tensors, in offset order: a gap, a shift or
// bytes after the last tensor mean the header does not describe the data.
TEST(Safetensors, RefusesGapBetweenTensors) {
  TempDir dir;
  write_raw(dir.file("g.safetensors"),
            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[10,18]}})", 18);
  const std::string e = open_error(dir.file("g.safetensors"));
  EXPECT_NE(e.find("g.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("tensor 'b' has data_offsets [10, 18]"), std::string::npos) << e;
  EXPECT_NE(e.find("'a' ends at byte 8"), std::string::npos) << e;
  EXPECT_NE(e.find("gap of 2 bytes"), std::string::npos) << e;
}

TEST(Safetensors, RefusesDataThatDoesNotStartAtZero) {
  TempDir dir;
  write_raw(dir.file("z.safetensors"), R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12);
  const std::string e = open_error(dir.file("z.safetensors"));
  EXPECT_NE(e.find("data section starts at byte 0"), std::string::npos) << e;
}

TEST(Safetensors, RefusesBytesAfterTheLastTensor) {
  TempDir dir;
  write_raw(dir.file("t.safetensors"),
            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 19);
  const std::string e = open_error(dir.file("t.safetensors"));
  EXPECT_NE(e.find("t.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("has 19 bytes"), std::string::npos) << e;
  EXPECT_NE(e.find("'b' ends at byte 16"), std::string::npos) << e;
  EXPECT_NE(e.find("3 bytes are not described"), std::string::npos) << e;
  write_raw(dir.file("e.safetensors"), "{}", 8);
  EXPECT_NE(open_error(dir.file("e.safetensors")).find("lists no tensor"), std::string::npos);
}

// Bytes inserted inside the data of a file dsv3 wrote shift every later tensor: refused.
TEST(Safetensors, RefusesBytesInsertedIntoAWrittenFile) {
  TempDir dir;
  std::vector<float> a = {1, 2}, b = {3, 4};
  std::vector<TensorToWrite> ts = {
      {"a", DType::kF32, {2}, {reinterpret_cast<const uint8_t*>(a.data()), 8}},
      {"b", DType::kF32, {2}, {reinterpret_cast<const uint8_t*>(b.data()), 8}}};
  const std::string path = dir.file("w.safetensors");
  ASSERT_TRUE(write_safetensors(path, ts).ok());
  ASSERT_TRUE(SafetensorsFile::open(path).ok());
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes.insert(bytes.size() - 8, std::string(4, '\x7f'));  // between a and b
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  const std::string e = open_error(path);
  EXPECT_NE(e.find("4 bytes are not described"), std::string::npos) << e;
}

// Header order is free; only the offsets must tile the data. Empty tensors take no bytes.
TEST(Safetensors, AcceptsTensorsListedOutOfOffsetOrderAndEmptyTensors) {
  TempDir dir;
  write_raw(dir.file("o.safetensors"),
            R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
            R"("e":{"dtype":"F32","shape":[0],"data_offsets":[16,16]},)"
            R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 16);
  const std::string e = open_error(dir.file("o.safetensors"));
  EXPECT_EQ(e, "");
}

TEST(Safetensors, RefusesUnknownDtypeAndBadShape) {
  TempDir dir;
  write_raw(dir.file("d.safetensors"), R"({"w":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}})", 1);
  EXPECT_NE(open_error(dir.file("d.safetensors")).find("unsupported dtype 'F4'"), std::string::npos);
  write_raw(dir.file("n.safetensors"), R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,0]}})", 0);
  EXPECT_NE(open_error(dir.file("n.safetensors")).find("negative"), std::string::npos);
  write_raw(dir.file("m.safetensors"), R"({"w":{"dtype":"F32","shape":[1]}})", 4);
  EXPECT_NE(open_error(dir.file("m.safetensors")).find("data_offsets"), std::string::npos);
}

TEST(Checkpoint, ReadsShardsThroughTheIndex) {
  TempDir dir;
  std::vector<float> a(100, 1.0f), b(50, 2.0f);
  std::vector<TensorToWrite> ts = {
      {"a", DType::kF32, {100}, {reinterpret_cast<const uint8_t*>(a.data()), 400}},
      {"b", DType::kF32, {50}, {reinterpret_cast<const uint8_t*>(b.data()), 200}}};
  ASSERT_TRUE(write_checkpoint(dir.str(), "{}", ts, 300).ok());
  EXPECT_TRUE(fs::exists(dir.file("model-00002-of-00002.safetensors")));
  auto ck = Checkpoint::open(dir.str());
  ASSERT_TRUE(ck.ok()) << ck.error().message;
  EXPECT_EQ(ck->total_bytes(), 600u);
  EXPECT_EQ(reinterpret_cast<const float*>(ck->get("b")->data)[49], 2.0f);
  auto missing = ck->get("c");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("'c' is missing"), std::string::npos);
}

TEST(Checkpoint, RefusesIndexNamingAMissingTensorOrShard) {
  TempDir dir;
  std::vector<float> a(4, 1.0f);
  std::vector<TensorToWrite> ts = {{"a", DType::kF32, {4}, {reinterpret_cast<const uint8_t*>(a.data()), 16}}};
  ASSERT_TRUE(write_checkpoint(dir.str(), "{}", ts, 1 << 20).ok());
  std::ofstream(dir.file("model.safetensors.index.json"))
      << R"({"weight_map":{"a":"model-00001-of-00001.safetensors","ghost":"model-00001-of-00001.safetensors"}})";
  auto ck = Checkpoint::open(dir.str());
  ASSERT_FALSE(ck.ok());
  EXPECT_NE(ck.error().message.find("'ghost'"), std::string::npos) << ck.error().message;

  std::ofstream(dir.file("model.safetensors.index.json")) << R"({"weight_map":{"a":"gone.safetensors"}})";
  ck = Checkpoint::open(dir.str());
  ASSERT_FALSE(ck.ok());
  EXPECT_NE(ck.error().message.find("gone.safetensors"), std::string::npos) << ck.error().message;
}

TEST(Checkpoint, RefusesEmptyDirectory) {
  TempDir dir;
  auto ck = Checkpoint::open(dir.str());
  ASSERT_FALSE(ck.ok());
  EXPECT_NE(ck.error().message.find("no model.safetensors"), std::string::npos);
  EXPECT_FALSE(Checkpoint::open(dir.file("absent")).ok());
}

TEST(Checkpoint, TruncatedShardIsRefused) {
  TempDir dir;
  std::vector<float> a(1000, 1.0f);
  std::vector<TensorToWrite> ts = {{"a", DType::kF32, {1000}, {reinterpret_cast<const uint8_t*>(a.data()), 4000}}};
  ASSERT_TRUE(write_checkpoint(dir.str(), "{}", ts, 1 << 20).ok());
  fs::resize_file(dir.file("model-00001-of-00001.safetensors"), 2000);
  auto ck = Checkpoint::open(dir.str());
  ASSERT_FALSE(ck.ok());
  EXPECT_NE(ck.error().message.find("truncated"), std::string::npos) << ck.error().message;
}

}  // namespace
}  // namespace dsv3
