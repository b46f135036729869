// Helpers shared by the addon's files: errno-carrying JS errors, capture of libbpf's log,
// and argument checks. The addon knows nothing about Go or the record layout: it moves
// bytes between libbpf and JavaScript.
#ifndef MDT_ADDON_COMMON_H
#define MDT_ADDON_COMMON_H

#include <napi.h>

#include <cstdint>
#include <string>

namespace mdt {

// Throws a JS Error "<op>: <reason>[ (<detail>)][\n<libbpf log>]" with .code = errno name
// ("ENOENT") and .errno = positive errno. `err` may be negative (libbpf style) or positive.
// The full libbpf log, if any, is also attached as .libbpfLog.
Napi::Error MakeErrnoError(Napi::Env env, const std::string& op, int err,
                           const std::string& detail = std::string(),
                           const std::string& log = std::string());
[[noreturn]] void ThrowErrno(Napi::Env env, const std::string& op, int err,
                             const std::string& detail = std::string(),
                             const std::string& log = std::string());

// While alive, libbpf's WARN/INFO lines printed on this thread are collected here instead of
// going to stderr, so a failing call can put them (e.g. the verifier log) into its Error.
// libbpf's print callback is process-wide; the sink is per thread, so the ring-buffer thread
// and worker threads do not mix their lines into someone else's error.
class LibbpfLog {
 public:
  LibbpfLog();
  ~LibbpfLog();
  LibbpfLog(const LibbpfLog&) = delete;
  LibbpfLog& operator=(const LibbpfLog&) = delete;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::string* prev_;
};

// Installs the libbpf print callback (once per process).
void InstallLibbpfPrint();

// Argument helpers: throw TypeError/RangeError naming the method and the argument.
std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* method, const char* what);
Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo& info, size_t i, const char* method,
                                const char* what);
int64_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* method, const char* what,
               int64_t min, int64_t max);
uint64_t ArgU64(const Napi::CallbackInfo& info, size_t i, const char* method, const char* what);

std::string Hex(uint64_t v);

}  // namespace mdt

#endif  // MDT_ADDON_COMMON_H
