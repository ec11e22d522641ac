// WAL micro-benchmarks. WalAppend: appends per second and per-append latency for 1, 8 and 64
// concurrent appenders through GroupCommitter (src/wal/group_commit.h) on SqliteWalStore and
// PostgresWalStore. Each benchmark thread is one appender: it enqueues one entry (an `add` of a
// ~2 KB body, like a client write) and waits for its durable commit, as a request handler does.
//
//   build-bench/wal_append_bench [--benchmark_filter=WalAppend|WalRead] [--benchmark_...]
//
// SQLite: a fresh file under $BENCH_WAL_DIR (default /tmp). PostgreSQL: $BENCH_WAL_DATABASE_URL
// (a database this benchmark may fill, and empty: WalRead clears it); without it the PostgreSQL
// benchmarks are skipped.
// Counters: appends_per_s (all appenders together), p50_us / p99_us (per-thread percentiles,
// averaged over the threads), batch_mean (entries per store Append, from GroupCommitter::stats).
//
// WalRead/<store>: the sync worker's read of a drain page (PendingFor in chunks of 1,000 until
// 8,000 entries, as over eight collections), of single-record adds like bench/suite.mjs's drain
// (one 384-d vector each, about 2.6 KB). Counters: entries_per_s, MB_per_s of bodies. Run by
// hand (bench/suite.mjs part micro runs WalAppend only).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "chroma_ha/wal_store.h"
#include "wal/group_commit.h"
#include "wal/postgres_store.h"
#include "wal/sqlite_store.h"

namespace {

using chroma_ha::GroupCommitter;
using chroma_ha::Status;
using chroma_ha::WalEntry;
using chroma_ha::WalStore;

constexpr int kMaxBatch = 200;  // WAL_HIGH_VOLUME_BATCH_SIZE default: what the server uses

std::unique_ptr<WalStore> g_store;
std::unique_ptr<GroupCommitter> g_committer;
std::string g_error;
int g_sqlite_counter = 0;

const std::string& Body() {
  static const std::string body = [] {
    std::string s = R"({"ids":["a0","a1","a2","a3","a4","a5","a6","a7","a8","a9"],"embeddings":[)";
    while (s.size() < 2000) s += "[0.125,0.25,0.5,0.75],";
    s.back() = ']';
    s += "}";
    return s;
  }();
  return body;
}

WalEntry MakeEntry() {
  WalEntry e;
  e.tenant = "default_tenant";
  e.database = "default_database";
  e.collection = "bench";
  e.kind = "add";
  e.method = "POST";
  e.path = "/api/v2/tenants/default_tenant/databases/default_database/collections/{collection}/add";
  e.body = Body();
  return e;
}

bool OpenStore(const std::string& kind) {
  g_error.clear();
  if (kind == "sqlite") {
    const char* dir = std::getenv("BENCH_WAL_DIR");
    std::filesystem::path p = std::filesystem::path(dir ? dir : "/tmp") /
                              ("chroma-ha-wal-bench-" + std::to_string(::getpid()) + "-" +
                               std::to_string(++g_sqlite_counter) + ".sqlite3");
    g_store = std::make_unique<chroma_ha::SqliteWalStore>(p.string());
  } else {
    const char* url = std::getenv("BENCH_WAL_DATABASE_URL");
    if (url == nullptr || *url == '\0') {
      g_error = "BENCH_WAL_DATABASE_URL unset";
      return false;
    }
    g_store = std::make_unique<chroma_ha::PostgresWalStore>(url);
  }
  Status s = g_store->Open();
  if (!s.ok()) {
    g_error = s.ToString();
    g_store.reset();
    return false;
  }
  g_committer = std::make_unique<GroupCommitter>(g_store.get(), kMaxBatch);
  return true;
}

void CloseStore() {
  g_committer.reset();  // Stop(): drains
  if (g_store && std::string(g_store->Kind()) == "sqlite") {
    const std::string path = static_cast<chroma_ha::SqliteWalStore*>(g_store.get())->path();
    g_store.reset();
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(path + suffix);
  }
  g_store.reset();
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())))];
}

