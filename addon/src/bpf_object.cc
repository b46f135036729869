// BpfObject: the bpf_object, its uprobe links and its maps. Every failing call throws an Error
// naming the operation and the errno (see common.h), with libbpf's own lines appended.
#include "bpf_object.h"

#include "common.h"
#include "ring_reader.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace mdt {

namespace {

struct AddonData {
  Napi::FunctionReference ctor;
};

bool IsPerCpu(enum bpf_map_type t) {
  return t == BPF_MAP_TYPE_PERCPU_ARRAY || t == BPF_MAP_TYPE_PERCPU_HASH ||
         t == BPF_MAP_TYPE_LRU_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// Reads an optional non-negative integer property of an options object.
int64_t OptInt(Napi::Env env, const Napi::Object& o, const char* key, int64_t def, int64_t min,
               int64_t max) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined())
    return def;
  if (!v.IsNumber())
    throw Napi::TypeError::New(env, std::string("startRingBuffer: opts.") + key + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= static_cast<double>(min) && d <= static_cast<double>(max)) || static_cast<int64_t>(d) != d)
    throw Napi::RangeError::New(env, std::string("startRingBuffer: opts.") + key +
                                         " must be an integer in [" + std::to_string(min) + ", " +
                                         std::to_string(max) + "]");
  return static_cast<int64_t>(d);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// lifetime

void BpfObject::Init(Napi::Env env) {
  Napi::Function cls = DefineClass(
      env, "BpfObject",
      {
          InstanceMethod<&BpfObject::SetConst>("setConst"),
          InstanceMethod<&BpfObject::SetMapMaxEntries>("setMapMaxEntries"),
          InstanceMethod<&BpfObject::Load>("load"),
          InstanceMethod<&BpfObject::AttachUprobe>("attachUprobe"),
          InstanceMethod<&BpfObject::Detach>("detach"),
          InstanceMethod<&BpfObject::DetachAll>("detachAll"),
          InstanceMethod<&BpfObject::LinkCount>("linkCount"),
          InstanceMethod<&BpfObject::MapLookup>("mapLookup"),
          InstanceMethod<&BpfObject::MapUpdate>("mapUpdate"),
          InstanceMethod<&BpfObject::MapDelete>("mapDelete"),
          InstanceMethod<&BpfObject::MapKeys>("mapKeys"),
          InstanceMethod<&BpfObject::MapInfo>("mapInfo"),
          InstanceMethod<&BpfObject::StartRingBuffer>("startRingBuffer"),
          InstanceMethod<&BpfObject::StopRingBuffer>("stopRingBuffer"),
          InstanceMethod<&BpfObject::CloseJs>("close"),
      });
  // Per environment (worker threads each get their own class); freed with the environment.
  auto* data = new AddonData();
  data->ctor = Napi::Persistent(cls);
  env.SetInstanceData<AddonData>(data);
}

Napi::Object BpfObject::Create(Napi::Env env, const std::string& path) {
  return env.GetInstanceData<AddonData>()->ctor.New({Napi::String::New(env, path)});
}

