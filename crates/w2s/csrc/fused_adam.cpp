// One call of ATen's fused Adam kernel (`at::_fused_adam_`, what PyTorch's
// `torch.optim.Adam(fused=True)` runs): one pass over each parameter's memory instead of the
// eight or so of the per-tensor update that libtorch's C++ `torch::optim::Adam` (which tch
// wraps) makes. tch 0.26 generates no binding for it, so w2s calls it through this file.
// `tensors` points to at::Tensor objects (tch's C_tensor), five lists of `n` one after the
// other: parameters, gradients, first moments, second moments, step counts.
#include <ATen/ATen.h>

#include <cstdio>
#include <vector>

extern "C" int w2s_fused_adam(at::Tensor **tensors, size_t n, double lr, double beta1,
                              double beta2, double weight_decay, double eps, char *error,
                              size_t error_len) {
    try {
        std::vector<at::Tensor> lists[5];
        for (size_t list = 0; list < 5; list++) {
            lists[list].reserve(n);
            for (size_t i = 0; i < n; i++) {
                lists[list].push_back(*tensors[list * n + i]);
            }
        }
        at::_fused_adam_(lists[0], lists[1], lists[2], lists[3], {}, lists[4], lr, beta1, beta2,
                         weight_decay, eps, /*amsgrad=*/false, /*maximize=*/false);
        return 0;
    } catch (const std::exception &e) {
        std::snprintf(error, error_len, "%s", e.what());
        return 1;
    }
}
