// Block decoders of ggml's i-quants (one 256-weight super-block to float32);
// used through decode_ggml_row (tensor/gguf_blocks.h).
#pragma once

#include <cstdint>

namespace dsv3::iq {

void decode_iq2_xxs(const uint8_t *block, float *y);
void decode_iq2_xs(const uint8_t *block, float *y);
void decode_iq2_s(const uint8_t *block, float *y);
void decode_iq3_xxs(const uint8_t *block, float *y);
void decode_iq3_s(const uint8_t *block, float *y);
void decode_iq1_s(const uint8_t *block, float *y);
void decode_iq1_m(const uint8_t *block, float *y);

} // namespace dsv3::iq
