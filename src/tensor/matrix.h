// A weight matrix [rows, cols] (y = W x) in the format it is stored in. Kernels read it
// directly; nothing is converted at load time.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace dsv3 {

enum class WeightFormat : uint8_t {
  kF32,
  kF16,
  kBF16,
  // FP8 e4m3fn values with one float32 scale per block x block tile ("weight_scale_inv"):
  // W[r][c] = fp8[r][c] * scales[(row0 + r) / block][c / block]. Edge tiles are partial.
  kFP8Block,
  // Our group-quantized formats (written by `dsv3 quantize`, layouts below).
  kQ8,
  kQ4,
  // GGUF k-quants kept quantized, repacked losslessly at load (layouts in tensor/kquant.h).
  kQ4K,
  kQ5K,
  kQ6K,
  kQ2K,
  kQ3K,
  kIQ4XS,
  kIQ2XXS,
  kIQ1S,
};
inline constexpr int kNumWeightFormats = 14;

// ---- Quantized formats kQ8 and kQ4 ----------------------------------------------------------
// Rows are stored in tiles of kQuantTileRows = 16 consecutive rows so that one 64-byte load
// holds 4 consecutive columns of 16 rows: the operand shape of AVX-512 VNNI (vpdpbusd), which
// multiplies it with 4 broadcast activation bytes and yields the 16 rows' partial sums with no
// horizontal additions (the "row-interleaved" repacking fast CPU engines do at load time, here
// done once by `dsv3 quantize`). Columns are split into groups of kQuantGroup = 32; each
// (row, group) has its own f16 scale. All multi-byte values are little-endian.
//
//   groups  = ceil(cols / 32)                  (the last group is padded)
//   tiles   = ceil(rows / 16)                  (the last tile is padded with zero rows)
//   tile t (rows 16t .. 16t+15) starts at data + t * 16 * format_row_bytes(f, cols)
//   group g of tile t is the block at tile + g * quant_block_bytes(f):
//
// kQ8 block, 544 bytes (8.5 bits per weight):
//   uint16 d[16]          f16 scale of row i of the tile
//   uint8  q[8][16][4]    q[k][i][j] = 128 + round(W[16t+i][32g+4k+j] / d[i]), in [1, 255]
//   W = d[i] * (q - 128)
// kQ4 block, 320 bytes (5 bits per weight):
//   uint16 d[16]          f16 scale of row i
//   uint16 m[16]          f16 offset of row i (the group's minimum)
//   uint8  q[4][16][4]    low nibble u[i][4k+j], high nibble u[i][16+4k+j], with
//                         u[i][c] = round((W[16t+i][32g+c] - m[i]) / d[i]), in [0, 15]
//   W = d[i] * u + m[i]
// Padded rows are zero bytes (d = m = 0: they decode to 0); padded columns of a real row hold
// q = 128 / u = 0 and are never read.
inline constexpr int64_t kQuantTileRows = 16;
inline constexpr int64_t kQuantGroup = 32;

// "f32", "f16", "bf16", "fp8", "q8", "q4", "q4_k", "q5_k", "q6_k", "q2_k", "q3_k", "iq4_xs",
// "iq2_xxs", "iq1_s";
// format_from_name is its inverse.
std::string_view format_name(WeightFormat f);
std::optional<WeightFormat> format_from_name(std::string_view name);
// kQ8 / kQ4.
bool is_quantized(WeightFormat f);
// Stored in tiles of 16 rows: kQ8, kQ4 and the k-quants.
bool is_tiled(WeightFormat f);
// Bytes of one stored row (the scales of kFP8Block not included). For tiled formats this is
// the average per row: a tile of 16 rows is 16 times as large.
int64_t format_row_bytes(WeightFormat f, int64_t cols);
// Bytes of one (tile, group) block of kQ8 / kQ4 (0 for other formats).
int64_t quant_block_bytes(WeightFormat f);
// Bytes of the `data` array of a rows x cols matrix (tiled formats' rows padded to whole tiles).
int64_t format_data_bytes(WeightFormat f, int64_t rows, int64_t cols);

struct Matrix {
  WeightFormat format = WeightFormat::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  // Row r starts at data + r * format_row_bytes(format, cols); for kQ8/kQ4 that holds for the
  // first row of each tile (r a multiple of 16), see the layout above (and tensor/kquant.h).
  const uint8_t* data = nullptr;
  // kFP8Block only:
  const float* block_scales = nullptr;  // [ceil(total_rows / block), scale_cols], row-major
  int64_t block = 128;
  int64_t scale_cols = 0;
  int64_t row0 = 0;  // index of this view's first row in the stored tensor (selects scale rows)

  bool empty() const { return data == nullptr; }
  const uint8_t* row_data(int64_t r) const { return data + r * format_row_bytes(format, cols); }
  // Rows [begin, begin + count) as a matrix of their own (per-head slices of kv_b, ...).
  // Tiled formats: begin must be a multiple of 16.
  Matrix row_slice(int64_t begin, int64_t count) const;
  // Bytes a full read of the matrix touches (weights plus scales).
  int64_t bytes() const;
};

// A view of bytes already laid out in format f (kF32, kF16, kBF16, kQ8 or kQ4; kFP8Block needs
// its scales set as well).
Matrix matrix_view(WeightFormat f, int64_t rows, int64_t cols, const uint8_t* data);

}  // namespace dsv3
