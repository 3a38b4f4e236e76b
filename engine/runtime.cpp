#include "engine/runtime.h"

#include "kernels/cpu/view.h"
#include "kernels/cuda/runtime.h"

namespace metaloss {

void set_num_threads(int n) { kernels::set_num_threads(n); }
int get_num_threads() { return kernels::get_num_threads(); }
void check_device(Device d, const char* what) { kernels::cuda::check_device(d, what); }
bool built_with_cuda() { return kernels::cuda::built_with_cuda(); }
int cuda_device_count() { return kernels::cuda::device_count(); }
bool built_with_cudnn() { return kernels::cuda::built_with_cudnn(); }

}  // namespace metaloss
