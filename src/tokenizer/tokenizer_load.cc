// Tokenizer::load: reads tokenizer.json and tokenizer_config.json and refuses, with the
// file, field and value, every setting whose behaviour is not implemented here.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"

namespace dsv3 {
namespace {

using json = nlohmann::json;

// What ByteLevel's own split does when use_regex is true (GPT-2's pattern, HF
// pre_tokenizers/byte_level.rs).
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// A JSON value as it appears in the file, cut short for messages.
std::string show(const json& v) {
  std::string s = v.dump();
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

// A parsed JSON file; builds messages of the form "<file>: <field> is <value>, expected ...".
struct JsonFile {
  std::string path;
  json root;

  Error bad(std::string_view field, const json& found, std::string_view expected) const {
    return Err(path, ": ", field, " is ", show(found), ", expected ", expected);
  }
  Error missing(std::string_view field, std::string_view expected) const {
    return Err(path, ": ", field, " is missing, expected ", expected);
  }
};

const json* find(const json& object, const char* key) {
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

// True when `object[key]` is absent, null, or equal to `allowed`.
bool absent_or(const json& object, const char* key, const json& allowed) {
  const json* v = find(object, key);
  return v == nullptr || v->is_null() || *v == allowed;
}

Result<JsonFile> read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Err(path, ": cannot open: ", std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Err(path, ": read failed: ", std::strerror(errno));
  JsonFile file{path, json()};
  try {
    file.root = json::parse(text.str());
  } catch (const json::exception& e) {  // parse_error, and out_of_range for numbers like 1e999
    return Err(path, ": not valid JSON: ", e.what());
  }
  if (!file.root.is_object()) return file.bad("the top level", file.root, "a JSON object");
  return file;
}

// A Split pattern as a regex: {"Regex": "..."} as is, {"String": "..."} escaped.
Result<std::string> split_pattern(const JsonFile& f, const json& step, const std::string& at) {
  const json* pattern = find(step, "pattern");
  if (pattern == nullptr) return f.missing(at + ".pattern", "{\"Regex\": ...}");
  if (const json* re = pattern->is_object() ? find(*pattern, "Regex") : nullptr;
      re != nullptr && re->is_string()) {
    return re->get<std::string>();
  }
  if (const json* s = pattern->is_object() ? find(*pattern, "String") : nullptr;
      s != nullptr && s->is_string()) {
    std::string escaped;
    for (char c : s->get<std::string>()) {
      if (std::strchr("\\^$.|?*+()[]{}-/", c) != nullptr && c != '\0') escaped += '\\';
      escaped += c;
    }
    return escaped;
  }
  return f.bad(at + ".pattern", *pattern, "{\"Regex\": \"...\"} or {\"String\": \"...\"}");
}

struct PreTokenizerSpec {
  std::vector<std::string> patterns;  // Split regexes, in order
  bool byte_level = false;
};

Status read_pre_tokenizer(const JsonFile& f, const json& node, const std::string& at,
                          PreTokenizerSpec& spec);

Status read_split(const JsonFile& f, const json& node, const std::string& at,
                  PreTokenizerSpec& spec) {
  if (spec.byte_level) {
    return f.bad(at + ".type", node["type"], "no Split after the ByteLevel step");
  }
  DSV3_ASSIGN_OR_RETURN(std::string pattern, split_pattern(f, node, at));
  const json* behavior = find(node, "behavior");
  if (behavior == nullptr) return f.missing(at + ".behavior", "\"Isolated\"");
  if (*behavior != "Isolated") return f.bad(at + ".behavior", *behavior, "\"Isolated\"");
  if (!absent_or(node, "invert", false)) return f.bad(at + ".invert", node["invert"], "false");
  spec.patterns.push_back(std::move(pattern));
  return OkStatus();
}

Status read_byte_level(const JsonFile& f, const json& node, const std::string& at,
                       PreTokenizerSpec& spec) {
  if (spec.byte_level) return f.bad(at + ".type", node["type"], "one ByteLevel step only");
  // HF's defaults for absent fields are add_prefix_space = use_regex = true.
  const json prefix = node.value("add_prefix_space", json(true));
  if (prefix != false) return f.bad(at + ".add_prefix_space", prefix, "false");
  const json use_regex = node.value("use_regex", json(true));
  if (!use_regex.is_boolean()) return f.bad(at + ".use_regex", use_regex, "true or false");
  if (use_regex.get<bool>()) spec.patterns.emplace_back(kGpt2Pattern);
  spec.byte_level = true;
  return OkStatus();
}

Status read_pre_tokenizer(const JsonFile& f, const json& node, const std::string& at,
                          PreTokenizerSpec& spec) {
  const json* type = node.is_object() ? find(node, "type") : nullptr;
  if (type == nullptr) return f.bad(at, node, "an object with a \"type\"");
  if (*type == "Sequence") {
    const json* steps = find(node, "pretokenizers");
    if (steps == nullptr || !steps->is_array()) {
      return f.bad(at + ".pretokenizers", steps ? *steps : json(), "an array");
    }
    for (size_t i = 0; i < steps->size(); ++i) {
      DSV3_TRY(read_pre_tokenizer(f, (*steps)[i], at + ".pretokenizers[" + std::to_string(i) + "]",
                                  spec));
    }
    return OkStatus();
  }
  if (*type == "Split") return read_split(f, node, at, spec);
  if (*type == "ByteLevel") return read_byte_level(f, node, at, spec);
  return f.bad(at + ".type", *type, "\"Sequence\", \"Split\" or \"ByteLevel\"");
}

Result<PreTokenizer> build_pre_tokenizer(const JsonFile& f) {
  const json* node = find(f.root, "pre_tokenizer");
  if (node == nullptr || node->is_null()) {
    return f.missing("pre_tokenizer", "a ByteLevel pre-tokenizer (byte-level BPE)");
  }
  PreTokenizerSpec spec;
  DSV3_TRY(read_pre_tokenizer(f, *node, "pre_tokenizer", spec));
  if (!spec.byte_level) {
    return f.bad("pre_tokenizer", *node, "a ByteLevel step (only byte-level BPE is supported)");
  }
  std::vector<Regex> steps;
  for (const std::string& pattern : spec.patterns) {
    auto re = Regex::compile(pattern);
    if (!re.ok()) return Err(f.path, ": pre_tokenizer: ", re.error().message);
    steps.push_back(std::move(re).value());
  }
  return PreTokenizer(std::move(steps));
}

// Only "no normalization" is supported: null, or Sequences with nothing in them.
Status check_normalizer(const JsonFile& f, const json& node, const std::string& at) {
  if (node.is_null()) return OkStatus();
  const json* steps = node.is_object() ? find(node, "normalizers") : nullptr;
  if (node.value("type", json()) != "Sequence" || steps == nullptr || !steps->is_array()) {
    return f.bad(at, node, "null or an empty Sequence (normalizers are not supported)");
  }
  for (size_t i = 0; i < steps->size(); ++i) {
    DSV3_TRY(check_normalizer(f, (*steps)[i], at + ".normalizers[" + std::to_string(i) + "]"));
  }
  return OkStatus();
}

Status check_pipeline_parts(const JsonFile& f) {
  const json* normalizer = find(f.root, "normalizer");
  if (normalizer != nullptr) DSV3_TRY(check_normalizer(f, *normalizer, "normalizer"));
  const json* decoder = find(f.root, "decoder");
  if (decoder == nullptr) return f.missing("decoder", "{\"type\": \"ByteLevel\"}");
  if (!decoder->is_object() || decoder->value("type", json()) != "ByteLevel") {
    return f.bad("decoder", *decoder, "{\"type\": \"ByteLevel\"}");
  }
  // Truncation would change encode()'s output; padding only matters for batches and the
  // post_processor only for add_special_tokens, which add_bos replaces here.
  if (!absent_or(f.root, "truncation", json())) {
    return f.bad("truncation", f.root["truncation"], "null");
  }
  return OkStatus();
}

}  // namespace

Result<PreTokenizer> PreTokenizer::from_json(std::string_view json_text,
                                             std::string_view origin) {
  JsonFile f{std::string(origin), json::object()};
  try {
    f.root["pre_tokenizer"] = json::parse(json_text);
    return build_pre_tokenizer(f);
  } catch (const json::exception& e) {
    return Err(origin, ": pre_tokenizer is not valid JSON: ", e.what());
  }
}

// Builds a Tokenizer field by field; a friend of Tokenizer.
class TokenizerLoader {
 public:
  static Result<Tokenizer> load(const std::string& dir);
  static Result<Tokenizer> from_json(const nlohmann::json& tokenizer, const nlohmann::json& config,
                                     const std::string& origin);

 private:
  static Result<Tokenizer> build(const JsonFile& f, const JsonFile& c);
  static Status check_model_options(const JsonFile& f, const json& model);
  static Status read_vocab(const JsonFile& f, const json& model, Tokenizer& t);
  static Result<MergeTable> read_merges(const JsonFile& f, const json& model,
                                        const Tokenizer& t);
  static Status read_model(const JsonFile& f, Tokenizer& t);
  static Status read_added_token(const JsonFile& f, const json& entry, const std::string& at,
                                 Tokenizer& t);
  static Status read_added_tokens(const JsonFile& f, Tokenizer& t);
  static Result<std::string> special_token(const JsonFile& c, const char* key,
                                           const Tokenizer& t, int32_t& id);
  static Status read_config(const JsonFile& c, Tokenizer& t);
  static void set_token(Tokenizer& t, int32_t id, std::string text, std::string bytes);
};

void TokenizerLoader::set_token(Tokenizer& t, int32_t id, std::string text, std::string bytes) {
  const size_t index = size_t(id);
  if (index >= t.token_text_.size()) {
    t.token_text_.resize(index + 1);
    t.token_bytes_.resize(index + 1);
    t.special_.resize(index + 1, 0);
  }
  t.id_of_text_[text] = id;
  t.token_text_[index] = std::move(text);
  t.token_bytes_[index] = std::move(bytes);
}

Status TokenizerLoader::check_model_options(const JsonFile& f, const json& model) {
  if (!absent_or(model, "type", "BPE")) return f.bad("model.type", model["type"], "\"BPE\"");
  if (!absent_or(model, "dropout", json())) {
    return f.bad("model.dropout", model["dropout"], "null (BPE dropout is not supported)");
  }
  if (!absent_or(model, "byte_fallback", false)) {
    return f.bad("model.byte_fallback", model["byte_fallback"], "false");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (!absent_or(model, key, "")) {
      return f.bad(std::string("model.") + key, model[key], "null or \"\"");
    }
  }
  const json* ignore = find(model, "ignore_merges");
  if (ignore != nullptr && !ignore->is_boolean()) {
    return f.bad("model.ignore_merges", *ignore, "true or false");
  }
  return OkStatus();
}

Status TokenizerLoader::read_vocab(const JsonFile& f, const json& model, Tokenizer& t) {
  const json* vocab = find(model, "vocab");
  if (vocab == nullptr || !vocab->is_object() || vocab->empty()) {
    return f.bad("model.vocab", vocab ? *vocab : json(), "an object {token: id, ...}");
  }
  for (const auto& [text, id] : vocab->items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
      return f.bad("model.vocab[\"" + text + "\"]", id, "a non-negative 32-bit integer id");
    }
    const int32_t i = id.get<int32_t>();
    if (size_t(i) < t.token_text_.size() && !t.token_text_[size_t(i)].empty()) {
      return f.bad("model.vocab[\"" + text + "\"]", id,
                   "an id no other token has (\"" + t.token_text_[size_t(i)] + "\" has it)");
    }
    // A token outside the byte-level alphabet can only come from a merge; the decoder
    // then emits its text as is (HF decoders/byte_level.rs does the same).
    std::optional<std::string> bytes = byte_level_decode(text);
    set_token(t, i, text, bytes ? std::move(*bytes) : text);
  }
  return OkStatus();
}

Result<MergeTable> TokenizerLoader::read_merges(const JsonFile& f, const json& model,
                                                const Tokenizer& t) {
  const json* merges = find(model, "merges");
  if (merges == nullptr || !merges->is_array()) {
    return f.bad("model.merges", merges ? *merges : json(), "an array");
  }
  MergeTable table(merges->size());
  for (size_t rank = 0; rank < merges->size(); ++rank) {
    const json& m = (*merges)[rank];
    const std::string at = "model.merges[" + std::to_string(rank) + "]";
    std::string left, right;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
        return f.bad(at, m, "\"left right\" (two tokens and one space)");
      }
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    } else {
      return f.bad(at, m, "\"left right\" or [\"left\", \"right\"]");
    }
    const auto l = t.id_of_text_.find(left), r = t.id_of_text_.find(right);
    const auto merged = t.id_of_text_.find(left + right);
    if (l == t.id_of_text_.end() || r == t.id_of_text_.end() || merged == t.id_of_text_.end()) {
      return f.bad(at, m, "tokens that are in model.vocab, as is their concatenation");
    }
    table.insert(l->second, r->second, int32_t(rank), merged->second);
  }
  return table;
}

