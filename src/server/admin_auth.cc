#include "server/admin_auth.h"

#include <openssl/crypto.h>

namespace chroma_ha {

namespace {

bool SameSecret(const std::string& expected, std::string_view given) {
  if (expected.empty() || given.size() != expected.size()) return false;
  return CRYPTO_memcmp(expected.data(), given.data(), expected.size()) == 0;
}

}  // namespace

bool HasToken(const std::string& token, const HttpRequest& request) {
  if (token.empty()) return false;
  if (auto t = FindHeader(request.headers, "x-admin-token"); t && SameSecret(token, *t)) {
    return true;
  }
  if (auto a = FindHeader(request.headers, "authorization"); a && a->starts_with("Bearer ")) {
    return SameSecret(token, a->substr(7));
  }
  return false;
}

}  // namespace chroma_ha
