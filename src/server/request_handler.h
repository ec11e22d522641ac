// The seam between the listener (downstream HTTP) and what answers requests (the router).
#ifndef CHROMA_HA_SERVER_REQUEST_HANDLER_H_
#define CHROMA_HA_SERVER_REQUEST_HANDLER_H_

#include <boost/asio/awaitable.hpp>
#include <string>

#include "chroma_ha/http_message.h"

namespace chroma_ha {

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // Answers one complete, already validated request. Never throws; errors are responses.
  // Called concurrently from the listener's threads, one call per request.
  virtual boost::asio::awaitable<HttpResponse> Handle(HttpRequest request) = 0;
};

// chroma-ha's own error answer, shaped like Chroma's: {"error": NAME, "message": TEXT}.
HttpResponse JsonError(int status, const std::string& error, const std::string& message);

// A JSON answer with the given status and an already serialised body.
HttpResponse JsonResponse(int status, std::string body);

}  // namespace chroma_ha

#endif  // CHROMA_HA_SERVER_REQUEST_HANDLER_H_
