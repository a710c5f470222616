// Python bindings of the fused transition kernel (fused_step.cpp), SMC windows (smc_window*.cpp) and PLRNN
// rollout loops (plrnn_rollout.cpp). Kept apart so that ninja compiles the heavy header sets (pybind/torch
// python, autograd) in parallel.
#include <torch/csrc/utils/pybind.h>

#include "fused_step.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  namespace f = sklearn_lrnn_fused;
  m.doc() = "fused low-rank transition f(z) = a z + phi(z mT + c; h) n^T (sklearn_lrnn)";
  m.def("step", &f::step, "fused transition step with autograd", py::arg("z"), py::arg("mT"), py::arg("n"),
        py::arg("h"), py::arg("a"), py::arg("c"), py::arg("act"));
  m.def("forward", &f::forward, "forward pass only", py::arg("z"), py::arg("mT"), py::arg("n"), py::arg("h"),
        py::arg("a"), py::arg("c"), py::arg("act"));
  m.def("smc_window", &f::smc_window, "the SMC time loop for the optimal proposal (smc_window.cpp)", py::arg("z0"),
        py::arg("data"), py::arg("eps"), py::arg("L"), py::arg("proj"), py::arg("mT"), py::arg("n"), py::arg("h"), py::arg("a"), py::arg("cur"),
        py::arg("pos"), py::arg("mask"), py::arg("ess_threshold"), py::arg("act"), py::arg("K"),
        py::arg("keep_states"));
  m.def("smc_window_general", &f::smc_window_general,
        "the SMC time loop for the encoder and bootstrap proposals (smc_window_general.cpp)", py::arg("tensors"),
        py::arg("ess_threshold"), py::arg("act"), py::arg("K"), py::arg("Dg"), py::arg("link"), py::arg("oact"),
        py::arg("obs_current"), py::arg("keep_states"));
  m.def("plrnn_forward", &f::plrnn_forward, "PLRNN teacher-forced rollout, forward time loop (plrnn_rollout.cpp)",
        py::arg("z0"), py::arg("A"), py::arg("W1t"), py::arg("W2t"), py::arg("h2"), py::arg("base"), py::arg("P"),
        py::arg("keep"), py::arg("forced"), py::arg("kind"));
  m.def("plrnn_backward", &f::plrnn_backward, "PLRNN teacher-forced rollout, backward time loop (plrnn_rollout.cpp)",
        py::arg("gY"), py::arg("A"), py::arg("W1t"), py::arg("W2t"), py::arg("h2"), py::arg("Zin"), py::arg("U"),
        py::arg("keep"), py::arg("forced"), py::arg("kind"), py::arg("need_gP"));
  m.def("set_min_work_per_thread", &f::set_min_work_per_thread,
        "below this many particle x unit elements per worker a step runs on one thread");
  m.def("get_min_work_per_thread", &f::get_min_work_per_thread);
}
