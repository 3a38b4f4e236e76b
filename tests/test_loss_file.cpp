// Loss files (meta/losses/loss_file.h) and their exports (meta/losses/loss_export.h): every kind
// round-trips with its provenance, malformed files name the file and the field, and the C header
// of every kind, compiled with the system's C compiler, gives the engine's value and gradient.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "engine/metaloss.h"
#include "meta/losses/loss_export.h"
#include "meta/losses/loss_file.h"
#include "models/safetensors.h"
#include "temp_dir.h"

using namespace metaloss;
using namespace metaloss::losses;
using metaloss::testing::TempDir;

namespace {

std::vector<LossFile> one_of_each() {
  std::vector<LossFile> v;
  v.push_back(parse_loss_spec("mul(-1, mul(y, log(f))) @ [1.5, 0.5, 2, 1, 0.25]"));
  v.push_back(parse_loss_spec("add(square(sub(f, y)), tanh(f))"));
  v.push_back(parse_loss_spec("taylorglo(0.1, -0.2, -1, 0.5, 0.3, -0.7, 0.2, 0.05)"));
  Generator g(3);
  LossFile ml3;
  ml3.kind = LossFile::Kind::Network;
  ml3.network = LearnedLoss::ml3(LearnedLossConfig::Mode::Classification, g);
  v.push_back(ml3);
  LossFile ada = ml3;
  ada.network = LearnedLoss::adalfl(LearnedLossConfig::Mode::Classification, g);
  v.push_back(ada);
  LossFile reg = ml3;
  reg.network = LearnedLoss::adalfl(LearnedLossConfig::Mode::Regression, g);
  reg.regression = true;
  v.push_back(reg);
  return v;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("loss file: every kind saves and loads back with its formula, task and provenance") {
  TempDir dir("lossfile");
  for (LossFile f : one_of_each()) {
    CAPTURE(f.formula());
    f.provenance = {{"method", "test"}, {"seed", "7"}};
    const std::string path = dir / "l.safetensors";
    save_loss_file(path, f);
    const LossFile g = load_loss_file(path);
    CHECK(g.formula() == f.formula());
    CHECK(g.kind == f.kind);
    CHECK(g.regression == f.regression);
    CHECK(g.parameter_count() == f.parameter_count());
    CHECK(g.provenance.at("method") == "test");
    CHECK(g.provenance.at("seed") == "7");
    CHECK(g.provenance.count("version") == 1);
    // The same training loss.
    Generator r(1);
    const Tensor out = randn({3, 4}, DType::Float32, r);
    const Tensor y = f.regression ? randn({3, 4}, DType::Float32, r) : Tensor::from_vector(std::vector<int64_t>{0, 3, 1}, {3});
    CHECK(g.function()(out, y).item() == f.function()(out, y).item());
  }
  // A file from LearnedLoss::save (before the format) loads as a network.
  Generator g(5);
  auto net = LearnedLoss::ml3(LearnedLossConfig::Mode::Classification, g);
  net->save(dir / "old.safetensors");
  const LossFile old = load_loss_file(dir / "old.safetensors");
  CHECK(old.kind == LossFile::Kind::Network);
  CHECK(old.parameter_count() == net->num_parameters());
}

TEST_CASE("loss file: specs and malformed files are refused naming the field") {
  CHECK(parse_loss_spec("taylorglo(1,2,3,4,5,6,7,8)").theta.size() == 8);
  CHECK_THROWS_WITH_AS(parse_loss_spec("taylorglo(1, 2)"), doctest::Contains("expected 8 parameters, got 2"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_loss_spec("mul(y, f) @ [1]"), doctest::Contains("1 weights for the 2 edges of mul(y, f)"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_loss_spec("mul(y, f) @ [1, x]"), doctest::Contains("expected a finite number at position"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_loss_spec("mul(y, f) @ [1, nan]"), doctest::Contains("expected a finite number"), std::invalid_argument);

  TempDir dir("lossfile_bad");
  const std::string p = dir / "bad.safetensors";
  auto expect = [&](const std::map<std::string, std::string>& meta, const NamedTensors& t, const std::string& what) {
    save_safetensors(p, t, meta);
    CHECK_THROWS_WITH_AS(load_loss_file(p), doctest::Contains(("loss file " + p + ": " + what).c_str()), std::runtime_error);
  };
  const Tensor eight = Tensor::zeros({8}, DType::Float64);
  expect({{"x", "y"}}, {{"theta", eight}}, "metadata 'metaloss_loss': missing: not a metaloss loss file");
  expect({{"metaloss_loss", "2"}, {"kind", "taylorglo"}}, {{"theta", eight}}, "metadata 'metaloss_loss': version '2'");
  expect({{"metaloss_loss", "1"}}, {{"theta", eight}}, "metadata 'kind': missing");
  expect({{"metaloss_loss", "1"}, {"kind", "spline"}}, {{"theta", eight}}, "metadata 'kind': expected expression, taylorglo or network, got 'spline'");
  expect({{"metaloss_loss", "1"}, {"kind", "taylorglo"}}, {{"t", eight}}, "tensor 'theta': missing");
  expect({{"metaloss_loss", "1"}, {"kind", "taylorglo"}}, {{"theta", Tensor::zeros({7}, DType::Float64)}}, "tensor 'theta': shape [7], expected [8]");
  expect({{"metaloss_loss", "1"}, {"kind", "taylorglo"}, {"task", "ranking"}}, {{"theta", eight}}, "metadata 'task': expected classification or regression");
  expect({{"metaloss_loss", "1"}, {"kind", "expression"}}, {}, "metadata 'expression': missing");
  expect({{"metaloss_loss", "1"}, {"kind", "expression"}, {"expression", "mul(y"}}, {}, "metadata 'expression': expression:");
  expect({{"metaloss_loss", "1"}, {"kind", "expression"}, {"expression", "mul(y, f)"}}, {{"weights", Tensor::ones({3}, DType::Float64)}},
         "tensor 'weights': shape [3], expected [2]");
  Tensor nan_theta = Tensor::full({8}, NAN, DType::Float64);
  expect({{"metaloss_loss", "1"}, {"kind", "taylorglo"}}, {{"theta", nan_theta}}, "tensor 'theta': holds a non-finite value");
}

TEST_CASE("loss export: the C header of every kind gives the engine's value and gradient") {
  TempDir dir("lossexport");
  int k = 0;
  for (LossFile f : one_of_each()) {
    CAPTURE(f.formula());
    if (f.network) f.network->to(DType::Float64);
    const std::string name = "L" + std::to_string(k++);
    std::ofstream(dir / (name + ".h")) << export_loss(f, "c", name);
    // Random inputs, the engine's answer, then the same from C.
    const int64_t B = 3, C = 4;
    Generator r(11);
    Tensor out = randn({B, C}, DType::Float64, r) * 2.0;
    const Tensor y = f.regression ? randn({B, C}, DType::Float64, r) : Tensor::from_vector(std::vector<int64_t>{2, 0, 3}, {B});
    out.set_requires_grad(true);
    const Tensor v = f.function()(out, y);
    const std::vector<double> grad = gradients(v, {out})[0].to_vector(), o = out.detach().to_vector(), t = y.to_vector();
    std::string c = "#include <stdio.h>\n#include \"" + name + ".h\"\nint main(void) {\n  double out[] = {";
    auto lit = [](double x) {
      char b[40];
      std::snprintf(b, sizeof b, "%.17g,", x);
      return std::string(b);
    };
    for (double x : o) c += lit(x);
    c += "};\n";
    if (f.regression) {
      c += "  double target[] = {";
      for (double x : t) c += lit(x);
      c += "};\n  double g[12];\n  printf(\"%.17g\\n\", " + name + "(out, target, 3, 4, g));\n";
    } else {
      c += "  long labels[] = {2, 0, 3};\n  double g[12];\n  printf(\"%.17g\\n\", " + name + "(out, labels, 3, 4, g));\n";
    }
    c += "  for (int i = 0; i < 12; ++i) printf(\"%.17g\\n\", g[i]);\n  return 0;\n}\n";
    std::ofstream(dir / (name + ".c")) << c;
    const std::string cmd = "cc -std=c99 -O0 -o " + dir / name + " " + dir / (name + ".c") + " -lm && " + dir / name + " > " +
                            dir / (name + ".txt");
    REQUIRE(std::system(cmd.c_str()) == 0);
    std::istringstream in(slurp(dir / (name + ".txt")));
    double cv = 0;
    in >> cv;
    CHECK(cv == doctest::Approx(v.item()).epsilon(1e-11));
    for (size_t i = 0; i < grad.size(); ++i) {
      double cg = 0;
      in >> cg;
      CAPTURE(i);
      CHECK(cg == doctest::Approx(grad[i]).epsilon(1e-9).scale(1e-12));
    }
  }
}

TEST_CASE("loss export: latex, pytorch and json name the loss; a bad format or name is refused") {
  for (const LossFile& f : one_of_each()) {
    CAPTURE(f.formula());
    CHECK(export_loss(f, "latex").find("\\mathcal{L}") != std::string::npos);
    const std::string py = export_loss(f, "pytorch", "my_loss");
    CHECK(py.find("def my_loss(output, target):") != std::string::npos);
    CHECK(py.find("import torch") != std::string::npos);
    const std::string j = export_loss(f, "json");
    CHECK(j.find(std::string("\"kind\": \"") + f.kind_name() + "\"") != std::string::npos);
  }
  const LossFile f = parse_loss_spec("mul(y, f)");
  CHECK_THROWS_WITH_AS(export_loss(f, "onnx"), doctest::Contains("unknown format 'onnx'"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(export_loss(f, "c", "1bad"), doctest::Contains("'1bad' is not a C or Python identifier"), std::invalid_argument);
}