BpfObject::BpfObject(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<BpfObject>(info), env_(info.Env()) {
  path_ = ArgString(info, 0, "open", "objPath");
  LibbpfLog log;
  obj_ = bpf_object__open_file(path_.c_str(), nullptr);
  int err = errno;
  if (!obj_)
    ThrowErrno(info.Env(), "open(" + path_ + ")", err, "", log.text());
  // At process (or worker) exit JS may never call close(): detach, join and close then.
  napi_add_env_cleanup_hook(env_, EnvCleanup, this);
  hook_registered_ = true;
}

BpfObject::~BpfObject() {
  // Collected by the GC, or finalized at teardown. No JS calls or reference changes from here.
  finalizing_ = true;
  Close(false);
}

void BpfObject::EnvCleanup(void* arg) {
  auto* self = static_cast<BpfObject*>(arg);
  self->hook_registered_ = false;  // this hook is being run: nothing to remove
  self->finalizing_ = true;        // JS is gone: deliver nothing, touch no references
  self->Close(false);
}

void BpfObject::Close(bool drain) {
  if (ring_) {
    std::shared_ptr<RingReader> r = std::move(ring_);
    r->ForgetOwner();
    r->StopNow(drain);
    if (ring_ref_ && !finalizing_) {
      try {
        Unref();
      } catch (...) {
      }
    }
    ring_ref_ = false;
  }
  // Destroying a uprobe link closes its perf event fd; the kernel removes the probe with it.
  for (auto& kv : links_)
    bpf_link__destroy(kv.second);
  links_.clear();
  if (obj_) {
    bpf_object__close(obj_);
    obj_ = nullptr;
  }
  if (hook_registered_) {
    napi_remove_env_cleanup_hook(env_, EnvCleanup, this);
    hook_registered_ = false;
  }
}

Napi::Value BpfObject::CloseJs(const Napi::CallbackInfo& info) {
  Close(true);
  return info.Env().Undefined();
}

bpf_object* BpfObject::Obj(Napi::Env env, const std::string& op) {
  if (!obj_)
    ThrowErrno(env, op, EBADF, "object is closed");
  return obj_;
}

bpf_map* BpfObject::Map(Napi::Env env, const std::string& op, const std::string& name,
                        bool need_fd) {
  bpf_map* map = bpf_object__find_map_by_name(Obj(env, op), name.c_str());
  if (!map)
    ThrowErrno(env, op, ENOENT, "no map named " + Quote(name) + " in " + path_);
  if (need_fd && bpf_map__fd(map) < 0)
    ThrowErrno(env, op, EINVAL, "object not loaded: call load() first");
  return map;
}

size_t BpfObject::ValueBytes(bpf_map* map) {
  size_t v = bpf_map__value_size(map);
  if (!IsPerCpu(bpf_map__type(map)))
    return v;
  int ncpu = libbpf_num_possible_cpus();
  return static_cast<size_t>(ncpu < 1 ? 1 : ncpu) * ((v + 7) & ~size_t(7));
}

// ---------------------------------------------------------------------------------------------
// before load

// Globals live in internal maps (.rodata, .data, .bss) whose initial image libbpf holds until
// load. BTF's DATASEC records say where each variable sits in that image and how big it is.
Napi::Value BpfObject::SetConst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "setConst", "name");
  Napi::Buffer<uint8_t> value = ArgBuffer(info, 1, "setConst", "value");
  const std::string op = "setConst(" + name + ")";
  bpf_object* obj = Obj(env, op);
  if (loaded_)
    ThrowErrno(env, op, EBUSY, "object already loaded: globals are set before load()");
  const struct btf* btf = bpf_object__btf(obj);
  if (!btf)
    ThrowErrno(env, op, ENOENT, path_ + " has no BTF");

  const char* sec = nullptr;
  const struct btf_var_secinfo* found = nullptr;
  for (__u32 id = 1; id < btf__type_cnt(btf) && !found; id++) {
    const struct btf_type* t = btf__type_by_id(btf, id);
    if (!btf_is_datasec(t))
      continue;
    const struct btf_var_secinfo* vsi = btf_var_secinfos(t);
    for (__u16 i = 0; i < btf_vlen(t); i++, vsi++) {
      const struct btf_type* var = btf__type_by_id(btf, vsi->type);
      if (btf_is_var(var) && name == btf__name_by_offset(btf, var->name_off)) {
        sec = btf__name_by_offset(btf, t->name_off);
        found = vsi;
        break;
      }
    }
  }
  if (!found)
    ThrowErrno(env, op, ENOENT, "no global variable named " + Quote(name) + " in " + path_);
  if (value.Length() != found->size)
    ThrowErrno(env, op, EINVAL,
               "value is " + std::to_string(value.Length()) + " bytes, " + Quote(name) + " is " +
                   std::to_string(found->size) + " bytes");

  bpf_map* map = bpf_object__find_map_by_name(obj, sec);  // matches the section name too
  if (!map || !bpf_map__is_internal(map))
    ThrowErrno(env, op, ENOENT, std::string("no internal map for section ") + sec);
  size_t size = 0;
  const void* image = bpf_map__initial_value(map, &size);
  if (!image || found->offset + found->size > size)
    ThrowErrno(env, op, EINVAL, std::string("section ") + sec + " has no initial image to write");
  std::vector<uint8_t> copy(static_cast<const uint8_t*>(image),
                            static_cast<const uint8_t*>(image) + size);
  memcpy(copy.data() + found->offset, value.Data(), found->size);
  LibbpfLog log;
  int err = bpf_map__set_initial_value(map, copy.data(), copy.size());
  if (err)
    ThrowErrno(env, op, err, "", log.text());
  return env.Undefined();
}

