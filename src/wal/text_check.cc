#include "wal/text_check.h"

#include <cstdint>

namespace chroma_ha {
namespace {

// Length of the valid UTF-8 sequence (no NUL) starting at s[i], or 0 when it is invalid.
size_t ValidSequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(i);
  if (b0 == 0) return 0;
  if (b0 < 0x80) return 1;
  size_t len;
  uint32_t cp;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMinForLength[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

}  // namespace

bool IsStorableText(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = ValidSequenceLength(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
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
        {"origin", &e.origin}, {"extra", &e.extra},
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
    const size_t n = ValidSequenceLength(s, i);
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
