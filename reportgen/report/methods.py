"""The methods appendix: the definition of every number the report shows, and its healthy range."""

METHODS: tuple[tuple[str, str], ...] = (
    ("Role", "dense (2-D kernels), conv (3-D+ kernels), embedding (2-D tables named embed/wte/…), "
             "norm (LayerNorm/BatchNorm scales, offsets and running statistics), bias (1-D offsets), "
             "other (integer/bool buffers, scalars, empty tensors). Inferred from the name and shape."),
    ("Layout", "flax: dense kernels are (in, out), conv kernels HWIO; pytorch: (out, in) and OIHW. "
               "Inferred from the format and the names (…weight vs …kernel); --layout overrides it. "
               "Views put one output unit per row whatever the source layout."),
    ("mean, std, min, max", "Over finite entries; std is the population standard deviation "
                            "(two-pass, float32). NaN and Inf are counted separately."),
    ("mean |w|, rms, ‖W‖F", "Mean absolute value, root mean square and Frobenius norm √Σw²."),
    ("excess kurtosis", "m₄/m₂² − 3 (Fisher, biased). 0 for Gaussian weights; large values mean a "
                        "few outlying weights dominate, common in trained attention and embeddings."),
    ("exactly zero, |w| < 1e-3·max|w|", "Fraction of finite entries exactly 0 (pruning, masking) "
                                        "and fraction negligible relative to the largest weight."),
    ("percentiles", "p1…p99 of w and of |w|, linear interpolation (numpy's default)."),
    ("sha256", "Of the file; for a directory, of the sorted list of (relative path, file sha256)."),
)
