#include "meta/losses/loss_file.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "meta/losses/taylor_glo.h"
#include "models/safetensors.h"

namespace metaloss::losses {

namespace {

constexpr const char* kFormatKey = "metaloss_loss";
constexpr const char* kProvenance = "provenance.";

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

std::string list(const std::vector<double>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + num(v[i]);
  return s + "]";
}

// "[a, b, ...]" or "a, b, ..." between `open` and `close`: finite numbers.
std::vector<double> parse_numbers(const std::string& text, char open, char close, const std::string& what) {
  size_t i = text.find_first_not_of(" \t");
  if (i == std::string::npos || text[i] != open) throw std::invalid_argument(what + ": expected '" + open + "'");
  std::vector<double> out;
  const char* p = text.c_str() + i + 1;
  for (;;) {
    while (*p == ' ' || *p == '\t') ++p;
    if (*p == close && out.empty()) break;
    char* end = nullptr;
    const double v = std::strtod(p, &end);
    if (end == p || !std::isfinite(v))
      throw std::invalid_argument(what + ": expected a finite number at position " + std::to_string(p - text.c_str()) +
                                  " of '" + text + "'");
    out.push_back(v);
    p = end;
    while (*p == ' ' || *p == '\t') ++p;
    if (*p == close) break;
    if (*p != ',') throw std::invalid_argument(what + ": expected ',' or '" + close + "' at position " +
                                               std::to_string(p - text.c_str()) + " of '" + text + "'");
    ++p;
  }
  ++p;
  while (*p == ' ' || *p == '\t') ++p;
  if (*p) throw std::invalid_argument(what + ": unexpected text after '" + close + "' in '" + text + "'");
  return out;
}

[[noreturn]] void bad_file(const std::string& path, const std::string& field, const std::string& problem) {
  throw std::runtime_error("loss file " + path + ": " + field + ": " + problem);
}

}  // namespace

const char* LossFile::kind_name() const {
  return kind == Kind::Expression ? "expression" : kind == Kind::TaylorGLO ? "taylorglo" : "network";
}

std::string LossFile::formula() const {
  switch (kind) {
    case Kind::Expression: return expression.str() + (weights.empty() ? "" : " @ " + list(weights));
    case Kind::TaylorGLO: {
      std::string s = "taylorglo(";
      for (size_t i = 0; i < theta.size(); ++i) s += (i ? ", " : "") + num(theta[i]);
      return s + ")";
    }
    case Kind::Network: return network->describe();
  }
  return "";
}

int64_t LossFile::parameter_count() const {
  switch (kind) {
    case Kind::Expression: return int64_t(weights.size());
    case Kind::TaylorGLO: return int64_t(theta.size());
    case Kind::Network: return network->num_parameters();
  }
  return 0;
}

std::function<Tensor(const Tensor&, const Tensor&)> LossFile::function() const {
  switch (kind) {
    case Kind::Expression: {
      auto e = std::make_shared<Expression>(expression);
      // Float32, as EvoMAL's meta-test uses them (the file keeps the exact doubles).
      const Tensor w = weights.empty() ? Tensor() : Tensor::from_vector(weights, {int64_t(weights.size())}, DType::Float32);
      // The weights follow the model output to its device, copied once (not once per step).
      auto on_device = std::make_shared<Tensor>(w);
      return [e, on_device](const Tensor& out, const Tensor& y) {
        if (on_device->defined() && on_device->device() != out.device()) *on_device = on_device->to(out.device());
        return e->loss(out, y, *on_device);
      };
    }
    case Kind::TaylorGLO: {
      // Moved to the output's device once (not copied there every step), as the weights above.
      auto th = std::make_shared<Tensor>(Tensor::from_vector(theta, {int64_t(theta.size())}, DType::Float64));
      return [th](const Tensor& out, const Tensor& y) {
        if (th->device() != out.device()) *th = th->to(out.device());
        return taylor_glo(out, y, *th);
      };
    }
    case Kind::Network: {
      // Frozen: a copy whose weights do not require grad, so training the base model does not also
      // accumulate gradients into the loss (as the methods' meta-tests do).
      auto net = network;
      for (Tensor p : net->parameters()) p.set_requires_grad(false);  // handles: the network's own
      return [net](const Tensor& out, const Tensor& y) {
        if (net->parameters().front().device() != out.device()) net->to(out.device());  // once, on first use
        return net->loss(out, y);
      };
    }
  }
  throw std::logic_error("LossFile: unknown kind");
}

LossFile parse_loss_spec(const std::string& text) {
  LossFile f;
  const size_t start = text.find_first_not_of(" \t");
  if (start != std::string::npos && text.compare(start, 10, "taylorglo(") == 0) {
    f.kind = LossFile::Kind::TaylorGLO;
    const std::string inner = text.substr(start + 9);
    f.theta = parse_numbers(inner, '(', ')', "taylorglo(...)");
    if (f.theta.size() != size_t(kTaylorGLOParams))
      throw std::invalid_argument("taylorglo(...): expected " + std::to_string(kTaylorGLOParams) + " parameters, got " +
                                  std::to_string(f.theta.size()) + " in '" + text + "'");
    return f;
  }
  const size_t at = text.find('@');
  f.expression = Expression::parse(at == std::string::npos ? text : text.substr(0, at));
  if (at != std::string::npos) {
    f.weights = parse_numbers(text.substr(at + 1), '[', ']', "edge weights after '@'");
    if (f.weights.size() != f.expression.size() - 1)
      throw std::invalid_argument("edge weights after '@': " + std::to_string(f.weights.size()) + " weights for the " +
                                  std::to_string(f.expression.size() - 1) + " edges of " + f.expression.str() +
                                  " (one per node but the root, in prefix order)");
  }
  return f;
}

void save_loss_file(const std::string& path, const LossFile& loss) {
  std::map<std::string, std::string> meta{{kFormatKey, "1"}, {"kind", loss.kind_name()},
                                          {"task", loss.regression ? "regression" : "classification"}};
  for (const auto& [k, v] : loss.provenance) meta[kProvenance + k] = v;
  if (!meta.count(std::string(kProvenance) + "version")) meta[std::string(kProvenance) + "version"] = "metaloss 0.1.0";
  NamedTensors tensors;
  switch (loss.kind) {
    case LossFile::Kind::Expression:
      meta["expression"] = loss.expression.str();
      if (!loss.weights.empty())
        tensors.emplace_back("weights", Tensor::from_vector(loss.weights, {int64_t(loss.weights.size())}, DType::Float64));
      break;
    case LossFile::Kind::TaylorGLO:
      tensors.emplace_back("theta", Tensor::from_vector(loss.theta, {int64_t(loss.theta.size())}, DType::Float64));
      break;
    case LossFile::Kind::Network:
      if (!loss.network) throw std::invalid_argument("save_loss_file: a network loss without its network");
      meta["learned_loss"] = loss.network->config().to_json();
      tensors = loss.network->state_dict();
      break;
  }
  save_safetensors(path, tensors, meta, /*checksum=*/true);
}

LossFile load_loss_file(const std::string& path) {
  const SafetensorsFile f = load_safetensors(path);  // names the file for format errors
  auto field = [&](const std::string& k) -> const std::string* {
    const auto it = f.metadata.find(k);
    return it == f.metadata.end() ? nullptr : &it->second;
  };
  LossFile out;
  for (const auto& [k, v] : f.metadata)
    if (k.rfind(kProvenance, 0) == 0) out.provenance[k.substr(std::string(kProvenance).size())] = v;
  const std::string* version = field(kFormatKey);
  std::string kind;
  if (version) {
    if (*version != "1") bad_file(path, std::string("metadata '") + kFormatKey + "'", "version '" + *version + "', this metaloss reads version 1");
    const std::string* k = field("kind");
    if (!k) bad_file(path, "metadata 'kind'", "missing (expected expression, taylorglo or network)");
    kind = *k;
  } else if (field("learned_loss")) {
    kind = "network";  // a LearnedLoss::save file from before the format
  } else {
    bad_file(path, std::string("metadata '") + kFormatKey + "'", "missing: not a metaloss loss file");
  }
  const std::string* task = field("task");
  if (task && *task != "classification" && *task != "regression")
    bad_file(path, "metadata 'task'", "expected classification or regression, got '" + *task + "'");
  out.regression = task && *task == "regression";
  auto tensor = [&](const std::string& name) -> const Tensor* {
    for (const auto& [n, t] : f.tensors)
      if (n == name) return &t;
    return nullptr;
  };
  auto doubles = [&](const Tensor& t) {
    std::vector<double> v;
    for (double x : t.to_vector()) v.push_back(x);
    return v;
  };
  if (kind == "expression") {
    out.kind = LossFile::Kind::Expression;
    const std::string* text = field("expression");
    if (!text) bad_file(path, "metadata 'expression'", "missing");
    try {
      out.expression = Expression::parse(*text);
    } catch (const std::invalid_argument& e) {
      bad_file(path, "metadata 'expression'", e.what());
    }
    if (const Tensor* w = tensor("weights")) {
      if (w->dim() != 1 || w->numel() != int64_t(out.expression.size()) - 1)
        bad_file(path, "tensor 'weights'", "shape " + w->shape().str() + ", expected [" +
                                               std::to_string(out.expression.size() - 1) + "] (one per edge of " +
                                               out.expression.str() + ")");
      out.weights = doubles(*w);
    }
    if (out.regression) bad_file(path, "metadata 'task'", "an expression loss is for classification (it reads softmax probabilities)");
  } else if (kind == "taylorglo") {
    out.kind = LossFile::Kind::TaylorGLO;
    const Tensor* t = tensor("theta");
    if (!t) bad_file(path, "tensor 'theta'", "missing (TaylorGLO's 8 parameters)");
    if (t->dim() != 1 || t->numel() != kTaylorGLOParams)
      bad_file(path, "tensor 'theta'", "shape " + t->shape().str() + ", expected [8]");
    out.theta = doubles(*t);
    if (out.regression) bad_file(path, "metadata 'task'", "a TaylorGLO loss is for classification");
  } else if (kind == "network") {
    out.kind = LossFile::Kind::Network;
    try {
      out.network = LearnedLoss::from_file(path);
    } catch (const std::invalid_argument& e) {
      bad_file(path, "metadata 'learned_loss' / tensors 'net.*'", e.what());
    }
    const bool net_regression = out.network->config().mode == LearnedLossConfig::Mode::Regression;
    if (task && net_regression != out.regression)
      bad_file(path, "metadata 'task'", "'" + *task + "' but the network's configuration is for " +
                                            (net_regression ? "regression" : "classification"));
    out.regression = net_regression;
  } else {
    bad_file(path, "metadata 'kind'", "expected expression, taylorglo or network, got '" + kind + "'");
  }
  for (const double v : out.weights)
    if (!std::isfinite(v)) bad_file(path, "tensor 'weights'", "holds a non-finite value");
  for (const double v : out.theta)
    if (!std::isfinite(v)) bad_file(path, "tensor 'theta'", "holds a non-finite value");
  return out;
}

}  // namespace metaloss::losses
