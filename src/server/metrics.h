// /metrics: the scheduler's counters and gauges and the HTTP requests answered, in the
// Prometheus text format (version 0.0.4).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "server/scheduler.h"

namespace dsv3::server {

// HTTP requests answered, by endpoint and status code.
class HttpCounters {
 public:
  void count(const std::string& endpoint, int status);
  std::map<std::pair<std::string, int>, int64_t> snapshot() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> counts_;
};

std::string render_metrics(const SchedulerStats& s, const HttpCounters& http);

}  // namespace dsv3::server
