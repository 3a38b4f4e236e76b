/* A C program that uses a learned loss through its exported header alone (no metaloss library):
 *   metaloss loss export FILE --format c --name learned -o learned_loss.h
 *   cc -std=c99 -I. examples/c_header/main.c -lm && ./a.out
 * It evaluates the loss and its gradient on a batch of logits and takes a few gradient steps on
 * the logits themselves, which must lower the loss: the header's value and gradient agree. */
#include <stdio.h>

#include "learned_loss.h"

int main(void) {
  double logits[2 * 3] = {0.5, -1.0, 0.2, 1.5, 0.3, -0.7};
  const long labels[2] = {2, 0};
  double grad[2 * 3];
  const double first = learned(logits, labels, 2, 3, grad);
  double last = first;
  for (int step = 0; step < 50; ++step) {
    for (int i = 0; i < 6; ++i) logits[i] -= 0.1 * grad[i];
    last = learned(logits, labels, 2, 3, grad);
  }
  printf("learned loss: %.6f at the start, %.6f after 50 gradient steps on the logits\n", first, last);
  if (!(last < first)) {
    fprintf(stderr, "the loss did not decrease along its own gradient\n");
    return 1;
  }
  return 0;
}
