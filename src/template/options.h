// Whitespace settings of a Jinja2 environment. The defaults are the ones Hugging Face
// transformers uses to render chat templates: ImmutableSandboxedEnvironment(trim_blocks=True,
// lstrip_blocks=True), with Jinja's default of dropping one trailing newline of the source.
#pragma once

namespace dsv3 {

struct TemplateOptions {
  // Remove the first newline after a block tag ({% ... %}) or comment.
  bool trim_blocks = true;
  // Remove spaces and tabs from the start of a line up to a block tag or comment.
  bool lstrip_blocks = true;
  // Keep a single newline at the very end of the template source.
  bool keep_trailing_newline = false;
};

}  // namespace dsv3
