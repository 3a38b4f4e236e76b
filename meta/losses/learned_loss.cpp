#include "meta/losses/learned_loss.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>

#include "models/layers.h"
#include "models/safetensors.h"

namespace metaloss::losses {

namespace {

using Mode = LearnedLossConfig::Mode;
constexpr const char* kMetaKey = "learned_loss";
constexpr int kVersion = 1;

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument("LearnedLoss: " + what); }

const char* mode_name(Mode m) { return m == Mode::Classification ? "classification" : "regression"; }

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// ---- a minimal JSON reader for the flat config object: strings, numbers, booleans and arrays
// of numbers (all the config holds). The repository's other JSON readers live in apps/ and
// models/safetensors.cpp (internal), which meta/ cannot reach, hence this small one.
struct JsonValue {
  enum Kind { String, Number, Bool, Array } kind = Number;
  std::string s;
  double n = 0;
  bool b = false;
  std::vector<double> a;
};

class JsonReader {
 public:
  explicit JsonReader(const std::string& text) : t_(text) {}
  std::map<std::string, JsonValue> object() {
    std::map<std::string, JsonValue> out;
    expect('{');
    if (peek() == '}') {
      ++i_;
      return end(out);
    }
    for (;;) {
      std::string key = string();
      expect(':');
      if (!out.emplace(key, value()).second) error("duplicate key '" + key + "'");
      if (peek() == ',') { ++i_; continue; }
      expect('}');
      return end(out);
    }
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    fail("bad '" + std::string(kMetaKey) + "' metadata at byte " + std::to_string(i_) + ": " + what);
  }
  std::map<std::string, JsonValue> end(std::map<std::string, JsonValue>& out) {
    if (peek() != '\0') error("trailing characters");
    return std::move(out);
  }
  char peek() {
    while (i_ < t_.size() && std::isspace(static_cast<unsigned char>(t_[i_]))) ++i_;
    return i_ < t_.size() ? t_[i_] : '\0';
  }
  void expect(char c) {
    if (peek() != c) error(std::string("expected '") + c + "'");
    ++i_;
  }
  std::string string() {
    expect('"');
    std::string s;
    while (i_ < t_.size() && t_[i_] != '"') {
      if (t_[i_] == '\\' && i_ + 1 < t_.size()) ++i_;  // \" and \\ only: the config has no others
      s += t_[i_++];
    }
    expect('"');
    return s;
  }
  double number() {
    peek();
    const char* begin = t_.c_str() + i_;
    char* stop = nullptr;
    const double v = std::strtod(begin, &stop);
    if (stop == begin) error("expected a value");
    i_ += size_t(stop - begin);
    return v;
  }
  JsonValue value() {
    JsonValue v;
    const char c = peek();
    if (c == '"') {
      v.kind = JsonValue::String;
      v.s = string();
    } else if (t_.compare(i_, 4, "true") == 0 || t_.compare(i_, 5, "false") == 0) {
      v.kind = JsonValue::Bool;
      v.b = c == 't';
      i_ += v.b ? 4 : 5;
    } else if (c == '[') {
      v.kind = JsonValue::Array;
      ++i_;
      if (peek() == ']') {
        ++i_;
        return v;
      }
      for (;;) {
        v.a.push_back(number());
        if (peek() == ',') { ++i_; continue; }
        expect(']');
        return v;
      }
    } else {
      v.n = number();
    }
    return v;
  }
  const std::string& t_;
  size_t i_ = 0;
};

// Typed field access for from_json: every key must be present with the right type.
struct Fields {
  std::map<std::string, JsonValue> m;
  JsonValue get(const std::string& key, JsonValue::Kind kind, const char* type) {
    auto it = m.find(key);
    if (it == m.end()) fail("config JSON lacks the field '" + key + "'");
    if (it->second.kind != kind) fail("config JSON field '" + key + "' must be " + type);
    JsonValue v = std::move(it->second);
    m.erase(it);  // what is left at the end is unknown
    return v;
  }
};

std::shared_ptr<Module> make_activation(const LearnedLossConfig& c) {
  if (c.activation == "relu") return std::make_shared<ReLU>();
  return std::make_shared<SmoothLeakyReLU>(c.slrelu_beta, c.slrelu_gamma);
}

}  // namespace

