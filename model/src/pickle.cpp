// The pickle virtual machine, reduced to the binary opcodes (Python's Lib/pickle.py and
// Lib/pickletools.py document them). Text-protocol opcodes (protocol 0) are refused by name.
#include "pickle.h"

#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

namespace ugs::model::pickle {

namespace {

// Opcodes, named as in Python's pickle module.
enum Opcode : uint8_t {
  kMark = '(', kStop = '.', kPop = '0', kPopMark = '1', kDup = '2',
  kBinInt = 'J', kBinInt1 = 'K', kBinInt2 = 'M', kNone = 'N', kBinPersId = 'Q', kReduce = 'R',
  kBinString = 'T', kShortBinString = 'U', kBinUnicode = 'X', kAppend = 'a', kBuild = 'b',
  kGlobal = 'c', kDict = 'd', kEmptyDict = '}', kAppends = 'e', kBinGet = 'h', kLongBinGet = 'j',
  kList = 'l', kEmptyList = ']', kBinPut = 'q', kLongBinPut = 'r', kSetItem = 's', kTuple = 't',
  kEmptyTuple = ')', kSetItems = 'u', kBinFloat = 'G', kBinBytes = 'B', kShortBinBytes = 'C',
  kProto = 0x80, kNewObj = 0x81, kTuple1 = 0x85, kTuple2 = 0x86, kTuple3 = 0x87, kNewTrue = 0x88,
  kNewFalse = 0x89, kLong1 = 0x8a, kLong4 = 0x8b, kShortBinUnicode = 0x8c, kBinUnicode8 = 0x8d,
  kBinBytes8 = 0x8e, kEmptySet = 0x8f, kAddItems = 0x90, kFrozenSet = 0x91, kNewObjEx = 0x92,
  kStackGlobal = 0x93, kMemoize = 0x94, kFrame = 0x95, kByteArray8 = 0x96,
};

}  // namespace

class Reader {
 public:
  explicit Reader(std::string_view program) : program_(program) {}

  Pickle run() {
    while (true) {
      opcode_at_ = position_;
      const uint8_t opcode = byte();
      if (opcode == kStop) break;
      step(opcode);
    }
    if (stack_.size() != 1 || !marks_.empty()) fail("STOP with " + std::to_string(stack_.size()) +
                                                    " values on the stack instead of 1");
    result_.root_ = stack_.back();
    return std::move(result_);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error(what + " at byte " + std::to_string(opcode_at_) + " of the pickle");
  }

  // -- reading the program ------------------------------------------------------------------------
  std::string_view take(uint64_t n) {
    const size_t left = program_.size() - position_;
    if (n > left) fail("truncated pickle (an opcode needs " + std::to_string(n) + " bytes, " +
                       std::to_string(left) + " are left)");
    std::string_view bytes = program_.substr(position_, n);
    position_ += n;
    return bytes;
  }
  uint8_t byte() { return static_cast<uint8_t>(take(1)[0]); }
  uint64_t little_endian(int n) {
    std::string_view bytes = take(n);
    uint64_t value = 0;
    for (int i = n - 1; i >= 0; --i) value = (value << 8) | static_cast<uint8_t>(bytes[i]);
    return value;
  }
  std::string line() {
    const size_t end = program_.find('\n', position_);
    if (end == std::string_view::npos) fail("truncated pickle (GLOBAL without a newline)");
    std::string text(program_.substr(position_, end - position_));
    position_ = end + 1;
    return text;
  }

