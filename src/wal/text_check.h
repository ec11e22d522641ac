// Checks shared by every WalStore so that all of them accept and reject the same input:
// text fields (everything but `body`) must be valid UTF-8 without NUL bytes, because
// PostgreSQL `text` cannot hold anything else. Bodies are bytes and are never checked.
#ifndef CHROMA_HA_WAL_TEXT_CHECK_H_
#define CHROMA_HA_WAL_TEXT_CHECK_H_

#include <string>
#include <string_view>
#include <vector>

#include "chroma_ha/status.h"
#include "chroma_ha/wal_store.h"

namespace chroma_ha {

// True when `s` is valid UTF-8 and contains no NUL byte.
bool IsStorableText(std::string_view s);

// OK, or kInvalidArgument naming `field` when IsStorableText(value) is false.
Status CheckText(std::string_view field, std::string_view value);

// Every text field of every entry but `last_error` (diagnostic text: stores keep
// SanitizeText(last_error) instead); kInvalidArgument names the first bad field.
Status CheckEntries(const std::vector<WalEntry>& entries);

// The identity's names, ids and instance names.
Status CheckIdentity(const CollectionIdentity& identity);

// The block's key fields (instance, tenant, database, collection); `error` is sanitised instead.
Status CheckBlocked(const BlockedCollection& blocked);

// A JSON array of strings, e.g. ["primary","replica"]: how the SQL stores pass a list of
// instance names as one parameter (json_each / jsonb_array_elements_text).
std::string JsonStringArray(const std::vector<std::string>& values);

// Diagnostic text made storable: NUL and bytes of invalid UTF-8 sequences become '?'.
std::string SanitizeText(std::string_view s);

}  // namespace chroma_ha

#endif  // CHROMA_HA_WAL_TEXT_CHECK_H_
