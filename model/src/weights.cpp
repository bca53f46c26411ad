// State dicts in and out of torch.save files (zip archive + pickle, read with ugs's own pickle
// reader) and of the ugs weights file (a LibTorch archive). docs/weights.md describes both formats.
#include "ugs/model/weights.h"

#include <caffe2/serialize/inline_container.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "pickle.h"

namespace ugs::model {

namespace {

// The entry of the ugs weights file that holds the model's state.
constexpr const char* kStateEntry = "model_state";
// The first bytes of a zip archive, and of a pickle (torch.save's format before PyTorch 1.6).
constexpr std::string_view kZipMagic = "PK\x03\x04";
constexpr char kPickleProtoOpcode = '\x80';
// How many names an error message lists before it says "and N more".
constexpr size_t kNamesInMessage = 3;

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw std::runtime_error(source + ": " + what);
}

// LibTorch's error message without its backtrace and context lines.
std::string first_line(const c10::Error& error) {
  const std::string message = error.what_without_backtrace();
  return message.substr(0, message.find('\n'));
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::string text;
  for (size_t i = 0; i < names.size() && i < kNamesInMessage; ++i)
    text += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > kNamesInMessage)
    text += " and " + std::to_string(names.size() - kNamesInMessage) + " more";
  return text;
}

std::string shape_text(c10::IntArrayRef shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// The first bytes of the file, or an error naming why it cannot be read.
std::string file_start(const std::filesystem::path& file, size_t count) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(file.string(), std::string("cannot open: ") + std::strerror(errno));
  std::string start(count, '\0');
  in.read(start.data(), static_cast<std::streamsize>(count));
  start.resize(static_cast<size_t>(in.gcount()));
  return start;
}

// ----------------------------------------------------------------------------------------------
// torch.save's tensors: a storage type name per dtype, as `torch.<Name>` in the pickle.

struct StorageType {
  c10::ScalarType dtype;
  const char* name;
};
constexpr std::array<StorageType, 10> kStorageTypes{{
    {c10::kFloat, "FloatStorage"},   {c10::kDouble, "DoubleStorage"}, {c10::kHalf, "HalfStorage"},
    {c10::kBFloat16, "BFloat16Storage"}, {c10::kLong, "LongStorage"}, {c10::kInt, "IntStorage"},
    {c10::kShort, "ShortStorage"},   {c10::kChar, "CharStorage"},     {c10::kByte, "ByteStorage"},
    {c10::kBool, "BoolStorage"},
}};

std::optional<c10::ScalarType> dtype_of_storage(const std::string& name) {
  for (const StorageType& type : kStorageTypes)
    if (name == type.name) return type.dtype;
  return std::nullopt;
}

const char* storage_of_dtype(c10::ScalarType dtype) {
  for (const StorageType& type : kStorageTypes)
    if (dtype == type.dtype) return type.name;
  throw std::invalid_argument(std::string("no PyTorch storage type for dtype ") +
                              c10::toString(dtype));
}

// A tensor of the pickle, not yet read: a view (offset, sizes, strides) of a storage record.
struct TensorRef {
  std::string storage_key;
  c10::ScalarType dtype;
  int64_t storage_numel;
  int64_t offset;
  std::vector<int64_t> sizes, strides;
};

namespace pk = pickle;

// The functions with which torch.save rebuilds a tensor. `_rebuild_tensor_v2` is what every PyTorch
// since 1.0 writes for a plain tensor; parameters (saved with keep_vars=True) and tensor subclasses
// wrap it.
bool is_tensor(const pk::Value* value) {
  const pk::Call* call = pk::get<pk::Call>(value);
  if (!call) return false;
  return pk::is_global(call->callable, "torch._utils", "_rebuild_tensor_v2") ||
         pk::is_global(call->callable, "torch._utils", "_rebuild_tensor") ||
         pk::is_global(call->callable, "torch._utils", "_rebuild_parameter") ||
         pk::is_global(call->callable, "torch._utils", "_rebuild_parameter_with_state") ||
         pk::is_global(call->callable, "torch._tensor", "_rebuild_from_type_v2");
}

