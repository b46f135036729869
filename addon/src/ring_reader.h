// A native thread that reads a BPF ring buffer and hands records to JavaScript in batches.
// Loop: wait (ring readable, stop requested, or pollTimeoutMs) → ring_buffer__consume → hand
// the batch to JS through a thread-safe function.
//
// Batch format (one Buffer per batch, records in ring order):
//   repeat { u32 little-endian record length | record bytes | zero padding }
// where the padding makes each entry (4 + length + padding) a multiple of 8 bytes, so every
// entry starts 8-byte aligned within the batch.
#ifndef MDT_ADDON_RING_READER_H
#define MDT_ADDON_RING_READER_H

#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

struct ring_buffer;

namespace mdt {

class BatchPool;

struct RingOptions {
  int poll_timeout_ms = 100;
  size_t max_batch_bytes = 1 << 20;
  // Batches handed to JS but not yet delivered. Past this the thread stops consuming: the ring
  // buffer fills and the BPF side counts the losses, instead of this process growing.
  size_t max_pending_bytes = 64 << 20;
};

class RingReader {
 public:
  struct Batch;
  static void CallJs(Napi::Env env, Napi::Function fn, RingReader* self, Batch* batch);
  using Tsfn = Napi::TypedThreadSafeFunction<RingReader, Batch, &RingReader::CallJs>;

  // Starts reading `map_fd` (a BPF_MAP_TYPE_RINGBUF of `ring_bytes` bytes). `on_stopped` runs
  // on the JS thread once the thread has exited and every batch was delivered, unless
  // ForgetOwner() was called first.
  static std::shared_ptr<RingReader> Start(Napi::Env env, const std::string& map_name, int map_fd,
                                           size_t ring_bytes, Napi::Function on_batch,
                                           const RingOptions& opts,
                                           std::function<void()> on_stopped);
  ~RingReader();

  // Asks the thread to drain what is in the ring and stop; the promise resolves after the last
  // batch was delivered to on_batch (rejects if the thread had failed).
  Napi::Promise StopAsync(Napi::Env env);
  // Stops and joins the thread now (JS thread only). With drain, records still in the ring are
  // collected first; their batches reach on_batch later, from the event loop.
  void StopNow(bool drain);
  void ForgetOwner() { on_stopped_ = nullptr; }

 private:
  RingReader(const RingOptions& opts, size_t ring_bytes);
  void Run();
  static int OnSample(void* ctx, void* data, size_t size);
  void Flush();
  // Delivery gate: one batch is queued to JavaScript at a time, and the next one only after the
  // event loop had a turn (setImmediate after onBatch). Node runs up to 1000 queued thread-safe
  // calls in one go: a reader that is behind would starve signals, timers and sockets (SIGTERM,
  // metrics scrapes) for seconds.
  void SendLocked();  // mu_ held
  void Grant();       // JS thread, from setImmediate: the next batch may go
  void Ungate();      // no event loop to wait for any more: send everything at once
  static void ScheduleGrant(Napi::Env env, RingReader* self);
  void JoinAndFree();
  void FreeResources();
  void Wake();  // wakes the thread out of its wait (stop requested)
  static void Finalize(Napi::Env env, void* unused, RingReader* self);

  const RingOptions opts_;
  const size_t ring_bytes_;
  ring_buffer* rb_ = nullptr;
  int epoll_fd_ = -1;  // waits on the ring's epoll fd and on wake_fd_
  int wake_fd_ = -1;
  Tsfn tsfn_;
  std::thread thread_;
  std::shared_ptr<RingReader> self_;  // keeps this alive until the TSFN is finalized
  std::shared_ptr<BatchPool> pool_;   // shared with Buffers still lent to JavaScript

  // Written by the JS thread, read by the reader thread.
  std::atomic<bool> stop_{false};
  std::atomic<bool> drain_on_stop_{true};
  std::atomic<size_t> pending_bytes_{0};
  std::mutex mu_;
  std::condition_variable cv_;  // pending_bytes_ dropped, stop_ set, or a batch was sent
  // Under mu_: batches made but not yet handed to the TSFN, whether one is with JS now, and
  // whether the gate is open for good (StopNow: the event loop is not turning any more).
  std::deque<Batch*> ready_;
  bool in_flight_ = false;
  bool ungated_ = false;

  // Reader thread only.
  std::vector<uint8_t> batch_;
  uint32_t batch_records_ = 0;
  bool throttled_ = false;     // OnSample stopped consuming because JS is behind
  bool draining_ = false;      // final pass: ignore the pending bound, but read at most a ring
  size_t drained_bytes_ = 0;
  int error_ = 0;              // positive errno of a failed poll/consume; read after the join

  // JS thread only.
  std::vector<Napi::Promise::Deferred> stop_waiters_;
  std::function<void()> on_stopped_;
  bool joined_ = false;
};

}  // namespace mdt

#endif  // MDT_ADDON_RING_READER_H