// ---- config ---------------------------------------------------------------------------------

LearnedLossConfig LearnedLossConfig::ml3(Mode mode) {
  LearnedLossConfig c;
  c.mode = mode;
  return c;  // the defaults are ML3's
}

LearnedLossConfig LearnedLossConfig::adalfl(Mode mode) {
  LearnedLossConfig c = ml3(mode);
  c.hidden = {40, 40};  // the paper's two hidden layers of 40 units
  c.activation = "smooth_leaky_relu";
  // The paper leaves the output open; chosen on validation error (docs/results.md): none for
  // classification (Softplus saturated into a flat loss there), Softplus for regression (without a
  // lower bound the loss falls forever in an unbounded prediction and the base model diverges).
  c.output = mode == Mode::Classification ? "none" : "softplus";
  return c;
}

void LearnedLossConfig::validate() const {
  for (size_t i = 0; i < hidden.size(); ++i)
    if (hidden[i] <= 0) fail("hidden[" + std::to_string(i) + "] must be positive, got " + std::to_string(hidden[i]));
  if (activation != "relu" && activation != "smooth_leaky_relu")
    fail("activation must be 'relu' or 'smooth_leaky_relu', got '" + activation + "'");
  if (output != "softplus" && output != "none") fail("output must be 'softplus' or 'none', got '" + output + "'");
  if (!(slrelu_beta > 0) || !std::isfinite(slrelu_beta)) fail("slrelu_beta must be positive, got " + num(slrelu_beta));
  if (!std::isfinite(slrelu_gamma)) fail("slrelu_gamma must be finite, got " + num(slrelu_gamma));
}

std::string LearnedLossConfig::to_json() const {
  std::string h;
  for (int64_t w : hidden) {  // appended piecewise: GCC 12 warns falsely on "lit" + std::string&&
    if (!h.empty()) h += ',';
    h += std::to_string(w);
  }
  return std::string("{\"version\":") + std::to_string(kVersion) + ",\"mode\":\"" + mode_name(mode) +
         "\",\"hidden\":[" + h + "],\"bias\":" + (bias ? "true" : "false") + ",\"activation\":\"" + activation +
         "\",\"slrelu_beta\":" + num(slrelu_beta) + ",\"slrelu_gamma\":" + num(slrelu_gamma) + ",\"output\":\"" +
         output + "\",\"from_logits\":" + (from_logits ? "true" : "false") + "}";
}

LearnedLossConfig LearnedLossConfig::from_json(const std::string& json) {
  Fields f{JsonReader(json).object()};
  const double version = f.get("version", JsonValue::Number, "a number").n;
  if (version != kVersion)
    fail("config JSON has version " + num(version) + ", this build reads version " + std::to_string(kVersion));
  LearnedLossConfig c;
  const std::string mode = f.get("mode", JsonValue::String, "a string").s;
  if (mode != "classification" && mode != "regression")
    fail("config JSON field 'mode' must be 'classification' or 'regression', got '" + mode + "'");
  c.mode = mode == "classification" ? Mode::Classification : Mode::Regression;
  c.hidden.clear();
  for (double w : f.get("hidden", JsonValue::Array, "an array of widths").a) {
    if (!std::isfinite(w) || w != std::floor(w) || w < 1 || w > 1e6)
      fail("config JSON field 'hidden' holds width " + num(w) + " (expected an integer in [1, 1000000])");
    c.hidden.push_back(int64_t(w));
  }
  c.bias = f.get("bias", JsonValue::Bool, "true or false").b;
  c.activation = f.get("activation", JsonValue::String, "a string").s;
  c.slrelu_beta = f.get("slrelu_beta", JsonValue::Number, "a number").n;
  c.slrelu_gamma = f.get("slrelu_gamma", JsonValue::Number, "a number").n;
  c.output = f.get("output", JsonValue::String, "a string").s;
  c.from_logits = f.get("from_logits", JsonValue::Bool, "true or false").b;
  if (!f.m.empty()) fail("config JSON has an unknown field '" + f.m.begin()->first + "'");
  c.validate();
  return c;
}

