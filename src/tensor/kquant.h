// GGUF k-quant matrices kept quantized in memory: Q2_K, Q3_K, Q4_K, Q5_K and Q6_K rows (ggml's
// super-blocks of 256 weights, tensor/gguf_blocks.h), and IQ4_XS, IQ2_XXS and IQ1_S rows
// (super-blocks of 256 too), repacked, losslessly, at load into the 16-row tiles the int8
// kernels read (the same row interleaving as our q8 / q4, tensor/matrix.h), so a vpdpbusd on
// 64 bytes yields 4 columns of 16 rows. Nothing is requantized: every weight decodes to the
// float the GGUF block decodes to, bit for bit.
//
// Rows are stored in tiles of 16 (kQuantTileRows), padded with zero rows; columns in
// super-blocks of 256 (cols must be a multiple of 256, as GGUF requires of these types).
// Super-block s of tile t starts at data + (t * cols / 256 + s) * kquant_block_bytes(f).
// Group g (0..7) is columns 32g .. 32g + 31 of the super-block; i is the row inside the tile.
//
// kQ4K super-block tile, 2368 bytes (4.625 bits per weight; the file's Q4_K: 4.5):
//   uint16 d[16], dmin[16]        f16 super-block scale and min scale of row i
//   uint8  sc[8][16], m[8][16]    the 6-bit scale and min of group g, row i (unpacked)
//   uint8  q[8][4][16][4]         group g: as our q4 (low nibble u[i][4k+j], high nibble
//                                 u[i][16+4k+j] at 256 g + 64 k + 4 i + j)
//   W = (d[i] * sc[g][i]) * u - dmin[i] * m[g][i]        (ggml's dequantize_row_q4_K)
// kQ5K super-block tile, 2880 bytes (5.625 bits per weight; the file's Q5_K: 5.5): as kQ4K
// with groups of 320 bytes: the low 4 bits of u (0..31) as kQ4K's nibbles, then the fifth
// bits (64 bytes): byte 4 i + j holds at bit k that of u[i][4k + j] and at bit 4 + k that of
// u[i][16 + 4k + j] (k = 0..3).                           (ggml's dequantize_row_q5_K)
// kQ6K super-block tile, 3360 bytes (6.5625 bits per weight, as the file's Q6_K):
//   uint16 d[16]                  f16 super-block scale of row i
//   int8   sc[16][16]             scale of sub-block s (16 columns), row i
//   group g, 384 bytes:           low 4 bits of q: the q4 nibble layout (256 bytes), then
//                                 the high 2 bits (128 bytes): byte 64 h + 4 i + j holds,
//                                 at bits 2k .. 2k+1, those of q[i][16h + 4k + j] (k = 0..3)
//   W = (d[i] * sc[2g + c / 16][i]) * (q - 32)          (ggml's dequantize_row_q6_K)
// kQ2K super-block tile, 1344 bytes (2.625 bits per weight, as the file's Q2_K):
//   uint16 d[16], dmin[16]        f16 super-block scale and min scale of row i
//   uint8  sm[16][16]             the file's byte of sub-block s (16 columns), row i: low
//                                 nibble the scale, high nibble the min
//   uint8  q[8][128]              group g: 2-bit codes as kQ6K's high bits: byte 64 h + 4 i + j
//                                 holds, at bits 2k .. 2k+1, q[i][16h + 4k + j] (k = 0..3)
//   W = (d[i] * (sm & 15)) * q - dmin[i] * (sm >> 4)      (ggml's dequantize_row_q2_K)
// kQ3K super-block tile, 1824 bytes (3.5625 bits per weight; the file's Q3_K: 3.4375):
//   uint16 d[16]                  f16 super-block scale of row i
//   int8   sc[16][16]             the 6-bit scale of sub-block s minus 32, row i (unpacked)
//   group g, 192 bytes:           the low 2 bits of u (0..7) as kQ2K's codes (128 bytes), then
//                                 the third bits (64 bytes) as kQ5K's fifth bits (byte 4 i + j,
//                                 bit k: u[i][4k + j], bit 4 + k: u[i][16 + 4k + j]); u is the
//                                 file's 2 bits plus 4 where its hmask bit is set
//   W = (d[i] * sc[2g + c / 16][i]) * (u - 4)           (ggml's dequantize_row_q3_K)
// kIQ4XS super-block tile, 2208 bytes (4.3125 bits per weight; the file's IQ4_XS: 4.25):
//   uint16 d[16]                  f16 super-block scale of row i
//   int8   sc[8][16]              the 6-bit scale of group g minus 32, row i (unpacked)
//   uint8  q[8][4][16][4]         group g: the 4-bit level codes u as kQ4K's nibbles (the
//                                 file's nibble order: low nibbles columns 0..15, high 16..31)
//   W = (d[i] * sc[g][i]) * kIq4nlValues[u]             (ggml's dequantize_row_iq4_xs)
// kIQ2XXS super-block tile, 1184 bytes (2.3125 bits per weight; the file's IQ2_XXS: 2.0625):
//   uint16 d[16]                  f16 super-block scale of row i
//   uint8  ls[8][16]              the 4-bit scale of group g, row i
//   group g, 128 bytes:           the grid indices (64 bytes): byte 16 l + i indexes
//                                 kIq2xxsGrid for columns 8l .. 8l + 7 of row i (l = 0..3);
//                                 then the signs, one bit per weight (64 bytes): the 8 bytes
//                                 at 64 + 8 k are a little-endian mask of 4 columns of 16 rows
//                                 (bit 4 i + j: column 4k + j of row i is negative), the
//                                 file's 7-bit patterns expanded by their parity bit
//   W = (d[i] * (0.5 + ls) * 0.25) * grid[c % 8] * (sign ? -1 : 1)
//                                                         (ggml's dequantize_row_iq2_xxs)
//   The kernel turns 16 rows' indices into their 4 values of a quad (the magnitudes 8, 25, 43)
//   as one 64-byte operand, which one 64-bit kmask of the signs covers.
// kIQ1S super-block tile, 928 bytes (1.8125 bits per weight; the file's IQ1_S: 1.5625):
//   uint16 d[16]                  f16 super-block scale of row i
//   uint8  sd[8][16]              group g, row i: the file's top 4 bits of qh[g]: bits 0..2
//                                 the scale s, bit 3 set where the delta is -1/8
//   group g, 96 bytes:            the low 8 bits of the grid indices (64 bytes): byte 16 l + i
//                                 for columns 8l .. 8l + 7 of row i (l = 0..3); then their high
//                                 3 bits (32 bytes): byte 64 + 16 p + i holds chunk 2p's at
//                                 bits 0..2 and chunk 2p + 1's at bits 4..6
//   W = (d[i] * (2 s + 1)) * (kIq1sGrid[index][c % 8] + delta)
//                                                         (ggml's dequantize_row_iq1_s)
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "tensor/gguf_blocks.h"
#include "tensor/matrix.h"

