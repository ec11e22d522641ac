// The HTTP/1.1 wire format of the client side, apart from the connection handling
// (server/listener.cc): what a request's header must pass beyond Beast's own checks, the plain
// request handed to the router, and the head of an answer.
#ifndef CHROMA_HA_SERVER_HTTP_WIRE_H_
#define CHROMA_HA_SERVER_HTTP_WIRE_H_

#include <boost/beast/http.hpp>
#include <cstddef>
#include <string>

#include "chroma_ha/http_message.h"

namespace chroma_ha {

// Checks Beast leaves to us: request smuggling vectors and control bytes (DESIGN.md §7).
// Returns an empty string when the header is acceptable, else why it is not.
std::string CheckHeader(
    const boost::beast::http::request_parser<boost::beast::http::string_body>& parser);

// The request as the router takes it: hop-by-hop headers dropped, the body moved.
HttpRequest ToPlain(boost::beast::http::request<boost::beast::http::string_body>&& req);

// 1xx, 204 and 304 answers carry no body and no Content-Length.
bool BodilessStatus(int status);

// The response head, written directly (no Beast message: no per-header allocation) the way
// Beast's keep_alive() and prepare_payload() would: the handler's headers in their order (minus
// those chroma-ha sets itself), then Server, Connection when the default must be overridden, and
// Content-Length.
std::string ResponseHead(const HttpResponse& plain, unsigned version, bool keep_alive);

// True when the request asks for `100 Continue` before it sends its body (HTTP/1.1 only).
bool ExpectsContinue(
    const boost::beast::http::request_parser<boost::beast::http::string_body>& parser);

// The bytes of a body of announced length still to read, when there are more than `more_than`
// (worth reading past the parser); else 0 (chunked bodies, small rests).
std::size_t DirectBodyRest(
    const boost::beast::http::request_parser<boost::beast::http::string_body>& parser,
    std::size_t more_than);

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_HTTP_WIRE_H_
