// Loads a learned loss (any kind: expression, TaylorGLO, ML3/AdaLFL network) from its file and
// fits a small softmax regression on a synthetic 3-class problem with it, printing the loss and
// the accuracy. Usage: use_loss FILE.safetensors
#include <cstdio>
#include <exception>

#include "engine/metaloss.h"
#include "meta/losses/loss_file.h"
#include "models/layers.h"
#include "models/optim.h"

using namespace metaloss;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s LOSS.safetensors\n", argv[0]);
    return 2;
  }
  try {
    const losses::LossFile file = losses::load_loss_file(argv[1]);
    if (file.regression) throw std::runtime_error("this example fits a classifier; the file holds a regression loss");
    std::printf("%s loss: %s\n", file.kind_name(), file.formula().c_str());
    const auto loss = file.function();
    // Three Gaussian blobs in 2-d, labels 0..2.
    Generator g(1);
    const int64_t n = 300;
    Tensor labels = randint(0, 3, {n}, g);
    Tensor centres = Tensor::from_vector(std::vector<float>{2, 0, -1, 1.7f, -1, -1.7f}, {3, 2});
    Tensor x = index_select(centres, 0, labels) + randn({n, 2}, DType::Float32, g) * 0.5;
    Linear model(2, 3, true, g);
    SGD opt(model.parameters(), SGDOptions{0.5});
    double first = 0, last = 0;
    for (int step = 0; step < 200; ++step) {
      Tensor l = loss(model.forward(x), labels);
      if (step == 0) first = l.item();
      last = l.item();
      opt.zero_grad();
      l.backward();
      opt.step();
    }
    NoGrad ng;
    const double acc = mean(eq(argmax(model.forward(x), 1), labels).to(DType::Float32)).item();
    std::printf("loss %.4f -> %.4f over 200 steps, training accuracy %.1f%%\n", first, last, 100 * acc);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "use_loss: %s\n", e.what());
    return 1;
  }
}