namespace dsv3 {

inline constexpr int64_t kKQuantSuperBlock = 256;
inline constexpr int64_t kQ4KBlockBytes = 64 + 256 + 8 * 256;
inline constexpr int64_t kQ5KBlockBytes = 64 + 256 + 8 * 320;
inline constexpr int64_t kQ6KBlockBytes = 32 + 256 + 8 * 384;
inline constexpr int64_t kQ2KBlockBytes = 64 + 256 + 8 * 128;
inline constexpr int64_t kQ3KBlockBytes = 32 + 256 + 8 * 192;
inline constexpr int64_t kIQ4XSBlockBytes = 32 + 128 + 8 * 256;
inline constexpr int64_t kIQ2XXSBlockBytes = 32 + 128 + 8 * 128;
inline constexpr int64_t kIQ1SBlockBytes = 32 + 128 + 8 * 96;

inline constexpr WeightFormat kKQuantFormats[] = {WeightFormat::kQ2K, WeightFormat::kQ3K,
                                                  WeightFormat::kQ4K, WeightFormat::kQ5K,
                                                  WeightFormat::kQ6K, WeightFormat::kIQ4XS,
                                                  WeightFormat::kIQ2XXS, WeightFormat::kIQ1S};
// One of kKQuantFormats.
bool is_kquant(WeightFormat f);
// Bytes of one (tile, super-block) block (0 for other formats).
int64_t kquant_block_bytes(WeightFormat f);

// The format a GGUF type is held in (kQ2K for Q2_K, ..., kQ6K for Q6_K, kIQ4XS for IQ4_XS,
// kIQ2XXS for IQ2_XXS, kIQ1S for IQ1_S), or nullopt.
std::optional<WeightFormat> kquant_format_of(GgmlType t);
// Its inverse: the GGUF type a k-quant format is repacked from.
GgmlType kquant_source_type(WeightFormat f);

// Rows [0, rows) of ggml blocks of type t (rows * cols / 256 blocks, row after row) in the tile
// layout of kquant_format_of(t): format_data_bytes(f, rows, cols) bytes.
std::vector<uint8_t> repack_kquant(GgmlType t, const uint8_t* src, int64_t rows, int64_t cols);

// out[w.cols] = row r of a k-quant matrix as float32 (the same floats as the GGUF
// decoder gives for the blocks it was packed from).
void decode_kquant_row(const Matrix& w, int64_t r, float* out);

// ---- The parts of a super-block tile, for the kernels -----------------------------------
// Offsets inside a kQ4K / kQ5K block (the same header); a group's bytes are
// kquant_group_bytes(f) apart.
inline constexpr int64_t kQ4KDmin = 32, kQ4KScales = 64, kQ4KMins = 192, kQ4KQuants = 320;
inline constexpr int64_t kQ4KGroupBytes = 256, kQ5KGroupBytes = 320;
// Offsets inside a kQ6K block; a group's bytes are kQ6KGroupBytes apart.
inline constexpr int64_t kQ6KScales = 32, kQ6KQuants = 288, kQ6KGroupBytes = 384;
// Offsets inside a kQ2K block (kQ4K's header, one scale / min byte per 16 columns).
inline constexpr int64_t kQ2KDmin = 32, kQ2KScales = 64, kQ2KQuants = 320, kQ2KGroupBytes = 128;
// Offsets inside a kQ3K block (kQ6K's header).
inline constexpr int64_t kQ3KScales = 32, kQ3KQuants = 288, kQ3KGroupBytes = 192;
// Offsets inside a kIQ4XS block (d, one signed scale byte per group, kQ4K's nibble groups).
inline constexpr int64_t kIQ4XSScales = 32, kIQ4XSQuants = 160, kIQ4XSGroupBytes = 256;
// Offsets inside a kIQ2XXS block (d, one scale byte per group, then per group the grid
// indices and, kIQ2XXSSigns after them, the sign masks).
inline constexpr int64_t kIQ2XXSScales = 32, kIQ2XXSQuants = 160, kIQ2XXSGroupBytes = 128;
inline constexpr int64_t kIQ2XXSSigns = 64;
// Offsets inside a kIQ1S block (d, the scale-and-delta byte per group, then per group the low
// index bytes and, kIQ1SHigh after them, the high index bits).
inline constexpr int64_t kIQ1SScales = 32, kIQ1SQuants = 160, kIQ1SGroupBytes = 96;
inline constexpr int64_t kIQ1SHigh = 64;

}  // namespace dsv3