Napi::Value BpfObject::SetMapMaxEntries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "setMapMaxEntries", "mapName");
  int64_t n = ArgInt(info, 1, "setMapMaxEntries", "n", 1, UINT32_MAX);
  const std::string op = "setMapMaxEntries(" + name + ", " + std::to_string(n) + ")";
  bpf_map* map = Map(env, op, name, false);
  if (loaded_)
    ThrowErrno(env, op, EBUSY, "object already loaded: map sizes are set before load()");
  LibbpfLog log;
  int err = bpf_map__set_max_entries(map, static_cast<__u32>(n));
  if (err)
    ThrowErrno(env, op, err, "", log.text());
  return env.Undefined();
}

Napi::Value BpfObject::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = "load(" + path_ + ")";
  bpf_object* obj = Obj(env, op);
  if (loaded_)
    ThrowErrno(env, op, EBUSY, "load() was already called; after a failed load, close() and open() again");
  // libbpf marks the object loaded even when loading fails: it cannot be retried, only closed.
  loaded_ = true;
  LibbpfLog log;  // on failure holds libbpf's reasons and the verifier log
  int err = bpf_object__load(obj);
  if (err)
    ThrowErrno(env, op, err, "", log.text());
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------
// links

Napi::Value BpfObject::AttachUprobe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string prog_name = ArgString(info, 0, "attachUprobe", "progName");
  std::string path = ArgString(info, 1, "attachUprobe", "binaryPath");
  int64_t offset = ArgInt(info, 2, "attachUprobe", "fileOffset", 0, (int64_t(1) << 53) - 1);
  int64_t pid = ArgInt(info, 3, "attachUprobe", "pid", -1, INT32_MAX);
  uint64_t cookie = ArgU64(info, 4, "attachUprobe", "cookie");
  const std::string op =
      "attachUprobe(" + path + ", " + Hex(static_cast<uint64_t>(offset)) + ", pid " + std::to_string(pid) + ")";

  bpf_object* obj = Obj(env, op);
  bpf_program* prog = bpf_object__find_program_by_name(obj, prog_name.c_str());
  if (!prog)
    ThrowErrno(env, op, ENOENT, "no program named " + Quote(prog_name) + " in " + path_);
  if (bpf_program__fd(prog) < 0)
    ThrowErrno(env, op, EINVAL, "object not loaded: call load() first");

  // libbpf 1.1 attaches through perf_event_open on the uprobe PMU; the cookie is read by the
  // program with bpf_get_attach_cookie().
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = cookie);
  LibbpfLog log;
  bpf_link* link = bpf_program__attach_uprobe_opts(prog, static_cast<pid_t>(pid), path.c_str(),
                                                   static_cast<size_t>(offset), &opts);
  int err = errno;
  if (!link)
    ThrowErrno(env, op, err, "", log.text());
  uint32_t id = next_link_id_++;
  links_[id] = link;
  return Napi::Number::New(env, id);
}

