#include "server/http_wire.h"

#include <string_view>

#include "upstream/upstream_pool.h"

namespace chroma_ha {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// `a` equals the lower-case name `b`, ignoring ASCII case.
bool SameName(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char x = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (x != b[i]) return false;
  }
  return true;
}

}  // namespace

std::string CheckHeader(const http::request_parser<http::string_body>& parser) {
  const auto& req = parser.get();
  int content_lengths = 0;
  int transfer_encodings = 0;
  for (const auto& f : req) {
    if (f.name() == http::field::content_length) ++content_lengths;
    if (f.name() == http::field::transfer_encoding) ++transfer_encodings;
    for (unsigned char c : f.value()) {
      if (c == 0 || c == '\r' || c == '\n' || (c < 0x20 && c != '\t') || c == 0x7f) {
        return "control character in a header value";
      }
    }
  }
  if (content_lengths > 1) return "more than one Content-Length header";
  if (auto cl = req.find(http::field::content_length);
      cl != req.end() && cl->value().find(',') != beast::string_view::npos) {
    return "a list in Content-Length";  // "n, n" is a duplicate Content-Length too
  }
  if (content_lengths > 0 && transfer_encodings > 0) {
    return "both Content-Length and Transfer-Encoding";
  }
  if (transfer_encodings > 1) return "more than one Transfer-Encoding header";
  if (transfer_encodings == 1 && !parser.chunked()) {
    return "Transfer-Encoding other than chunked";
  }
  for (unsigned char c : req.target()) {
    if (c <= 0x20 || c == 0x7f) return "control character in the request target";
  }
  return "";
}

HttpRequest ToPlain(http::request<http::string_body>&& req) {
  HttpRequest out;
  out.method = std::string(req.method_string());
  out.target = std::string(req.target());
  for (const auto& f : req) {
    if (IsHopByHopHeader(f.name_string())) continue;
    out.headers.push_back({std::string(f.name_string()), std::string(f.value())});
  }
  out.body = std::move(req.body());
  return out;
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
    if (SameName(h.name, "content-length") || SameName(h.name, "server") ||
        SameName(h.name, "connection") || SameName(h.name, "transfer-encoding")) {
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

bool ExpectsContinue(const http::request_parser<http::string_body>& parser) {
  const auto& req = parser.get();
  if (req.version() < 11) return false;
  auto it = req.find(http::field::expect);
  return it != req.end() && beast::iequals(it->value(), "100-continue");
}

std::size_t DirectBodyRest(const http::request_parser<http::string_body>& parser,
                           std::size_t more_than) {
  if (parser.chunked()) return 0;
  const auto rest = parser.content_length_remaining();
  return rest && *rest > more_than ? static_cast<std::size_t>(*rest) : 0;
}

}  // namespace chroma_ha
