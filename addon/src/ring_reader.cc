// The ring-buffer thread: wait on the ring (and a stop eventfd), ring_buffer__consume, copy
// records into a batch, hand batches to JavaScript through a thread-safe function.
#include "ring_reader.h"

#include "batch_pool.h"
#include "common.h"

#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace mdt {

struct RingReader::Batch {
  std::vector<uint8_t> bytes;
  uint32_t records;
};

namespace {
// Returned from the sample callback to make libbpf stop consuming (the record that returned it
// is already consumed and kept). Told apart from real errors by the `throttled_` flag.
constexpr int kStopConsuming = -EAGAIN;
constexpr size_t kEntryAlign = 8;
constexpr size_t kLenBytes = 4;
}  // namespace

RingReader::RingReader(const RingOptions& opts, size_t ring_bytes)
    : opts_(opts), ring_bytes_(ring_bytes) {}

RingReader::~RingReader() {
  if (thread_.joinable()) {  // only if the owner vanished without stopping
    Ungate();
    stop_ = true;
    Wake();
    thread_.join();
  }
  FreeResources();
}

void RingReader::FreeResources() {
  if (rb_)
    ring_buffer__free(rb_);
  rb_ = nullptr;
  for (int* fd : {&epoll_fd_, &wake_fd_}) {
    if (*fd >= 0)
      close(*fd);
    *fd = -1;
  }
}

void RingReader::Wake() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    cv_.notify_all();
  }
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    ssize_t ignored = write(wake_fd_, &one, sizeof(one));  // EAGAIN only if already signalled
    (void)ignored;
  }
}

std::shared_ptr<RingReader> RingReader::Start(Napi::Env env, const std::string& map_name,
                                              int map_fd, size_t ring_bytes,
                                              Napi::Function on_batch, const RingOptions& opts,
                                              std::function<void()> on_stopped) {
  const std::string op = "startRingBuffer(" + map_name + ")";
  std::shared_ptr<RingReader> r(new RingReader(opts, ring_bytes));
  {
    LibbpfLog log;
    r->rb_ = ring_buffer__new(map_fd, OnSample, r.get(), nullptr);
    int err = errno;
    if (!r->rb_)
      ThrowErrno(env, op, err, "ring_buffer__new", log.text());
  }
  // The thread waits on the ring's epoll fd and on an eventfd, so a stop request wakes it at
  // once instead of after up to pollTimeoutMs.
  r->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int err = errno;
  if (r->wake_fd_ < 0)
    ThrowErrno(env, op, err, "eventfd");
  r->epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  err = errno;
  if (r->epoll_fd_ < 0)
    ThrowErrno(env, op, err, "epoll_create1");
  for (int fd : {ring_buffer__epoll_fd(r->rb_), r->wake_fd_}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    int rc = epoll_ctl(r->epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    err = errno;
    if (rc < 0)
      ThrowErrno(env, op, err, "epoll_ctl");
  }
  // Unbounded TSFN queue: the bound is pending_bytes_, which counts bytes rather than calls.
  r->tsfn_ = Tsfn::New(env, on_batch, "mdt:ringbuf", 0, 1, r.get(), Finalize,
                       static_cast<void*>(nullptr));
  r->on_stopped_ = std::move(on_stopped);
  r->self_ = r;
  // Enough idle buffers for the usual few batches in flight; a backlog's extra ones are freed.
  r->pool_ = std::make_shared<BatchPool>(16, opts.max_batch_bytes + 4096);
  r->batch_ = r->pool_->Take();
  r->thread_ = std::thread(&RingReader::Run, r.get());
  return r;
}

void RingReader::Run() {
  const auto wait = std::chrono::milliseconds(std::max(opts_.poll_timeout_ms, 1));
  while (!stop_.load()) {
    if (pending_bytes_.load() >= opts_.max_pending_bytes) {
      // JS is behind: leave records in the ring (the BPF side counts what no longer fits).
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait_for(lk, wait, [&] {
        return stop_.load() || pending_bytes_.load() < opts_.max_pending_bytes;
      });
      continue;
    }
    // Equivalent to ring_buffer__poll(rb, timeout), plus the stop eventfd in the same wait.
    epoll_event ev[2];
    if (epoll_wait(epoll_fd_, ev, 2, opts_.poll_timeout_ms) < 0 && errno != EINTR) {
      error_ = errno;
      break;
    }
    // Woken or timed out, always consume: the BPF side submits most records with
    // BPF_RB_NO_WAKEUP, so records can be waiting without the ring's fd turning readable.
    throttled_ = false;
    int n = ring_buffer__consume(rb_);
    if (n < 0 && !throttled_) {
      error_ = -n;
      break;
    }
    Flush();
  }
  if (drain_on_stop_.load() && error_ == 0) {
    // Final pass: whatever is still in the ring, ignoring the pending bound (this pass reads at
    // most one ring's worth, so memory stays bounded even while probes keep firing).
    draining_ = true;
    drained_bytes_ = 0;
    throttled_ = false;
    int n = ring_buffer__consume(rb_);
    if (n < 0 && !throttled_)
      error_ = -n;
  }
  Flush();
  {
    // Everything made must reach the TSFN before it is released; the JS thread grants the rest.
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return ready_.empty(); });
  }
  tsfn_.Release();  // last use of the TSFN by this thread; Finalize follows on the JS thread
}

