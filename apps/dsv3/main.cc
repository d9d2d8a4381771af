// dsv3: one binary, one subcommand per task.
#include <cstdio>

#include "command.h"

int main(int argc, char** argv) {
  CLI::App app{"dsv3: a DeepSeek-V3-family inference and training engine"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every command");
  dsv3::cli::add_info_command(app);
  dsv3::cli::add_logits_command(app);
  dsv3::cli::add_generate_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const dsv3::cli::CommandError& e) {
    std::fprintf(stderr, "dsv3: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsv3: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