Status TokenizerLoader::read_model(const JsonFile& f, Tokenizer& t) {
  const json* model = find(f.root, "model");
  if (model == nullptr || !model->is_object()) {
    return f.bad("model", model ? *model : json(), "an object");
  }
  DSV3_TRY(check_model_options(f, *model));
  DSV3_TRY(read_vocab(f, *model, t));
  std::array<int32_t, 256> byte_ids;
  for (int b = 0; b < 256; ++b) {
    const auto it = t.id_of_text_.find(byte_level_char(uint8_t(b)));
    if (it == t.id_of_text_.end()) {
      return Err(f.path, ": model.vocab has no token for byte ", b, " (\"",
                 byte_level_char(uint8_t(b)), "\"), expected all 256 byte-level tokens");
    }
    byte_ids[size_t(b)] = it->second;
  }
  DSV3_ASSIGN_OR_RETURN(MergeTable merges, read_merges(f, *model, t));
  std::unordered_map<std::string, int32_t> whole_pieces;
  if (model->value("ignore_merges", false)) {
    for (size_t id = 0; id < t.token_bytes_.size(); ++id) {
      if (!t.token_text_[id].empty()) whole_pieces.emplace(t.token_bytes_[id], int32_t(id));
    }
  }
  t.bpe_ = std::make_unique<BpeModel>(byte_ids, std::move(merges), std::move(whole_pieces));
  return OkStatus();
}