Napi::Value BpfObject::Detach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t id = ArgInt(info, 0, "detach", "linkId", 0, UINT32_MAX);
  const std::string op = "detach(" + std::to_string(id) + ")";
  Obj(env, op);
  auto it = links_.find(static_cast<uint32_t>(id));
  if (it == links_.end())
    ThrowErrno(env, op, ENOENT, "no such link");
  bpf_link* link = it->second;
  links_.erase(it);
  LibbpfLog log;
  int err = bpf_link__destroy(link);
  if (err)
    ThrowErrno(env, op, err, "", log.text());
  return env.Undefined();
}

Napi::Value BpfObject::DetachAll(const Napi::CallbackInfo& info) {
  for (auto& kv : links_)
    bpf_link__destroy(kv.second);
  links_.clear();
  return info.Env().Undefined();
}

Napi::Value BpfObject::LinkCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(links_.size()));
}

// ---------------------------------------------------------------------------------------------
// maps

Napi::Value BpfObject::MapLookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "mapLookup", "mapName");
  Napi::Buffer<uint8_t> key = ArgBuffer(info, 1, "mapLookup", "key");
  const std::string op = "mapLookup(" + name + ")";
  bpf_map* map = Map(env, op, name, true);
  if (key.Length() != bpf_map__key_size(map))
    ThrowErrno(env, op, EINVAL,
               "key is " + std::to_string(key.Length()) + " bytes, the map's keys are " +
                   std::to_string(bpf_map__key_size(map)));
  std::vector<uint8_t> value(ValueBytes(map));
  LibbpfLog log;
  int err = bpf_map__lookup_elem(map, key.Data(), key.Length(), value.data(), value.size(), 0);
  if (err == -ENOENT)
    return env.Null();
  if (err)
    ThrowErrno(env, op, err, "", log.text());
  return Napi::Buffer<uint8_t>::Copy(env, value.data(), value.size());
}

Napi::Value BpfObject::MapUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "mapUpdate", "mapName");
  Napi::Buffer<uint8_t> key = ArgBuffer(info, 1, "mapUpdate", "key");
  Napi::Buffer<uint8_t> value = ArgBuffer(info, 2, "mapUpdate", "value");
  int64_t flags = 0;
  if (info.Length() > 3 && !info[3].IsUndefined())
    flags = ArgInt(info, 3, "mapUpdate", "flags", 0, UINT32_MAX);
  const std::string op = "mapUpdate(" + name + ")";
  bpf_map* map = Map(env, op, name, true);
  if (key.Length() != bpf_map__key_size(map) || value.Length() != ValueBytes(map))
    ThrowErrno(env, op, EINVAL,
               "key/value are " + std::to_string(key.Length()) + "/" + std::to_string(value.Length()) +
                   " bytes, the map wants " + std::to_string(bpf_map__key_size(map)) + "/" +
                   std::to_string(ValueBytes(map)));
  LibbpfLog log;
  int err = bpf_map__update_elem(map, key.Data(), key.Length(), value.Data(), value.Length(),
                                 static_cast<__u64>(flags));
  if (err)
    ThrowErrno(env, op, err, "", log.text());
  return env.Undefined();
}

Napi::Value BpfObject::MapDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "mapDelete", "mapName");
  Napi::Buffer<uint8_t> key = ArgBuffer(info, 1, "mapDelete", "key");
  const std::string op = "mapDelete(" + name + ")";
  bpf_map* map = Map(env, op, name, true);
  if (key.Length() != bpf_map__key_size(map))
    ThrowErrno(env, op, EINVAL,
               "key is " + std::to_string(key.Length()) + " bytes, the map's keys are " +
                   std::to_string(bpf_map__key_size(map)));
  LibbpfLog log;
  int err = bpf_map__delete_elem(map, key.Data(), key.Length(), 0);
  if (err == -ENOENT)
    return Napi::Boolean::New(env, false);
  if (err)
    ThrowErrno(env, op, err, "", log.text());
  return Napi::Boolean::New(env, true);
}

