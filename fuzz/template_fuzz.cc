// Fuzzes the Jinja2 chat-template interpreter: lexer, parser and renderer. Input sections
// (0x1E between them): the template source, then optionally the messages as JSON (any JSON
// value, so templates meet strings, numbers and nulls where they expect messages). Both
// parse options of real use (transformers' whitespace settings and plain Jinja's) are tried,
// and messages the input gives also go through DeepSeek-V3.2's built-in encoder. Renders run
// under a work budget far below the default one (see kLimits): a runaway loop costs
// milliseconds instead of seconds, and still ends in the same limit error.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz_support.h"
#include "template/chat_template.h"

namespace {

using nlohmann::ordered_json;

ordered_json default_messages() {
  return ordered_json::array({{{"role", "system"}, {"content", "Be brief."}},
                              {{"role", "user"}, {"content", "Hi"}},
                              {{"role", "assistant"}, {"content", "Hello"}}});
}

// The default budget (1,000,000 steps, 64 MiB) lets one runaway input take seconds under the
// sanitizers, and the fuzzer finds such loops early: they used to take most of its time.
// 20,000 steps still render ~300 messages through DeepSeek-V3's template, more than an
// input of 4 KiB holds. Depth limits stay at their defaults (the regressions need them).
constexpr dsv3::RenderLimits kLimits{.max_steps = 20'000, .max_output_bytes = 1 << 20};

// What render_chat() passes, rendered under kLimits.
void render(const dsv3::ChatTemplate& tmpl, const ordered_json& messages) {
  ordered_json context = ordered_json::object();
  context["messages"] = messages;
  context["tools"] = nullptr;
  context["documents"] = nullptr;
  context["add_generation_prompt"] = true;
  context["bos_token"] = "<bos>";
  context["eos_token"] = "<eos>";
  context["pad_token"] = "<eos>";
  dsv3::Result<std::string> out = tmpl.render(context, kLimits);
  dsv3::fuzz::note(out.ok() ? "rendered: " + *out : "render error: " + out.error().message);
  if (!out.ok() && out.error().message.empty()) {
    std::fprintf(stderr, "template_fuzz: a render error without a message\n");
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Real chat templates are under 8 KiB; a larger source adds time per input, not coverage.
  if (size > (16u << 10)) return -1;
  const auto sections = dsv3::fuzz::split_sections(dsv3::fuzz::as_text(data, size), 2);
  static const ordered_json kDefaultMessages = default_messages();
  ordered_json messages = kDefaultMessages;
  if (sections.size() > 1) {
    messages = ordered_json::parse(sections[1], nullptr, /*allow_exceptions=*/false);
    if (messages.is_discarded()) messages = kDefaultMessages;
  }
  // V3.2's built-in encoder reads only the messages: with the default ones it would do the
  // same work for every input.
  if (messages != kDefaultMessages) render(dsv3::ChatTemplate::deepseek_v32(), messages);
  for (const dsv3::TemplateOptions& options :
       {dsv3::TemplateOptions{},
        dsv3::TemplateOptions{
            .trim_blocks = false, .lstrip_blocks = false, .keep_trailing_newline = true}}) {
    dsv3::Result<dsv3::ChatTemplate> tmpl = dsv3::ChatTemplate::parse(sections[0], options);
    if (!tmpl.ok()) {
      dsv3::fuzz::note("parse error: " + tmpl.error().message);
      if (tmpl.error().message.empty()) std::abort();
      continue;
    }
    render(*tmpl, messages);
  }
  return 0;
}