int RingReader::OnSample(void* ctx, void* data, size_t size) {
  auto* self = static_cast<RingReader*>(ctx);
  std::vector<uint8_t>& b = self->batch_;
  const size_t entry = (kLenBytes + size + kEntryAlign - 1) & ~(kEntryAlign - 1);
  const size_t off = b.size();
  b.resize(off + entry);  // zero-fills, which is the padding
  const uint32_t len = static_cast<uint32_t>(size);
  for (size_t i = 0; i < kLenBytes; i++)
    b[off + i] = static_cast<uint8_t>(len >> (8 * i));
  memcpy(&b[off + kLenBytes], data, size);
  self->batch_records_++;
  if (b.size() >= self->opts_.max_batch_bytes)
    self->Flush();
  if (self->draining_) {
    self->drained_bytes_ += size;
    if (self->drained_bytes_ >= self->ring_bytes_) {
      self->throttled_ = true;
      return kStopConsuming;
    }
  } else if (self->pending_bytes_.load() >= self->opts_.max_pending_bytes) {
    self->throttled_ = true;
    return kStopConsuming;
  }
  return 0;
}

void RingReader::Flush() {
  if (batch_.empty())
    return;
  const size_t bytes = batch_.size();
  auto* b = new Batch{std::move(batch_), batch_records_};
  batch_ = pool_->Take();
  batch_records_ = 0;
  pending_bytes_ += bytes;
  std::lock_guard<std::mutex> lk(mu_);
  ready_.push_back(b);
  SendLocked();
}

void RingReader::SendLocked() {
  while (!ready_.empty() && (!in_flight_ || ungated_)) {
    Batch* b = ready_.front();
    ready_.pop_front();
    if (tsfn_.NonBlockingCall(b) != napi_ok) {  // napi_closing: the environment is going away
      pending_bytes_ -= b->bytes.size();
      delete b;
      continue;
    }
    in_flight_ = true;
  }
  if (ready_.empty())
    cv_.notify_all();
}

void RingReader::Grant() {
  std::lock_guard<std::mutex> lk(mu_);
  in_flight_ = false;
  SendLocked();
}

