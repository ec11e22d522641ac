#include "auth/credentials.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace chroma_ha {

namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxFileBytes = 1 << 20;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool ParseHexDigest(std::string_view hex, Sha256Digest* out) {
  if (hex.size() != 64) return false;
  for (std::size_t i = 0; i < 32; ++i) {
    const int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return true;
}

Status Bad(const std::string& where, const std::string& what) {
  return Status::InvalidArgument("credentials file: " + where + ": " + what);
}

// A JSON array of strings, or an error naming `key`.
Status StringList(const json& value, const std::string& where, const char* key,
                  std::vector<std::string>* out) {
  if (!value.is_array()) return Bad(where, std::string(key) + " must be an array of strings");
  out->clear();
  for (const json& item : value) {
    if (!item.is_string()) return Bad(where, std::string(key) + " must hold strings only");
    out->push_back(item.get<std::string>());
  }
  return Status::Ok();
}

// Reads one user object into `principal` and `digests`.
Status ParseUser(const json& user, std::size_t index, Principal* principal,
                 std::vector<Sha256Digest>* digests) {
  std::string where = "users[" + std::to_string(index) + "]";
  if (!user.is_object()) return Bad(where, "must be an object");
  auto id = user.find("id");
  if (id == user.end() || !id->is_string() || id->get<std::string>().empty()) {
    return Bad(where, "\"id\" (a non-empty string) is required");
  }
  principal->id = id->get<std::string>();
  where += " (\"" + principal->id + "\")";
  for (auto it = user.begin(); it != user.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    std::vector<std::string> list;
    if (key == "id") continue;
    if (key == "tokens" || key == "token_sha256") {
      if (auto s = StringList(v, where, key.c_str(), &list); !s.ok()) return s;
      for (std::size_t i = 0; i < list.size(); ++i) {
        const std::string at = key + "[" + std::to_string(i) + "]";
        Sha256Digest d{};
        if (key == "tokens") {
          if (!ValidToken(list[i])) {
            return Bad(where, at + " must be printable ASCII without spaces");
          }
          d = Sha256(list[i]);
        } else if (!ParseHexDigest(list[i], &d)) {
          return Bad(where, at + " must be 64 hex digits (a SHA-256 digest)");
        }
        digests->push_back(d);
      }
    } else if (key == "tenant") {
      if (!v.is_string() || v.get<std::string>().empty()) {
        return Bad(where, "\"tenant\" must be a non-empty string (\"*\": every tenant)");
      }
      principal->tenant = v.get<std::string>();
    } else if (key == "databases") {
      if (auto s = StringList(v, where, "databases", &list); !s.ok()) return s;
      if (list.empty()) return Bad(where, "\"databases\" must not be empty ([\"*\"]: all)");
      principal->databases = list;
    } else if (key == "access") {
      if (v == "read_only") {
        principal->read_only = true;
      } else if (v == "read_write") {
        principal->read_only = false;
      } else {
        return Bad(where, "\"access\" must be \"read_only\" or \"read_write\"");
      }
    } else if (key == "manage") {
      if (!v.is_boolean()) return Bad(where, "\"manage\" must be true or false");
      principal->manage = v.get<bool>();
    } else {
      return Bad(where, "unknown key \"" + key + "\"");
    }
  }
  if (digests->empty()) return Bad(where, "needs at least one of \"tokens\", \"token_sha256\"");
  return Status::Ok();
}

}  // namespace

Sha256Digest Sha256(std::string_view data) {
  Sha256Digest out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

std::string HexOf(const Sha256Digest& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

bool Principal::AllDatabases() const {
  return std::find(databases.begin(), databases.end(), "*") != databases.end();
}

bool Principal::HasDatabase(std::string_view d) const {
  return AllDatabases() || std::find(databases.begin(), databases.end(), d) != databases.end();
}

const Principal* CredentialSet::Match(std::string_view token) const {
  const Sha256Digest given = Sha256(token);
  std::size_t found = principals_.size();  // "none"
  for (const auto& [digest, index] : digests_) {
    // Every digest is compared in full; the index is selected without a data-dependent branch
    // on how much matched.
    const bool same = CRYPTO_memcmp(digest.data(), given.data(), digest.size()) == 0;
    const std::size_t mask = ~(static_cast<std::size_t>(same) - 1);  // all ones when same
    found = (index & mask) | (found & ~mask);
  }
  return found < principals_.size() ? &principals_[found] : nullptr;
}

Status CredentialSet::Add(Principal principal, const std::vector<Sha256Digest>& digests) {
  for (std::size_t i = 0; i < digests.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (digests[j] == digests[i]) {
        return Status::InvalidArgument("credentials: a token of \"" + principal.id +
                                       "\" is already used by \"" + principal.id + "\"");
      }
    }
  }
  for (const Sha256Digest& d : digests) {
    for (const auto& [have, index] : digests_) {
      if (have == d) {
        return Status::InvalidArgument("credentials: a token of \"" + principal.id +
                                       "\" is already used by \"" + principals_[index].id + "\"");
      }
    }
  }
  const std::size_t index = principals_.size();
  for (const Sha256Digest& d : digests) digests_.push_back({d, index});
  principals_.push_back(std::move(principal));
  return Status::Ok();
}

bool ValidToken(std::string_view token) {
  if (token.empty()) return false;
  return std::all_of(token.begin(), token.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

Result<CredentialSet> SingleTokenCredentials(std::string_view token) {
  if (!ValidToken(token)) {
    return Status::InvalidArgument(
        "CHROMA_SERVER_AUTHN_CREDENTIALS must be printable ASCII without spaces");
  }
  Principal p;
  p.id = "anonymous";
  p.manage = true;
  CredentialSet set;
  if (auto s = set.Add(std::move(p), {Sha256(token)}); !s.ok()) return s;
  return set;
}

Result<CredentialSet> ParseCredentialsJson(std::string_view text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::InvalidArgument("credentials file: not valid JSON");
  if (!doc.is_object()) return Status::InvalidArgument("credentials file: not a JSON object");
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (it.key() != "users") {
      return Status::InvalidArgument("credentials file: unknown key \"" + it.key() + "\"");
    }
  }
  auto users = doc.find("users");
  if (users == doc.end() || !users->is_array() || users->empty()) {
    return Status::InvalidArgument("credentials file: \"users\" must be a non-empty array");
  }
  CredentialSet set;
  std::set<std::string> ids;
  for (std::size_t i = 0; i < users->size(); ++i) {
    Principal p;
    std::vector<Sha256Digest> digests;
    if (auto s = ParseUser((*users)[i], i, &p, &digests); !s.ok()) return s;
    if (!ids.insert(p.id).second) {
      return Status::InvalidArgument("credentials file: user id \"" + p.id + "\" appears twice");
    }
    if (auto s = set.Add(std::move(p), digests); !s.ok()) return s;
  }
  return set;
}

Result<CredentialSet> LoadCredentialsFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument("credentials file " + path + ": cannot be read");
  std::string text(kMaxFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxFileBytes) {
    return Status::InvalidArgument("credentials file " + path + ": larger than 1 MiB");
  }
  auto set = ParseCredentialsJson(text);
  if (!set.ok()) return Status::InvalidArgument(path + ": " + set.status().message());
  return set;
}

}  // namespace chroma_ha
