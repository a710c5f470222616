"""One SMC gradient step (forward + backward + RAdam step) of the published code of Pals et al. (2024) side by side
with sklearn_lrnn (fused SMC window and per-step loop), same settings, steps interleaved in one process, one torch
thread, median of repeats.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_published_spiking.py --published /tmp/smc_rnns \
        [--repeats 10] [--configs poisson_encoder poisson_bootstrap teacher eeg] [--encoder-breakdown]

The published code (github.com/mackelab/smc_rnns) is NOT part of this repository and is never copied into it: it is
imported, unmodified, from the folder given by ``--published`` (get it with
``git clone https://github.com/mackelab/smc_rnns /tmp/smc_rnns``). Only its ``vi_rnn`` package is used (``VAE`` and
the three filters in ``vi_rnn/inference.py``); nothing beyond torch and numpy is needed.

The published step is the body of the loop in their ``vi_rnn/train.py::train_VAE`` for one batch:
``optimizer.zero_grad()``, ``Loss_it = inference_f(vae, data, stim, k, "systematic", 0)``, ``Loss_it.mean().item()``,
``loss = -Loss_it.mean()``, the ``torch.isnan(loss)`` check, ``loss.backward()``, ``optimizer.step()`` with
``torch.optim.RAdam(lr=1e-3)`` (their ``grad_norm`` is 0 in every script used here, so no clipping). The DataLoader
fetch, the learning-rate scheduler and the evaluation are outside the timed step on both sides. sklearn_lrnn's step
is built as in ``benchmarks/bench_poisson_step.py`` (Poisson) and ``benchmarks/bench_smc_step.py`` (Gaussian):
``-run_smc(...).log_evidence.mean() / T``, backward, RAdam(lr=1e-3) built by ``training.make_optimizer`` as the
estimators build it (torch's batched ``foreach`` update; their code uses torch's default, a loop over the parameter
tensors on the CPU), systematic resampling at every step.

Configurations (the published parameters come from their own scripts; both sides get the same data tensor):

poisson_encoder
    Published: ``train_scripts/student_teacher/train_student_teacher_poisson.ipynb``: ``VAE`` with dim_x 40,
    dim_z 2, dim_N 40, ``enc_architecture="CNN"`` (init_kernel_sizes [21, 11, 1], n_channels [64, 64], gelu,
    init_scale 0.1, constant_var False, padding_location "causal"), rnn_params transition "low_rank",
    observation "one_to_one", readout_from "currents", obs_nonlinearity "softplus", obs_likelihood "Poisson",
    activation "relu", decay 0.9, noise_z "diag" (0.1), noise_z_t0 "diag" (1), initial_state "trainable",
    trainable obs weights/bias and neuron bias, simulate_input False, no inputs; loss_f "smc"
    (``filtering_posterior``, the encoder proposal), k 64, resample "systematic"; batch 10 x 200 steps.
    sklearn_lrnn: ``bench_poisson_step.py``: LowRankTransition(R 2, N 40, relu, noise_kind "diag"),
    ``build_observation("poisson_currents")`` (softplus link), ConvEncoder(kernels (21, 11, 1), channels (64, 64),
    causal), proposal "encoder", K 64, 10 x 200 counts from ``make_poisson_teacher``.
poisson_bootstrap
    The same two models without the encoder; published loss_f "bs_smc" (``filtering_posterior_bootstrap``),
    sklearn_lrnn proposal "bootstrap".
teacher
    Published: ``train_student_teacher_continuous.ipynb``: dim_x 20, dim_z 2, dim_N 20, one_to_one readout from
    currents, identity link, Gauss likelihood, relu, decay 0.7, noise_z / noise_z_t0 "full", noise_x "diag" (0.1),
    obs weights/bias fixed, simulate_input True, no encoder; loss_f "opt_smc"
    (``filtering_posterior_optimal_proposal``), k 64; batch 16 x 75 (the issue's size; their notebook uses batch 10).
    sklearn_lrnn: ``bench_smc_step.CONFIGS["teacher"]`` (GaussianCurrents, relu, full noise, optimal proposal).
eeg
    Published: ``train_scripts/eeg/train_EEG.py``: dim_x 64, dim_z 3, dim_N 512, affine observation from z, identity
    link, Gauss likelihood, clipped_relu, decay 0.9, noise_z / noise_z_t0 "full", noise_x "diag", simulate_input
    False; loss_f "opt_smc", k 10; batch 10 x 50. sklearn_lrnn: ``bench_smc_step.CONFIGS["eeg"]`` (GaussianAffine).

Differences that could not be avoided (none changes the amount of work by more than a few small tensor ops):
the published CNN encoder pads with "circular" mode in their notebook; here ``padding_mode="constant"`` (zeros, as
sklearn_lrnn pads) is passed through their own ``enc_params`` (same convolution sizes and cost). Their encoder
outputs the log-variance from a second kernel-1 convolution, sklearn_lrnn from the same convolution with 2R outputs.
The sklearn_lrnn Poisson models keep a full initial-state covariance (``init_kind`` default), theirs a diagonal one.
Their Poisson log-likelihood is ``torch.distributions.Poisson.log_prob`` (with argument validation and the
log(x!) term); sklearn_lrnn drops the constant. Random numbers come from different generators, so the particle
paths differ (the cost does not depend on them). Parameters are initialised by each code's own initialiser.

Ratios are medians of the per-repeat ratios (each repeat: one published step, one fused step, one loop step).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

from bench_poisson_step import CFG as POISSON_CFG  # noqa: E402
from bench_smc_step import CONFIGS as GAUSS_CONFIGS  # noqa: E402

from sklearn_lrnn._engine import smc  # noqa: E402
from sklearn_lrnn._engine.encoder import ConvEncoder  # noqa: E402
from sklearn_lrnn._engine.low_rank import LowRankTransition  # noqa: E402
from sklearn_lrnn._engine.observations import build_observation  # noqa: E402
from sklearn_lrnn._engine.smc import StateSpaceModel, run_smc  # noqa: E402
from sklearn_lrnn._engine.training import make_optimizer  # noqa: E402
from sklearn_lrnn.datasets import make_poisson_teacher  # noqa: E402

CONFIG_NAMES = ("poisson_encoder", "poisson_bootstrap", "teacher", "eeg")
LABELS = {
    "poisson_encoder": "Poisson, CNN encoder proposal (40 neurons, N 40, R 2, K 64, 10 x 200)",
    "poisson_bootstrap": "Poisson, bootstrap proposal (same)",
    "teacher": "Gaussian teacher (N 20, R 2, K 64, 16 x 75, optimal proposal)",
    "eeg": "Gaussian EEG-size (64 ch, R 3, N 512, K 10, 10 x 50, optimal proposal)",
}


def _settings(name):
    """(B, T, D, R, N, K) of a configuration, taken from the two existing benchmarks."""
    if name.startswith("poisson"):
        c = POISSON_CFG
        return c["B"], c["T"], c["N"], c["R"], c["N"], c["K"]
    c = GAUSS_CONFIGS[name]
    return c["B"], c["T"], c["D"], c["R"], c["N"], c["K"]


def make_data(name):
    """The observations (B, T, D) both codes see."""
    B, T, D, R, N, K = _settings(name)
    if name.startswith("poisson"):
        X = make_poisson_teacher(B, T, n_units=N, random_state=0).X
        return torch.as_tensor(X, dtype=torch.float32)
    return torch.randn(B, T, D, generator=torch.Generator().manual_seed(0))


def _timed(opt, loss_fn):
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = loss_fn()
    loss.backward()
    opt.step()
    return time.perf_counter() - t0


def ours_stepper(name, x):
    """One sklearn_lrnn step, model built as in bench_poisson_step.py / bench_smc_step.py."""
    B, T, D, R, N, K = _settings(name)
    g = torch.Generator().manual_seed(0)
    if name.startswith("poisson"):
        proposal = "encoder" if name == "poisson_encoder" else "bootstrap"
        tr = LowRankTransition(R, N, generator=g, noise_kind="diag")
        obs = build_observation("poisson_currents", R, N)
        enc = ConvEncoder(N, R) if proposal == "encoder" else None
        model = StateSpaceModel(tr, obs, enc)
    else:
        cfg = GAUSS_CONFIGS[name]
        proposal = "optimal"
        tr = LowRankTransition(R, N, activation=cfg["act"], generator=g)
        model = StateSpaceModel(tr, cfg["obs"](R, D, generator=g))
    opt = make_optimizer(model.parameters(), 1e-3)  # RAdam, as the estimators train (foreach update)

    def loss():
        return -run_smc(model, x, n_particles=K, proposal=proposal, generator=g).log_evidence.mean() / T

    return lambda: _timed(opt, loss)


def published_stepper(name, x):
    """One step of the published training loop (vi_rnn/train.py), the model built from their scripts' parameters."""
    from vi_rnn import inference
    from vi_rnn.vae import VAE

    B, T, D, R, N, K = _settings(name)
    common = dict(transition="low_rank", train_noise_z=True, train_noise_z_t0=True, init_noise_z=0.1,
                  init_noise_z_t0=1, train_neuron_bias=True, weight_dist="uniform", initial_state="trainable",
                  train_obs_bias=True, train_obs_weights=True, obs_nonlinearity="identity", obs_likelihood="Gauss")
    vae_params = dict(dim_x=D, dim_z=R, dim_N=N)
    if name.startswith("poisson"):
        # train_scripts/student_teacher/train_student_teacher_poisson.ipynb
        rnn_params = dict(common, observation="one_to_one", noise_z="diag", noise_z_t0="diag", identity_readout=True,
                          activation="relu", decay=0.9, readout_from="currents", weight_scaler=1,
                          obs_nonlinearity="softplus", obs_likelihood="Poisson", simulate_input=False)
        if name == "poisson_encoder":
            vae_params.update(enc_architecture="CNN", enc_params=dict(
                init_kernel_sizes=[21, 11, 1], nonlinearity="gelu", n_channels=[64, 64], init_scale=0.1,
                constant_var=False, padding_mode="constant", padding_location="causal"))
            inference_f = inference.filtering_posterior  # loss_f "smc"
        else:
            inference_f = inference.filtering_posterior_bootstrap  # loss_f "bs_smc"
    elif name == "teacher":
        # train_scripts/student_teacher/train_student_teacher_continuous.ipynb
        rnn_params = dict(common, observation="one_to_one", train_noise_x=True, init_noise_x=0.1, noise_z="full",
                          noise_x="diag", noise_z_t0="full", identity_readout=True, activation="relu", decay=0.7,
                          readout_from="currents", train_obs_bias=False, train_obs_weights=False, weight_scaler=1,
                          simulate_input=True)
        inference_f = inference.filtering_posterior_optimal_proposal  # loss_f "opt_smc"
    else:
        # train_scripts/eeg/train_EEG.py
        rnn_params = dict(common, train_noise_x=True, init_noise_x=0.1, noise_z="full", noise_x="diag",
                          noise_z_t0="full", activation="clipped_relu", decay=0.9, simulate_input=False,
                          observation="affine", readout_from="z")
        inference_f = inference.filtering_posterior_optimal_proposal  # loss_f "opt_smc"
    vae_params["rnn_params"] = rnn_params
    torch.manual_seed(0)
    with contextlib.redirect_stdout(io.StringIO()):  # their constructors print their choices
        vae = VAE(vae_params)
    opt = torch.optim.RAdam(vae.parameters(), lr=1e-3)
    data = x.transpose(1, 2).contiguous()  # their layout: (batch, dim_x, time)
    stim = torch.zeros(B, 0, T)  # their datasets hand an empty stimulus when there is no input

    def loss():
        loss_it, _, _ = inference_f(vae, data, stim, K, "systematic", 0)
        _ = loss_it.mean().item()  # their running "batch_ll"
        out = -loss_it.mean()
        if torch.isnan(out):
            raise FloatingPointError("published step produced NaN")
        return out

    return lambda: _timed(opt, loss)