std::vector<int64_t> int_tuple(const pk::Value* value, const std::string& what) {
  const pk::Tuple* tuple = pk::get<pk::Tuple>(value);
  if (!tuple) throw std::runtime_error(what + " is " + pk::describe(value) + ", not a tuple");
  std::vector<int64_t> ints;
  for (const pk::Value* item : tuple->items) {
    const int64_t* integer = pk::get<int64_t>(item);
    if (!integer) throw std::runtime_error(what + " holds " + pk::describe(item));
    ints.push_back(*integer);
  }
  return ints;
}

// torch.save's persistent id of a storage: ('storage', torch.<Type>Storage, key, location, numel).
void read_storage_id(const pk::Value* value, TensorRef& ref) {
  const pk::PersistentId* persistent = pk::get<pk::PersistentId>(value);
  const pk::Tuple* id = persistent ? pk::get<pk::Tuple>(persistent->id) : nullptr;
  if (!id || id->items.size() < 5 || !pk::get<std::string>(id->items[0]) ||
      *pk::get<std::string>(id->items[0]) != "storage")
    throw std::runtime_error("its storage is " + pk::describe(value) +
                             ", not torch.save's ('storage', type, key, location, size)");
  const pk::Global* type = pk::get<pk::Global>(id->items[1]);
  const std::optional<c10::ScalarType> dtype =
      type && type->module == "torch" ? dtype_of_storage(type->name) : std::nullopt;
  if (!dtype) throw std::runtime_error("its storage type " + pk::describe(id->items[1]) +
                                       " is not one ugs reads");
  const std::string* key = pk::get<std::string>(id->items[2]);
  const int64_t* numel = pk::get<int64_t>(id->items[4]);
  if (!key || !numel || *numel < 0) throw std::runtime_error("its storage id is malformed");
  ref.dtype = *dtype;
  ref.storage_key = *key;
  ref.storage_numel = *numel;
}

TensorRef read_tensor_ref(const pk::Value* value, int wrappers = 0) {
  const pk::Call* call = pk::get<pk::Call>(value);
  const pk::Tuple* args = call ? pk::get<pk::Tuple>(call->args) : nullptr;
  if (!args || !is_tensor(value)) throw std::runtime_error("is " + pk::describe(value) +
                                                           ", not a tensor");
  constexpr int kMaxWrappers = 2;  // Parameter around a tensor, _rebuild_from_type_v2 around that
  const auto unwrap = [&](const pk::Value* inner) {
    if (wrappers == kMaxWrappers) throw std::runtime_error("is a tensor wrapped too many times");
    return read_tensor_ref(inner, wrappers + 1);
  };
  const auto& items = args->items;
  if (pk::is_global(call->callable, "torch._tensor", "_rebuild_from_type_v2")) {
    // (function, type, function's args, state): a tensor subclass; the data is function(*args).
    if (items.size() < 3) throw std::runtime_error("is a malformed tensor subclass");
    pk::Value rebuilt{pk::Call{items[0], items[2]}};
    return unwrap(&rebuilt);
  }
  if (pk::is_global(call->callable, "torch._utils", "_rebuild_parameter") ||
      pk::is_global(call->callable, "torch._utils", "_rebuild_parameter_with_state")) {
    if (items.empty()) throw std::runtime_error("is a malformed parameter");
    return unwrap(items[0]);  // (data, requires_grad, backward_hooks[, state])
  }
  // _rebuild_tensor(_v2): (storage, storage_offset, size, stride, ...)
  if (items.size() < 4) throw std::runtime_error("is a malformed tensor");
  TensorRef ref;
  read_storage_id(items[0], ref);
  const int64_t* offset = pk::get<int64_t>(items[1]);
  if (!offset) throw std::runtime_error("has a storage offset that is " + pk::describe(items[1]));
  ref.offset = *offset;
  ref.sizes = int_tuple(items[2], "its size");
  ref.strides = int_tuple(items[3], "its stride");
  return ref;
}

