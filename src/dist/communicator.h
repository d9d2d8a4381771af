// The processes of one dsv3 job and the collectives between them, over MPI (Open MPI from
// Debian): the transport of expert-parallel inference and data-parallel training.
//
// A process started by an MPI launcher (mpirun, mpiexec, srun) is one rank of MPI_COMM_WORLD.
// A process started alone never touches MPI: it is a group of one whose collectives are plain
// copies, so a plain `dsv3` run pays nothing for MPI (no singleton start-up, no daemon) and
// behaves exactly as before.
//
// Collectives are called by every rank in the same order (the MPI rule). Waits poll with a
// growing sleep instead of MPI's busy loop, so an idle rank (a worker waiting for the next
// token of a chat) uses no CPU and ranks sharing cores (tests, --oversubscribe) do not starve
// each other.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "util/check.h"
#include "util/result.h"

namespace dsv3::dist {

// The element types the collectives carry.
template <typename T>
concept Element = std::is_same_v<T, float> || std::is_same_v<T, double> ||
                  std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t> ||
                  std::is_same_v<T, uint64_t> || std::is_same_v<T, uint8_t> ||
                  std::is_same_v<T, char>;

template <Element T>
MPI_Datatype mpi_type() {
  if constexpr (std::is_same_v<T, float>) return MPI_FLOAT;
  else if constexpr (std::is_same_v<T, double>) return MPI_DOUBLE;
  else if constexpr (std::is_same_v<T, int32_t>) return MPI_INT32_T;
  else if constexpr (std::is_same_v<T, int64_t>) return MPI_INT64_T;
  else if constexpr (std::is_same_v<T, uint64_t>) return MPI_UINT64_T;
  else if constexpr (std::is_same_v<T, uint8_t>) return MPI_UINT8_T;
  else return MPI_CHAR;
}

// True when an MPI launcher started this process (it sets its rank in the environment:
// OMPI_COMM_WORLD_SIZE for Open MPI, PMI_SIZE for MPICH/Hydra and Slurm, PMIX_RANK for PMIx).
bool launched_by_mpi();

// Non-blocking sends and receives completed together (one protocol step of a rank).
class Transfers {
 public:
  Transfers() = default;
  Transfers(const Transfers&) = delete;
  Transfers& operator=(const Transfers&) = delete;
  ~Transfers();  // waits for whatever is still pending

  // The buffers must stay alive and unchanged until wait().
  void send(int dest, int tag, std::span<const std::byte> bytes);
  void receive(int source, int tag, std::span<std::byte> bytes);  // exactly this many bytes
  void wait();

 private:
  std::vector<MPI_Request> requests_;
};

// A message of a size the receiver does not know in advance.
struct Message {
  int tag = 0;
  std::vector<std::byte> bytes;
};

class Comm {
 public:
  // The group of one (no MPI).
  Comm() = default;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  bool distributed() const { return size_ > 1; }
  // "rank 1 of 4 (host-b)": how messages name a process.
  std::string describe() const;
  std::string describe(int rank) const;
  const std::string& host() const { return host_; }

  void barrier() const;

  // values = the elementwise sum of every rank's values (same length on every rank). Every
  // rank gets bit-identical sums, added in rank order whatever algorithm MPI would choose:
  // replicas that must stay equal (data-parallel weights) do.
  template <Element T>
  void allreduce_sum(std::span<T> values) const {
    if (!distributed() || values.empty()) return;
    allreduce_sum_bytes(values.data(), int64_t(values.size()), sizeof(T), mpi_type<T>());
  }

  // Rank `root`'s values on every rank (same length on every rank).
  template <Element T>
  void broadcast(std::span<T> values, int root = 0) const {
    if (!distributed() || values.empty()) return;
    broadcast_bytes(values.data(), int64_t(values.size() * sizeof(T)), root);
  }
  // A vector of any length: the receivers' vectors are resized to root's.
  template <Element T>
  void broadcast(std::vector<T>& values, int root = 0) const {
    int64_t n = int64_t(values.size());
    broadcast(std::span(&n, 1), root);
    values.resize(size_t(n));
    broadcast(std::span(values), root);
  }
  void broadcast(std::string& text, int root = 0) const;

  // Every rank's `mine` (the same length on every rank) in rank order: [size * mine.size()].
  template <Element T>
  std::vector<T> allgather(std::span<const T> mine) const {
    std::vector<T> all(mine.size() * size_t(size_));
    if (!distributed()) {
      std::copy(mine.begin(), mine.end(), all.begin());
      return all;
    }
    check_count(mine.size());
    MPI_Allgather(mine.data(), int(mine.size()), mpi_type<T>(), all.data(), int(mine.size()),
                  mpi_type<T>(), MPI_COMM_WORLD);
    return all;
  }

