// Whitespace settings of a Jinja2 environment. The defaults are the ones Hugging Face
// transformers uses to render chat templates: ImmutableSandboxedEnvironment(trim_blocks=True,
// lstrip_blocks=True), with Jinja's default of dropping one trailing newline of the source.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dsv3 {

// The work one render may do. A chat template is code: a template (or the messages it
// loops over) can ask for nested loops of 10^10 iterations, a string doubled 40 times or a
// list wrapped in itself 100,000 deep. Each limit ends such a render with an error naming it.
struct RenderLimits {
  // Statements executed, loop iterations and expression nodes evaluated. DeepSeek-V3's
  // template spends ~60 per message, so this allows conversations of ~15,000 messages; a
  // step costs 1-5 us (a loop iteration builds its scope and loop object), so a runaway
  // render ends within a few seconds.
  int64_t max_steps = 1'000'000;
  // Any output buffer or string value. A prompt this large is already ~16M tokens, 100x the
  // longest context of any model here; and 8x the server's 8 MB request-body limit, so a
  // template that writes each message a few times over still fits.
  size_t max_output_bytes = size_t(64) << 20;
  // Containers inside containers (value nesting) and evaluation recursion (expressions inside
  // macro calls inside expressions...). Printing, comparing and freeing values recurse, so
  // both stay far below what an 8 MB thread stack takes; the context's JSON is at most 600.
  int max_value_depth = 1000;
  int max_eval_depth = 1000;
};

struct TemplateOptions {
  // Remove the first newline after a block tag ({% ... %}) or comment.
  bool trim_blocks = true;
  // Remove spaces and tabs from the start of a line up to a block tag or comment.
  bool lstrip_blocks = true;
  // Keep a single newline at the very end of the template source.
  bool keep_trailing_newline = false;
};

}  // namespace dsv3
