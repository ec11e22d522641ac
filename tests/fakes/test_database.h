// The PostgreSQL database the tests may use: CHROMA_HA_TEST_DATABASE_URL (scripts/test.sh starts
// one and sets it). With CHROMA_HA_REQUIRE_POSTGRES=1 (as in CI) a missing URL fails the calling
// test instead of letting it pass without having run.
#ifndef CHROMA_HA_TESTS_FAKES_TEST_DATABASE_H_
#define CHROMA_HA_TESTS_FAKES_TEST_DATABASE_H_

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace chroma_ha {

// The URL, or nullptr when none is configured (a test failure when one is required).
inline const char* TestDatabaseUrlOrNull() {
  const char* url = std::getenv("CHROMA_HA_TEST_DATABASE_URL");
  if (url != nullptr && *url != '\0') return url;
  const char* require = std::getenv("CHROMA_HA_REQUIRE_POSTGRES");
  if (require != nullptr && std::string(require) == "1") {
    ADD_FAILURE() << "CHROMA_HA_REQUIRE_POSTGRES=1 but CHROMA_HA_TEST_DATABASE_URL is unset";
  }
  return nullptr;
}

}  // namespace chroma_ha

#endif  // CHROMA_HA_TESTS_FAKES_TEST_DATABASE_H_