  // Every rank's `mine` (any length) concatenated in rank order; counts[r] is rank r's length.
  template <Element T>
  std::vector<T> allgatherv(std::span<const T> mine, std::vector<int64_t>* counts = nullptr) const {
    const int64_t n = int64_t(mine.size());
    const std::vector<int64_t> lengths = allgather(std::span(&n, 1));
    std::vector<int> recv_counts, displs;
    const int64_t total = layout(lengths, recv_counts, displs);
    std::vector<T> all(static_cast<size_t>(total));
    if (distributed()) {
      MPI_Allgatherv(mine.data(), int(n), mpi_type<T>(), all.data(), recv_counts.data(),
                     displs.data(), mpi_type<T>(), MPI_COMM_WORLD);
    } else {
      std::copy(mine.begin(), mine.end(), all.begin());
    }
    if (counts) *counts = lengths;
    return all;
  }

  // Personalised exchange: the first send_counts[0] elements of `send` go to rank 0, the next
  // send_counts[1] to rank 1, ... Returns what every rank sent here, in rank order;
  // recv_counts[r] is how many came from rank r.
  template <Element T>
  std::vector<T> alltoallv(std::span<const T> send, std::span<const int64_t> send_counts,
                           std::vector<int64_t>& recv_counts) const {
    DSV3_CHECK(int(send_counts.size()) == size_, "%zu send counts for %d ranks",
               send_counts.size(), size_);
    recv_counts.assign(size_t(size_), 0);
    if (!distributed()) {
      recv_counts[0] = send_counts[0];
      return std::vector<T>(send.begin(), send.begin() + send_counts[0]);
    }
    MPI_Alltoall(send_counts.data(), 1, MPI_INT64_T, recv_counts.data(), 1, MPI_INT64_T,
                 MPI_COMM_WORLD);
    std::vector<int> scounts, sdispls, rcounts, rdispls;
    const int64_t sent = layout({send_counts.begin(), send_counts.end()}, scounts, sdispls);
    DSV3_CHECK(sent == int64_t(send.size()), "send counts add up to %ld, %zu elements given",
               long(sent), send.size());
    std::vector<T> received(static_cast<size_t>(layout(recv_counts, rcounts, rdispls)));
    MPI_Alltoallv(send.data(), scounts.data(), sdispls.data(), mpi_type<T>(), received.data(),
                  rcounts.data(), rdispls.data(), mpi_type<T>(), MPI_COMM_WORLD);
    return received;
  }

  // Each rank's status, agreed by all: OK on every rank when every rank is OK, otherwise the
  // failures, each named by its rank (in rank order). Use it after a step that can fail on
  // some ranks only (loading a shard), so that all ranks stop together instead of some
  // waiting forever for the others.
  Status agree(const Status& mine) const;

  // --- Point to point (protocols such as the expert exchange) ---
  // Waits (politely) for the next message from `source` and receives it whole.
  Message receive_any_size(int source) const;
  void send(int dest, int tag, std::span<const std::byte> bytes) const;

  // Ends the whole job: prints "dsv3: <describe()>: error: MESSAGE" on stderr and calls
  // MPI_Abort, which makes the launcher stop every rank. Alone (no MPI), exits with status 1.
  [[noreturn]] void abort(std::string_view message) const;

 private:
  friend class Runtime;
  void check_count(size_t n) const;
  // counts -> int counts and displacements for MPI's *v collectives; returns the total.
  int64_t layout(const std::vector<int64_t>& counts, std::vector<int>& ints,
                 std::vector<int>& displs) const;
  void allreduce_sum_bytes(void* data, int64_t n, size_t elem, MPI_Datatype type) const;
  void broadcast_bytes(void* data, int64_t bytes, int root) const;

  int rank_ = 0, size_ = 1;
  std::string host_ = "localhost";
};

// Owns MPI for the process: initialises it when an MPI launcher started the process and
// finalises it on destruction. There is at most one; world() is the job's communicator (a
// group of one when the process was not launched by MPI).
class Runtime {
 public:
  // Errors: MPI cannot start, or cannot give the thread level dsv3 needs (the server calls
  // MPI from its scheduler thread, one thread at a time: MPI_THREAD_SERIALIZED).
  static Result<std::unique_ptr<Runtime>> start(int* argc, char*** argv);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

 private:
  Runtime() = default;
  bool initialised_ = false;
};

// The job's communicator: a group of one until a Runtime started MPI.
const Comm& world();

}  // namespace dsv3::dist