std::string LearnedLossConfig::difference(const LearnedLossConfig& o) const {
  auto quote = [](const std::string& s) { return "'" + s + "'"; };
  auto widths = [](const std::vector<int64_t>& h) {
    std::string s = "[";
    for (size_t i = 0; i < h.size(); ++i) s.append(i ? ", " : "").append(std::to_string(h[i]));
    return s + "]";
  };
  auto yes = [](bool b) { return std::string(b ? "true" : "false"); };
  if (mode != o.mode) return std::string("mode: ") + mode_name(mode) + " vs " + mode_name(o.mode);
  if (hidden != o.hidden) return "hidden: " + widths(hidden) + " vs " + widths(o.hidden);
  if (bias != o.bias) return "bias: " + yes(bias) + " vs " + yes(o.bias);
  if (activation != o.activation) return "activation: " + quote(activation) + " vs " + quote(o.activation);
  // The smooth leaky ReLU's constants matter only when it is used.
  if (activation == "smooth_leaky_relu" && (slrelu_beta != o.slrelu_beta || slrelu_gamma != o.slrelu_gamma))
    return "smooth leaky ReLU (beta, gamma): (" + num(slrelu_beta) + ", " + num(slrelu_gamma) + ") vs (" +
           num(o.slrelu_beta) + ", " + num(o.slrelu_gamma) + ")";
  if (output != o.output) return "output: " + quote(output) + " vs " + quote(o.output);
  if (from_logits != o.from_logits) return "from_logits: " + yes(from_logits) + " vs " + yes(o.from_logits);
  return "";
}

// ---- the loss -------------------------------------------------------------------------------

LearnedLoss::LearnedLoss(LearnedLossConfig config, Generator& gen) : config_(std::move(config)) {
  config_.validate();
  net_ = register_module("net", std::make_shared<Sequential>());
  int64_t in = 2;  // (prediction, target)
  for (int64_t w : config_.hidden) {
    net_->push_back(std::make_shared<Linear>(in, w, config_.bias, gen));
    net_->push_back(make_activation(config_));
    in = w;
  }
  net_->push_back(std::make_shared<Linear>(in, 1, config_.bias, gen));
  if (config_.output == "softplus") net_->push_back(std::make_shared<Softplus>());
}

std::shared_ptr<LearnedLoss> LearnedLoss::ml3(Mode mode, Generator& gen) {
  return std::make_shared<LearnedLoss>(LearnedLossConfig::ml3(mode), gen);
}
std::shared_ptr<LearnedLoss> LearnedLoss::adalfl(Mode mode, Generator& gen) {
  return std::make_shared<LearnedLoss>(LearnedLossConfig::adalfl(mode), gen);
}

Tensor LearnedLoss::forward(const Tensor& pairs) {
  if (!pairs.defined() || pairs.dim() != 2 || pairs.size(1) != 2)
    fail("the network takes pairs [N, 2], got " + (pairs.defined() ? pairs.desc() : std::string("undefined")));
  return net_->forward(pairs);
}

std::string LearnedLoss::describe() const {
  std::string arch = "2";
  for (int64_t w : config_.hidden) arch.append("-").append(std::to_string(w));
  return std::string("LearnedLoss(") + mode_name(config_.mode) + ", " + arch + "-1, " + config_.activation + ", " +
         (config_.bias ? "bias" : "no bias") + ", output " + config_.output + ")";
}

