#include "server/http_wire.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <string_view>

#include "upstream/upstream_pool.h"

namespace chroma_ha {

namespace beast = boost::beast;
namespace http = beast::http;

void RequestParser::on_request_impl(http::verb, string_view method, string_view target, int version,
                                    error_code&) {
  message_.method.assign(method.data(), method.size());
  message_.target.assign(target.data(), target.size());
  version_ = version;
  message_.headers.reserve(8);  // one allocation for a usual request's headers
}

void RequestParser::on_field_impl(field name, string_view name_string, string_view value,
                                  error_code&) {
  if (name == field::content_length) {
    ++content_lengths_;
    if (value.find(',') != string_view::npos) content_length_list_ = true;
  }
  if (name == field::transfer_encoding) ++transfer_encodings_;
  if (name == field::expect && !expect_seen_) {
    expect_seen_ = true;
    expect_continue_ = beast::iequals(value, "100-continue");
  }
  for (unsigned char c : value) {
    if (c == 0 || c == '\r' || c == '\n' || (c < 0x20 && c != '\t') || c == 0x7f) {
      control_in_value_ = true;
    }
  }
  const std::string_view n(name_string.data(), name_string.size());
  if (IsHopByHopHeader(n)) return;
  message_.headers.push_back({std::string(n), std::string(value.data(), value.size())});
}

std::string CheckHeader(const RequestParser& parser) {
  if (parser.control_in_value_) return "control character in a header value";
  if (parser.content_lengths_ > 1) return "more than one Content-Length header";
  if (parser.content_length_list_) {
    return "a list in Content-Length";  // "n, n" is a duplicate Content-Length too
  }
  if (parser.content_lengths_ > 0 && parser.transfer_encodings_ > 0) {
    return "both Content-Length and Transfer-Encoding";
  }
  if (parser.transfer_encodings_ > 1) return "more than one Transfer-Encoding header";
  if (parser.transfer_encodings_ == 1 && !parser.chunked()) {
    return "Transfer-Encoding other than chunked";
  }
  for (unsigned char c : parser.message_.target) {
    if (c <= 0x20 || c == 0x7f) return "control character in the request target";
  }
  return "";
}

bool BodilessStatus(int status) { return status / 100 == 1 || status == 204 || status == 304; }

std::string ResponseHead(const HttpResponse& plain, unsigned version, bool keep_alive) {
  std::size_t size = 128;
  for (const Header& h : plain.headers) size += h.name.size() + h.value.size() + 4;
  std::string head;
  head.reserve(size);
  head.append("HTTP/").append(std::to_string(version / 10)).append(".");
  head.append(std::to_string(version % 10)).append(" ");
  head.append(std::to_string(plain.status)).append(" ");
  const beast::string_view reason = http::obsolete_reason(static_cast<http::status>(plain.status));
  head.append(reason.data(), reason.size()).append("\r\n");
  for (const Header& h : plain.headers) {
    if (beast::iequals(h.name, "content-length") || beast::iequals(h.name, "server") ||
        beast::iequals(h.name, "connection") || beast::iequals(h.name, "transfer-encoding")) {
      continue;
    }
    head.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  head.append("Server: chroma-ha\r\n");
  if (version >= 11 && !keep_alive) head.append("Connection: close\r\n");
  if (version < 11 && keep_alive) head.append("Connection: keep-alive\r\n");
  if (!BodilessStatus(plain.status)) {
    head.append("Content-Length: ").append(std::to_string(plain.body.size())).append("\r\n");
  }
  head.append("\r\n");
  return head;
}

bool ExpectsContinue(const RequestParser& parser) {
  return parser.version_ >= 11 && parser.expect_continue_;
}

std::size_t DirectBodyRest(const http::basic_parser<true>& parser, std::size_t more_than) {
  if (parser.chunked()) return 0;
  const auto rest = parser.content_length_remaining();
  return rest && *rest > more_than ? static_cast<std::size_t>(*rest) : 0;
}

}  // namespace chroma_ha
