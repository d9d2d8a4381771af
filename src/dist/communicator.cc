#include "dist/communicator.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

namespace dsv3::dist {

namespace {

Comm& mutable_world() {
  static Comm comm;
  return comm;
}

// Polls `done` until it is true: a short spin (the answer to a decode step often arrives
// within microseconds), then yields, then sleeps a growing while up to 1 ms. MPI's own waits
// spin at 100% of a core; a worker waiting minutes for a chat user must not.
template <typename Done>
void wait_politely(Done&& done) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  while (!done()) {
    const auto waited = Clock::now() - start;
    if (waited < std::chrono::microseconds(100)) continue;
    if (waited < std::chrono::milliseconds(1)) {
      std::this_thread::yield();
      continue;
    }
    const auto nap = std::min<std::chrono::nanoseconds>(waited / 20, std::chrono::milliseconds(1));
    std::this_thread::sleep_for(nap);
  }
}

void wait_all(std::vector<MPI_Request>& requests) {
  if (requests.empty()) return;
  wait_politely([&] {
    int flag = 0;
    MPI_Testall(int(requests.size()), requests.data(), &flag, MPI_STATUSES_IGNORE);
    return flag != 0;
  });
  requests.clear();
}

// Collectives on at most this many elements per MPI call (MPI counts are int).
constexpr int64_t kMaxElementsPerCall = int64_t(1) << 28;

}  // namespace

bool launched_by_mpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"}) {
    if (std::getenv(var)) return true;
  }
  return false;
}

const Comm& world() { return mutable_world(); }

// --- Transfers

Transfers::~Transfers() { wait(); }

void Transfers::send(int dest, int tag, std::span<const std::byte> bytes) {
  DSV3_CHECK(bytes.size() <= size_t(INT_MAX), "message of %zu bytes", bytes.size());
  MPI_Request r;
  MPI_Isend(bytes.data(), int(bytes.size()), MPI_BYTE, dest, tag, MPI_COMM_WORLD, &r);
  requests_.push_back(r);
}

void Transfers::receive(int source, int tag, std::span<std::byte> bytes) {
  DSV3_CHECK(bytes.size() <= size_t(INT_MAX), "message of %zu bytes", bytes.size());
  MPI_Request r;
  MPI_Irecv(bytes.data(), int(bytes.size()), MPI_BYTE, source, tag, MPI_COMM_WORLD, &r);
  requests_.push_back(r);
}

void Transfers::wait() { wait_all(requests_); }

// --- Comm

std::string Comm::describe() const { return describe(rank_); }

std::string Comm::describe(int rank) const {
  std::string s = "rank " + std::to_string(rank) + " of " + std::to_string(size_);
  if (rank == rank_ && distributed()) s += " (" + host_ + ")";
  return s;
}

void Comm::check_count(size_t n) const {
  DSV3_CHECK(n <= size_t(INT_MAX), "%zu elements in one MPI call", n);
}

int64_t Comm::layout(const std::vector<int64_t>& counts, std::vector<int>& ints,
                     std::vector<int>& displs) const {
  ints.assign(counts.size(), 0);
  displs.assign(counts.size(), 0);
  int64_t total = 0;
  for (size_t r = 0; r < counts.size(); ++r) {
    DSV3_CHECK(counts[r] >= 0 && total + counts[r] <= INT_MAX, "count %ld at offset %ld",
               long(counts[r]), long(total));
    ints[r] = int(counts[r]);
    displs[r] = int(total);
    total += counts[r];
  }
  return total;
}

void Comm::barrier() const {
  if (!distributed()) return;
  MPI_Request r;
  MPI_Ibarrier(MPI_COMM_WORLD, &r);
  std::vector<MPI_Request> rs{r};
  wait_all(rs);
}

void Comm::broadcast_bytes(void* data, int64_t bytes, int root) const {
  auto* p = static_cast<char*>(data);
  for (int64_t done = 0; done < bytes; done += kMaxElementsPerCall) {
    const int64_t n = std::min(kMaxElementsPerCall, bytes - done);
    MPI_Request r;
    MPI_Ibcast(p + done, int(n), MPI_BYTE, root, MPI_COMM_WORLD, &r);
    std::vector<MPI_Request> rs{r};
    wait_all(rs);
  }
}

void Comm::broadcast(std::string& text, int root) const {
  std::vector<char> v(text.begin(), text.end());
  broadcast(v, root);
  text.assign(v.begin(), v.end());
}