// Where the state dict is in the unpickled object: the object itself when it is a non-empty dict of
// tensors, else the dict under one of kStateDictKeys.
constexpr std::array<const char*, 2> kStateDictKeys{"state_dict", "model"};

const pk::Dict& find_state_dict(const pk::Value& root, const std::string& source) {
  const pk::Dict* dict = pk::get<pk::Dict>(&root);
  if (!dict) {
    fail(source, "holds " + pk::describe(&root) +
                     ", not a state dict (a ugs weights file, or a TorchScript module?)");
  }
  bool all_tensors = !dict->entries.empty();
  for (const auto& entry : dict->entries) all_tensors = all_tensors && is_tensor(entry.second);
  if (all_tensors) return *dict;
  for (const char* key : kStateDictKeys) {
    for (const auto& [name, value] : dict->entries) {
      const std::string* text = pk::get<std::string>(name);
      if (text && *text == key && pk::get<pk::Dict>(value)) return *pk::get<pk::Dict>(value);
    }
  }
  std::vector<std::string> keys;
  for (const auto& entry : dict->entries) {
    const std::string* text = pk::get<std::string>(entry.first);
    keys.push_back(text ? *text : pk::describe(entry.first));
  }
  fail(source, "holds a dict (keys " + (keys.empty() ? std::string("none") : quoted_list(keys)) +
                   ") that is neither a state dict nor a checkpoint with one under 'state_dict' "
                   "or 'model'");
}

// Reads the storages a state dict uses, each once, and cuts the tensors out of them.
class StorageReader {
 public:
  StorageReader(caffe2::serialize::PyTorchStreamReader& archive, std::string source)
      : archive_(archive), source_(std::move(source)) {}

  torch::Tensor tensor(const std::string& name, const TensorRef& ref) {
    const torch::Tensor& storage = this->storage(name, ref);
    const auto broken = [&](const std::string& what) { fail(source_, "tensor '" + name + "' " + what); };
    if (ref.sizes.size() != ref.strides.size())
      broken("has " + std::to_string(ref.sizes.size()) + " sizes but " +
             std::to_string(ref.strides.size()) + " strides");
    for (size_t d = 0; d < ref.sizes.size(); ++d)
      if (ref.sizes[d] < 0 || ref.strides[d] < 0) broken("has a negative size or stride");
    if (ref.offset < 0) broken("has a negative storage offset");
    if (std::find(ref.sizes.begin(), ref.sizes.end(), 0) != ref.sizes.end())
      return torch::empty(ref.sizes, torch::TensorOptions().dtype(ref.dtype));

    // The view must stay inside the storage; each step is bounded before it is added, so that no
    // product overflows. Views with more elements than their storage (expanded tensors) never
    // occur in a state dict: refusing them bounds what a corrupt file makes ugs allocate.
    const int64_t numel = storage.numel();
    if (ref.offset >= numel) broken("reaches past the end of its storage");
    int64_t last = ref.offset;  // the largest element index the view touches
    int64_t elements = 1;
    for (size_t d = 0; d < ref.sizes.size(); ++d) {
      const int64_t steps = ref.sizes[d] - 1;
      if (steps > 0 && ref.strides[d] > (numel - 1 - last) / steps)
        broken("reaches past the end of its storage");
      last += steps * ref.strides[d];
      if (elements > numel / ref.sizes[d]) broken("has more elements than its storage");
      elements *= ref.sizes[d];
    }
    return storage.as_strided(ref.sizes, ref.strides, ref.offset)
        .clone(torch::MemoryFormat::Contiguous);
  }

