// dsv3: one binary, one subcommand per task.
#include <cstdio>
#include <string>

#include "command.h"

int main(int argc, char** argv) {
  CLI::App app{"dsv3: a DeepSeek-V3-family inference and training engine"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every command");
  dsv3::cli::add_info_command(app);
  dsv3::cli::add_logits_command(app);
  dsv3::cli::add_generate_command(app);
  dsv3::cli::add_chat_command(app);
  dsv3::cli::add_tokenize_commands(app);
  dsv3::cli::add_tokenizer_command(app);
  dsv3::cli::add_synth_command(app);
  dsv3::cli::add_bench_command(app);
  dsv3::cli::add_quantize_command(app);
  dsv3::cli::add_compare_command(app);
  dsv3::cli::add_serve_command(app);
  dsv3::cli::add_train_command(app);
  dsv3::cli::add_plot_command(app);
  if (argc > 1 && argv[1][0] != '-') {
    const std::string name = argv[1];
    bool known = false;
    std::string names;
    for (const CLI::App* sub : app.get_subcommands({})) {
      known |= sub->get_name() == name;
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) {
      std::fprintf(stderr, "dsv3: error: unknown command '%s' (commands: %s)\n", name.c_str(),
                   names.c_str());
      return 2;
    }
  }
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
