#include "engine/text_model.h"

#include <filesystem>

#include "engine/gguf_tokenizer.h"
#include "model/gguf_model.h"

namespace dsv3 {

Result<Tokenizer> load_tokenizer(const std::string& dir) {
  if (is_gguf_path(dir)) return load_gguf_tokenizer(dir);
  if (!std::filesystem::exists(std::filesystem::path(dir) / "tokenizer.json")) {
    return Err(dir, " has no tokenizer.json (pass --tokenizer DIR with tokenizer.json and ",
               "tokenizer_config.json)");
  }
  return Tokenizer::load(dir);
}

bool has_chat_format(const Tokenizer& tokenizer, std::string_view model_type) {
  return !tokenizer.chat_template().empty() || model_type == "deepseek_v32";
}

Result<ChatTemplate> load_chat_template(const Tokenizer& tokenizer, const std::string& dir,
                                        std::string_view model_type) {
  const std::string where = is_gguf_path(dir) ? dir + ": tokenizer.chat_template" : dir + "/tokenizer_config.json";
  if (tokenizer.chat_template().empty() && model_type == "deepseek_v32") return ChatTemplate::deepseek_v32();
  if (tokenizer.chat_template().empty()) return Err(where, " has no chat_template");
  auto t = ChatTemplate::parse(tokenizer.chat_template());
  if (!t.ok()) return Err(where, ": chat_template: ", t.error().message);
  return t;
}

Result<std::unique_ptr<TextModel>> TextModel::load(const std::string& model_dir,
                                                   const std::string& tokenizer_dir,
                                                   const ModelOptions& options) {
  DSV3_ASSIGN_OR_RETURN(auto model, Model::load(model_dir, options));
  return attach(std::move(model), model_dir, tokenizer_dir);
}

Result<std::unique_ptr<TextModel>> TextModel::attach(std::unique_ptr<Model> model,
                                                     const std::string& model_dir,
                                                     const std::string& tokenizer_dir) {
  const std::string tdir = tokenizer_dir.empty() ? model_dir : tokenizer_dir;
  DSV3_ASSIGN_OR_RETURN(Tokenizer tok, load_tokenizer(tdir));
  const int64_t vocab = model->config().vocab_size;
  if (tok.eos_id() >= vocab || tok.bos_id() >= vocab) {
    return Err("tokenizer in ", tdir, " has BOS/EOS ids ", tok.bos_id(), "/", tok.eos_id(),
               " outside the model's vocab_size ", vocab);
  }
  std::unique_ptr<TextModel> tm(new TextModel(std::move(model), std::move(tok)));
  const std::string& model_type = tm->model_->config().model_type;
  if (has_chat_format(tm->tokenizer_, model_type)) {
    DSV3_ASSIGN_OR_RETURN(tm->chat_template_, load_chat_template(tm->tokenizer_, tdir, model_type));
  }
  return tm;
}

Result<std::string> TextModel::render(const nlohmann::ordered_json& messages,
                                      bool add_generation_prompt,
                                      const nlohmann::ordered_json& extra) const {
  if (!chat_template_) return Err("the tokenizer has no chat_template; use a plain prompt");
  return render_chat(*chat_template_, messages, add_generation_prompt, tokenizer_.bos_token(),
                     tokenizer_.eos_token(), extra);
}

Result<std::vector<int32_t>> TextModel::encode_chat(const nlohmann::ordered_json& messages,
                                                    bool add_generation_prompt,
                                                    const nlohmann::ordered_json& extra) const {
  DSV3_ASSIGN_OR_RETURN(std::string text, render(messages, add_generation_prompt, extra));
  return tokenizer_.encode_checked(text, /*add_bos=*/false);
}

Result<std::vector<int32_t>> TextModel::encode_prompt(const std::string& text) const {
  return tokenizer_.encode_checked(text, tokenizer_.add_bos_token());
}

}  // namespace dsv3