 private:
  const torch::Tensor& storage(const std::string& name, const TensorRef& ref) {
    auto found = storages_.find(ref.storage_key);
    if (found != storages_.end()) {
      if (found->second.scalar_type() != ref.dtype)
        fail(source_, "tensor '" + name + "' reads storage " + ref.storage_key + " as another dtype");
      return found->second;
    }
    const std::string record = "data/" + ref.storage_key;
    if (!archive_.hasRecord(record))
      fail(source_, "tensor '" + name + "' needs record " + record + ", which the archive lacks");
    at::DataPtr data;
    size_t size = 0;
    try {
      std::tie(data, size) = archive_.getRecord(record);
    } catch (const c10::Error& error) {
      fail(source_, "cannot read record " + record + ": " + first_line(error));
    }
    const size_t element_size = c10::elementSize(ref.dtype);
    // Compared by division: the element count comes from the file, and a product could overflow.
    if (size % element_size != 0 || size / element_size != static_cast<uint64_t>(ref.storage_numel))
      fail(source_, "record " + record + " holds " + std::to_string(size) + " bytes, not the " +
                        std::to_string(ref.storage_numel) + " " + c10::toString(ref.dtype) +
                        " elements that tensor '" + name + "' says");
    torch::Tensor storage =
        torch::empty({ref.storage_numel}, torch::TensorOptions().dtype(ref.dtype));
    if (size > 0) std::memcpy(storage.data_ptr(), data.get(), size);
    return storages_.emplace(ref.storage_key, std::move(storage)).first->second;
  }

  caffe2::serialize::PyTorchStreamReader& archive_;
  std::string source_;
  std::unordered_map<std::string, torch::Tensor> storages_;
};

// ----------------------------------------------------------------------------------------------
// Writing the pickle of torch.save(OrderedDict of tensors), protocol 2, as Python writes it
// (without the memo, which is optional, and without `_metadata`, which load_state_dict only uses
// to upgrade files of old module versions).

class PickleWriter {
 public:
  PickleWriter() {
    opcode(0x80);  // PROTO 2
    opcode(2);
  }
  void opcode(uint8_t code) { bytes_.push_back(static_cast<char>(code)); }
  void mark() { opcode('('); }
  void global(const std::string& module, const std::string& name) {
    opcode('c');
    bytes_ += module + "\n" + name + "\n";
  }
  void string(const std::string& text) {
    opcode('X');  // BINUNICODE: 4-byte little-endian length, UTF-8
    little_endian(text.size(), 4);
    bytes_ += text;
  }
  void integer(int64_t value) {
    if (value >= 0 && value < (1 << 8)) {
      opcode('K');
      little_endian(static_cast<uint64_t>(value), 1);
    } else if (value >= 0 && value < (1 << 16)) {
      opcode('M');
      little_endian(static_cast<uint64_t>(value), 2);
    } else if (value >= INT32_MIN && value <= INT32_MAX) {
      opcode('J');
      little_endian(static_cast<uint64_t>(value), 4);
    } else {
      opcode(0x8a);  // LONG1 with 8 bytes, two's complement
      opcode(8);
      little_endian(static_cast<uint64_t>(value), 8);
    }
  }
  void int_tuple(c10::IntArrayRef values) {
    mark();
    for (int64_t value : values) integer(value);
    opcode('t');
  }
  void empty_ordered_dict() {
    global("collections", "OrderedDict");
    opcode(')');  // EMPTY_TUPLE
    opcode('R');  // REDUCE
  }
  // torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict()) of a
  // contiguous tensor whose storage is the record data/<key>.
  void tensor(const torch::Tensor& tensor, const std::string& key) {
    global("torch._utils", "_rebuild_tensor_v2");
    mark();
    mark();
    string("storage");
    global("torch", storage_of_dtype(tensor.scalar_type()));
    string(key);
    string("cpu");
    integer(tensor.numel());
    opcode('t');
    opcode('Q');  // BINPERSID
    integer(0);
    int_tuple(tensor.sizes());
    int_tuple(tensor.strides());
    opcode(0x89);  // NEWFALSE: requires_grad
    empty_ordered_dict();  // backward hooks
    opcode('t');
    opcode('R');
  }
  std::string finish() {
    opcode('.');  // STOP
    return std::move(bytes_);
  }

 private:
  void little_endian(uint64_t value, int width) {
    for (int i = 0; i < width; ++i) bytes_.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
  std::string bytes_;
};

}  // namespace

// ------------------------------------------------------------------------------------------------

