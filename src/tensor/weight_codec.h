// dsv3's weight formats, each declared once as a codec: its storage layout (bytes per row,
// q8/q4 block bytes) and its scalar decode, encode and dot product. The scalar paths are built
// from these: decode_row and the quantizer (tensor/quant.cc, which `dsv3 quantize` writes
// with), the reference kernels (kernels/ref.cc), and the layout arithmetic of tensor/matrix.cc.
// Layouts and formulas are the ones tensor/matrix.h documents.
//
// visit_format() is the one switch from a WeightFormat value to its codec. It has no default:
// the compiler's -Wswitch names a new format left out there, and code that needs a property
// only some formats have asks the codec (kGroupQuantized) instead of assuming "q8, else q4".
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/kquant.h"
#include "tensor/matrix.h"

namespace dsv3 {

namespace codec_detail {
inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline void store_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline float load_f16(const uint8_t* p) { return f16_to_f32(load_u16(p)); }
// Every e4m3fn byte's float value (0x7f / 0xff are NaN), a table built once.
const std::array<float, 256>& fp8_e4m3_values();
}  // namespace codec_detail

// One group (kQuantGroup values) of a token's activations as int8 codes: x ~ scale * q.
// scaled_sum = scale * sum(q); q8_offset = -128 * scaled_sum (q8's zero point, precomputed).
struct Int8Group {
  const int8_t* q = nullptr;
  float scale = 0, scaled_sum = 0, q8_offset = 0;
};

// ---- Element formats: row r is `cols` values of kValueBytes each. ----------------------------

struct F32Codec {
  static constexpr WeightFormat kFormat = WeightFormat::kF32;
  static constexpr std::string_view kName = "f32";
  static constexpr bool kGroupQuantized = false;
  static constexpr int64_t kValueBytes = 4;
  static int64_t row_bytes(int64_t cols) { return cols * kValueBytes; }
  static void decode_row(const Matrix& w, int64_t r, float* out) {
    std::memcpy(out, w.row_data(r), size_t(w.cols) * 4);
  }
  static void encode(float v, uint8_t* dst) { std::memcpy(dst, &v, 4); }
};

struct F16Codec {
  static constexpr WeightFormat kFormat = WeightFormat::kF16;
  static constexpr std::string_view kName = "f16";
  static constexpr bool kGroupQuantized = false;
  static constexpr int64_t kValueBytes = 2;
  static int64_t row_bytes(int64_t cols) { return cols * kValueBytes; }
  static void decode_row(const Matrix& w, int64_t r, float* out) {
    const uint8_t* row = w.row_data(r);
    for (int64_t c = 0; c < w.cols; ++c) out[c] = codec_detail::load_f16(row + 2 * c);
  }
  static void encode(float v, uint8_t* dst) { codec_detail::store_u16(dst, f32_to_f16(v)); }
};

struct BF16Codec {
  static constexpr WeightFormat kFormat = WeightFormat::kBF16;
  static constexpr std::string_view kName = "bf16";
  static constexpr bool kGroupQuantized = false;
  static constexpr int64_t kValueBytes = 2;
  static int64_t row_bytes(int64_t cols) { return cols * kValueBytes; }
  static void decode_row(const Matrix& w, int64_t r, float* out) {
    const uint8_t* row = w.row_data(r);
    for (int64_t c = 0; c < w.cols; ++c) out[c] = bf16_to_f32(codec_detail::load_u16(row + 2 * c));
  }
  static void encode(float v, uint8_t* dst) { codec_detail::store_u16(dst, f32_to_bf16(v)); }
};

// FP8 e4m3fn codes with one float32 scale per block x block tile (Matrix::block_scales).
struct Fp8BlockCodec {
  static constexpr WeightFormat kFormat = WeightFormat::kFP8Block;
  static constexpr std::string_view kName = "fp8";
  static constexpr bool kGroupQuantized = false;
  static constexpr int64_t kValueBytes = 1;
  static int64_t row_bytes(int64_t cols) { return cols * kValueBytes; }
  static void decode_row(const Matrix& w, int64_t r, float* out) {
    const uint8_t* row = w.row_data(r);
    const float* scales = w.block_scales + ((w.row0 + r) / w.block) * w.scale_cols;
    const std::array<float, 256>& values = codec_detail::fp8_e4m3_values();
    for (int64_t c = 0; c < w.cols; ++c) out[c] = values[row[c]] * scales[c / w.block];
  }
  // The code of v / scale (the scale is the tile's, chosen by the writer).
  static void encode(float v, uint8_t* dst) { *dst = f32_to_fp8_e4m3(v); }
};

// ---- Group-quantized formats (tiles of kQuantTileRows rows, groups of kQuantGroup columns).
// Row i of a tile owns entry i of each per-row array of a block; a block's codes interleave
// the tile's 16 rows 4 columns at a time (the VNNI operand shape).

// The tile and group layout the group-quantized codecs share (CRTP: Codec supplies
// kBlockBytes, decode_group and encode_group).
template <typename Codec>
struct GroupQuantized {
  static constexpr bool kGroupQuantized = true;
  static int64_t groups(int64_t cols) { return (cols + kQuantGroup - 1) / kQuantGroup; }
  static int64_t tiles(int64_t rows) { return (rows + kQuantTileRows - 1) / kQuantTileRows; }
  // Bytes of one row on average: a tile of 16 rows is 16 times as large.
  static int64_t row_bytes(int64_t cols) { return groups(cols) * Codec::kBlockBytes / kQuantTileRows; }
  static const uint8_t* block(const uint8_t* data, int64_t cols, int64_t r, int64_t g) {
    return data + (r / kQuantTileRows) * kQuantTileRows * row_bytes(cols) + g * Codec::kBlockBytes;
  }
  static void decode_row(const Matrix& w, int64_t r, float* out) {
    for (int64_t c0 = 0; c0 < w.cols; c0 += kQuantGroup) {
      Codec::decode_group(block(w.data, w.cols, r, c0 / kQuantGroup), r % kQuantTileRows,
                          std::min(kQuantGroup, w.cols - c0), out + c0);
    }
  }
  // The U8 tensor of a rows x cols matrix in a checkpoint: [tiles, groups, block bytes].
  static std::vector<int64_t> stored_shape(int64_t rows, int64_t cols) {
    return {tiles(rows), groups(cols), Codec::kBlockBytes};
  }
  static void encode_row(const float* x, int64_t cols, int64_t r, uint8_t* data) {
    for (int64_t c0 = 0; c0 < cols; c0 += kQuantGroup) {
      uint8_t* b = const_cast<uint8_t*>(block(data, cols, r, c0 / kQuantGroup));
      Codec::encode_group(x + c0, std::min(kQuantGroup, cols - c0), b, r % kQuantTileRows);
    }
  }
};

struct Q8Codec : GroupQuantized<Q8Codec> {
  static constexpr WeightFormat kFormat = WeightFormat::kQ8;
  static constexpr std::string_view kName = "q8";
  // uint16 d[16] (f16 scales), then uint8 q[8][16][4] = 128 + round(W / d).
  static constexpr int64_t kBlockBytes = 2 * kQuantTileRows + kQuantTileRows * kQuantGroup;
  static constexpr int64_t kCodesAt = 2 * kQuantTileRows;
  static int64_t code_offset(int64_t i, int64_t c) { return 64 * (c / 4) + 4 * i + c % 4; }

