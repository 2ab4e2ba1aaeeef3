#pragma once
// The web lab's HTTP server (cpp-httplib): the page's files and the JSON API
// of docs/web.md over a Lab. Every request gets an answer: JSON errors with
// a 4xx status for anything malformed, unknown or refused, never a crash.
#include <memory>
#include <string>

#include "web/lab.h"

namespace mnist {

class LabServer {
 public:
  explicit LabServer(Lab& lab);
  ~LabServer();
  LabServer(const LabServer&) = delete;
  LabServer& operator=(const LabServer&) = delete;

  // Binds host:port (port 0: any free one) and returns the port. Error
  // naming the address when it cannot.
  int bind(const std::string& host, int port);
  // Serves until stop() is called (from any thread).
  void listen();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mnist
