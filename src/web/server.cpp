#include "web/server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <sys/socket.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <utility>

#include "web/assets.h"

namespace mnist {

using nlohmann::json;

namespace {

// Streams (one per open event source) hold a thread each: room for many
// tabs, and a cap on them that leaves threads for everything else.
constexpr size_t kThreads = 256;
constexpr int kMaxStreams = 192;
// Room for a multipart form's boundaries and headers around the image.
constexpr uint64_t kFormOverhead = 64 * 1024;

// Text from a request (a name, a decoder's message quoting the bytes) need
// not be UTF-8: it is replaced, not thrown on.
void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void refuse(httplib::Response& res, int status, const std::string& message) {
  reply(res, status, {{"error", message}});
}

// Runs a handler, turning refusals into their status and anything else
// into a 500 with the reason (the server itself goes on).
template <class F>
httplib::Server::Handler guarded(F handler) {
  return [handler](const httplib::Request& req, httplib::Response& res) {
    try {
      handler(req, res);
    } catch (const LabError& e) {
      refuse(res, e.status, e.what());
    } catch (const UsageError& e) {
      refuse(res, 400, e.what());
    } catch (const std::exception& e) {
      refuse(res, 500, e.what());
    }
  };
}

// An integer query parameter, or its default; 400 naming it if malformed.
int int_param(const httplib::Request& req, const char* name, int fallback) {
  if (!req.has_param(name)) return fallback;
  const std::string text = req.get_param_value(name);
  int v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    throw LabError(400, fmt::format("{}: '{}' is not a whole number", name, text));
  }
  return v;
}

std::string param(const httplib::Request& req, const char* name) {
  return req.has_param(name) ? req.get_param_value(name) : "";
}

}  // namespace

struct LabServer::Impl {
  Lab& lab;
  httplib::Server server;
  std::atomic<int> streams{0};
  explicit Impl(Lab& l) : lab(l) {}
  void routes();
};

