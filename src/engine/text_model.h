// A model together with its tokenizer and chat template: what text front ends load.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "model/transformer.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace dsv3 {

class TextModel {
 public:
  // The tokenizer comes from `tokenizer_dir` when given, else from the model directory
  // (where Hugging Face checkpoints keep tokenizer.json and tokenizer_config.json).
  static Result<std::unique_ptr<TextModel>> load(const std::string& model_dir,
                                                 const std::string& tokenizer_dir,
                                                 const ModelOptions& options);
  // The same around a model already loaded (by an expert-parallel job's rank 0).
  static Result<std::unique_ptr<TextModel>> attach(std::unique_ptr<Model> model,
                                                   const std::string& model_dir,
                                                   const std::string& tokenizer_dir);

  const Model& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  bool has_chat_template() const { return chat_template_.has_value(); }

  // Renders OpenAI-style messages with the model's chat template and encodes the result
  // (no BOS added: the template writes it).
  Result<std::string> render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                             const nlohmann::ordered_json& extra = nullptr) const;
  Result<std::vector<int32_t>> encode_chat(const nlohmann::ordered_json& messages,
                                           bool add_generation_prompt,
                                           const nlohmann::ordered_json& extra = nullptr) const;
  // Encodes plain text, with BOS when the tokenizer config asks for it.
  Result<std::vector<int32_t>> encode_prompt(const std::string& text) const;

 private:
  TextModel(std::unique_ptr<Model> m, Tokenizer t) : model_(std::move(m)), tokenizer_(std::move(t)) {}
  std::unique_ptr<Model> model_;
  Tokenizer tokenizer_;
  std::optional<ChatTemplate> chat_template_;
};

// Loads a tokenizer and its chat template without a model (dsv3 tokenize / template).
Result<Tokenizer> load_tokenizer(const std::string& dir);
// The tokenizer's chat template; when it has none and the model is a DeepSeek-V3.2 checkpoint
// (`model_type` deepseek_v32: the release ships no template), V3.2's built-in encoder.
Result<ChatTemplate> load_chat_template(const Tokenizer& tokenizer, const std::string& dir,
                                        std::string_view model_type = {});
// Whether load_chat_template finds a template for this tokenizer and model.
bool has_chat_format(const Tokenizer& tokenizer, std::string_view model_type);

}  // namespace dsv3
