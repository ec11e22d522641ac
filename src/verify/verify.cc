#include "verify/verify.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include "chroma_ha/config.h"
#include "chroma_ha/status.h"
#include "config/url.h"
#include "sync/chroma_api.h"
#include "upstream/blocking_client.h"
#include "verify/chroma_reader.h"
#include "verify/compare.h"
#include "verify/repair.h"

namespace chroma_ha {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxShownDifferences = 50;

struct Options {
  std::vector<std::string> urls;
  std::vector<std::string> tenants = {"default_tenant"};
  double wait_seconds = 0;
  int page_size = 500;
  bool repair = false;
};

struct Instance {
  std::string label;
  std::unique_ptr<BlockingInstanceClient> client;
};

struct Counts {
  int64_t databases = 0;
  int64_t collections = 0;
  int64_t records = 0;
};

using Reader = ChromaApi;

std::set<std::string> Names(const std::vector<json>& objects) {
  std::set<std::string> out;
  for (const json& o : objects) {
    if (o.is_object() && o.contains("name") && o["name"].is_string()) out.insert(o["name"]);
  }
  return out;
}

std::map<std::string, json> ByName(const std::vector<json>& objects) {
  std::map<std::string, json> out;
  for (const json& o : objects) {
    if (o.is_object() && o.contains("name") && o["name"].is_string()) out[o["name"]] = o;
  }
  return out;
}

// One database present on both instances: its collections and their records.
Status CompareDatabase(Reader& a, Reader& b, const std::string& tenant, const std::string& db,
                       int page_size, Differences* diffs, Counts* counts) {
  const std::string where = tenant + "/" + db;
  const std::string list = CollectionsPath(tenant, db);
  auto la = a.List(list, page_size);
  if (!la.ok()) return la.status();
  auto lb = b.List(list, page_size);
  if (!lb.ok()) return lb.status();
  auto ca = ByName(*la), cb = ByName(*lb);
  CompareNames("collection", where, Names(*la), Names(*lb), a.label(), b.label(), diffs);
  counts->collections += static_cast<int64_t>(ca.size());
  for (const auto& [name, xa] : ca) {
    auto it = cb.find(name);
    if (it == cb.end()) continue;
    const json& xb = it->second;
    const std::string cw = where + "/" + name;
    CompareCollectionObjects(cw, xa, xb, a.label(), b.label(), diffs);
    if (!xa.contains("id") || !xa["id"].is_string() || !xb.contains("id") ||
        !xb["id"].is_string()) {
      return Status::Internal("collection " + cw + " has no id");
    }
    auto ra = a.Records(tenant, db, xa["id"], page_size);
    if (!ra.ok()) return ra.status();
    auto rb = b.Records(tenant, db, xb["id"], page_size);
    if (!rb.ok()) return rb.status();
    counts->records += static_cast<int64_t>(ra->size());
    CompareRecords(cw, *ra, *rb, a.label(), b.label(), diffs);
  }
  return Status::Ok();
}

// Everything of `tenants` on instance `a` against instance `b`.
Status ComparePair(Reader& a, Reader& b, const Options& options, Differences* diffs,
                   Counts* counts) {
  for (const std::string& tenant : options.tenants) {
    auto ea = a.TenantExists(tenant);
    if (!ea.ok()) return ea.status();
    auto eb = b.TenantExists(tenant);
    if (!eb.ok()) return eb.status();
    if (!*ea || !*eb) {
      if (*ea || *eb) diffs->Add("tenant " + tenant + " only on " + (*ea ? a : b).label());
      continue;
    }
    const std::string list = "/api/v2/tenants/" + EncodePathSegment(tenant) + "/databases";
    auto da = a.List(list, options.page_size);
    if (!da.ok()) return da.status();
    auto db = b.List(list, options.page_size);
    if (!db.ok()) return db.status();
    auto na = Names(*da), nb = Names(*db);
    CompareNames("database", tenant, na, nb, a.label(), b.label(), diffs);
    counts->databases += static_cast<int64_t>(na.size());
    for (const std::string& name : na) {
      if (!nb.count(name)) continue;
      if (auto s = CompareDatabase(a, b, tenant, name, options.page_size, diffs, counts);
          !s.ok()) {
        return s;
      }
    }
  }
  return Status::Ok();
}

// Every instance against the first. `counts` are those of the first instance.
Status VerifyOnce(std::vector<Instance>& instances, const Options& options, Differences* diffs,
                  Counts* counts) {
  Reader first(instances[0].label, *instances[0].client);
  for (std::size_t i = 1; i < instances.size(); ++i) {
    Reader other(instances[i].label, *instances[i].client);
    Counts c;
    if (auto s = ComparePair(first, other, options, diffs, &c); !s.ok()) return s;
    if (i == 1) *counts = c;
  }
  return Status::Ok();
}

bool ParseNumber(const std::string& text, double* out) {
  char* end = nullptr;
  *out = std::strtod(text.c_str(), &end);
  return !text.empty() && end != nullptr && *end == '\0' && *out >= 0;
}

// Fills `*options`; returns an error message, or "" when the arguments are fine.
std::string ParseArgs(const std::vector<std::string>& args, Options* options) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    std::string v;
    if (a == "--repair") {
      options->repair = true;
    } else if (a == "--tenant") {
      if (!value(&v) || v.empty()) return "--tenant needs a name";
      options->tenants.push_back(v);
    } else if (a == "--wait") {
      if (!value(&v) || !ParseNumber(v, &options->wait_seconds)) {
        return "--wait needs a number of seconds";
      }
    } else if (a == "--page-size") {
      double n = 0;
      if (!value(&v) || !ParseNumber(v, &n) || n < 1 || n > 100000) {
        return "--page-size needs a number from 1 to 100000";
      }
      options->page_size = static_cast<int>(n);
    } else if (a.size() > 1 && a[0] == '-') {
      return "unknown option '" + a + "'";
    } else {
      options->urls.push_back(a);
    }
  }
  std::set<std::string> unique(options->tenants.begin(), options->tenants.end());
  options->tenants.assign(unique.begin(), unique.end());
  return "";
}