StateDict state_dict(const torch::nn::Module& module) {
  StateDict state;
  const auto add_own = [&state](const torch::nn::Module& owner, const std::string& prefix) {
    for (const auto& item : owner.named_parameters(/*recurse=*/false))
      if (item.value().defined()) state.emplace_back(prefix + item.key(), item.value());
    for (const auto& item : owner.named_buffers(/*recurse=*/false))
      if (item.value().defined()) state.emplace_back(prefix + item.key(), item.value());
  };
  add_own(module, "");
  // Pre-order, like PyTorch's state_dict(); include_self=false works on modules not held by a
  // shared_ptr too.
  for (const auto& item : module.named_modules("", /*include_self=*/false))
    add_own(*item.value(), item.key() + ".");
  return state;
}

void load_state_dict(torch::nn::Module& module, const StateDict& state, const std::string& source) {
  const StateDict targets = state_dict(module);
  std::unordered_map<std::string, const torch::Tensor*> given;
  for (const auto& [name, tensor] : state)
    if (!given.emplace(name, &tensor).second) fail(source, "has '" + name + "' twice");

  std::vector<std::string> missing, unexpected;
  std::unordered_set<std::string> expected;
  for (const auto& [name, target] : targets) {
    expected.insert(name);
    if (!given.count(name)) missing.push_back(name);
  }
  for (const auto& [name, tensor] : state)
    if (!expected.count(name)) unexpected.push_back(name);
  if (!missing.empty() || !unexpected.empty()) {
    std::string what;
    if (!missing.empty()) what = "lacks " + quoted_list(missing);
    if (!unexpected.empty())
      what += (what.empty() ? "has " : "; has ") + quoted_list(unexpected) + " unknown to the model";
    fail(source, what + " (" + std::to_string(state.size()) + " tensors given, the model has " +
                     std::to_string(targets.size()) + ")");
  }
  for (const auto& [name, target] : targets) {
    const torch::Tensor& tensor = *given.at(name);
    if (!tensor.defined()) fail(source, "'" + name + "' is an undefined tensor");
    if (tensor.sizes() != target.sizes())
      fail(source, "'" + name + "' has shape " + shape_text(tensor.sizes()) + ", the model's is " +
                       shape_text(target.sizes()));
    if (tensor.scalar_type() != target.scalar_type())
      fail(source, "'" + name + "' is " + c10::toString(tensor.scalar_type()) +
                       ", the model's is " + c10::toString(target.scalar_type()));
  }

  torch::NoGradGuard no_grad;
  for (const auto& [name, target] : targets) {
    torch::Tensor destination = target;  // shares the module's tensor
    destination.copy_(*given.at(name));
  }
}

StateDict read_pytorch_state_dict(const std::filesystem::path& file) {
  const std::string source = file.string();
  const std::string start = file_start(file, kZipMagic.size());
  if (start != kZipMagic) {
    if (!start.empty() && start[0] == kPickleProtoOpcode)
      fail(source, "written by torch.save in the format of PyTorch < 1.6 "
                   "(_use_new_zipfile_serialization=False), which ugs does not read; re-save it "
                   "with torch.save(torch.load(f), f) in PyTorch >= 1.6");
    fail(source, "not a file written by torch.save (it is no zip archive)");
  }

  std::optional<caffe2::serialize::PyTorchStreamReader> archive;
  try {
    archive.emplace(source);
  } catch (const c10::Error& error) {
    fail(source, "not a readable torch.save archive: " + first_line(error));
  }
  if (!archive->hasRecord("data.pkl")) fail(source, "a zip archive without data.pkl: not torch.save's");
  if (archive->hasRecord("byteorder")) {
    auto [data, size] = archive->getRecord("byteorder");
    const std::string order(static_cast<const char*>(data.get()), size);
    if (order != "little") fail(source, "stores tensors in '" + order + "' byte order; ugs reads little");
  }

  at::DataPtr program;
  size_t size = 0;
  try {
    std::tie(program, size) = archive->getRecord("data.pkl");
  } catch (const c10::Error& error) {
    fail(source, "cannot read data.pkl: " + first_line(error));
  }
  pickle::Pickle pickled;
  try {
    pickled = pickle::read(std::string_view(static_cast<const char*>(program.get()), size));
  } catch (const std::runtime_error& error) {
    fail(source, std::string("data.pkl: ") + error.what());
  }

  const pk::Dict& dict = find_state_dict(pickled.root(), source);
  StorageReader storages(*archive, source);
  StateDict state;
  for (const auto& [key, value] : dict.entries) {
    const std::string* name = pk::get<std::string>(key);
    if (!name) fail(source, "the state dict has a key that is " + pk::describe(key));
    TensorRef ref;
    try {
      ref = read_tensor_ref(value);
    } catch (const std::runtime_error& error) {
      fail(source, "'" + *name + "' " + error.what());
    }
    state.emplace_back(*name, storages.tensor(*name, ref));
  }
  return state;
}

