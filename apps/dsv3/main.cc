// dsv3: one binary, one subcommand per task.
#include <cstdio>
#include <string>

#include "command.h"
#include "dist/communicator.h"

namespace {

// Expert-parallel inference: rank 0 is the front end, the others serve their experts.
bool is_expert_parallel(const std::string& command) {
  for (const char* c : {"logits", "generate", "chat", "serve", "bench"}) {
    if (command == c) return true;
  }
  return false;
}

// Data-parallel training: every rank computes its share of each batch.
bool runs_on_every_rank(const std::string& command) {
  return is_expert_parallel(command) || command == "train";
}

// A failed command. Alone, the message goes to stderr and dsv3 exits with status 1. As a rank
// of an MPI job the other ranks may be waiting for this one in a collective, so the whole job
// is ended (MPI_Abort) with the message naming the rank: a failure never leaves a job hanging.
int report_failure(const char* message) {
  const dsv3::dist::Comm& world = dsv3::dist::world();
  if (world.distributed()) world.abort(message);
  std::fprintf(stderr, "dsv3: error: %s\n", message);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // MPI starts only when a launcher (mpirun) started this process; see dist/communicator.h.
  auto runtime = dsv3::dist::Runtime::start(&argc, &argv);
  if (!runtime.ok()) {
    std::fprintf(stderr, "dsv3: error: %s\n", runtime.error().message.c_str());
    return 1;
  }
  const bool quiet_rank = !dsv3::dist::world().is_root();
  // Under mpirun, the model-running commands start on every rank: rank 0 runs the command as
  // the front end, every other rank parses the same command line and then serves its experts
  // (run_expert_rank). train runs on every rank (data parallel); any other command runs on
  // rank 0 only.
  const bool every_rank = argc > 1 && runs_on_every_rank(argv[1]);
  if (quiet_rank && !every_rank) return 0;
  const bool expert_parallel =
      dsv3::dist::world().distributed() && argc > 1 && is_expert_parallel(argv[1]);
  dsv3::cli::set_expert_parallel(expert_parallel);
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
  dsv3::cli::add_convert_command(app);
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
      if (quiet_rank) return 2;  // rank 0 says it once for the job
      std::fprintf(stderr, "dsv3: error: unknown command '%s' (commands: %s)\n", name.c_str(),
                   names.c_str());
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
    if (expert_parallel && quiet_rank) {
      return dsv3::cli::run_expert_rank(dsv3::cli::expert_rank_flags());
    }
  } catch (const CLI::ParseError& e) {
    // Every rank parses the same arguments and fails alike; rank 0 speaks for the job.
    if (quiet_rank) return e.get_exit_code();
    return app.exit(e);
  } catch (const dsv3::cli::JobError& e) {
    // Every rank knows; rank 0 says it, all leave normally.
    if (!quiet_rank) std::fprintf(stderr, "dsv3: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    return report_failure(e.what());
  }
  return 0;
}