Tensor LearnedLoss::pairs_of(const Tensor& out, const Tensor& targets) const {
  if (!out.defined() || !targets.defined()) fail("prediction or target is an undefined tensor");
  const DType net_dtype = named_parameters().front().second.dtype();
  if (out.dtype() != net_dtype)
    fail("prediction " + out.desc() + " does not match the loss network's dtype " + dtype_name(net_dtype) +
         " (convert one with to())");
  if (config_.mode == Mode::Classification) {
    if (out.dim() != 2) fail("classification expects " + std::string(config_.from_logits ? "logits" : "probabilities") +
                             " [batch, classes], got " + out.desc());
    if (targets.dtype() != DType::Int64 || targets.dim() != 1 || targets.size(0) != out.size(0))
      fail("classification expects int64 labels [" + std::to_string(out.size(0)) + "] for " + out.desc() + ", got " +
           targets.desc());
    const Tensor f = config_.from_logits ? softmax(out, 1) : out;
    const Tensor y = one_hot(targets, out.size(1), out.dtype());  // checks the label range
    return stack({reshape(f, {-1}), reshape(y, {-1})}, 1);
  }
  Tensor pred = out;
  if (out.dim() == 2 && out.size(1) == 1 && targets.dim() == 1) pred = squeeze(out, 1);  // [B, 1] vs [B]
  if (pred.shape() != targets.shape() || pred.dtype() != targets.dtype() || pred.dim() < 1)
    fail("regression expects prediction and target of one shape and dtype, got " + out.desc() + " and " +
         targets.desc());
  return stack({reshape(pred, {-1}), reshape(targets, {-1})}, 1);
}

Tensor LearnedLoss::reduce(const Tensor& values, const Tensor& out) const {
  // Sum over classes (or outputs), mean over the batch: one division by B.
  return mul(sum(values), 1.0 / double(out.size(0)));
}

Tensor LearnedLoss::loss(const Tensor& out, const Tensor& targets) {
  return reduce(forward(pairs_of(out, targets)), out);
}

Tensor LearnedLoss::loss_with(const std::vector<Tensor>& phi, const Tensor& out, const Tensor& targets) {
  return reduce(forward_with(phi, pairs_of(out, targets)), out);
}

Tensor LearnedLoss::sample(const Tensor& p_grid, double target) {
  if (!p_grid.defined() || p_grid.dim() != 1 || !is_floating(p_grid.dtype()))
    fail("sample expects a 1-d float grid, got " + (p_grid.defined() ? p_grid.desc() : std::string("undefined")));
  NoGrad no_grad;
  const Tensor t = Tensor::full(p_grid.shape(), target, p_grid.dtype(), p_grid.device());
  return reshape(forward(stack({p_grid, t}, 1)), {-1});
}

// ---- files ----------------------------------------------------------------------------------

void LearnedLoss::save(const std::string& path) const {
  save_safetensors(path, state_dict(), {{kMetaKey, config_.to_json()}}, /*checksum=*/true);
}

namespace {
LearnedLossConfig config_in(const SafetensorsFile& f, const std::string& path) {
  auto it = f.metadata.find(kMetaKey);
  if (it == f.metadata.end())
    fail("'" + path + "' has no '" + kMetaKey + "' metadata: not a learned-loss file (saved by LearnedLoss::save)");
  try {
    return LearnedLossConfig::from_json(it->second);
  } catch (const std::invalid_argument& e) {
    fail("'" + path + "': " + std::string(e.what()).substr(13));  // drop the repeated "LearnedLoss: "
  }
}
}  // namespace

void LearnedLoss::load(const std::string& path) {
  const SafetensorsFile f = load_safetensors(path);
  const std::string diff = config_.difference(config_in(f, path));
  if (!diff.empty()) fail("'" + path + "' holds a different architecture (this loss vs the file): " + diff);
  load_state_dict(f.tensors);
}

std::shared_ptr<LearnedLoss> LearnedLoss::from_file(const std::string& path) {
  const SafetensorsFile f = load_safetensors(path);
  Generator scratch(0);  // the initial weights are overwritten: leave the default generator alone
  auto loss = std::make_shared<LearnedLoss>(config_in(f, path), scratch);
  // The file may hold float64 weights (a loss trained in double): follow it.
  if (!f.tensors.empty() && f.tensors.front().second.dtype() != DType::Float32)
    loss->to(f.tensors.front().second.dtype());
  loss->load_state_dict(f.tensors);
  return loss;
}

}  // namespace metaloss::losses
