// BpfObject: one libbpf bpf_object (open → set consts/sizes → load), its uprobe links, its maps,
// and at most one ring-buffer reader. Generic: it knows map and program names, never Go.
#ifndef MDT_ADDON_BPF_OBJECT_H
#define MDT_ADDON_BPF_OBJECT_H

#include <napi.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

struct bpf_object;
struct bpf_map;
struct bpf_link;

namespace mdt {

class RingReader;

class BpfObject : public Napi::ObjectWrap<BpfObject> {
 public:
  static void Init(Napi::Env env);                       // defines the class for this env
  static Napi::Object Create(Napi::Env env, const std::string& path);  // native.open()
  explicit BpfObject(const Napi::CallbackInfo& info);
  ~BpfObject() override;  // garbage-collected objects are closed too

 private:
  Napi::Value SetConst(const Napi::CallbackInfo& info);
  Napi::Value SetMapMaxEntries(const Napi::CallbackInfo& info);
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value AttachUprobe(const Napi::CallbackInfo& info);
  Napi::Value Detach(const Napi::CallbackInfo& info);
  Napi::Value DetachAll(const Napi::CallbackInfo& info);
  Napi::Value LinkCount(const Napi::CallbackInfo& info);
  Napi::Value MapLookup(const Napi::CallbackInfo& info);
  Napi::Value MapUpdate(const Napi::CallbackInfo& info);
  Napi::Value MapDelete(const Napi::CallbackInfo& info);
  Napi::Value MapKeys(const Napi::CallbackInfo& info);
  Napi::Value MapInfo(const Napi::CallbackInfo& info);
  Napi::Value StartRingBuffer(const Napi::CallbackInfo& info);
  Napi::Value StopRingBuffer(const Napi::CallbackInfo& info);
  Napi::Value CloseJs(const Napi::CallbackInfo& info);

  // Stops the reader (draining unless the environment is going away), destroys the links and
  // closes the object. Idempotent, never calls into JavaScript.
  void Close(bool drain);
  static void EnvCleanup(void* arg);

  bpf_object* Obj(Napi::Env env, const std::string& op);   // throws if closed
  bpf_map* Map(Napi::Env env, const std::string& op, const std::string& name, bool need_fd);
  size_t ValueBytes(bpf_map* map);  // per-CPU maps: ncpus * roundup(value_size, 8)

  napi_env env_;
  std::string path_;
  bpf_object* obj_ = nullptr;
  bool loaded_ = false;
  bool hook_registered_ = false;
  bool finalizing_ = false;
  std::map<uint32_t, bpf_link*> links_;
  uint32_t next_link_id_ = 1;
  std::shared_ptr<RingReader> ring_;
  bool ring_ref_ = false;  // the wrapper is strongly referenced while a reader runs
};

}  // namespace mdt

#endif  // MDT_ADDON_BPF_OBJECT_H
