// The write path's validation of an `add` body (issue 14, item 2), measured on one input: an add
// of 100 records × 384 dimensions with documents and metadatas (≈ 0.8 MB), as
// bench/write_cpu.mjs sends it. Contenders:
//   - nlohmann_accept: nlohmann::json::accept (the same lexer as the SAX pass the write path used
//     before: every number converted with strtod);
//   - scan_json: text/json_scan.h (chroma-ha's own validating scanner, no number conversion);
//   - scan_write_body-like: scan_json plus reading the ids (what the write path does now);
//   - simdjson_dom / simdjson_ondemand: simdjson 3 (Debian libsimdjson-dev), which validates a
//     number only by parsing it; On-Demand must visit every value to validate it.
//
//   cmake -S bench -B build-bench -G Ninja && cmake --build build-bench --target json_scan_bench
//   build-bench/json_scan_bench
#include <benchmark/benchmark.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "text/json_scan.h"
#ifdef CHROMA_HA_BENCH_SIMDJSON
#include <simdjson.h>
#endif

namespace {

std::string AddBody(int batch, int dim) {
  uint32_t s = 12345;
  auto next = [&s] {
    s = s * 1664525u + 1013904223u;
    return static_cast<double>(s) / 4294967296.0 - 0.5;
  };
  nlohmann::json ids = nlohmann::json::array(), emb = nlohmann::json::array(),
                 docs = nlohmann::json::array(), metas = nlohmann::json::array();
  for (int i = 0; i < batch; ++i) {
    ids.push_back("r0-" + std::to_string(i));
    nlohmann::json row = nlohmann::json::array();
    for (int d = 0; d < dim; ++d) row.push_back(next());
    emb.push_back(row);
    docs.push_back("document " + std::to_string(i) + ": the quick brown fox " +
                   std::string(200, 'x'));
    metas.push_back({{"source", "bench"}, {"page", i}, {"score", next()}, {"ok", i % 2 == 0}});
  }
  return nlohmann::json{
      {"ids", ids}, {"embeddings", emb}, {"documents", docs}, {"metadatas", metas}}
      .dump();
}

const std::string& Body() {
  static const std::string body = AddBody(100, 384);
  return body;
}

void NlohmannAccept(benchmark::State& state) {
  const std::string& body = Body();
  for (auto _ : state) benchmark::DoNotOptimize(nlohmann::json::accept(body));
  state.SetBytesProcessed(state.iterations() * body.size());
}
BENCHMARK(NlohmannAccept)->Unit(benchmark::kMicrosecond);

void ScanJson(benchmark::State& state) {
  const std::string& body = Body();
  for (auto _ : state) benchmark::DoNotOptimize(chroma_ha::ScanJson(body).valid);
  state.SetBytesProcessed(state.iterations() * body.size());
}
BENCHMARK(ScanJson)->Unit(benchmark::kMicrosecond);

void ScanJsonAndIds(benchmark::State& state) {
  const std::string& body = Body();
  for (auto _ : state) {
    chroma_ha::JsonScan scan = chroma_ha::ScanJson(body);
    std::size_t n = 0;
    for (const auto& m : scan.members) {
      if (m.KeyIs("ids")) {
        for (auto lit : chroma_ha::JsonArrayElements(m.value))
          n += chroma_ha::JsonStringValue(lit).size();
      }
    }
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(state.iterations() * body.size());
}
BENCHMARK(ScanJsonAndIds)->Unit(benchmark::kMicrosecond);

#ifdef CHROMA_HA_BENCH_SIMDJSON
void SimdjsonDom(benchmark::State& state) {
  std::string body = Body();
  body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  simdjson::dom::parser parser;
  for (auto _ : state) {
    auto doc = parser.parse(body.data(), body.size(), /*realloc_if_needed=*/false);
    benchmark::DoNotOptimize(doc.error());
  }
  state.SetBytesProcessed(state.iterations() * body.size());
}
BENCHMARK(SimdjsonDom)->Unit(benchmark::kMicrosecond);

// Visits every value (On-Demand validates only what it visits). `ns` is the implementation:
// simdjson::ondemand is the one chosen at compile time (the portable fallback without -march
// flags, json_scan_bench), or AVX2 when built with -march=haswell (json_scan_bench_haswell).
#define CHROMA_HA_ONDEMAND_BENCH(ns, name)                                                   \
  bool Visit##name(ns::value v) {                                                            \
    ns::json_type t;                                                                         \
    if (v.type().get(t)) return false;                                                       \
    switch (t) {                                                                             \
      case ns::json_type::array:                                                             \
        for (auto e : v.get_array()) {                                                       \
          ns::value x;                                                                       \
          if (e.get(x) || !Visit##name(x)) return false;                                     \
        }                                                                                    \
        return true;                                                                         \
      case ns::json_type::object:                                                            \
        for (auto f : v.get_object()) {                                                      \
          std::string_view k;                                                                \
          ns::value x;                                                                       \
          if (f.unescaped_key().get(k) || f.value().get(x) || !Visit##name(x)) return false; \
        }                                                                                    \
        return true;                                                                         \
      case ns::json_type::number: {                                                          \
        double d;                                                                            \
        return !v.get_double().get(d);                                                       \
      }                                                                                      \
      case ns::json_type::string: {                                                          \
        std::string_view s;                                                                  \
        return !v.get_string().get(s);                                                       \
      }                                                                                      \
      case ns::json_type::boolean: {                                                         \
        bool b;                                                                              \
        return !v.get_bool().get(b);                                                         \
      }                                                                                      \
      case ns::json_type::null:                                                              \
        return v.is_null();                                                                  \
    }                                                                                        \
    return false;                                                                            \
  }                                                                                          \
  void name(benchmark::State& state) {                                                       \
    std::string body = Body();                                                               \
    body.reserve(body.size() + simdjson::SIMDJSON_PADDING);                                  \
    ns::parser parser;                                                                       \
    for (auto _ : state) {                                                                   \
      simdjson::padded_string_view view(body.data(), body.size(), body.capacity());          \
      ns::document doc;                                                                      \
      ns::value root;                                                                        \
      bool ok = !parser.iterate(view).get(doc) && !doc.get_value().get(root) &&              \
                Visit##name(root); /* 3.0 has no document::at_end() */                       \
      benchmark::DoNotOptimize(ok);                                                          \
    }                                                                                        \
    state.SetBytesProcessed(state.iterations() * body.size());                               \
  }                                                                                          \
  BENCHMARK(name)->Unit(benchmark::kMicrosecond);

CHROMA_HA_ONDEMAND_BENCH(simdjson::ondemand, SimdjsonOnDemand)
#endif

}  // namespace

BENCHMARK_MAIN();
