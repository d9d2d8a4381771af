// Shared pieces of the dsv3 subcommands. Each subcommand lives in its own cmd_*.cc and adds
// itself to the root CLI11 app; failures are reported by throwing CommandError, which main()
// prints to stderr with a non-zero exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/transformer.h"
#include "parallel/launch.h"
#include "util/result.h"

namespace dsv3::cli {

struct CommandError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A failure every rank of an MPI job knows about (they agreed on it): rank 0 prints it once,
// and every rank exits normally with status 1, instead of aborting the job.
struct JobError : CommandError {
  using CommandError::CommandError;
};

// Unwraps a Result or throws its message.
template <typename T>
T unwrap(Result<T> r) {
  if (!r.ok()) throw CommandError(r.error().message);
  return std::move(r).value();
}
inline void unwrap(const Status& s) {
  if (!s.ok()) throw CommandError(s.error().message);
}

// "0,5,17" -> {0, 5, 17}; refuses anything that is not a comma-separated integer list.
std::vector<int32_t> parse_token_list(const std::string& text, const std::string& flag);

// Options every model-running command shares.
struct ModelFlags {
  std::string model_dir;
  int64_t context = 4096;
  bool mlock = false;
  std::string kv_type = "f32";
  std::string activations = "int8";  // q8 / q4 products: int8 (VNNI) or f32 activations
  parallel::PlacementOptions placement;  // under mpirun: where the routed experts go
  void add_to(CLI::App* cmd, bool model_required = true);
  ModelOptions options(bool with_mtp = true) const;
  // Alone: the whole model. As rank 0 of an expert-parallel job: the model with the other
  // ranks' experts attached (a collective: the expert ranks load their shares meanwhile, in
  // run_expert_rank).
  std::unique_ptr<Model> load(bool with_mtp = true) const;
};

// Whether this process is a rank of an expert-parallel job: set by main for the commands that
// run on every rank under mpirun. Other commands load the whole model on rank 0 alone.
void set_expert_parallel(bool on);

// What an expert rank takes from the command line it was started with: how to load its share
// of the model, and the compute threads (the command's -t; null or 0: every core).
struct ExpertRankFlags {
  const ModelFlags* model = nullptr;
  const int* threads = nullptr;
};

// The callback of a command that runs the model under mpirun (logits, generate, chat, serve,
// bench). Alone or as rank 0, it runs `run`, which must load the model through `model`. On an
// expert rank the command is not run: its flags are kept for main, which then calls
// run_expert_rank(expert_rank_flags()). Every rank parses the same command line, so a
// mistake in it is refused alike on every rank. `model` and `threads` live in the flags that
// `run` holds (they must outlive the parse).
void set_model_command_callback(CLI::App* cmd, const ModelFlags& model, std::function<void()> run,
                                const int* threads = nullptr);

// The flags the parsed model command kept on an expert rank (model is null otherwise).
const ExpertRankFlags& expert_rank_flags();

// The entry point of an expert rank (every rank but 0) of an expert-parallel job: loads this
// rank's share of the model together with rank 0, then computes rank 0's expert requests
// until rank 0 ends the job. Returns the exit status: 0, or 1 when the job could not load
// (rank 0 prints why, for every rank). Any other failure ends the job through MPI_Abort.
int run_expert_rank(const ExpertRankFlags& flags);

// --activations int8|f32: the precision of the activations in q8 / q4 matrix products.
void add_activations_flag(CLI::App* cmd, std::string& activations);
// Sets it for the kernels (a process-wide choice).
void apply_activations(const std::string& activations);

// --expert-load and --redundant-experts.
void add_placement_flags(CLI::App* cmd, parallel::PlacementOptions& placement);

void add_logits_command(CLI::App& root);
void add_generate_command(CLI::App& root);
void add_info_command(CLI::App& root);
void add_quantize_command(CLI::App& root);
void add_convert_command(CLI::App& root);
void add_compare_command(CLI::App& root);
void add_tokenize_commands(CLI::App& root);
void add_tokenizer_command(CLI::App& root);
void add_chat_command(CLI::App& root);
void add_synth_command(CLI::App& root);
void add_bench_command(CLI::App& root);
void add_serve_command(CLI::App& root);
void add_train_command(CLI::App& root);
void add_plot_command(CLI::App& root);

}  // namespace dsv3::cli
