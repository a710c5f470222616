"""Validation shared by the package, one job per module:

* :mod:`._values`: array values (numeric, real, finite where needed, within float32) and scalar arguments;
* :mod:`._sequences`: the three trial layouts of X, :class:`Sequences` and back (:func:`restore`);
* :mod:`._conventions`: feature names, ``set_output`` for ``transform``, metadata routing of ``u``.

Every array that enters the package goes through :func:`check_sequences` or :func:`check_numeric`:
no dict or string containers, no strings as values (numeric strings are never parsed), no complex
values, no finite values beyond the float32 range the models compute in, and read-only arrays copied.
"""

from ._conventions import (
    ROUTING_HINT, LatentOutputMixin, check_fitted_feature_names, check_inputs_routed, fitted_without_inputs,
    input_feature_names, set_feature_names,
)
from ._sequences import Sequences, check_aligned, check_matching_inputs, check_sequences, restore, split_by_lengths
from ._values import (  # _is_int: for datasets._binning
    _is_int, check_array_like, check_dense_real, check_nonnegative_float, check_nonnegative_int, check_numeric,
    check_positive_float, check_positive_int, check_real, check_trial_weights,
)

__all__ = [
    "Sequences", "check_sequences", "restore", "split_by_lengths", "check_matching_inputs", "check_aligned",
    "check_array_like", "check_dense_real", "check_numeric", "check_positive_int", "check_nonnegative_int",
    "check_real", "check_nonnegative_float", "check_positive_float", "check_trial_weights", "input_feature_names",
    "set_feature_names", "check_fitted_feature_names", "LatentOutputMixin", "check_inputs_routed", "ROUTING_HINT",
    "fitted_without_inputs",
]
