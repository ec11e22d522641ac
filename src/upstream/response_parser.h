// An instance's answer parsed straight into an HttpResponse (upstream/plain_parser.h).
//
// Headers the proxy must not forward (IsHopByHopHeader, and the names the Connection header
// lists) are left out as they are parsed. One parser per answer; not thread-safe.
#ifndef CHROMA_HA_UPSTREAM_RESPONSE_PARSER_H_
#define CHROMA_HA_UPSTREAM_RESPONSE_PARSER_H_

#include <string>
#include <string_view>

#include "chroma_ha/http_message.h"
#include "upstream/plain_parser.h"

namespace chroma_ha {

// True when `connection` (a Connection header's value) lists `name` (case-insensitive):
// hop-by-hop for that message too (RFC 9110 7.6.1).
bool ListedInConnection(std::string_view connection, std::string_view name);

class ResponseParser final : public PlainParser<false, HttpResponse> {
 private:
  void on_request_impl(boost::beast::http::verb, string_view, string_view, int,
                       error_code&) override {}
  void on_response_impl(int code, string_view, int, error_code&) override {
    message_.status = code;
    message_.headers.reserve(8);  // one allocation for a usual answer's headers
  }
  void on_field_impl(field name, string_view name_string, string_view value, error_code&) override;
  void on_header_impl(error_code&) override;

  std::string connection_;  // the Connection header's value, if any
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_UPSTREAM_RESPONSE_PARSER_H_
