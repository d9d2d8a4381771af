// A copy of the v3-tiny golden checkpoint with one BF16 tensor overwritten with NaN: weights
// that pass every file check but make the forward's logits non-finite, for the tests of the
// commands and the server that must refuse them by name.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "io/safetensors.h"
#include "support/golden.h"

namespace dsv3::testing {

// The final norm: every logit of the main model is NaN.
inline constexpr const char* kMainNormTensor = "model.norm.weight";
// The MTP layer's head norm: the main model is intact, the MTP layer's draft logits are NaN.
inline constexpr const char* kMtpHeadNormTensor = "model.layers.2.shared_head.norm.weight";
// The embedding: with one row NaN, only a forward that feeds that token gives NaN logits.
inline constexpr const char* kEmbeddingTensor = "model.embed_tokens.weight";

// Copies the checkpoint to `dir` (replacing what is there) and fills `tensor` with BF16 NaN:
// all of it, or only its row `row` (>= 0).
inline std::string nan_checkpoint(const std::filesystem::path& dir,
                                  const std::string& tensor = kMainNormTensor, int64_t row = -1) {
  namespace fs = std::filesystem;
  const std::string src = GoldenCase("v3-tiny").checkpoint_dir();
  fs::remove_all(dir);
  fs::copy(src, dir, fs::copy_options::recursive);
  std::ifstream index_file(dir / "model.safetensors.index.json");
  const auto index = nlohmann::json::parse(index_file);
  const std::string shard = (dir / index["weight_map"][tensor].get<std::string>()).string();
  uint64_t offset = 0, bytes = 0;
  {
    auto st = SafetensorsFile::open(shard);
    EXPECT_TRUE(st.ok());
    const TensorView& t = st->tensors().at(tensor);
    EXPECT_EQ(t.dtype, DType::kBF16);
    offset = uint64_t(t.data - st->mapping().data());
    bytes = t.nbytes;
    if (row >= 0) {
      EXPECT_LT(row, t.shape[0]);
      bytes /= uint64_t(t.shape[0]);
      offset += uint64_t(row) * bytes;
    }
  }
  std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(std::streamoff(offset));
  for (uint64_t i = 0; i < bytes / 2; ++i) f.write("\xc0\x7f", 2);  // BF16 quiet NaN, little-endian
  return dir.string();
}

// A fresh directory name under the temporary directory, unique to this process.
inline std::filesystem::path nan_checkpoint_dir(const std::string& name) {
  return std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
}

}  // namespace dsv3::testing
