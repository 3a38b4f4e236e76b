#include <omp.h>
#include "kernels/cpu/strided_loop.h"

extern "C" void openblas_set_num_threads(int);

namespace metaloss::kernels {

int omp_num_threads_in_region() { return omp_get_num_threads(); }
int omp_thread_id() { return omp_get_thread_num(); }

void set_num_threads(int n) {
  if (n < 1) n = 1;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}
int get_num_threads() { return omp_get_max_threads(); }

}  // namespace metaloss::kernels
