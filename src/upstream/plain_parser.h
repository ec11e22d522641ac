// Beast's HTTP parser (basic_parser: framing, chunked bodies, limits, keep-alive) writing into
// our plain HttpRequest / HttpResponse (chroma_ha/http_message.h) instead of a Beast message,
// whose header keeps every field in a node of its own that we would then copy
// (bench/analysis.md, "Proxy path"). This base holds the message and its body callbacks; the
// derived parser takes the start line and the fields (RequestParser in server/http_wire.h,
// ResponseParser in upstream/response_parser.h). One parser per message; not thread-safe.
#ifndef CHROMA_HA_UPSTREAM_PLAIN_PARSER_H_
#define CHROMA_HA_UPSTREAM_PLAIN_PARSER_H_

#include <boost/beast/http/basic_parser.hpp>
#include <cstdint>
#include <utility>

namespace chroma_ha {

template <bool isRequest, typename Message>
class PlainParser : public boost::beast::http::basic_parser<isRequest> {
 public:
  // The message so far (its body complete once is_done()).
  Message& get() { return message_; }
  Message release() { return std::move(message_); }

 protected:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;
  using field = boost::beast::http::field;

  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                         error_code&) override {
    // Beast has already refused a length over the body limit.
    if (content_length) message_.body.reserve(static_cast<std::size_t>(*content_length));
  }
  std::size_t on_body_impl(string_view body, error_code&) override {
    message_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
    message_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  Message message_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_UPSTREAM_PLAIN_PARSER_H_
