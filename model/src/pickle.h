// A reader for the pickle programs that Python's torch.save writes (the `data.pkl` record of its zip
// archive), into a small graph of values. It runs nothing: a call (REDUCE, NEWOBJ) becomes a Call
// node that the caller may interpret, and so does a persistent id (BINPERSID: torch.save's reference
// to a tensor storage). The one call it evaluates itself is `collections.OrderedDict()`, which it
// turns into a Dict so that the SETITEMS after it fill it, as Python's unpickler would.
//
// Why a reader of our own: LibTorch's unpickler (torch::pickle_load, torch::jit::Unpickler) is made
// for what TorchScript writes. It turns `collections.OrderedDict` into None in 1.13 (into an empty
// dict in later 2.x releases), throws on globals it does not know (the numpy scalar in a published
// checkpoint), and its constructor changes between versions. The pickle opcodes are a stable,
// documented format (Python's pickletools), and torch.save uses a handful of them.
//
// Values live in an arena owned by the Pickle and point at each other with plain pointers: a corrupt
// or hostile program may build cycles or chains of any length, and neither leaks nor makes the
// destruction recurse.
//
// Errors: std::runtime_error "<what> at byte N of the pickle"; malformed input never reads out of
// bounds. Thread safety: a Pickle is immutable once read; share it freely.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace ugs::model::pickle {

struct Value;

struct None {};
struct Global {  // a `module.name` reference (GLOBAL / STACK_GLOBAL)
  std::string module, name;
};
struct List {
  std::vector<const Value*> items;
};
struct Tuple {
  std::vector<const Value*> items;
};
struct Dict {  // in insertion order; keys of any kind (optimiser states use ints)
  std::vector<std::pair<const Value*, const Value*>> entries;
};
struct Call {  // callable(*args), not evaluated
  const Value* callable;
  const Value* args;
};
struct PersistentId {  // what Python hands to the unpickler's persistent_load
  const Value* id;
};
struct Opaque {  // a value ugs never needs (sets, integers wider than 64 bits), kept as a word
  std::string what;
};
struct Bytes {
  std::string data;
};

struct Value {
  std::variant<None, bool, int64_t, double, std::string, Bytes, List, Tuple, Dict, Global, Call,
               PersistentId, Opaque>
      data;
};

// One parsed program: the value STOP leaves, and the storage of every value.
class Pickle {
 public:
  const Value& root() const { return *root_; }

 private:
  friend class Reader;
  std::vector<std::unique_ptr<Value>> arena_;
  const Value* root_ = nullptr;
};

// Parses one pickle program (protocols 2 to 5: the binary opcodes).
Pickle read(std::string_view program);

// The value as a T, or nullptr when it is of another kind.
template <typename T>
const T* get(const Value* value) {
  return value ? std::get_if<T>(&value->data) : nullptr;
}

// Whether `value` is the global `module.name`.
bool is_global(const Value* value, std::string_view module, std::string_view name);

// A short description of the value's kind, for error messages ("a tuple", "torch.FloatStorage").
std::string describe(const Value* value);

}  // namespace ugs::model::pickle