// Reduce-scatter then allgather, by hand: rank r receives everybody's copy of chunk r (one
// all-to-all), adds them in rank order, and the summed chunks are gathered by all. The same
// traffic as MPI's ring allreduce (2 (R-1)/R of the data per rank), and the sums do not depend
// on which algorithm MPI picks for a message size: every rank gets the same bits.
void Comm::allreduce_sum_bytes(void* data, int64_t n, size_t elem, MPI_Datatype type) const {
  auto* base = static_cast<char*>(data);
  const int64_t R = size_;
  for (int64_t first = 0; first < n; first += kMaxElementsPerCall) {
    const int64_t len = std::min(kMaxElementsPerCall, n - first);
    char* seg = base + first * int64_t(elem);
    std::vector<int> counts(R), displs(R);
    for (int64_t r = 0; r < R; ++r) {
      displs[r] = int(len * r / R);
      counts[r] = int(len * (r + 1) / R - len * r / R);
    }
    const int mine = counts[rank_];
    std::vector<char> copies(size_t(mine) * R * elem);
    std::vector<int> rcounts(R, mine), rdispls(R);
    for (int64_t r = 0; r < R; ++r) rdispls[r] = int(r * mine);
    MPI_Alltoallv(seg, counts.data(), displs.data(), type, copies.data(), rcounts.data(),
                  rdispls.data(), type, MPI_COMM_WORLD);
    char* out = seg + int64_t(displs[rank_]) * int64_t(elem);
    auto add_in_rank_order = [&](auto zero) {
      using T = decltype(zero);
      const T* c = reinterpret_cast<const T*>(copies.data());
      T* o = reinterpret_cast<T*>(out);
      for (int j = 0; j < mine; ++j) {
        T acc = c[j];
        for (int64_t r = 1; r < R; ++r) acc += c[r * mine + j];
        o[j] = acc;
      }
    };
    if (type == MPI_FLOAT) add_in_rank_order(float{});
    else if (type == MPI_DOUBLE) add_in_rank_order(double{});
    else if (type == MPI_INT32_T) add_in_rank_order(int32_t{});
    else if (type == MPI_INT64_T) add_in_rank_order(int64_t{});
    else if (type == MPI_UINT64_T) add_in_rank_order(uint64_t{});
    else if (type == MPI_UINT8_T) add_in_rank_order(uint8_t{});
    else add_in_rank_order(char{});
    MPI_Allgatherv(MPI_IN_PLACE, 0, type, seg, counts.data(), displs.data(), type,
                   MPI_COMM_WORLD);
  }
}

Status Comm::agree(const Status& mine) const {
  // The failing rank names itself (with its host, which only it knows).
  std::string text = mine.ok() ? "" : describe() + ": " + mine.error().message;
  std::vector<int64_t> lengths;
  const std::vector<char> all = allgatherv(std::span<const char>(text.data(), text.size()), &lengths);
  const std::vector<uint8_t> failed_flags = [&] {
    const uint8_t f = mine.ok() ? 0 : 1;
    return allgather(std::span(&f, 1));
  }();
  std::string message;
  int64_t offset = 0;
  for (int r = 0; r < size_; ++r) {
    if (failed_flags[size_t(r)]) {
      const std::string m(all.begin() + offset, all.begin() + offset + lengths[size_t(r)]);
      message += (message.empty() ? "" : "; ") + m;
    }
    offset += lengths[size_t(r)];
  }
  if (message.empty()) return OkStatus();
  return Err(message);
}

Message Comm::receive_any_size(int source) const {
  DSV3_CHECK(distributed(), "receive in a group of one");
  MPI_Message handle;
  MPI_Status status;
  wait_politely([&] {
    int flag = 0;
    MPI_Improbe(source, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &handle, &status);
    return flag != 0;
  });
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  Message m{.tag = status.MPI_TAG, .bytes = std::vector<std::byte>(size_t(count))};
  MPI_Mrecv(m.bytes.data(), count, MPI_BYTE, &handle, MPI_STATUS_IGNORE);
  return m;
}

void Comm::send(int dest, int tag, std::span<const std::byte> bytes) const {
  Transfers t;
  t.send(dest, tag, bytes);
  t.wait();
}

void Comm::abort(std::string_view message) const {
  if (distributed()) {
    std::fprintf(stderr, "dsv3: %s: error: %.*s\n", describe().c_str(), int(message.size()),
                 message.data());
  } else {
    std::fprintf(stderr, "dsv3: error: %.*s\n", int(message.size()), message.data());
  }
  std::fflush(stderr);
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (initialised) MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);
}

// --- Runtime

Result<std::unique_ptr<Runtime>> Runtime::start(int* argc, char*** argv) {
  std::unique_ptr<Runtime> rt(new Runtime());
  if (!launched_by_mpi()) return rt;
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
    return Err("MPI_Init_thread failed");
  }
  rt->initialised_ = true;
  if (provided < MPI_THREAD_SERIALIZED) {
    return Err("this MPI library gives thread level ", provided,
               "; dsv3 needs MPI_THREAD_SERIALIZED (the server calls MPI from its scheduler "
               "thread)");
  }
  Comm& w = mutable_world();
  MPI_Comm_rank(MPI_COMM_WORLD, &w.rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &w.size_);
  char name[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  MPI_Get_processor_name(name, &len);
  w.host_.assign(name, size_t(len));
  return rt;
}

Runtime::~Runtime() {
  if (!initialised_) return;
  mutable_world() = Comm();
  MPI_Finalize();
}

}  // namespace dsv3::dist