Napi::Value BpfObject::MapKeys(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "mapKeys", "mapName");
  const std::string op = "mapKeys(" + name + ")";
  bpf_map* map = Map(env, op, name, true);
  const size_t ks = bpf_map__key_size(map);
  // A hash map changing under the walk can restart it; never return more than it can hold.
  const size_t limit = bpf_map__max_entries(map);
  std::vector<uint8_t> cur(ks), next(ks);
  Napi::Array out = Napi::Array::New(env);
  LibbpfLog log;
  for (uint32_t n = 0; n < limit; n++) {
    int err = bpf_map__get_next_key(map, n ? cur.data() : nullptr, next.data(), ks);
    if (err == -ENOENT)
      break;
    if (err)
      ThrowErrno(env, op, err, "", log.text());
    out.Set(n, Napi::Buffer<uint8_t>::Copy(env, next.data(), ks));
    cur.swap(next);
  }
  return out;
}

Napi::Value BpfObject::MapInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "mapInfo", "mapName");
  bpf_map* map = Map(env, "mapInfo(" + name + ")", name, false);
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", Napi::Number::New(env, bpf_map__type(map)));
  o.Set("keySize", Napi::Number::New(env, bpf_map__key_size(map)));
  o.Set("valueSize", Napi::Number::New(env, bpf_map__value_size(map)));
  o.Set("maxEntries", Napi::Number::New(env, bpf_map__max_entries(map)));
  return o;
}

// ---------------------------------------------------------------------------------------------
// ring buffer

Napi::Value BpfObject::StartRingBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "startRingBuffer", "mapName");
  if (info.Length() < 2 || !info[1].IsFunction())
    throw Napi::TypeError::New(env, "startRingBuffer: argument 2 (onBatch) must be a function");
  RingOptions opts;
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    if (!info[2].IsObject())
      throw Napi::TypeError::New(env, "startRingBuffer: argument 3 (opts) must be an object");
    Napi::Object o = info[2].As<Napi::Object>();
    opts.poll_timeout_ms = static_cast<int>(OptInt(env, o, "pollTimeoutMs", opts.poll_timeout_ms, 0, 60000));
    opts.max_batch_bytes = static_cast<size_t>(OptInt(env, o, "maxBatchBytes", opts.max_batch_bytes, 1, 1 << 30));
    opts.max_pending_bytes = static_cast<size_t>(
        OptInt(env, o, "maxPendingBytes", opts.max_pending_bytes, 1, int64_t(1) << 40));
  }
  const std::string op = "startRingBuffer(" + name + ")";
  bpf_map* map = Map(env, op, name, true);
  if (bpf_map__type(map) != BPF_MAP_TYPE_RINGBUF)
    ThrowErrno(env, op, EINVAL, Quote(name) + " is not a ring buffer map");
  if (ring_)
    ThrowErrno(env, op, EBUSY, "a ring buffer reader is already running (or still stopping)");

  ring_ = RingReader::Start(env, name, bpf_map__fd(map), bpf_map__max_entries(map),
                            info[1].As<Napi::Function>(), opts, [this] {
                              // The reader is gone (stopped, or failed): allow a new one and
                              // let this object be collected again.
                              ring_.reset();
                              if (ring_ref_) {
                                ring_ref_ = false;
                                try {
                                  Unref();
                                } catch (...) {
                                }
                              }
                            });
  // While the reader runs, this object must not be collected (that would close it under the
  // thread); the thread-safe function also keeps the event loop alive, like an open socket.
  Ref();
  ring_ref_ = true;
  return env.Undefined();
}

Napi::Value BpfObject::StopRingBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ring_) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Resolve(env.Undefined());
    return d.Promise();
  }
  return ring_->StopAsync(env);
}

}  // namespace mdt
