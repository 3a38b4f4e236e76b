// mini-ImageNet's shared pickles (mini-imagenet-cache-*.pkl) without Python: a small pickle
// virtual machine that knows exactly the opcodes pickle.dump (protocols 2-4) writes for a dict of
// a numpy uint8 array and a dict of str -> list of int, and rejects everything else by offset.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>

#include "meta/data/image_store.h"
#include "meta/data/io.h"

namespace metaloss::data {

namespace {

struct Value;
// Values live in the machine's arena and point at each other with plain pointers: a file nesting
// 200,000 lists (or a list holding itself through the memo) is freed flat, without the recursion
// of nested shared_ptr destructors that overflowed the stack.
using Ptr = Value*;

struct Value {
  enum Kind { None, Bool, Int, Str, Bytes, Tuple, List, Dict, Global, Array, DType } kind = None;
  int64_t i = 0;
  std::string text;  // Str (UTF-8); Global: "module name"; DType: the type code ("u1")
  // Bytes: a view into `owner` (the file itself, or a latin-1 decoded copy).
  std::shared_ptr<const std::string> owner;
  size_t offset = 0, size = 0;
  std::vector<Ptr> items;  // Tuple, List; Dict as key, value, key, value, ...
  // Array (after BUILD): shape, dtype, data
  std::vector<int64_t> shape;
  Ptr dtype, data;
  bool fortran = false, built = false;
};


const char* kind_name(Value::Kind k) {
  static const char* names[] = {"None", "bool", "int",    "str",     "bytes", "tuple",
                                "list", "dict", "global", "ndarray", "dtype"};
  return names[k];
}

class Machine {
 public:
  Machine(const std::string& path, std::shared_ptr<const std::string> file) : path_(path), file_(std::move(file)) {}

  Ptr run() {
    const std::string& s = *file_;
    while (pos_ < s.size()) {
      op_pos_ = pos_;
      op_ = static_cast<unsigned char>(s[pos_++]);
      if (op_ == '.') {
        if (stack_.size() != 1 || !marks_.empty())
          error("STOP with " + std::to_string(stack_.size()) + " values on the stack");
        if (pos_ != s.size()) error(std::to_string(s.size() - pos_) + " unexpected bytes after STOP");
        return stack_.back();
      }
      step();
    }
    fail(path_, "truncated: the pickle ends at byte " + std::to_string(s.size()) + " without a STOP opcode");
  }

 private:
  Ptr make(Value::Kind k) {
    arena_.push_back(std::make_unique<Value>());
    arena_.back()->kind = k;
    return arena_.back().get();
  }

  [[noreturn]] void error(const std::string& what) const {
    char op[32];
    if (op_ >= 0x20 && op_ < 0x7f)
      std::snprintf(op, sizeof op, "'%c' (0x%02x)", char(op_), op_);
    else
      std::snprintf(op, sizeof op, "0x%02x", op_);
    fail(path_, "byte " + std::to_string(op_pos_) + ", opcode " + op + ": " + what);
  }

  const char* take(size_t n) {
    if (file_->size() - pos_ < n)
      fail(path_, "truncated: opcode at byte " + std::to_string(op_pos_) + " needs " + std::to_string(n) +
                      " more bytes, the file has " + std::to_string(file_->size() - pos_));
    const char* p = file_->data() + pos_;
    pos_ += n;
    return p;
  }
  uint64_t le(size_t n) {
    const auto* p = reinterpret_cast<const unsigned char*>(take(n));
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) v |= uint64_t(p[k]) << (8 * k);
    return v;
  }

