#include "model/gguf_tokenizer.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace dsv3 {

namespace {

using nlohmann::json;

Result<json> read_json_file(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Err(path, ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Err(path, ": not a JSON object");
  return j;
}

// bos_token / eos_token of tokenizer_config.json: a string or {"content": ...}.
std::string token_content(const json &config, const char *key) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null())
    return "";
  if (it->is_string())
    return it->get<std::string>();
  if (it->is_object() && it->contains("content") &&
      (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  return "";
}

struct Vocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
};

Result<Vocab> read_vocab(const json &tok, const std::string &path) {
  const json *vocab = tok.contains("model") ? &tok["model"] : nullptr;
  if (!vocab || !vocab->is_object() || !vocab->contains("vocab") ||
      !(*vocab)["vocab"].is_object()) {
    return Err(path, ": model.vocab is missing or not an object");
  }
  std::map<int64_t, std::pair<std::string, int32_t>> by_id;
  for (const auto &[text, id] : (*vocab)["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
        id.get<int64_t>() > INT32_MAX) {
      return Err(path, ": model.vocab[\"", text, "\"] is not a valid id");
    }
    by_id[id.get<int64_t>()] = {text, kGgufTokenNormal};
  }
  if (tok.contains("added_tokens") && tok["added_tokens"].is_array()) {
    for (const json &a : tok["added_tokens"]) {
      if (!a.is_object() || !a.value("id", json()).is_number_integer() ||
          !a.value("content", json()).is_string()) {
        return Err(path, ": added_tokens entry ", a.dump(),
                   " lacks an integer id or string content");
      }
      by_id[a["id"].get<int64_t>()] = {a["content"].get<std::string>(),
                                       a.value("special", json(false)) == json(true)
                                           ? kGgufTokenControl
                                           : kGgufTokenUserDefined};
    }
  }
  Vocab v;
  const int64_t n = by_id.empty() ? 0 : by_id.rbegin()->first + 1;
  for (int64_t id = 0; id < n; ++id) {
    const auto it = by_id.find(id);
    v.tokens.push_back(it != by_id.end() ? it->second.first
                                         : "[PAD" + std::to_string(id) + "]");
    v.types.push_back(it != by_id.end() ? it->second.second : kGgufTokenUnused);
  }
  return v;
}

Result<std::vector<std::string>> read_merges(const json &tok,
                                             const std::string &path) {
  std::vector<std::string> merges;
  const json &m = tok["model"].value("merges", json::array());
  for (const json &e : m) {
    if (e.is_string()) {
      merges.push_back(e.get<std::string>());
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() &&
               e[1].is_string()) {
      merges.push_back(e[0].get<std::string>() + " " + e[1].get<std::string>());
    } else {
      return Err(path, ": model.merges entry ", e.dump(),
                 " is not \"a b\" or [a, b]");
    }
  }
  return merges;
}

} // namespace

Result<bool> write_tokenizer_metadata(const std::string &dir, GgufWriter &w) {
  const std::string tok_path = dir + "/tokenizer.json",
                    config_path = dir + "/tokenizer_config.json";
  if (!std::filesystem::exists(tok_path))
    return false;
  DSV3_ASSIGN_OR_RETURN(json tok, read_json_file(tok_path));
  DSV3_ASSIGN_OR_RETURN(json config, read_json_file(config_path));
  DSV3_ASSIGN_OR_RETURN(Vocab v, read_vocab(tok, tok_path));
  DSV3_ASSIGN_OR_RETURN(std::vector<std::string> merges,
                        read_merges(tok, tok_path));
  w.add_string("tokenizer.ggml.model", "gpt2");
  w.add_string("tokenizer.ggml.pre", "deepseek-v3");
  w.add_string_array("tokenizer.ggml.tokens", v.tokens);
  w.add_int32_array("tokenizer.ggml.token_type", v.types);
  w.add_string_array("tokenizer.ggml.merges", merges);
  for (const auto &[key, gguf_key] :
       {std::pair{"bos_token", "tokenizer.ggml.bos_token_id"},
        std::pair{"eos_token", "tokenizer.ggml.eos_token_id"}}) {
    const std::string content = token_content(config, key);
    if (content.empty())
      continue;
    const auto it = std::find(v.tokens.begin(), v.tokens.end(), content);
    if (it == v.tokens.end())
      return Err(config_path, ": ", key, " '", content, "' is not a token");
    w.add_uint32(gguf_key, uint32_t(it - v.tokens.begin()));
  }
  w.add_bool("tokenizer.ggml.add_bos_token",
             config.value("add_bos_token", json(false)) == json(true));
  const json tmpl = config.value("chat_template", json());
  if (tmpl.is_string())
    w.add_string("tokenizer.chat_template", tmpl.get<std::string>());
  return true;
}

} // namespace dsv3