  static float scale(const uint8_t* block, int64_t i) {
    return codec_detail::load_f16(block + 2 * i);
  }
  // W = d (q - 128) for the first n columns of the group.
  static void decode_group(const uint8_t* block, int64_t i, int64_t n, float* out) {
    const float d = scale(block, i);
    const uint8_t* q = block + kCodesAt;
    for (int64_t c = 0; c < n; ++c) out[c] = d * float(int(q[code_offset(i, c)]) - 128);
  }
  // x[n] (n <= 32) into row i of the block; padded columns get the zero point.
  static void encode_group(const float* x, int64_t n, uint8_t* block, int64_t i) {
    float amax = 0;
    for (int64_t c = 0; c < n; ++c) amax = std::max(amax, std::fabs(x[c]));
    const uint16_t d16 = f32_to_f16(amax / 127.0f);
    const float d = f16_to_f32(d16);
    codec_detail::store_u16(block + 2 * i, d16);
    uint8_t* q = block + kCodesAt;
    for (int64_t c = 0; c < kQuantGroup; ++c) {
      const float v = c < n && d > 0 ? std::nearbyint(x[c] / d) : 0.0f;
      q[code_offset(i, c)] = uint8_t(128 + int(std::clamp(v, -127.0f, 127.0f)));
    }
  }
  // sum over the group of W[i][c] x[c] with int8 activations: the integer dot product of the
  // stored codes, then d (sx dot - 128 ssum).
  static float int8_dot(const uint8_t* block, int64_t i, const Int8Group& x) {
    const uint8_t* q = block + kCodesAt;
    int32_t s = 0;
    for (int64_t c = 0; c < kQuantGroup; ++c) s += int32_t(q[code_offset(i, c)]) * x.q[c];
    return scale(block, i) * (x.scale * float(s) + x.q8_offset);
  }
};

struct Q4Codec : GroupQuantized<Q4Codec> {
  static constexpr WeightFormat kFormat = WeightFormat::kQ4;
  static constexpr std::string_view kName = "q4";
  // uint16 d[16], uint16 m[16] (f16 scale and minimum), then uint8 q[4][16][4]: low nibble
  // column 4k+j, high nibble column 16+4k+j, u = round((W - m) / d).
  static constexpr int64_t kBlockBytes = 4 * kQuantTileRows + kQuantTileRows * kQuantGroup / 2;
  static constexpr int64_t kMinAt = 2 * kQuantTileRows;
  static constexpr int64_t kCodesAt = 4 * kQuantTileRows;
  static int64_t code_offset(int64_t i, int64_t c) { return 64 * ((c % 16) / 4) + 4 * i + c % 4; }

