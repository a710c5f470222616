"""Private implementation of :mod:`sklearn_lrnn.metrics` (split by topic; import from there)."""