def run_config(name, repeats, warmup):
    x = make_data(name)
    steppers = {"published": published_stepper(name, x), True: ours_stepper(name, x), False: ours_stepper(name, x)}
    times = {k: [] for k in steppers}
    try:
        for i in range(warmup + repeats):
            for key, step in steppers.items():
                smc.FUSED_WINDOW = key is not False
                dt = step()
                if i >= warmup:
                    times[key].append(dt)
    finally:
        smc.FUSED_WINDOW = True
    return times


def encoder_breakdown(repeats, warmup):
    """ms of the CNN encoder alone (forward + backward of a sum of its outputs) on the Poisson data, both codes."""
    from vi_rnn.encoders import CNN_encoder

    B, T, D, R, N, K = _settings("poisson_encoder")
    x = make_data("poisson_encoder")
    ours = ConvEncoder(N, R)
    with contextlib.redirect_stdout(io.StringIO()):
        theirs = CNN_encoder(D, R, dict(init_kernel_sizes=[21, 11, 1], nonlinearity="gelu", n_channels=[64, 64],
                                        init_scale=0.1, constant_var=False, padding_mode="constant",
                                        padding_location="causal"))
    data = x.transpose(1, 2).contiguous()

    def run(f):
        t0 = time.perf_counter()
        a, b = f()
        (a.sum() + b.sum()).backward()
        return time.perf_counter() - t0

    times = {"published": [], "ours": []}
    for i in range(warmup + repeats):
        for key, f in (("published", lambda: theirs(data, k=K)), ("ours", lambda: ours(x))):
            dt = run(f)
            if i >= warmup:
                times[key].append(dt)
    return {k: 1000 * statistics.median(v) for k, v in times.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--published", default="/tmp/smc_rnns",
                    help="checkout of github.com/mackelab/smc_rnns (the folder holding vi_rnn/)")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--configs", nargs="+", choices=CONFIG_NAMES, default=list(CONFIG_NAMES))
    ap.add_argument("--encoder-breakdown", action="store_true",
                    help="also time the CNN encoder alone (forward + backward) in both codes")
    args = ap.parse_args()
    root = os.path.abspath(args.published)
    if not os.path.isfile(os.path.join(root, "vi_rnn", "inference.py")):
        sys.exit(f"published code not found at {root}: get it with\n"
                 f"    git clone https://github.com/mackelab/smc_rnns {root}\n"
                 f"and pass --published {root}")
    # appended, so that their top-level module names cannot shadow installed packages; vi_rnn/ itself is on the
    # path because their modules import each other by bare name (vi_rnn/vae.py adds it the same way)
    sys.path.extend([root, os.path.join(root, "vi_rnn")])
    torch.set_num_threads(1)
    from sklearn_lrnn._engine import kernels

    reason = kernels.unavailable_reason()
    print(f"torch {torch.__version__}, 1 torch thread, {os.cpu_count()} CPUs, published code from {root}, "
          f"fused kernels: {'yes' if reason is None else 'no (' + reason + ')'}")
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("| config | published ms/step | sklearn_lrnn fused | sklearn_lrnn loop | published/fused | loop/fused "
          "| repeats |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.configs:
        t = run_config(name, args.repeats, args.warmup)
        med = {k: 1000 * statistics.median(v) for k, v in t.items()}
        pub_ratio = statistics.median(p / f for p, f in zip(t["published"], t[True]))
        loop_ratio = statistics.median(lp / f for lp, f in zip(t[False], t[True]))
        print(f"| {LABELS[name]} | {med['published']:.1f} | {med[True]:.1f} | {med[False]:.1f} | "
              f"{pub_ratio:.1f}x | {loop_ratio:.1f}x | {args.repeats} |", flush=True)
    if args.encoder_breakdown:
        enc = encoder_breakdown(args.repeats, args.warmup)
        print(f"CNN encoder alone (Poisson data, forward + backward): published {enc['published']:.1f} ms "
              f"(its (B, R, T) outputs repeated K = 64 times inside), sklearn_lrnn {enc['ours']:.1f} ms")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