  static float scale(const uint8_t* block, int64_t i) {
    return codec_detail::load_f16(block + 2 * i);
  }
  static float minimum(const uint8_t* block, int64_t i) {
    return codec_detail::load_f16(block + kMinAt + 2 * i);
  }
  static int code(const uint8_t* block, int64_t i, int64_t c) {
    const uint8_t byte = block[kCodesAt + code_offset(i, c)];
    return c < 16 ? byte & 15 : byte >> 4;
  }
  // W = d u + m.
  static void decode_group(const uint8_t* block, int64_t i, int64_t n, float* out) {
    const float d = scale(block, i), m = minimum(block, i);
    for (int64_t c = 0; c < n; ++c) out[c] = d * float(code(block, i, c)) + m;
  }
  static void encode_group(const float* x, int64_t n, uint8_t* block, int64_t i) {
    float lo = x[0], hi = x[0];
    for (int64_t c = 1; c < n; ++c) {
      lo = std::min(lo, x[c]);
      hi = std::max(hi, x[c]);
    }
    const uint16_t m16 = f32_to_f16(lo);
    const float m = f16_to_f32(m16);
    const uint16_t d16 = f32_to_f16((hi - m) / 15.0f);
    const float d = f16_to_f32(d16);
    codec_detail::store_u16(block + 2 * i, d16);
    codec_detail::store_u16(block + kMinAt + 2 * i, m16);
    uint8_t* q = block + kCodesAt;
    for (int64_t c = 0; c < 16; ++c) {
      uint8_t byte = 0;
      for (int64_t half = 0; half < 2; ++half) {
        const int64_t cc = c + 16 * half;
        const float u = cc < n && d > 0 ? std::nearbyint((x[cc] - m) / d) : 0.0f;
        byte |= uint8_t(std::clamp(u, 0.0f, 15.0f)) << (4 * half);
      }
      q[code_offset(i, c)] = byte;
    }
  }
  // sum (d u + m) x = d sx dot + m ssum.
  static float int8_dot(const uint8_t* block, int64_t i, const Int8Group& x) {
    int32_t s = 0;
    for (int64_t c = 0; c < kQuantGroup; ++c) s += int32_t(code(block, i, c)) * x.q[c];
    return scale(block, i) * (x.scale * float(s)) + minimum(block, i) * x.scaled_sum;
  }
};

// ---- GGUF k-quants, IQ4_XS, IQ2_XXS and IQ1_S kept quantized at load (layouts in
// tensor/kquant.h): decoded and multiplied by their own kernels, never written by
// `dsv3 quantize`. ---------------------------------------------------------------------------
template <typename Codec>
struct SuperBlockQuantized {
  static constexpr bool kGroupQuantized = false;
  static int64_t row_bytes(int64_t cols) {
    return cols / kKQuantSuperBlock * Codec::kBlockBytes / kQuantTileRows;
  }
  static void decode_row(const Matrix& w, int64_t r, float* out) { decode_kquant_row(w, r, out); }
};

struct Q4KCodec : SuperBlockQuantized<Q4KCodec> {
  static constexpr WeightFormat kFormat = WeightFormat::kQ4K;
  static constexpr std::string_view kName = "q4_k";
  static constexpr int64_t kBlockBytes = kQ4KBlockBytes;
};

struct Q5KCodec : SuperBlockQuantized<Q5KCodec> {
  static constexpr WeightFormat kFormat = WeightFormat::kQ5K;
  static constexpr std::string_view kName = "q5_k";
  static constexpr int64_t kBlockBytes = kQ5KBlockBytes;
};

struct Q6KCodec : SuperBlockQuantized<Q6KCodec> {
  static constexpr WeightFormat kFormat = WeightFormat::kQ6K;
  static constexpr std::string_view kName = "q6_k";
  static constexpr int64_t kBlockBytes = kQ6KBlockBytes;
};

struct Q2KCodec : SuperBlockQuantized<Q2KCodec> {
  static constexpr WeightFormat kFormat = WeightFormat::kQ2K;
  static constexpr std::string_view kName = "q2_k";
  static constexpr int64_t kBlockBytes = kQ2KBlockBytes;
};

struct Q3KCodec : SuperBlockQuantized<Q3KCodec> {
  static constexpr WeightFormat kFormat = WeightFormat::kQ3K;
  static constexpr std::string_view kName = "q3_k";
  static constexpr int64_t kBlockBytes = kQ3KBlockBytes;
};

struct IQ4XSCodec : SuperBlockQuantized<IQ4XSCodec> {
  static constexpr WeightFormat kFormat = WeightFormat::kIQ4XS;
  static constexpr std::string_view kName = "iq4_xs";
  static constexpr int64_t kBlockBytes = kIQ4XSBlockBytes;
};

struct IQ2XXSCodec : SuperBlockQuantized<IQ2XXSCodec> {
  static constexpr WeightFormat kFormat = WeightFormat::kIQ2XXS;
  static constexpr std::string_view kName = "iq2_xxs";
  static constexpr int64_t kBlockBytes = kIQ2XXSBlockBytes;
};

struct IQ1SCodec : SuperBlockQuantized<IQ1SCodec> {
  static constexpr WeightFormat kFormat = WeightFormat::kIQ1S;
  static constexpr std::string_view kName = "iq1_s";
  static constexpr int64_t kBlockBytes = kIQ1SBlockBytes;
};

// Codecs of element formats: row r is `cols` values of kValueBytes each, encoded one by one.
template <typename Codec>
concept ElementCodec = requires { Codec::kValueBytes; };

// fn(Codec{}) with the codec of f; returns what fn returns.
template <typename Fn>
decltype(auto) visit_format(WeightFormat f, Fn&& fn) {
  switch (f) {
    case WeightFormat::kF32: return fn(F32Codec{});
    case WeightFormat::kF16: return fn(F16Codec{});
    case WeightFormat::kBF16: return fn(BF16Codec{});
    case WeightFormat::kFP8Block: return fn(Fp8BlockCodec{});
    case WeightFormat::kQ8: return fn(Q8Codec{});
    case WeightFormat::kQ4: return fn(Q4Codec{});
    case WeightFormat::kQ4K: return fn(Q4KCodec{});
    case WeightFormat::kQ5K: return fn(Q5KCodec{});
    case WeightFormat::kQ6K: return fn(Q6KCodec{});
    case WeightFormat::kQ2K: return fn(Q2KCodec{});
    case WeightFormat::kQ3K: return fn(Q3KCodec{});
    case WeightFormat::kIQ4XS: return fn(IQ4XSCodec{});
    case WeightFormat::kIQ2XXS: return fn(IQ2XXSCodec{});
    case WeightFormat::kIQ1S: return fn(IQ1SCodec{});
  }
  std::abort();  // not a WeightFormat enumerator: memory was corrupted
}

// A q8 / q4 matrix's U8 tensor shape in a checkpoint; empty for the other formats.
std::vector<int64_t> group_quantized_shape(WeightFormat f, int64_t rows, int64_t cols);

}  // namespace dsv3