  Ptr pop() {
    if (stack_.empty() || (!marks_.empty() && marks_.back() == stack_.size())) error("stack underflow");
    Ptr v = stack_.back();
    stack_.pop_back();
    return v;
  }
  Ptr& top() {
    if (stack_.empty()) error("stack underflow");
    return stack_.back();
  }
  std::vector<Ptr> pop_mark() {
    if (marks_.empty()) error("no MARK to pop to");
    std::vector<Ptr> items(stack_.begin() + long(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  Ptr expect(Ptr v, Value::Kind k, const std::string& what) {
    if (v->kind != k) error(what + " should be a " + kind_name(k) + ", found a " + kind_name(v->kind));
    return v;
  }

  Ptr str(size_t n) {
    Ptr v = make(Value::Str);
    v->text.assign(take(n), n);
    return v;
  }
  Ptr bytes(size_t n) {
    Ptr v = make(Value::Bytes);
    v->owner = file_;
    v->offset = pos_;
    v->size = n;
    take(n);  // a view: the image data is not copied
    return v;
  }
  Ptr integer(int64_t i) {
    Ptr v = make(Value::Int);
    v->i = i;
    return v;
  }
  Ptr tuple(std::vector<Ptr> items) {
    Ptr v = make(Value::Tuple);
    v->items = std::move(items);
    return v;
  }
  Ptr global(const std::string& module, const std::string& name) {
    Ptr v = make(Value::Global);
    v->text = module + " " + name;
    static const char* known[] = {"numpy.core.multiarray _reconstruct", "numpy._core.multiarray _reconstruct",
                                  "numpy ndarray", "numpy dtype", "_codecs encode"};
    if (std::find(std::begin(known), std::end(known), v->text) == std::end(known))
      error("unsupported global " + module + "." + name + " (expected a numpy array pickle)");
    return v;
  }
  void memo_put(uint64_t k) { memo_[k] = top(); }
  Ptr memo_get(uint64_t k) {
    auto it = memo_.find(k);
    if (it == memo_.end()) error("memo key " + std::to_string(k) + " was never stored");
    return it->second;
  }

  // Strings that stand for bytes in protocol 2 (_codecs.encode(s, 'latin1')): UTF-8 code
  // points below 256, each one byte.
  Ptr latin1(const Value& s) {
    auto out = std::make_shared<std::string>();
    const auto* p = reinterpret_cast<const unsigned char*>(s.text.data());
    for (size_t k = 0; k < s.text.size(); ++k) {
      if (p[k] < 0x80)
        out->push_back(char(p[k]));
      else if ((p[k] == 0xC2 || p[k] == 0xC3) && k + 1 < s.text.size())
        out->push_back(char((p[k] & 3) << 6 | (p[k + 1] & 0x3F))), ++k;
      else
        error("string passed to _codecs.encode is not latin-1");
    }
    Ptr v = make(Value::Bytes);
    v->size = out->size();
    v->owner = std::move(out);
    return v;
  }

  Ptr reduce(const Value& f, const Value& args) {
    auto arg = [&](size_t k) -> const Value& {
      if (k >= args.items.size()) error(f.text + " called with " + std::to_string(args.items.size()) + " arguments");
      return *args.items[k];
    };
    if (f.text.ends_with("_reconstruct")) {  // an empty ndarray, filled in by BUILD
      if (arg(0).kind != Value::Global || arg(0).text != "numpy ndarray")
        error("_reconstruct of something other than numpy.ndarray");
      return make(Value::Array);
    }
    if (f.text == "numpy dtype") {
      Ptr d = make(Value::DType);
      d->text = expect(args.items.empty() ? make(Value::None) : args.items[0], Value::Str, "dtype code")->text;
      return d;
    }
    if (f.text == "_codecs encode") {
      if (arg(0).kind != Value::Str || arg(1).kind != Value::Str || arg(1).text != "latin1")
        error("expected _codecs.encode(str, 'latin1')");
      return latin1(arg(0));
    }
    error("cannot call " + f.text);
  }

  void build(Value& obj, const Value& state) {
    if (state.kind != Value::Tuple) error("BUILD state should be a tuple");
    if (obj.kind == Value::DType) return;  // (version, byte order, ...): irrelevant for 1-byte types
    if (obj.kind != Value::Array || obj.built) error("BUILD on a " + std::string(kind_name(obj.kind)));
    // ndarray.__setstate__((version, shape, dtype, is_fortran, raw data))
    if (state.items.size() != 5) error("ndarray state should have 5 items, has " + std::to_string(state.items.size()));
    for (const Ptr& d : expect(state.items[1], Value::Tuple, "ndarray shape")->items)
      obj.shape.push_back(expect(d, Value::Int, "ndarray dimension")->i);
    obj.dtype = expect(state.items[2], Value::DType, "ndarray dtype");
    obj.fortran = expect(state.items[3], Value::Bool, "ndarray is_fortran")->i != 0;
    obj.data = expect(state.items[4], Value::Bytes, "ndarray data");
    obj.built = true;
  }

  void step() {
    switch (op_) {
      case 0x80: {  // PROTO
        const uint64_t p = le(1);
        if (p < 2 || p > 4) error("pickle protocol " + std::to_string(p) + " (expected 2 to 4)");
        return;
      }
      case 0x95: {  // FRAME: only a read-ahead hint, but it must fit in the file
        const uint64_t n = le(8);
        if (n > file_->size() - pos_)
          fail(path_, "truncated: the frame at byte " + std::to_string(op_pos_) + " declares " + std::to_string(n) +
                          " bytes, the file has " + std::to_string(file_->size() - pos_) + " more");
        return;
      }
      case '}':
        stack_.push_back(make(Value::Dict));
        return;
      case ']':
        stack_.push_back(make(Value::List));
        return;
      case ')':
        stack_.push_back(make(Value::Tuple));
        return;
      case '(':
        marks_.push_back(stack_.size());
        return;
      case 'N':
        stack_.push_back(make(Value::None));
        return;
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        Ptr b = make(Value::Bool);
        b->i = op_ == 0x88;
        stack_.push_back(b);
        return;
      }
      case 'K':
        stack_.push_back(integer(int64_t(le(1))));
        return;
      case 'M':
        stack_.push_back(integer(int64_t(le(2))));
        return;
      case 'J':
        stack_.push_back(integer(int64_t(int32_t(uint32_t(le(4))))));
        return;
      case 0x8c:
        stack_.push_back(str(le(1)));
        return;  // SHORT_BINUNICODE
      case 'X':
        stack_.push_back(str(le(4)));
        return;  // BINUNICODE
      case 0x8d:
        stack_.push_back(str(le(8)));
        return;  // BINUNICODE8
      case 'C':
        stack_.push_back(bytes(le(1)));
        return;  // SHORT_BINBYTES
      case 'B':
        stack_.push_back(bytes(le(4)));
        return;  // BINBYTES
      case 0x8e:
        stack_.push_back(bytes(le(8)));
        return;    // BINBYTES8
      case 'c': {  // GLOBAL "module\nname\n"
        auto line = [&] {
          const size_t end = file_->find('\n', pos_);
          if (end == std::string::npos) error("unterminated GLOBAL");
          std::string t = file_->substr(pos_, end - pos_);
          pos_ = end + 1;
          return t;
        };
        const std::string module = line(), name = line();
        stack_.push_back(global(module, name));
        return;
      }
      case 0x93: {  // STACK_GLOBAL
        const Ptr name = expect(pop(), Value::Str, "STACK_GLOBAL name");
        const Ptr module = expect(pop(), Value::Str, "STACK_GLOBAL module");
        stack_.push_back(global(module->text, name->text));
        return;
      }
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        std::vector<Ptr> items(size_t(op_ - 0x84));
        for (size_t k = items.size(); k-- > 0;) items[k] = pop();
        stack_.push_back(tuple(std::move(items)));
        return;
      }
      case 't':
        stack_.push_back(tuple(pop_mark()));
        return;
      case 'R': {
        const Ptr args = expect(pop(), Value::Tuple, "REDUCE arguments");
        const Ptr f = expect(pop(), Value::Global, "REDUCE callable");
        stack_.push_back(reduce(*f, *args));
        return;
      }
      case 'b': {
        const Ptr state = pop();
        build(*top(), *state);
        return;
      }
      case 'a': {
        const Ptr v = pop();
        expect(top(), Value::List, "APPEND target")->items.push_back(v);
        return;
      }
      case 'e': {
        std::vector<Ptr> items = pop_mark();
        Ptr list = expect(top(), Value::List, "APPENDS target");
        list->items.insert(list->items.end(), items.begin(), items.end());
        return;
      }
      case 's': {
        const Ptr v = pop(), k = pop();
        Ptr d = expect(top(), Value::Dict, "SETITEM target");
        d->items.push_back(k), d->items.push_back(v);
        return;
      }
      case 'u': {
        std::vector<Ptr> items = pop_mark();
        if (items.size() % 2) error("SETITEMS with an odd number of items");
        Ptr d = expect(top(), Value::Dict, "SETITEMS target");
        d->items.insert(d->items.end(), items.begin(), items.end());
        return;
      }
      case 0x94:
        memo_put(memo_.size());
        return;  // MEMOIZE
      case 'q':
        memo_put(le(1));
        return;  // BINPUT
      case 'r':
        memo_put(le(4));
        return;  // LONG_BINPUT
      case 'h':
        stack_.push_back(memo_get(le(1)));
        return;  // BINGET
      case 'j':
        stack_.push_back(memo_get(le(4)));
        return;  // LONG_BINGET
      default:
        error("unsupported opcode (expected a mini-ImageNet pickle: dict of numpy uint8 array and class lists)");
    }
  }

  const std::string& path_;
  std::shared_ptr<const std::string> file_;
  size_t pos_ = 0, op_pos_ = 0;
  unsigned op_ = 0;
  std::vector<Ptr> stack_;
  std::vector<size_t> marks_;
  std::map<uint64_t, Ptr> memo_;
  std::vector<std::unique_ptr<Value>> arena_;
};

const Value* member(const std::string& path, const Value& dict, const std::string& key) {
  for (size_t k = 0; k + 1 < dict.items.size(); k += 2)
    if (dict.items[k]->kind == Value::Str && dict.items[k]->text == key) return dict.items[k + 1];
  fail(path, "no '" + key + "' entry (expected a dict with 'image_data' and 'class_dict')");
}

}  // namespace

std::shared_ptr<FewShotDataset> load_mini_imagenet_pickle(const std::string& path) {
  auto file = std::make_shared<const std::string>(read_file(path));
  Machine machine(path, file);  // owns every value until the dataset is built
  const Ptr root = machine.run();
  if (root->kind != Value::Dict)
    fail(path, std::string("top-level object is a ") + kind_name(root->kind) + ", expected a dict");
  const Value& images = *member(path, *root, "image_data");
  if (images.kind != Value::Array || !images.built) fail(path, "'image_data' is not a numpy array");
  const auto& sh = images.shape;
  if (images.dtype->text != "u1" && images.dtype->text != "|u1")
    fail(path, "'image_data' has dtype " + images.dtype->text + ", expected uint8 (u1)");
  if (sh.size() != 4 || (sh[3] != 1 && sh[3] != 3) || sh[1] < 1 || sh[2] < 1 || sh[0] < 0)
    fail(path, "'image_data' should be [N, H, W, 3] (or [N, H, W, 1])");
  if (images.fortran) fail(path, "'image_data' is in Fortran order, expected C order");
  // Checked product: dimensions come from the file, and a product that wraps around could match
  // a small data size and send sample() reading out of bounds.
  uint64_t want = 1;
  for (int d = 0; d < 4; ++d)
    if (__builtin_mul_overflow(want, uint64_t(sh[size_t(d)]), &want))
      fail(path, "'image_data' shape overflows 64 bits");
  if (images.data->size != want)
    fail(path,
         "'image_data' holds " + std::to_string(images.data->size) + " bytes, its shape needs " + std::to_string(want));
  const Value& classes = *member(path, *root, "class_dict");
  if (classes.kind != Value::Dict) fail(path, "'class_dict' is not a dict");
  // Classes sorted by synset, as the image-folder reader orders its folders.
  std::map<std::string, std::vector<int64_t>> by_name;
  for (size_t k = 0; k + 1 < classes.items.size(); k += 2) {
    const Value &key = *classes.items[k], &list = *classes.items[k + 1];
    if (key.kind != Value::Str || list.kind != Value::List) fail(path, "'class_dict' should map str -> list of int");
    std::vector<int64_t>& rows = by_name[key.text];
    for (const Ptr& r : list.items) {
      if (r->kind != Value::Int || r->i < 0 || r->i >= sh[0])
        fail(path, "'class_dict' entry " + key.text + " has an index outside [0, " + std::to_string(sh[0]) + ")");
      rows.push_back(r->i);
    }
  }
  if (by_name.empty()) fail(path, "'class_dict' is empty");
  std::vector<std::vector<int64_t>> rows;
  std::vector<std::string> names;
  for (auto& [name, r] : by_name) names.push_back(name), rows.push_back(std::move(r));
  return std::make_shared<ImageStore>("mini-imagenet:" + path, sh[3], sh[1], sh[2], true, images.data->owner,
                                      images.data->offset, std::move(rows), std::move(names));
}

}  // namespace metaloss::data