  // -- the stack ----------------------------------------------------------------------------------
  template <typename T>
  Value* make(T data) {
    result_.arena_.push_back(std::make_unique<Value>(Value{std::move(data)}));
    return result_.arena_.back().get();
  }
  void push(Value* value) { stack_.push_back(value); }
  Value* pop() {
    if (stack_.size() <= stack_floor()) fail("pop from an empty stack");
    Value* value = stack_.back();
    stack_.pop_back();
    return value;
  }
  size_t stack_floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<const Value*> pop_to_mark() {
    if (marks_.empty()) fail("no MARK to pop to");
    std::vector<const Value*> items(stack_.begin() + marks_.back(), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  // The container on top of the stack, to be filled in place (as Python fills a container after
  // creating it).
  template <typename T>
  T& top_as(const char* opcode) {
    if (stack_.size() <= stack_floor()) fail(std::string(opcode) + " on an empty stack");
    auto* container = std::get_if<T>(&stack_.back()->data);
    if (!container) fail(std::string(opcode) + " on " + describe(stack_.back()));
    return *container;
  }
  void set_items(std::vector<const Value*> items) {
    if (items.size() % 2) fail("SETITEMS with an odd number of values");
    Dict& dict = top_as<Dict>("SETITEMS");
    for (size_t i = 0; i < items.size(); i += 2) dict.entries.emplace_back(items[i], items[i + 1]);
  }
  void append(std::vector<const Value*> items) {
    List& list = top_as<List>("APPENDS");
    list.items.insert(list.items.end(), items.begin(), items.end());
  }
  void memo_put(uint64_t index) {
    if (stack_.size() <= stack_floor()) fail("memoizing from an empty stack");
    memo_[index] = stack_.back();
  }
  void memo_get(uint64_t index) {
    const auto found = memo_.find(index);
    if (found == memo_.end()) fail("memo entry " + std::to_string(index) + " read before written");
    push(found->second);
  }
  // Integers of LONG1/LONG4: two's complement, little-endian, any width.
  Value* long_integer(uint64_t width) {
    std::string_view bytes = take(width);
    if (width > 8) return make(Opaque{"an integer wider than 64 bits"});
    uint64_t value = 0;
    for (size_t i = width; i-- > 0;) value = (value << 8) | static_cast<uint8_t>(bytes[i]);
    if (width > 0 && width < 8 && (static_cast<uint8_t>(bytes[width - 1]) & 0x80))
      value |= ~uint64_t{0} << (8 * width);  // sign-extend
    return make(static_cast<int64_t>(value));
  }
  Value* call(const Value* callable, const Value* args) {
    if (is_global(callable, "collections", "OrderedDict")) {
      const Tuple* tuple = get<Tuple>(args);
      if (!tuple || !tuple->items.empty()) fail("collections.OrderedDict called with arguments");
      return make(Dict{});
    }
    return make(Call{callable, args});
  }

  void step(uint8_t opcode) {
    switch (opcode) {
      case kProto: byte(); break;
      case kFrame: little_endian(8); break;  // framing is a buffering hint
      case kMark: marks_.push_back(stack_.size()); break;
      case kPop: pop(); break;
      case kPopMark: pop_to_mark(); break;
      case kDup: { Value* value = pop(); push(value); push(value); break; }

      case kNone: push(make(None{})); break;
      case kNewTrue: push(make(true)); break;
      case kNewFalse: push(make(false)); break;
      case kBinInt: push(make(int64_t{static_cast<int32_t>(little_endian(4))})); break;
      case kBinInt1: push(make(int64_t{byte()})); break;
      case kBinInt2: push(make(static_cast<int64_t>(little_endian(2)))); break;
      case kLong1: push(long_integer(byte())); break;
      case kLong4: push(long_integer(little_endian(4))); break;
      case kBinFloat: {
        const uint64_t big_endian_bits = [&] {
          std::string_view bytes = take(8);
          uint64_t bits = 0;
          for (char c : bytes) bits = (bits << 8) | static_cast<uint8_t>(c);
          return bits;
        }();
        double value;
        std::memcpy(&value, &big_endian_bits, sizeof value);
        push(make(value));
        break;
      }
      case kShortBinUnicode: case kShortBinString: push(make(std::string(take(byte())))); break;
      case kBinUnicode: case kBinString: push(make(std::string(take(little_endian(4))))); break;
      case kBinUnicode8: push(make(std::string(take(little_endian(8))))); break;
      case kShortBinBytes: push(make(Bytes{std::string(take(byte()))})); break;
      case kBinBytes: push(make(Bytes{std::string(take(little_endian(4)))})); break;
      case kBinBytes8: case kByteArray8:
        push(make(Bytes{std::string(take(little_endian(8)))}));
        break;

      case kEmptyTuple: push(make(Tuple{})); break;
      case kTuple1: case kTuple2: case kTuple3: {
        std::vector<const Value*> items(opcode - kTuple1 + 1);
        for (size_t i = items.size(); i-- > 0;) items[i] = pop();
        push(make(Tuple{std::move(items)}));
        break;
      }
      case kTuple: push(make(Tuple{pop_to_mark()})); break;
      case kEmptyList: push(make(List{})); break;
      case kList: push(make(List{pop_to_mark()})); break;
      case kEmptyDict: push(make(Dict{})); break;
      case kDict: { auto items = pop_to_mark(); push(make(Dict{})); set_items(std::move(items)); break; }
      case kEmptySet: push(make(Opaque{"a set"})); break;
      case kFrozenSet: pop_to_mark(); push(make(Opaque{"a frozenset"})); break;
      case kAddItems: pop_to_mark(); top_as<Opaque>("ADDITEMS"); break;
      case kAppend: { const Value* item = pop(); append({item}); break; }
      case kAppends: append(pop_to_mark()); break;
      case kSetItem: {
        const Value* value = pop();
        const Value* key = pop();
        set_items({key, value});
        break;
      }
      case kSetItems: set_items(pop_to_mark()); break;

      case kBinPut: memo_put(byte()); break;
      case kLongBinPut: memo_put(little_endian(4)); break;
      case kMemoize: memo_put(memo_.size()); break;
      case kBinGet: memo_get(byte()); break;
      case kLongBinGet: memo_get(little_endian(4)); break;

      case kGlobal: {
        std::string module = line();
        std::string name = line();
        push(make(Global{std::move(module), std::move(name)}));
        break;
      }
      case kStackGlobal: {
        const Value* name = pop();
        const Value* module = pop();
        if (!get<std::string>(module) || !get<std::string>(name)) fail("STACK_GLOBAL of non-strings");
        push(make(Global{*get<std::string>(module), *get<std::string>(name)}));
        break;
      }
      case kReduce: case kNewObj: {
        const Value* args = pop();
        const Value* callable = pop();
        push(call(callable, args));
        break;
      }
      case kNewObjEx: {
        pop();  // keyword arguments
        const Value* args = pop();
        const Value* callable = pop();
        push(call(callable, args));
        break;
      }
      case kBuild:
        // Sets an object's state, e.g. an OrderedDict's `_metadata` (module versions, which a
        // state dict's tensors do not depend on). Nothing that ugs reads has state.
        pop();
        if (stack_.size() <= stack_floor()) fail("BUILD on an empty stack");
        break;
      case kBinPersId: push(make(PersistentId{pop()})); break;

      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", opcode);
        fail(std::string("unsupported pickle opcode ") + hex +
             (opcode >= 0x20 && opcode < 0x7f ? std::string(" '") + char(opcode) + "'" : "") +
             " (ugs reads binary pickles, protocols 2 to 5)");
      }
    }
  }

  std::string_view program_;
  size_t position_ = 0;
  size_t opcode_at_ = 0;
  std::vector<Value*> stack_;
  std::vector<size_t> marks_;  // stack heights at each open MARK
  std::unordered_map<uint64_t, Value*> memo_;
  Pickle result_;
};

Pickle read(std::string_view program) { return Reader(program).run(); }

bool is_global(const Value* value, std::string_view module, std::string_view name) {
  const Global* global = get<Global>(value);
  return global && global->module == module && global->name == name;
}

std::string describe(const Value* value) {
  if (!value) return "nothing";
  struct Describe {
    std::string operator()(const None&) const { return "None"; }
    std::string operator()(bool) const { return "a bool"; }
    std::string operator()(int64_t) const { return "an int"; }
    std::string operator()(double) const { return "a float"; }
    std::string operator()(const std::string&) const { return "a string"; }
    std::string operator()(const Bytes&) const { return "bytes"; }
    std::string operator()(const List&) const { return "a list"; }
    std::string operator()(const Tuple&) const { return "a tuple"; }
    std::string operator()(const Dict&) const { return "a dict"; }
    std::string operator()(const Global& g) const { return g.module + "." + g.name; }
    std::string operator()(const Call& c) const {
      const Global* global = get<Global>(c.callable);
      return global ? "a " + global->module + "." + global->name + "(...) object" : "an object";
    }
    std::string operator()(const PersistentId&) const { return "a persistent id"; }
    std::string operator()(const Opaque& o) const { return o.what; }
  };
  return std::visit(Describe{}, value->data);
}

}  // namespace ugs::model::pickle
