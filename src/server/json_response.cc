#include <nlohmann/json.hpp>

#include "server/request_handler.h"

namespace chroma_ha {

HttpResponse JsonResponse(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.headers.push_back({"content-type", "application/json"});
  r.body = std::move(body);
  return r;
}

HttpResponse JsonError(int status, const std::string& error, const std::string& message) {
  nlohmann::json j = {{"error", error}, {"message", message}};
  return JsonResponse(status, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace chroma_ha
