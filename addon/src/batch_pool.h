// Reusable batch buffers for the ring-buffer thread.
//
// A batch is filled on the reader thread and handed to JavaScript as an external Buffer; it
// comes back here when that Buffer's memory is released (the reader detaches it as soon as the
// callback returns). Reusing them keeps the process's memory flat under load: fresh 1 MiB
// allocations freed on another thread, each only once the garbage collector got round to its
// Buffer, grew a tracer that was behind to ~1 GiB.
#ifndef MDT_ADDON_BATCH_POOL_H
#define MDT_ADDON_BATCH_POOL_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace mdt {

class BatchPool {
 public:
  using Bytes = std::vector<uint8_t>;

  // Keeps at most `keep` idle buffers, each with capacity for `capacity` bytes.
  BatchPool(size_t keep, size_t capacity) : keep_(keep), capacity_(capacity) {}

  // An empty buffer with at least the pool's capacity reserved.
  Bytes Take() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (!idle_.empty()) {
        Bytes b = std::move(idle_.back());
        idle_.pop_back();
        return b;
      }
    }
    Bytes b;
    b.reserve(capacity_);
    return b;
  }

  // Returns a buffer's storage (any thread). Past `keep` idle buffers, it is freed.
  void Give(Bytes&& b) {
    if (b.capacity() < capacity_)
      return;
    b.clear();
    std::lock_guard<std::mutex> lk(mu_);
    if (idle_.size() < keep_)
      idle_.push_back(std::move(b));
  }

 private:
  const size_t keep_;
  const size_t capacity_;
  std::mutex mu_;
  std::vector<Bytes> idle_;
};

}  // namespace mdt

#endif  // MDT_ADDON_BATCH_POOL_H
