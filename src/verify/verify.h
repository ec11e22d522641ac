// `chroma-ha verify [URL URL ...] [--tenant NAME]... [--wait SECONDS] [--page-size N] [--repair]`:
// compares Chroma instances record by record (see verify/compare.h for what is compared) and
// says whether they have converged. With --repair it first makes every other instance equal to
// the first (verify/repair.h), prints what it changed per collection, then verifies as usual.
//
// Instances: the URLs given, else PRIMARY_URL and REPLICA_URL(S) from the environment. Every
// other instance is compared with the first. Tenants: default_tenant plus each --tenant.
// Output (stdout): "converged ..." or "N differences ..." and a bounded list of them.
// Exit status: 0 converged, 1 differences, 2 an instance could not be read (connection error,
// unexpected answer) or bad arguments. --wait SECONDS retries (about once a second) until the
// instances converge or the deadline passes; the last attempt decides the exit status.
// Runs on the calling thread (blocking HTTP, off any event loop).
#ifndef CHROMA_HA_VERIFY_VERIFY_H_
#define CHROMA_HA_VERIFY_VERIFY_H_

#include <map>
#include <string>
#include <vector>

namespace chroma_ha {

// `args` are the arguments after "verify"; `env` is the process environment (for the
// configured instance URLs and timeouts when no URL is given).
int RunVerify(const std::vector<std::string>& args, const std::map<std::string, std::string>& env);

}  // namespace chroma_ha

#endif  // CHROMA_HA_VERIFY_VERIFY_H_
