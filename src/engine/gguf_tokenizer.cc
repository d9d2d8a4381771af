#include "engine/gguf_tokenizer.h"

#include <nlohmann/json.hpp>

#include "model/gguf_tokenizer.h"

namespace dsv3 {

namespace {

using nlohmann::json;

// DeepSeek-V3's pre_tokenizer, as its tokenizer.json spells it (llama.cpp's
// "deepseek-v3" pre-tokenizer implements the same three splits).
constexpr const char *kDeepseekV3PreTokenizer = R"json(
{"type": "Sequence", "pretokenizers": [
 {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}"}, "behavior": "Isolated", "invert": false},
 {"type": "Split", "pattern": {"Regex": "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"}, "behavior": "Isolated", "invert": false},
 {"type": "Split", "pattern": {"Regex": "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false},
 {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]}
)json";

Result<json> tokenizer_json(const GgufMetadata &md, const std::string &origin) {
  DSV3_ASSIGN_OR_RETURN(std::string model,
                        md.get_string("tokenizer.ggml.model"));
  if (model != "gpt2") {
    return Err(origin, ": tokenizer.ggml.model is '", model,
               "', expected 'gpt2' (byte-level BPE)");
  }
  DSV3_ASSIGN_OR_RETURN(std::string pre, md.get_string("tokenizer.ggml.pre"));
  if (pre != "deepseek-v3") {
    return Err(origin, ": tokenizer.ggml.pre is '", pre,
               "', expected 'deepseek-v3'");
  }
  DSV3_ASSIGN_OR_RETURN(std::vector<std::string> tokens,
                        md.get_string_array("tokenizer.ggml.tokens"));
  DSV3_ASSIGN_OR_RETURN(std::vector<int64_t> types,
                        md.get_int_array("tokenizer.ggml.token_type"));
  DSV3_ASSIGN_OR_RETURN(std::vector<std::string> merges,
                        md.get_string_array("tokenizer.ggml.merges"));
  if (types.size() != tokens.size()) {
    return Err(origin, ": tokenizer.ggml.token_type has ", types.size(),
               " entries for ", tokens.size(), " tokens");
  }
  json vocab = json::object(), added = json::array();
  for (size_t id = 0; id < tokens.size(); ++id) {
    switch (types[id]) {
    case kGgufTokenControl:
    case kGgufTokenUserDefined:
      added.push_back({{"id", id},
                       {"content", tokens[id]},
                       {"single_word", false},
                       {"lstrip", false},
                       {"rstrip", false},
                       {"normalized", false},
                       {"special", types[id] == kGgufTokenControl}});
      break;
    case kGgufTokenUnused:
      break; // "[PAD<id>]" fillers of ids the model never had
    default:
      vocab[tokens[id]] = id;
      break;
    }
  }
  json j;
  j["added_tokens"] = std::move(added);
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = json::parse(kDeepseekV3PreTokenizer);
  j["decoder"] = {{"type", "ByteLevel"},
                  {"add_prefix_space", true},
                  {"trim_offsets", true},
                  {"use_regex", true}};
  j["model"] = {
      {"type", "BPE"}, {"vocab", std::move(vocab)}, {"merges", merges}};
  return j;
}

Result<json> config_json(const GgufMetadata &md,
                         const std::vector<std::string> &tokens) {
  json c = json::object();
  for (const auto &[key, name] :
       {std::pair{"tokenizer.ggml.bos_token_id", "bos_token"},
        std::pair{"tokenizer.ggml.eos_token_id", "eos_token"}}) {
    if (!md.has(key))
      continue;
    DSV3_ASSIGN_OR_RETURN(int64_t id, md.get_int(key));
    if (id < 0 || size_t(id) >= tokens.size()) {
      return Err(key, " = ", id, " is outside the ", tokens.size(), " tokens");
    }
    c[name] = tokens[size_t(id)];
  }
  DSV3_ASSIGN_OR_RETURN(bool add_bos,
                        md.get_bool_or("tokenizer.ggml.add_bos_token", true));
  c["add_bos_token"] = add_bos;
  if (md.has("tokenizer.chat_template")) {
    DSV3_ASSIGN_OR_RETURN(std::string t,
                          md.get_string("tokenizer.chat_template"));
    c["chat_template"] = t;
  }
  return c;
}

} // namespace

Result<Tokenizer> tokenizer_from_gguf(const GgufMetadata &md,
                                      const std::string &origin) {
  DSV3_ASSIGN_OR_RETURN(json tok, tokenizer_json(md, origin));
  DSV3_ASSIGN_OR_RETURN(std::vector<std::string> tokens,
                        md.get_string_array("tokenizer.ggml.tokens"));
  auto config = config_json(md, tokens);
  if (!config.ok())
    return Err(origin, ": ", config.error().message);
  return Tokenizer::from_json(tok, *config, origin);
}

Result<Tokenizer> load_gguf_tokenizer(const std::string &path) {
  const auto split = parse_gguf_split_name(path);
  const std::string first =
      split ? gguf_split_path(split->prefix, 1, split->count) : path;
  DSV3_ASSIGN_OR_RETURN(GgufFile f, GgufFile::open(first));
  return tokenizer_from_gguf(f.metadata(), first);
}

} // namespace dsv3