Status TokenizerLoader::read_added_token(const JsonFile& f, const json& entry,
                                         const std::string& at, Tokenizer& t) {
  const json* id = entry.is_object() ? find(entry, "id") : nullptr;
  const json* content = entry.is_object() ? find(entry, "content") : nullptr;
  if (id == nullptr || !id->is_number_integer() || id->get<int64_t>() < 0 ||
      id->get<int64_t>() > INT32_MAX) {
    return f.bad(at + ".id", id ? *id : json(), "a non-negative 32-bit integer");
  }
  if (content == nullptr || !content->is_string() || content->get<std::string>().empty()) {
    return f.bad(at + ".content", content ? *content : json(), "a non-empty string");
  }
  // Stripping and word-boundary rules change which text a token absorbs; not done here.
  for (const char* key : {"lstrip", "rstrip", "single_word"}) {
    if (!absent_or(entry, key, false)) return f.bad(at + "." + key, entry[key], "false");
  }
  const bool special = entry.value("special", false);
  AddedToken token{id->get<int32_t>(), content->get<std::string>(), special,
                   entry.value("normalized", !special)};
  // Added tokens decode to their literal content, as HF tokenizers >= 0.20 does.
  set_token(t, token.id, token.content, token.content);
  t.special_[size_t(token.id)] = special ? 1 : 0;
  t.added_.add(token);
  return OkStatus();
}

