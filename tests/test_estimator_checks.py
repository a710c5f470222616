"""scikit-learn's estimator checks on every estimator, with each expected failure and its reason."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_lrnn import StochasticLowRankRNN

# Time order is the model: a 2-D X is one recording, so permuting or sub-setting its rows changes
# the sequence and therefore the posterior latents and the likelihood.
TIME_ORDER = "rows of a 2-D X are time steps of one recording: reordering or subsetting them changes the data"

SLR_XFAIL = {
    "check_methods_sample_order_invariance": TIME_ORDER,
    "check_methods_subset_invariance": TIME_ORDER,
}


def _slr():
    return StochasticLowRankRNN(rank=2, max_iter=2, n_particles=4, batch_size=2, window_length=5,
                                random_state=0, compute_fixed_points=False)


@parametrize_with_checks([_slr()], expected_failed_checks=lambda est: SLR_XFAIL)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# CoSmoothing (co-smoothing meta-estimator): its score is bits per spike, a Poisson likelihood of the
# held-out columns, which must be integer spike counts; the checks' data are random floats.
COUNTS = "score is bits per spike of the held-out columns, which must be integer spike counts (the checks' data are floats)"
COSMOOTHING_XFAIL = {
    "check_fit_score_takes_y": COUNTS,
    "check_pipeline_consistency": COUNTS,
    "check_fit_non_negative": "only the held-out columns (spike counts) must be >= 0; the held-in columns go to the "
                              "latent model as they are, and this check's held-out column is positive",
}


def _co_smoothing():
    from sklearn.decomposition import PCA

    from sklearn_lrnn.metrics import CoSmoothing
    from sklearn_lrnn.preprocessing import PerTimeBin

    return CoSmoothing(PerTimeBin(PCA(1)), heldout_columns=[-1])


@parametrize_with_checks([_co_smoothing()], expected_failed_checks=lambda est: COSMOOTHING_XFAIL)
def test_co_smoothing_sklearn_compatible(estimator, check):
    check(estimator)
