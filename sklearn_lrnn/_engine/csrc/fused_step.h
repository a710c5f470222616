// Entry points of fused_step.cpp, bound to Python in bindings.cpp.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>

namespace sklearn_lrnn_fused {
// f(z) = a z + phi(z mT + c; h) n^T with autograd (a C++ node; forward only under no_grad).
// act: 0 relu(x - h), 1 relu(x + h) - relu(x), 2 tanh(x - h).
at::Tensor step(const at::Tensor& z, const at::Tensor& mT, const at::Tensor& n, const at::Tensor& h,
                const at::Tensor& a, const std::optional<at::Tensor>& c, int64_t act);
// the forward pass alone, never recorded by autograd
at::Tensor forward(const at::Tensor& z, const at::Tensor& mT, const at::Tensor& n, const at::Tensor& h,
                   const at::Tensor& a, const std::optional<at::Tensor>& c, int64_t act);
void set_min_work_per_thread(int64_t v);
int64_t get_min_work_per_thread();
}  // namespace sklearn_lrnn_fused