Status TokenizerLoader::read_added_tokens(const JsonFile& f, Tokenizer& t) {
  const json* added = find(f.root, "added_tokens");
  if (added == nullptr || added->is_null()) return OkStatus();
  if (!added->is_array()) return f.bad("added_tokens", *added, "an array");
  for (size_t i = 0; i < added->size(); ++i) {
    DSV3_TRY(read_added_token(f, (*added)[i], "added_tokens[" + std::to_string(i) + "]", t));
  }
  return OkStatus();
}

// bos_token / eos_token: a string, {"content": string, ...}, null or absent (-> "", -1).
Result<std::string> TokenizerLoader::special_token(const JsonFile& c, const char* key,
                                                   const Tokenizer& t, int32_t& id) {
  id = -1;
  const json* v = find(c.root, key);
  if (v == nullptr || v->is_null()) return std::string();
  const json* content = v->is_object() ? find(*v, "content") : v;
  if (content == nullptr || !content->is_string()) {
    return c.bad(key, *v, "a string or an object with a string \"content\"");
  }
  std::string text = content->get<std::string>();
  const std::optional<int32_t> found = t.token_id(text);
  if (!found) return c.bad(key, *content, "a token of tokenizer.json");
  id = *found;
  return text;
}

Status TokenizerLoader::read_config(const JsonFile& c, Tokenizer& t) {
  DSV3_ASSIGN_OR_RETURN(t.bos_token_, special_token(c, "bos_token", t, t.bos_id_));
  DSV3_ASSIGN_OR_RETURN(t.eos_token_, special_token(c, "eos_token", t, t.eos_id_));
  const json add_bos = c.root.value("add_bos_token", json(false));
  if (!add_bos.is_boolean()) return c.bad("add_bos_token", add_bos, "true or false");
  t.add_bos_token_ = add_bos.get<bool>();
  const json* tmpl = find(c.root, "chat_template");
  if (tmpl == nullptr || tmpl->is_null()) return OkStatus();
  if (tmpl->is_string()) {
    t.chat_template_ = tmpl->get<std::string>();
    return OkStatus();
  }
  // Newer configs may hold several named templates; "default" is the chat one.
  if (tmpl->is_array()) {
    for (const json& named : *tmpl) {
      if (named.is_object() && named.value("name", json()) == "default" &&
          named.value("template", json()).is_string()) {
        t.chat_template_ = named["template"].get<std::string>();
        return OkStatus();
      }
    }
  }
  return c.bad("chat_template", *tmpl,
               "a string or a list of {\"name\", \"template\"} with one named \"default\"");
}

