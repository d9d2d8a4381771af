// Named model shapes for random-weight checkpoints (`dsv3 synth --preset NAME`) and their
// config.json text, written with the real Hugging Face key names so that parse_model_config
// reads them like any downloaded checkpoint.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "model/config.h"
#include "util/result.h"

namespace dsv3 {

struct PresetInfo {
  std::string name;
  std::string description;
};

// Every preset, in a fixed order: tiny, train-small, bench-moe, v2-lite, v3-671b, v32-tiny,
// bench-v32, v32-671b.
std::vector<PresetInfo> list_presets();

// The preset's config as a struct (no quantization_config: weights as stored, BF16), or an
// error naming the unknown preset and listing the known ones.
Result<ModelConfig> preset_config(std::string_view name);

// The preset's config.json text (preset_config written by model_config_json, config.h).
Result<std::string> preset_config_json(std::string_view name);

}  // namespace dsv3
