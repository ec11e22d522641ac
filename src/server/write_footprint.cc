#include "server/write_footprint.h"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace chroma_ha {
namespace {

using json = nlohmann::json;

// Collects the top-level "ids" array of strings and notes a non-null top-level "where" or
// "where_document"; everything else is only validated.
class IdsScanner final : public nlohmann::json_sax<json> {
 public:
  bool null() override { return Scalar(/*is_null=*/true); }
  bool boolean(bool) override { return Scalar(false); }
  bool number_integer(number_integer_t) override { return Scalar(false); }
  bool number_unsigned(number_unsigned_t) override { return Scalar(false); }
  bool number_float(number_float_t, const string_t&) override { return Scalar(false); }
  bool binary(binary_t&) override { return Scalar(false); }
  bool string(string_t& s) override {
    if (in_ids_ && depth_ == 2) {
      ids_.push_back(std::move(s));
      return true;
    }
    return Scalar(false);
  }
  bool start_object(std::size_t) override { return Open(); }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override {
    if (depth_ == 1 && key_ == "ids") {
      in_ids_ = true;
      saw_ids_ = true;
      ++depth_;
      return true;
    }
    return Open();
  }
  bool end_array() override { return Close(); }
  bool key(string_t& k) override {
    if (depth_ == 1) key_ = k;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

  bool usable() const { return top_object_ && saw_ids_ && ids_ok_ && !where_; }
  std::vector<std::string>& ids() { return ids_; }

 private:
  // A scalar value: a non-string inside `ids`, or a non-null where at the top level.
  bool Scalar(bool is_null) {
    if (in_ids_ && depth_ == 2) ids_ok_ = false;
    if (depth_ == 1 && !is_null && IsWhereKey()) where_ = true;
    return true;
  }
  bool Open() {
    if (depth_ == 0) top_object_ = true;
    if (in_ids_) ids_ok_ = false;  // an array or object inside ids
    if (depth_ == 1 && IsWhereKey()) where_ = true;
    ++depth_;
    return true;
  }
  bool Close() {
    --depth_;
    if (depth_ == 1) in_ids_ = false;
    return true;
  }
  bool IsWhereKey() const { return key_ == "where" || key_ == "where_document"; }

  int depth_ = 0;
  std::string key_;
  bool top_object_ = false;
  bool in_ids_ = false;
  bool saw_ids_ = false;
  bool ids_ok_ = true;
  bool where_ = false;
  std::vector<std::string> ids_;
};

bool IsRecordWrite(WriteKind kind) {
  return kind == WriteKind::kAdd || kind == WriteKind::kUpsert || kind == WriteKind::kUpdate ||
         kind == WriteKind::kDelete;
}

}  // namespace

ScannedBody ScanWriteBody(std::string_view body, WriteKind kind) {
  ScannedBody out;
  IdsScanner scanner;
  out.valid_json = json::sax_parse(body, &scanner);
  if (out.valid_json && IsRecordWrite(kind) && scanner.usable()) {
    out.footprint = MakeFootprint(std::move(scanner.ids()));
  }
  return out;
}

}  // namespace chroma_ha
