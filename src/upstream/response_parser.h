// An instance's answer parsed straight into an HttpResponse: Beast's parser (basic_parser:
// framing, chunked bodies, limits, keep-alive) with our own callbacks, instead of
// http::response_parser's message, whose header keeps every field in a node of its own that
// we then copied (bench/analysis.md, "Proxy path").
//
// Headers the proxy must not forward (IsHopByHopHeader, and the names the Connection header
// lists) are left out as they are parsed. One parser per answer; not thread-safe.
#ifndef CHROMA_HA_UPSTREAM_RESPONSE_PARSER_H_
#define CHROMA_HA_UPSTREAM_RESPONSE_PARSER_H_

#include <boost/beast/http/basic_parser.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "chroma_ha/http_message.h"

namespace chroma_ha {

// True when `connection` (a Connection header's value) lists `name` (case-insensitive):
// hop-by-hop for that message too (RFC 9110 7.6.1).
bool ListedInConnection(std::string_view connection, std::string_view name);

class ResponseParser final : public boost::beast::http::basic_parser<false> {
 public:
  ResponseParser() = default;

  // The answer so far (complete once is_done()).
  HttpResponse& get() { return response_; }
  HttpResponse release() { return std::move(response_); }

 private:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;
  using field = boost::beast::http::field;

  void on_request_impl(boost::beast::http::verb, string_view, string_view, int,
                       error_code&) override {}
  void on_response_impl(int code, string_view, int, error_code&) override {
    response_.status = code;
    response_.headers.reserve(8);  // one allocation for a usual answer's headers
  }
  void on_field_impl(field name, string_view name_string, string_view value, error_code&) override;
  void on_header_impl(error_code&) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                         error_code&) override {
    // Beast has already refused a length over the body limit.
    if (content_length) response_.body.reserve(static_cast<std::size_t>(*content_length));
  }
  std::size_t on_body_impl(string_view body, error_code&) override {
    response_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
    response_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  HttpResponse response_;
  std::string connection_;  // the Connection header's value, if any
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_UPSTREAM_RESPONSE_PARSER_H_
