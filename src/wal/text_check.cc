#include "wal/text_check.h"

#include <cstdint>

#include "text/utf8.h"

namespace chroma_ha {
bool IsStorableText(std::string_view s) {
  return s.find('\0') == std::string_view::npos && IsUtf8(s);
}

Status CheckText(std::string_view field, std::string_view value) {
  if (IsStorableText(value)) return Status::Ok();
  return Status::InvalidArgument(std::string(field) +
                                 " must be valid UTF-8 without NUL bytes");
}

Status CheckEntries(const std::vector<WalEntry>& entries) {
  for (const WalEntry& e : entries) {
    const std::pair<const char*, const std::string*> fields[] = {
        {"tenant", &e.tenant}, {"database", &e.database}, {"collection", &e.collection},
        {"kind", &e.kind},     {"method", &e.method},     {"path", &e.path},
        {"origin", &e.origin}, {"extra", &e.extra},       {"writer", &e.writer},
    };
    for (const auto& [name, value] : fields) {
      if (Status s = CheckText(name, *value); !s.ok()) return s;
    }
  }
  return Status::Ok();
}

Status CheckIdentity(const CollectionIdentity& c) {
  const std::pair<const char*, const std::string*> fields[] = {
      {"tenant", &c.tenant}, {"database", &c.database}, {"name", &c.name},
      {"canonical_id", &c.canonical_id}};
  for (const auto& [name, value] : fields) {
    if (Status s = CheckText(name, *value); !s.ok()) return s;
  }
  for (const auto& [instance, id] : c.ids) {
    if (Status s = CheckText("instance", instance); !s.ok()) return s;
    if (Status s = CheckText("id", id); !s.ok()) return s;
  }
  return Status::Ok();
}

Status CheckBlocked(const BlockedCollection& b) {
  const std::pair<const char*, const std::string*> fields[] = {
      {"instance", &b.instance}, {"tenant", &b.tenant}, {"database", &b.database},
      {"collection", &b.collection}};
  for (const auto& [name, value] : fields) {
    if (Status s = CheckText(name, *value); !s.ok()) return s;
  }
  return Status::Ok();
}

std::string JsonStringArray(const std::vector<std::string>& values) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('"');
    for (const char ch : values[i]) {
      const auto c = static_cast<unsigned char>(ch);
      if (c == '"' || c == '\\') {
        out.push_back('\\');
        out.push_back(ch);
      } else if (c < 0x20) {
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
      } else {
        out.push_back(ch);
      }
    }
    out.push_back('"');
  }
  out.push_back(']');
  return out;
}

std::string SanitizeText(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = s[i] == '\0' ? 0 : Utf8SequenceLength(s, i);
    if (n == 0) {
      out.push_back('?');
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace chroma_ha
