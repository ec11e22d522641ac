// Client credentials for Chroma-compatible token auth (README "Client authentication").
//
// Two sources, as on a Chroma server:
//  - CHROMA_SERVER_AUTHN_CREDENTIALS: one token with full access (user id "anonymous", every
//    tenant and database, read-write, may manage tenants and databases);
//  - CHROMA_SERVER_AUTHN_CREDENTIALS_FILE: a JSON file of users, each with its own tokens and
//    scope. The format (every key but "id" optional, unknown keys refused):
//      {"users": [{"id": "ingest",
//                  "tokens": ["plain-token"],           // stored as given
//                  "token_sha256": ["<64 hex digits>"],  // SHA-256 of a token, hex
//                  "tenant": "*",                        // one tenant, or "*" (default)
//                  "databases": ["*"],                   // names, or ["*"] (default)
//                  "access": "read_write",               // or "read_only"
//                  "manage": false}]}                    // create tenants, create/delete DBs
//
// Tokens are kept only as SHA-256 digests: a presented token is hashed and compared with every
// digest in constant time (CRYPTO_memcmp, no early exit), so neither timing nor memory holds
// more than the digest. Tokens must be printable ASCII without spaces (like Chroma's check).
// A CredentialSet is immutable once built; ClientAuth swaps whole sets on reload.
#ifndef CHROMA_HA_AUTH_CREDENTIALS_H_
#define CHROMA_HA_AUTH_CREDENTIALS_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "chroma_ha/status.h"

namespace chroma_ha {

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest Sha256(std::string_view data);
std::string HexOf(const Sha256Digest& digest);

// Who a token belongs to and what it may reach.
struct Principal {
  std::string id;
  std::string tenant = "*";                 // "*": every tenant
  std::vector<std::string> databases{"*"};  // contains "*": every database
  bool read_only = false;
  bool manage = false;  // may create tenants and create/delete databases in its scope

  bool AllTenants() const { return tenant == "*"; }
  bool AllDatabases() const;
  bool HasTenant(std::string_view t) const { return AllTenants() || tenant == t; }
  bool HasDatabase(std::string_view d) const;
};

class CredentialSet {
 public:
  // The principal whose token is `token`, or nullptr. Time does not depend on which digest
  // matched, nor on how much of it did.
  const Principal* Match(std::string_view token) const;

  std::size_t token_count() const { return digests_.size(); }
  const std::vector<Principal>& principals() const { return principals_; }

  // Adds `principal` with its token digests. InvalidArgument when a digest is already used.
  Status Add(Principal principal, const std::vector<Sha256Digest>& digests);

 private:
  std::vector<Principal> principals_;
  std::vector<std::pair<Sha256Digest, std::size_t>> digests_;  // digest -> principals_ index
};

// True when `token` is non-empty printable ASCII without spaces (0x21..0x7e).
bool ValidToken(std::string_view token);

// One full-access token (CHROMA_SERVER_AUTHN_CREDENTIALS). InvalidArgument if not ValidToken.
Result<CredentialSet> SingleTokenCredentials(std::string_view token);

// The JSON format above. InvalidArgument naming the user and key at fault; the message never
// contains a token.
Result<CredentialSet> ParseCredentialsJson(std::string_view text);

// Reads and parses `path` (at most 1 MiB).
Result<CredentialSet> LoadCredentialsFile(const std::string& path);

}  // namespace chroma_ha

#endif  // CHROMA_HA_AUTH_CREDENTIALS_H_