void BM_Append(benchmark::State& state, const std::string& kind) {
  if (state.thread_index() == 0) OpenStore(kind);
  // The loop's start is a barrier for all threads: g_store/g_error are visible after it.
  std::vector<double> lat_us;
  lat_us.reserve(1 << 16);
  int64_t errors = 0;
  const WalEntry proto = MakeEntry();
  for (auto _ : state) {
    if (!g_committer) {
      state.SkipWithError(("store not available: " + g_error).c_str());
      break;
    }
    std::promise<Status> done;
    auto fut = done.get_future();
    const auto t0 = std::chrono::steady_clock::now();
    g_committer->Append(proto, [&done](Status s, int64_t) { done.set_value(std::move(s)); });
    Status s = fut.get();
    const auto t1 = std::chrono::steady_clock::now();
    if (!s.ok()) ++errors;
    lat_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["appends_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["p50_us"] = benchmark::Counter(Percentile(lat_us, 50), benchmark::Counter::kAvgThreads);
  state.counters["p99_us"] = benchmark::Counter(Percentile(lat_us, 99), benchmark::Counter::kAvgThreads);
  state.counters["errors"] = benchmark::Counter(static_cast<double>(errors));
  // The loop's end is a barrier too: every appender is done when thread 0 gets here.
  if (state.thread_index() == 0) {
    if (g_committer) {
      const auto st = g_committer->stats();
      state.counters["batch_mean"] = static_cast<double>(st.entries) / std::max<int64_t>(1, st.batches);
      state.counters["batch_max"] = static_cast<double>(st.max_batch_size);
    }
    CloseStore();
  }
}

// A drain record's body: one id, one random 384-d vector with three decimals, the id as document.
std::string DrainBody(int n, std::mt19937& rng) {
  const std::string id = "\"bl-" + std::to_string(n) + "\"";
  std::string s = "{\"ids\":[" + id + "],\"embeddings\":[[";
  std::uniform_int_distribution<int> milli(-1000, 1000);
  char number[16];
  for (int d = 0; d < 384; ++d) {
    if (d > 0) s += ',';
    std::snprintf(number, sizeof number, "%.3f", milli(rng) / 1000.0);
    s += number;
  }
  return s + "]],\"documents\":[" + id + "]}";
}

void BM_Read(benchmark::State& state, const std::string& kind) {
  constexpr int kEntries = 8000;
  constexpr int kChunk = 1000;
  if (!OpenStore(kind) || !g_store->Clear().ok() ||
      !g_store->RegisterInstances({"primary", "replica"}).ok()) {
    state.SkipWithError(("store not available: " + g_error).c_str());
    CloseStore();
    return;
  }
  std::mt19937 rng(7);
  size_t body_bytes = 0;
  for (int n = 0; n < kEntries;) {  // appended as the server does, a batch at a time
    std::vector<WalEntry> batch;
    for (; n < kEntries && batch.size() < kMaxBatch; ++n) {
      WalEntry e = MakeEntry();
      e.body = DrainBody(n, rng);
      e.state = chroma_ha::EntryState::kCommitted;
      e.origin = "primary";
      body_bytes += e.body.size();
      batch.push_back(std::move(e));
    }
    if (Status s = g_store->Append(&batch); !s.ok()) {
      state.SkipWithError(("append failed: " + s.ToString()).c_str());
      CloseStore();
      return;
    }
  }
  for (auto _ : state) {
    int64_t after = 0;
    for (int got = 0; got < kEntries;) {
      chroma_ha::Result<std::vector<WalEntry>> page = g_store->PendingFor("replica", after, kChunk);
      if (!page.ok() || page->empty()) {
        state.SkipWithError("PendingFor failed or came back short");
        break;
      }
      got += static_cast<int>(page->size());
      after = page->back().seq;
      benchmark::DoNotOptimize(page->back().body.data());
    }
  }
  state.counters["entries_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * kEntries, benchmark::Counter::kIsRate);
  state.counters["MB_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * static_cast<double>(body_bytes) / 1e6,
      benchmark::Counter::kIsRate);
  (void)g_store->Clear();
  CloseStore();
}

void Register() {
  for (const char* kind : {"sqlite", "postgres"}) {
    for (int threads : {1, 8, 64}) {
      benchmark::RegisterBenchmark((std::string("WalAppend/") + kind).c_str(),
                                   [kind](benchmark::State& s) { BM_Append(s, kind); })
          ->Threads(threads)
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
    }
    benchmark::RegisterBenchmark((std::string("WalRead/") + kind).c_str(),
                                 [kind](benchmark::State& s) { BM_Read(s, kind); })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Register();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