void write_pytorch_state_dict(const StateDict& state, const std::filesystem::path& file) {
  const std::string source = file.string();
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!out) fail(source, std::string("cannot create: ") + std::strerror(errno));
  try {
    caffe2::serialize::PyTorchStreamWriter archive([&out](const void* data, size_t size) {
      out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
      return out ? size : size_t{0};
    });
    PickleWriter pickle;
    pickle.empty_ordered_dict();
    pickle.mark();
    for (size_t i = 0; i < state.size(); ++i) {
      const auto& [name, tensor] = state[i];
      const torch::Tensor data = tensor.detach().to(torch::kCPU).contiguous();
      const std::string key = std::to_string(i);
      pickle.string(name);
      pickle.tensor(data, key);
      archive.writeRecord("data/" + key, data.numel() ? data.data_ptr() : "", data.nbytes());
    }
    pickle.opcode('u');  // SETITEMS
    const std::string program = pickle.finish();
    archive.writeRecord("data.pkl", program.data(), program.size());
    archive.writeRecord("byteorder", "little", 6);
    archive.writeEndOfFile();
  } catch (const c10::Error& error) {
    fail(source, "cannot write: " + first_line(error));
  } catch (const std::invalid_argument& error) {
    fail(source, error.what());
  }
  out.close();
  if (!out) fail(source, std::string("cannot write: ") + std::strerror(errno));
}

void load_pytorch_state_dict(torch::nn::Module& module, const std::filesystem::path& file) {
  load_state_dict(module, read_pytorch_state_dict(file), file.string());
}

void save_pytorch_state_dict(const torch::nn::Module& module, const std::filesystem::path& file) {
  write_pytorch_state_dict(state_dict(module), file);
}

void save_weights(const torch::nn::Module& module, const std::filesystem::path& file) {
  c10::Dict<std::string, torch::Tensor> tensors;
  for (const auto& [name, tensor] : state_dict(module))
    tensors.insert(name, tensor.detach().to(torch::kCPU));
  torch::serialize::OutputArchive archive;
  archive.write(kStateEntry, c10::IValue(tensors));
  try {
    archive.save_to(file.string());
  } catch (const c10::Error& error) {
    fail(file.string(), "cannot write: " + first_line(error));
  }
}

void load_weights(torch::nn::Module& module, const std::filesystem::path& file) {
  const std::string source = file.string();
  file_start(file, 1);  // a missing or unreadable file gets its own message
  torch::serialize::InputArchive archive;
  c10::IValue value;
  try {
    archive.load_from(source, torch::Device(torch::kCPU));
    if (!archive.try_read(kStateEntry, value) || !value.isGenericDict())
      fail(source, std::string("a LibTorch archive without a '") + kStateEntry +
                       "' entry: not a ugs weights file");
  } catch (const c10::Error& error) {
    fail(source, "not a ugs weights file (" + first_line(error) +
                     "); a torch.save file becomes one with `ugs weights import`");
  }
  StateDict state;
  for (const auto& entry : value.toGenericDict()) {
    if (!entry.key().isString() || !entry.value().isTensor())
      fail(source, std::string("'") + kStateEntry + "' holds something other than named tensors");
    state.emplace_back(entry.key().toStringRef(), entry.value().toTensor());
  }
  load_state_dict(module, state, source);
}

}  // namespace ugs::model