// The instances to compare: the URLs given, else the configured ones.
std::string MakeInstances(const Options& options, const std::map<std::string, std::string>& env,
                          std::vector<Instance>* out) {
  std::vector<InstanceConfig> configs;
  std::chrono::milliseconds connect{2000}, request{30000};
  if (options.urls.empty()) {
    std::vector<std::string> warnings;
    try {
      Config config = LoadConfig(env, &warnings);
      configs = config.instances;
      connect = config.connect_timeout;
      request = config.request_timeout;
    } catch (const ConfigError& e) {
      return std::string("configuration error: ") + e.what();
    }
  } else {
    for (const std::string& url : options.urls) {
      std::string error;
      auto parsed = ParseInstanceUrl(url, &error);
      if (!parsed) return "bad URL '" + url + "': " + error;
      parsed->name = parsed->url;
      configs.push_back(*parsed);
    }
  }
  if (configs.size() < 2) return "need at least two instances to compare";
  try {
    for (const InstanceConfig& c : configs) {
      out->push_back({c.name, std::make_unique<BlockingInstanceClient>(c, connect, request, 2)});
    }
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

void PrintDifferences(const Differences& diffs) {
  std::printf("%lld difference%s\n", static_cast<long long>(diffs.count()),
              diffs.count() == 1 ? "" : "s");
  for (const std::string& line : diffs.lines()) std::printf("  %s\n", line.c_str());
  if (diffs.count() > static_cast<int64_t>(diffs.lines().size())) {
    std::printf("  ... and %lld more\n",
                static_cast<long long>(diffs.count() - static_cast<int64_t>(diffs.lines().size())));
  }
}

// Every other instance made equal to the first; prints what changed. 0, or 2 on an error.
int Repair(std::vector<Instance>& instances, const Options& options) {
  Reader first(instances[0].label, *instances[0].client);
  for (std::size_t i = 1; i < instances.size(); ++i) {
    Reader other(instances[i].label, *instances[i].client);
    RepairReport report;
    Status s = RepairInstance(first, other, options.tenants, options.page_size, &report);
    std::printf("repaired %s: %zu collection%s changed, %lld records\n", other.label().c_str(),
                report.collections.size(), report.collections.size() == 1 ? "" : "s",
                static_cast<long long>(report.records_changed()));
    for (const std::string& line : DescribeRepair(report)) std::printf("  %s\n", line.c_str());
    if (!s.ok()) {
      std::fprintf(stderr, "chroma-ha verify --repair: %s\n", s.ToString().c_str());
      return 2;
    }
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace

int RunVerify(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  Options options;
  if (auto error = ParseArgs(args, &options); !error.empty()) {
    std::fprintf(stderr, "chroma-ha verify: %s (see --help)\n", error.c_str());
    return 2;
  }
  std::vector<Instance> instances;
  if (auto error = MakeInstances(options, env, &instances); !error.empty()) {
    std::fprintf(stderr, "chroma-ha verify: %s\n", error.c_str());
    return 2;
  }
  if (options.repair) {
    if (int code = Repair(instances, options); code != 0) return code;
  }
  const auto deadline = Clock::now() + std::chrono::milliseconds(
                                           static_cast<int64_t>(options.wait_seconds * 1000));
  for (int attempt = 1;; ++attempt) {
    Differences diffs(kMaxShownDifferences);
    Counts counts;
    Status s = VerifyOnce(instances, options, &diffs, &counts);
    if (s.ok() && diffs.empty()) {
      std::printf("converged: %zu instances, %lld databases, %lld collections, %lld records\n",
                  instances.size(), static_cast<long long>(counts.databases),
                  static_cast<long long>(counts.collections),
                  static_cast<long long>(counts.records));
      return 0;
    }
    const auto now = Clock::now();
    if (now >= deadline) {
      if (!s.ok()) {
        std::fprintf(stderr, "chroma-ha verify: %s\n", s.ToString().c_str());
        return 2;
      }
      PrintDifferences(diffs);
      return 1;
    }
    std::fprintf(stderr, "chroma-ha verify: attempt %d: %s; retrying\n", attempt,
                 s.ok() ? (std::to_string(diffs.count()) + " differences").c_str()
                        : s.ToString().c_str());
    std::this_thread::sleep_for(
        std::min<Clock::duration>(std::chrono::seconds(1), deadline - now));
  }
}

}  // namespace chroma_ha
