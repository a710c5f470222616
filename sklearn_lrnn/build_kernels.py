"""Build the C++ kernels ahead of time, so that no fit pays the build: ``python -m sklearn_lrnn.build_kernels``.

Run it once after installing (``make kernels`` does, and ``make demo`` / ``make test`` depend on it). It
compiles this install's kernels into its cache (about a minute; see :mod:`sklearn_lrnn._engine.kernels`
for where and why there), or reports that they are built already. Exit status 0 when the kernels are
built, 1 when they cannot be (the reason and the fix are printed; fits then run the pure-torch path).

Options: ``--force`` rebuilds from scratch; ``--status`` only reports, building nothing. A build that
failed earlier is retried by any run without ``--status``.
"""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    """Command-line entry point.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    int
        The exit status: 0 when the kernels are built, 1 when the torch fallback would run.
    """
    parser = argparse.ArgumentParser(prog="python -m sklearn_lrnn.build_kernels",
                                     description="Build sklearn_lrnn's C++ kernels for this install.")
    parser.add_argument("--force", action="store_true", help="rebuild even where a build exists")
    parser.add_argument("--status", action="store_true", help="report only, build nothing")
    args = parser.parse_args(argv)

    from sklearn_lrnn._engine import kernels

    st = kernels.status() if args.status else kernels.build(force=args.force)
    print(f"sklearn_lrnn kernels: {st}")
    if st.state == "fallback":
        print(f"To fix: {kernels.FIX}.")
    if st.state == "disabled":  # the build is what this command is for; the variable only affects fits
        print("(SKLEARN_LRNN_NO_FUSED is set: fits use the pure-torch path while it is)")
    return 0 if st.state in ("built", "disabled") or (args.status and st.state == "not built") else 1


if __name__ == "__main__":
    sys.exit(main())
