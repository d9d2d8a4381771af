// Fuzzes config.json parsing and validation. A config that passes validation must be one the
// rest of dsv3 can use: describe() and the derived sizes must not trap (UBSan catches signed
// overflow and division by zero in them).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz_support.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (64u << 10)) return -1;  // real config.json files are ~2 KiB
  const std::string text(dsv3::fuzz::as_text(data, size));
  dsv3::Result<dsv3::ModelConfig> config = dsv3::parse_model_config(text, "fuzz/config.json");
  if (!config.ok()) {
    dsv3::fuzz::note(config.error().message);
    if (config.error().message.empty()) {
      std::fprintf(stderr, "config_fuzz: a refusal without a message\n");
      std::abort();
    }
    return 0;
  }
  dsv3::fuzz::note("config accepted");
  const dsv3::ModelConfig& c = *config;
  volatile double sink = c.softmax_scale();
  volatile int64_t widths = c.qk_head_dim() + c.kv_cache_width();
  for (int64_t layer = 0; layer < c.num_hidden_layers && layer < 4096; ++layer) {
    sink = sink + double(c.is_moe_layer(layer));
  }
  (void)widths;
  (void)dsv3::describe(c);
  return 0;
}
