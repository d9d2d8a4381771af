// The loop of an expert rank (every rank but 0) of an expert-parallel job: it holds only its
// routed experts, and computes what rank 0 sends it until rank 0 says the job is over.
#pragma once

#include "dist/communicator.h"
#include "model/expert_placement.h"
#include "model/transformer.h"

namespace dsv3::parallel {

// Answers rank 0's requests (see protocol.h) until the shutdown request. A request this rank
// cannot serve (an expert it does not hold: different placements or checkpoints) is a broken
// invariant of the job: it ends the job with a message naming the rank.
void serve_experts(const dist::Comm& comm, const Model& model, const ExpertPlacement& placement);

}  // namespace dsv3::parallel