Result<Tokenizer> TokenizerLoader::load(const std::string& dir) {
  DSV3_ASSIGN_OR_RETURN(JsonFile f, read_json(dir + "/tokenizer.json"));
  DSV3_ASSIGN_OR_RETURN(JsonFile c, read_json(dir + "/tokenizer_config.json"));
  return build(f, c);
}

Result<Tokenizer> TokenizerLoader::from_json(const nlohmann::json& tokenizer,
                                             const nlohmann::json& config,
                                             const std::string& origin) {
  return build(JsonFile{origin + " (tokenizer)", tokenizer}, JsonFile{origin + " (tokenizer config)", config});
}

Result<Tokenizer> TokenizerLoader::build(const JsonFile& f, const JsonFile& c) {
  const std::string& json_path = f.path;
  const std::string& config_path = c.path;
  Tokenizer t;
  try {
    DSV3_TRY(check_pipeline_parts(f));
    DSV3_ASSIGN_OR_RETURN(t.pre_tokenizer_, build_pre_tokenizer(f));
    DSV3_TRY(read_model(f, t));
    DSV3_TRY(read_added_tokens(f, t));
    DSV3_TRY(read_config(c, t));
  } catch (const json::exception& e) {
    // The readers check types before each access; this only catches what they missed.
    return Err(json_path, " or ", config_path, ": unexpected JSON content: ", e.what());
  }
  return t;
}

Result<Tokenizer> Tokenizer::load(const std::string& dir) { return TokenizerLoader::load(dir); }

Result<Tokenizer> Tokenizer::from_json(const nlohmann::json& tokenizer, const nlohmann::json& config,
                                       const std::string& origin) {
  return TokenizerLoader::from_json(tokenizer, config, origin);
}

}  // namespace dsv3
