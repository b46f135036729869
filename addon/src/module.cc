// Module init and the process-wide pieces: libbpf's print callback, error construction,
// argument checks, and the small free functions of the Native interface.
#include "common.h"

#include "bpf_object.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>

namespace mdt {

// ---------------------------------------------------------------------------------------------
// libbpf log

namespace {

thread_local std::string* tls_log_sink = nullptr;
bool g_debug = false;  // MDT_LIBBPF_DEBUG=1: every libbpf line (DEBUG too) also goes to stderr

int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list ap) {
  std::string* sink = tls_log_sink;
  if (level == LIBBPF_DEBUG && !g_debug)
    return 0;
  va_list copy;
  va_copy(copy, ap);
  int n = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n <= 0)
    return 0;
  std::string line(static_cast<size_t>(n), '\0');
  vsnprintf(line.data(), line.size() + 1, fmt, ap);
  // DEBUG lines are too many to put in an Error; WARN/INFO (which include the verifier log
  // on a failed load) are what explains a failure.
  if (sink && level != LIBBPF_DEBUG)
    sink->append(line);
  // Uncaptured warnings (e.g. from the ring-buffer thread) go to stderr like libbpf's default.
  if (g_debug || (!sink && level == LIBBPF_WARN))
    fputs(line.c_str(), stderr);
  return n;
}

// Verifier logs can be megabytes; the end (where the verifier says what it rejected) matters
// most. The untrimmed text stays available as err.libbpfLog.
std::string TrimForMessage(const std::string& log) {
  const size_t kHead = 4096, kTail = 60 * 1024;
  std::string s = log;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  if (s.size() <= kHead + kTail)
    return s;
  return s.substr(0, kHead) + "\n... (" + std::to_string(s.size() - kHead - kTail) +
         " bytes of libbpf log left out; see err.libbpfLog) ...\n" + s.substr(s.size() - kTail);
}

}  // namespace

LibbpfLog::LibbpfLog() : prev_(tls_log_sink) { tls_log_sink = &text_; }
LibbpfLog::~LibbpfLog() { tls_log_sink = prev_; }

void InstallLibbpfPrint() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* d = getenv("MDT_LIBBPF_DEBUG");
    g_debug = d && *d && strcmp(d, "0") != 0;
    libbpf_set_print(LibbpfPrint);
  });
}

// ---------------------------------------------------------------------------------------------
// errors

Napi::Error MakeErrnoError(Napi::Env env, const std::string& op, int err,
                           const std::string& detail, const std::string& log) {
  if (err < 0)
    err = -err;
  if (err == 0)
    err = EINVAL;  // a failure without errno: still give callers a code to switch on
  char reason[256];
  libbpf_strerror(err, reason, sizeof(reason));  // knows libbpf's own codes (>= 4000) too
  std::string msg = op + ": " + reason;
  if (!detail.empty())
    msg += " (" + detail + ")";
  std::string trimmed = TrimForMessage(log);
  if (!trimmed.empty())
    msg += "\n" + trimmed;
  const char* name = strerrorname_np(err);
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, name ? name : "ERRNO_" + std::to_string(err)));
  e.Set("errno", Napi::Number::New(env, err));
  if (!log.empty())
    e.Set("libbpfLog", Napi::String::New(env, log));
  return e;
}

void ThrowErrno(Napi::Env env, const std::string& op, int err, const std::string& detail,
                const std::string& log) {
  throw MakeErrnoError(env, op, err, detail, log);
}

// ---------------------------------------------------------------------------------------------
// arguments

std::string Hex(uint64_t v) {
  char b[24];
  snprintf(b, sizeof(b), "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

static std::string ArgName(const char* method, size_t i, const char* what) {
  return std::string(method) + ": argument " + std::to_string(i + 1) + " (" + what + ")";
}

std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* method, const char* what) {
  if (info.Length() <= i || !info[i].IsString())
    throw Napi::TypeError::New(info.Env(), ArgName(method, i, what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo& info, size_t i, const char* method,
                                const char* what) {
  if (info.Length() <= i || !info[i].IsBuffer())
    throw Napi::TypeError::New(info.Env(), ArgName(method, i, what) + " must be a Buffer");
  return info[i].As<Napi::Buffer<uint8_t>>();
}

int64_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* method, const char* what,
               int64_t min, int64_t max) {
  if (info.Length() <= i || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), ArgName(method, i, what) + " must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::trunc(d) != d || d < static_cast<double>(min) ||
      d > static_cast<double>(max))
    throw Napi::RangeError::New(info.Env(), ArgName(method, i, what) + " must be an integer in [" +
                                                std::to_string(min) + ", " + std::to_string(max) +
                                                "], got " + info[i].ToString().Utf8Value());
  return static_cast<int64_t>(d);
}

uint64_t ArgU64(const Napi::CallbackInfo& info, size_t i, const char* method, const char* what) {
  if (info.Length() > i && info[i].IsBigInt()) {
    bool lossless = false;
    uint64_t v = info[i].As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless)
      throw Napi::RangeError::New(info.Env(), ArgName(method, i, what) + " must fit in a u64");
    return v;
  }
  if (info.Length() > i && info[i].IsNumber())
    return static_cast<uint64_t>(ArgInt(info, i, method, what, 0, (int64_t(1) << 53) - 1));
  throw Napi::TypeError::New(info.Env(), ArgName(method, i, what) + " must be a bigint");
}

// ---------------------------------------------------------------------------------------------
// Native interface

namespace {

Napi::Value Open(const Napi::CallbackInfo& info) {
  std::string path = ArgString(info, 0, "open", "objPath");
  return BpfObject::Create(info.Env(), path);
}

Napi::Value NumPossibleCpus(const Napi::CallbackInfo& info) {
  int n = libbpf_num_possible_cpus();
  if (n < 0)
    ThrowErrno(info.Env(), "numPossibleCpus", n);
  return Napi::Number::New(info.Env(), n);
}

int64_t Ns(const timespec& t) { return int64_t(t.tv_sec) * 1000000000LL + t.tv_nsec; }

// Kernel timestamps are CLOCK_MONOTONIC; wall time = mono + offset. The REALTIME read is
// bracketed by two MONOTONIC reads and the tightest bracket of several tries wins, so the
// error is at most half that bracket (tens of ns) rather than a scheduling hiccup.
Napi::Value ClockOffsetNs(const Napi::CallbackInfo& info) {
  int64_t best_gap = INT64_MAX, best = 0;
  for (int i = 0; i < 32; i++) {
    timespec a, r, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    clock_gettime(CLOCK_REALTIME, &r);
    clock_gettime(CLOCK_MONOTONIC, &b);
    int64_t gap = Ns(b) - Ns(a);
    if (gap < best_gap) {
      best_gap = gap;
      best = Ns(r) - (Ns(a) + gap / 2);
    }
  }
  return Napi::BigInt::New(info.Env(), best);
}

Napi::Value LibbpfVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), libbpf_version_string());
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallLibbpfPrint();
  BpfObject::Init(env);
  exports.Set("open", Napi::Function::New(env, Open, "open"));
  exports.Set("numPossibleCpus", Napi::Function::New(env, NumPossibleCpus, "numPossibleCpus"));
  exports.Set("clockOffsetNs", Napi::Function::New(env, ClockOffsetNs, "clockOffsetNs"));
  exports.Set("libbpfVersion", Napi::Function::New(env, LibbpfVersion, "libbpfVersion"));
  return exports;
}

}  // namespace mdt

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return mdt::Init(env, exports);
}

NODE_API_MODULE(mdt_native, InitModule)