void LabServer::Impl::routes() {
  server.new_task_queue = [] { return new httplib::ThreadPool(kThreads); };
  // Only this server on its port (httplib would also set SO_REUSEPORT, which
  // lets a second server share the port and take half the requests), and
  // small answers sent at once rather than after the client's delayed ACK.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  server.set_tcp_nodelay(true);
  server.set_payload_max_length(lab.options().max_upload + kFormOverhead);
  server.set_read_timeout(10, 0);
  server.set_write_timeout(10, 0);
  // Errors httplib answers itself (a body over the limit: 413; a request it
  // cannot parse: 400) get a JSON reason too.
  server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    const char* reason = res.status == 413   ? "the request body is over the upload limit"
                         : res.status == 404 ? "not found"
                                             : "malformed request";
    refuse(res, res.status, reason);
  });
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    refuse(res, 500, "internal error");
  });
  for (const WebAsset& asset : web_assets()) {
    server.Get(std::string(asset.path), [&asset](const httplib::Request&, httplib::Response& res) {
      res.set_content(asset.bytes.data(), asset.bytes.size(), std::string(asset.content_type).c_str());
    });
  }
  server.Get("/api/info", guarded([this](const auto&, auto& res) { reply(res, 200, lab.info()); }));
  server.Get("/api/models", guarded([this](const auto&, auto& res) { reply(res, 200, lab.models()); }));
  // The image is the body, whatever the Content-Type says (curl's
  // --data-binary says form data), or the first file of a multipart form.
  server.Post("/api/predict", [this](const httplib::Request& req, httplib::Response& res,
                                     const httplib::ContentReader& read) {
    guarded([&](const auto&, auto& r) {
      std::string body;
      bool over = false;
      const size_t limit = lab.options().max_upload;
      auto take = [&](const char* data, size_t n) {
        if (body.size() + n > limit) return !(over = true);
        body.append(data, n);
        return true;
      };
      const uint64_t length = std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10);
      bool complete = false;
      if (length <= limit + kFormOverhead) {
        if (req.is_multipart_form_data()) {
          // The first part that is a file (has a file name); the others are skipped.
          bool in_file = false, found = false;
          complete = read(
              [&](const httplib::MultipartFormData& part) {
                in_file = !found && !part.filename.empty();
                found = found || in_file;
                return true;
              },
              [&](const char* data, size_t n) { return !in_file || take(data, n); });
          if (complete && !found) throw LabError(400, "the form has no file in it");
        } else {
          complete = read(take);
        }
      }
      if (over || length > limit + kFormOverhead) {
        throw LabError(413, fmt::format("the image is over the upload limit of {} bytes", limit));
      }
      if (!complete && !req.is_multipart_form_data()) throw LabError(400, "the upload was cut short");
      reply(r, 200, lab.predict(param(req, "model"), body, int_param(req, "top_k", 3)));
    })(req, res);
  });
  server.Get("/api/mistakes", guarded([this](const auto& req, auto& res) {
               reply(res, 200, lab.mistakes(param(req, "model"), int_param(req, "limit", 500)));
             }));
  server.Get("/api/runs", guarded([this](const auto&, auto& res) { reply(res, 200, lab.runs()); }));
  server.Post("/api/runs", guarded([this](const auto& req, auto& res) {
                const json body = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
                if (body.is_discarded()) throw LabError(400, "the body is not JSON");
                reply(res, 201, lab.start_run(body));
              }));
  // Stopping takes no body; a content reader lets a POST without
  // Content-Length (curl -X POST) be answered without waiting for one.
  server.Post(R"(/api/runs/([^/]+)/stop)",
              [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader&) {
                guarded([&](const auto&, auto& r) { reply(r, 200, lab.stop_run(req.matches[1])); })(req, res);
              });
  server.Get(R"(/api/runs/([^/]+)/events)", guarded([this](const auto& req, auto& res) {
               const std::string id = req.matches[1];
               (void)lab.events(id, 0, std::chrono::milliseconds(0));  // 404 now for an unknown run
               if (++streams > kMaxStreams) {
                 --streams;
                 throw LabError(429, fmt::format("{} event streams are open, the most this server keeps", kMaxStreams));
               }
               res.set_header("Cache-Control", "no-cache");
               auto next = std::make_shared<size_t>(0);
               res.set_chunked_content_provider(
                   "text/event-stream",
                   [this, id, next](size_t, httplib::DataSink& sink) {
                 // A short wait: an idle stream's keep-alive finds a client that left soon.
                 const Lab::Events batch = lab.events(id, *next, std::chrono::milliseconds(250));
                 for (const std::string& e : batch.events) {
                   if (!sink.write(e.data(), e.size())) return false;  // the client left: nothing more to do
                 }
                 *next += batch.events.size();
                 if (batch.ended) {
                   sink.done();
                 } else if (batch.events.empty()) {
                   static constexpr char kKeepAlive[] = ": waiting\n\n";  // also finds out whether the client left
                   if (!sink.write(kKeepAlive, sizeof kKeepAlive - 1)) return false;
                 }
                 return true;
               },
                   [this](bool) { --streams; });  // however the stream ended
             }));
  server.Get("/api/experiments", guarded([this](const auto&, auto& res) { reply(res, 200, lab.experiments()); }));
  server.Get(R"(/api/experiments/([^/]+))", guarded([this](const auto& req, auto& res) {
               reply(res, 200, lab.experiment(req.matches[1]));
             }));
  server.Get(R"(/api/experiments/([^/]+)/files/([^/]+))", guarded([this](const auto& req, auto& res) {
               std::string type;
               const std::string bytes = lab.experiment_file(req.matches[1], req.matches[2], type);
               res.set_content(bytes, type.c_str());
             }));
  server.Get("/api/trajectories", guarded([this](const auto& req, auto& res) {
               const std::string optimizers = req.has_param("optimizers") ? param(req, "optimizers") : "sgd,momentum,adam";
               res.set_content(lab.trajectories(param(req, "function").empty() ? "rosenbrock" : param(req, "function"),
                                                optimizers, int_param(req, "steps", 200)),
                               "application/json");
             }));
  // Everything else under /api is an unknown endpoint.
  auto unknown = guarded([](const auto& req, auto& res) {
    refuse(res, 404, fmt::format("{} {}: no such endpoint (docs/web.md lists them)", req.method, req.path));
  });
  server.Get(R"(/api/.*)", unknown);
  server.Post(R"(/api/.*)", unknown);
}

LabServer::LabServer(Lab& lab) : impl_(std::make_unique<Impl>(lab)) { impl_->routes(); }

LabServer::~LabServer() = default;

int LabServer::bind(const std::string& host, int port) {
  if (port < 0 || port > 65535) throw UsageError(fmt::format("--port: must be 0 to 65535, got {}", port));
  const int bound = port == 0 ? impl_->server.bind_to_any_port(host) : (impl_->server.bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    throw Error(fmt::format("{}:{}: cannot listen there (in use, or not an address of this machine)", host, port));
  }
  return bound;
}

void LabServer::listen() { impl_->server.listen_after_bind(); }

void LabServer::stop() { impl_->server.stop(); }

}  // namespace mnist
