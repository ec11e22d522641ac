// The HTTP/1.1 wire format of the client side, apart from the connection handling
// (server/listener.cc): the request parser, what a request's header must pass beyond Beast's
// own checks, and the head of an answer.
#ifndef CHROMA_HA_SERVER_HTTP_WIRE_H_
#define CHROMA_HA_SERVER_HTTP_WIRE_H_

#include <boost/beast/http/basic_parser.hpp>
#include <cstddef>
#include <string>

#include "chroma_ha/http_message.h"
#include "upstream/plain_parser.h"

namespace chroma_ha {

// A client's request parsed straight into the HttpRequest the router takes
// (upstream/plain_parser.h). Hop-by-hop headers are left out as they are parsed; what
// CheckHeader and ExpectsContinue need of them is noted on the way. One parser per request.
class RequestParser final : public PlainParser<true, HttpRequest> {
 public:
  // 10 for HTTP/1.0, 11 for HTTP/1.1 (11 until the request line is parsed).
  unsigned version() const { return static_cast<unsigned>(version_); }

 private:
  friend std::string CheckHeader(const RequestParser& parser);
  friend bool ExpectsContinue(const RequestParser& parser);

  void on_request_impl(boost::beast::http::verb, string_view method, string_view target,
                       int version, error_code&) override;
  void on_response_impl(int, string_view, int, error_code&) override {}
  void on_field_impl(field name, string_view name_string, string_view value, error_code&) override;
  void on_header_impl(error_code&) override {}

  int version_ = 11;
  int content_lengths_ = 0;
  int transfer_encodings_ = 0;
  bool content_length_list_ = false;  // a Content-Length value with a comma
  bool control_in_value_ = false;     // a header value with a control byte
  bool expect_continue_ = false;      // the first Expect header is "100-continue"
  bool expect_seen_ = false;
};

// Checks Beast leaves to us: request smuggling vectors and control bytes (DESIGN.md §7).
// Returns an empty string when the header is acceptable, else why it is not.
std::string CheckHeader(const RequestParser& parser);

// 1xx, 204 and 304 answers carry no body and no Content-Length.
bool BodilessStatus(int status);

// The response head, written directly (no Beast message: no per-header allocation) the way
// Beast's keep_alive() and prepare_payload() would: the handler's headers in their order (minus
// those chroma-ha sets itself), then Server, Connection when the default must be overridden, and
// Content-Length.
std::string ResponseHead(const HttpResponse& plain, unsigned version, bool keep_alive);

// True when the request asks for `100 Continue` before it sends its body (HTTP/1.1 only).
bool ExpectsContinue(const RequestParser& parser);

// The bytes of a body of announced length still to read, when there are more than `more_than`
// (worth reading past the parser); else 0 (chunked bodies, small rests).
std::size_t DirectBodyRest(const boost::beast::http::basic_parser<true>& parser,
                           std::size_t more_than);

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_HTTP_WIRE_H_
