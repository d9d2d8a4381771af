#include "server/metrics.h"

#include <cstdio>

namespace dsv3::server {

void HttpCounters::count(const std::string& endpoint, int status) {
  std::lock_guard lock(mu_);
  ++counts_[{endpoint, status}];
}

std::map<std::pair<std::string, int>, int64_t> HttpCounters::snapshot() const {
  std::lock_guard lock(mu_);
  return counts_;
}

namespace {

void metric(std::string& out, const char* name, const char* type, const char* help, double value) {
  char line[256];
  std::snprintf(line, sizeof line, "# HELP dsv3_%s %s\n# TYPE dsv3_%s %s\ndsv3_%s %.17g\n", name,
                help, name, type, name, value);
  out += line;
}

}  // namespace

std::string render_metrics(const SchedulerStats& s, const HttpCounters& http) {
  std::string out;
  out += "# HELP dsv3_requests_total HTTP requests answered, by endpoint and status code.\n";
  out += "# TYPE dsv3_requests_total counter\n";
  for (const auto& [key, n] : http.snapshot()) {
    out += "dsv3_requests_total{endpoint=\"" + key.first + "\",code=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
  }
  metric(out, "requests_finished_total", "counter", "Generations that ran to their end.",
         double(s.requests_finished));
  metric(out, "requests_cancelled_total", "counter",
         "Generations stopped because the client went away.", double(s.requests_cancelled));
  metric(out, "requests_failed_total", "counter",
         "Generations the model could not go on with (non-finite logits).",
         double(s.requests_failed));
  metric(out, "requests_running", "gauge", "Sequences in the running batch.", double(s.running));
  metric(out, "requests_waiting", "gauge", "Requests queued for a free sequence.",
         double(s.queued));
  metric(out, "prompt_tokens_total", "counter", "Prompt tokens of admitted requests (tokens in).",
         double(s.prompt_tokens));
  metric(out, "prefill_tokens_total", "counter",
         "Prompt tokens computed (the rest were reused from a KV cache).",
         double(s.prefill_tokens));
  metric(out, "generation_tokens_total", "counter", "Tokens generated (tokens out).",
         double(s.generated_tokens));
  metric(out, "generation_tokens_per_second", "gauge",
         "Tokens generated per second, averaged over the last 10 seconds.",
         s.generated_tokens_per_s);
  metric(out, "batch_steps_total", "counter", "Batched forward passes.", double(s.steps));
  metric(out, "batch_sequences", "gauge", "Sequences in the last batched forward.",
         double(s.last_batch_sequences));
  metric(out, "batch_tokens", "gauge", "Tokens in the last batched forward.",
         double(s.last_batch_tokens));
  metric(out, "kv_cache_used_tokens", "gauge", "KV-cache positions held by running sequences.",
         double(s.kv_tokens_used));
  metric(out, "kv_cache_capacity_tokens", "gauge", "KV-cache positions allocated (parallel x ctx).",
         double(s.kv_tokens_capacity));
  metric(out, "kv_cache_usage_ratio", "gauge", "KV-cache positions in use, as a fraction.",
         s.kv_tokens_capacity > 0 ? double(s.kv_tokens_used) / double(s.kv_tokens_capacity) : 0.0);
  metric(out, "mtp_draft_tokens_total", "counter",
         "Tokens drafted by the MTP layer (0 with --mtp off or a model without one).",
         double(s.mtp_draft_tokens));
  metric(out, "mtp_accepted_tokens_total", "counter", "Drafted tokens the main model accepted.",
         double(s.mtp_accepted_tokens));
  metric(out, "mtp_acceptance_ratio", "gauge", "Accepted / drafted MTP tokens.",
         s.mtp_draft_tokens > 0 ? double(s.mtp_accepted_tokens) / double(s.mtp_draft_tokens) : 0.0);
  if (s.mtp_auto) {
    metric(out, "mtp_auto_speculating", "gauge",
           "1 while --mtp auto has the batch draft (measured faster), 0 while it decodes plain.",
           s.mtp_auto->speculating ? 1.0 : 0.0);
    metric(out, "mtp_auto_speedup", "gauge",
           "Measured tokens/s of speculative over plain steps (0 until both are measured).",
           s.mtp_auto->speedup);
  }
  return out;
}

}  // namespace dsv3::server