void RingReader::CallJs(Napi::Env env, Napi::Function fn, RingReader* self, Batch* raw) {
  std::unique_ptr<Batch> batch(raw);
  if (env == nullptr)  // queue emptied during teardown: `self` may be gone, just free
    return;
  const size_t bytes = batch->bytes.size();
  // A batch counts as pending until onBatch returns, so a slow callback throttles the reader.
  struct Done {
    RingReader* r;
    size_t n;
    ~Done() {
      r->pending_bytes_ -= n;
      std::lock_guard<std::mutex> lk(r->mu_);
      r->cv_.notify_all();
    }
  } done{self, bytes};

  // The batch's memory is lent to JavaScript, and detached from it once onBatch returns: JS
  // can then no longer reach it, so it goes back to the pool right away. Waiting for the
  // Buffer's finalizer instead (after a GC, then deferred to an idle turn of the event loop)
  // let a busy tracer hold hundreds of batches. onBatch must not keep views of the batch
  // (decode copies what it keeps).
  struct Lent {
    BatchPool::Bytes bytes;
    std::shared_ptr<BatchPool> pool;
    bool returned = false;
    void Return() {
      if (!returned)
        pool->Give(std::move(bytes));
      returned = true;
    }
  };
  auto lent = std::make_shared<Lent>();
  lent->bytes = std::move(batch->bytes);
  lent->pool = self->pool_;
  napi_value argv[2];
  napi_value array_buffer = nullptr;
  try {
    auto buf = Napi::Buffer<uint8_t>::NewOrCopy(
        env, lent->bytes.data(), lent->bytes.size(),
        [](Napi::Env, uint8_t*, std::shared_ptr<Lent>* l) {
          (*l)->Return();
          delete l;
        },
        new std::shared_ptr<Lent>(lent));
    array_buffer = buf.ArrayBuffer();
    argv[0] = buf;
    argv[1] = Napi::Number::New(env, batch->records);
  } catch (const Napi::Error&) {
    return;  // JS cannot run any more (a worker being terminated): drop the batch
  }
  napi_value result;
  const napi_status called = napi_call_function(env, env.Undefined(), fn, 2, argv, &result);
  if (napi_detach_arraybuffer(env, array_buffer) == napi_ok)
    lent->Return();  // else not detachable: the finalizer returns it
  if (called == napi_ok) {
    ScheduleGrant(env, self);
    return;
  }
  // onBatch threw: make it an uncaught exception, as from any event callback (left pending,
  // Node 20 would only print a deprecation warning and drop it). When the environment is
  // terminating there is no exception to fetch (undefined): nothing to report then.
  napi_value exc = nullptr;
  if (napi_get_and_clear_last_exception(env, &exc) == napi_ok && exc != nullptr) {
    napi_valuetype t = napi_undefined;
    napi_typeof(env, exc, &t);
    if (t != napi_undefined)
      napi_fatal_exception(env, exc);
  }
  ScheduleGrant(env, self);  // an uncaughtException handler may keep the process going
}

void RingReader::ScheduleGrant(Napi::Env env, RingReader* self) {
  // The next batch goes in the event loop's next check phase, after signals, timers and sockets.
  std::shared_ptr<RingReader> keep = self->self_;  // alive until the grant has run
  try {
    Napi::Function grant = Napi::Function::New(env, [keep](const Napi::CallbackInfo&) { keep->Grant(); });
    env.Global().Get("setImmediate").As<Napi::Function>().Call({grant});
  } catch (const Napi::Error&) {
    self->Ungate();  // JS cannot schedule anything (teardown): no more turns to wait for
  }
}

void RingReader::Ungate() {
  std::lock_guard<std::mutex> lk(mu_);
  ungated_ = true;
  SendLocked();
}

void RingReader::JoinAndFree() {
  if (joined_)
    return;
  if (thread_.joinable())
    thread_.join();
  joined_ = true;
  FreeResources();
}

void RingReader::Finalize(Napi::Env env, void*, RingReader* self) {
  // Every queued batch has been delivered (or dropped at teardown) by now.
  self->JoinAndFree();
  std::shared_ptr<RingReader> keep = std::move(self->self_);  // `self` lives to the end of scope
  std::vector<Napi::Promise::Deferred> waiters = std::move(self->stop_waiters_);
  std::function<void()> on_stopped = std::move(self->on_stopped_);
  const int err = self->error_;
  try {
    for (auto& d : waiters) {
      if (err)
        d.Reject(MakeErrnoError(env, "ring buffer poll", err).Value());
      else
        d.Resolve(env.Undefined());
    }
    if (err && waiters.empty()) {
      Napi::Object process = env.Global().Get("process").As<Napi::Object>();
      process.Get("emitWarning")
          .As<Napi::Function>()
          .Call(process, {MakeErrnoError(env, "ring buffer thread stopped", err).Value()});
    }
  } catch (...) {
    // The environment is being torn down: nobody is left to tell.
  }
  if (on_stopped)
    on_stopped();
}

Napi::Promise RingReader::StopAsync(Napi::Env env) {
  auto d = Napi::Promise::Deferred::New(env);
  stop_waiters_.push_back(d);
  stop_ = true;
  Wake();
  return d.Promise();
}

void RingReader::StopNow(bool drain) {
  drain_on_stop_ = drain;
  Ungate();  // the JS thread is about to block in the join: it grants nothing any more
  stop_ = true;
  Wake();
  JoinAndFree();
}

}  // namespace mdt
