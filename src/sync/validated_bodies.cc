#include "sync/validated_bodies.h"

#include <utility>

namespace chroma_ha {
namespace {

bool IsColumn(const std::string& key) {
  return key == "ids" || key == "embeddings" || key == "metadatas" || key == "documents" ||
         key == "uris";
}

}  // namespace

std::optional<BodyLayout> LayoutOf(std::string_view body, const JsonScan& scan) {
  if (!scan.valid || !scan.object || scan.truncated) return std::nullopt;
  BodyLayout layout;
  layout.size = body.size();
  layout.member_count = scan.member_count;
  for (const JsonMember& m : scan.members) {
    std::string key = m.Key();
    if (!IsColumn(key)) continue;
    BodyLayout::Column c;
    c.key = std::move(key);
    c.offset = static_cast<std::size_t>(m.value.data() - body.data());
    c.length = m.value.size();
    c.elements = m.elements;
    layout.columns.push_back(std::move(c));
  }
  return layout;
}

void ValidatedBodies::Remember(int64_t seq, BodyLayout layout) {
  if (capacity_ == 0) return;
  std::lock_guard lock(mu_);
  layouts_.insert_or_assign(seq, std::move(layout));
  while (layouts_.size() > capacity_) layouts_.erase(layouts_.begin());
}

std::optional<BodyLayout> ValidatedBodies::Find(int64_t seq) const {
  std::lock_guard lock(mu_);
  auto it = layouts_.find(seq);
  if (it == layouts_.end()) return std::nullopt;
  return it->second;
}

std::size_t ValidatedBodies::size() const {
  std::lock_guard lock(mu_);
  return layouts_.size();
}

}  // namespace chroma_ha
