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
    ("Histogram", "64 equal bins over [−max|w|, max|w|] (symmetric around 0) for signed tensors, "
                  "[0, max] for non-negative ones; finite values only. The sidebar toggles log counts."),
    ("Heatmap", "The unit view of a kernel: one row per output unit (dense: out × in; conv: out × "
                "in·kh·kw, channel-major; embedding: token × dim), the same orientation whatever the file's "
                "layout. Matrices larger than 256×256 are block-pooled; a block shows its largest-|w| value "
                "with its sign. Colours (RdBu, colour-blind safe) saturate at the 99.5th percentile of |cell|."),
    ("Conv filters", "After Distill's Visualizing Weights (Voss et al., 2021): 3-input-channel kernels as "
                     "RGB images; otherwise, per output channel, its input kernels with the largest L2 norm "
                     "(lucid's ranking). Only the output channels with the largest total norm are shown. "
                     "1×1 convs have no spatial structure: their heatmap is the view."),
    ("Dead unit", "An output unit whose max |incoming weight| is at most dead_rel (1e-3) × the layer's "
                  "median unit max |w|. Healthy: none."),
    ("Near-duplicate units", "Pairs of units whose incoming weight vectors have cosine similarity above "
                             "0.995 (jit on normalised rows; wider layers than 4,096 units are checked on "
                             "an evenly spaced sample of 4,096). Healthy: none."),
    ("Norm outlier", "Robust z-score 0.6745·(x − median)/MAD of x = log10(rms) among tensors of one role "
                     "(MAD floored at 0.1 decades so that layers of different fan-in do not trip it); "
                     "|z| > 3.5 alerts. rms rather than ‖W‖F, so tensor size does not matter."),
    ("ESD", "The empirical spectral density: eigenvalues λ of WᵀW for every dense, embedding and conv "
            "kernel (WeightWatcher 0.7.7's definitions throughout). Conv kernels are cut into one (out × in) "
            "matrix per kernel position, each scaled by √½ as WeightWatcher does, and their eigenvalues "
            "pooled. Computed in float32 by jit-compiled JAX: a values-only SVD, or for matrices at least "
            "2.5× taller than wide the cheaper Gram matrix + eigh, which is replaced by the SVD whenever "
            "its smallest eigenvalue is under 1e-3·λmax (float32 Gram matrices cannot resolve those). "
            "Kernels with fewer than 8 or more than 15,000 eigenvalues are listed as not analysed."),
    ("α (alpha)", "Exponent of a power law p(λ) ∝ λ^−α fitted to the ESD's tail λ ≥ xmin by maximum "
                  "likelihood, α = 1 + n / Σ ln(λᵢ/xmin), with xmin chosen among all eigenvalues "
                  "above 1e-5 by the minimum Kolmogorov-Smirnov distance D (all candidates at once, in "
                  "JAX). With fewer than 20 eigenvalues, WeightWatcher's small-sample variant: "
                  "α = 1 + (n−1)/Σ ln(λᵢ/xmin), xmin minimising D − 0.868/√n over tails of ≥ 8. "
                  "Healthy: 2–6; above 6 the layer looks random (under-trained), below 2 over-trained."),
    ("D, xmin, sigma", "D: the KS distance of the chosen fit (smaller is better; above ~0.1 the tail is "
                       "not a clean power law). sigma = (α−1)/√n, the MLE's standard error. PL tail: the "
                       "number of eigenvalues ≥ xmin."),
    ("α̂ (alpha_weighted), log norms", "α̂ = α·log10 λmax. log ‖W‖F² = log10 Σλ (log_norm), "
                                      "log λmax = log10 of the largest eigenvalue (log_spectral_norm), "
                                      "log α-norm = log10 Σλ^α. Compare layers of one model: no fixed "
                                      "healthy range."),
    ("Stable rank, rank, entropy", "Stable rank = Σλ / λmax: how many directions carry the weight "
                                   "(1 = one direction dominates). rank: singular values above "
                                   "σmax·N·eps, with float32's eps as the eigenvalues are float32 "
                                   "(WeightWatcher uses float64's). Entropy: −Σpᵢ ln pᵢ / ln(rank) with "
                                   "pᵢ = λᵢ/Σλ, from 0 (one direction) to 1 (all equal, random-like)."),
    ("Marchenko-Pastur fit", "The bulk of a random matrix's ESD follows the MP law with aspect ratio "
                             "Q = N/M. As WeightWatcher: the ESD is rescaled to mean 1, a linear-kernel KDE "
                             "(bandwidth 0.1) is matched to the MP density over a grid of σ, and λ+ = "
                             "σ²(1+1/√Q)² is the bulk edge (quarter-circle law on singular values when "
                             "Q = 1). The grid minimum is refined on a finer grid rather than by "
                             "WeightWatcher's Nelder-Mead polish. MP spikes: eigenvalues beyond λ+ plus the "
                             "Tracy-Widom margin, i.e. learned structure; MP soft rank = λ+ / λmax."),
    ("Neuron map", "One point per output unit: its incoming weight vector (the heatmap's row; conv "
                   "filters flattened; embedding rows are tokens or positions). PCA: centred, fitted on every "
                   "unit, by eigh of the smaller Gram matrix (randomised subspace iteration beyond 1,536 on a "
                   "side); explained-variance ratio = λᵢ / Σλ. UMAP (umap-learn, 15 neighbours from an exact "
                   "kNN graph, PCA start, 200 epochs) and t-SNE (scikit-learn, perplexity 30, 500 iterations) "
                   "run on the 50 leading principal components, seeded (projection_seed), for a budget of "
                   "units (projection_nonlinear_budget, evenly spaced layers). The three views share their "
                   "points: a selection in one shows in all. No healthy range: look for clusters, outliers "
                   "and units far from the rest."),
    ("Clusters", "Ward's agglomerative clustering of the units' 10 leading principal components (on at most "
                 "500 evenly spaced units; the rest join the nearest cluster centre), cut at the k in 2–8 "
                 "(at most one cluster per 5 units) with the highest mean silhouette. A best silhouette below "
                 "0.25 means no substantial structure (Kaufman & Rousseeuw): the layer gets one cluster. "
                 "Deterministic, unlike k-means' random restarts."),
    ("Cross-layer map", "The L2-normalised units of all dense and conv layers with the same input "
                        "dimension, projected together (PCA and UMAP), coloured by depth. Embedding rows are "
                        "not units and are left out. Each layer contributes at most joint_points / layers "
                        "evenly spaced units."),
    ("Saliency target", "Attributions explain one logit per example (the model's output before softmax): "
                        "the predicted class's by default, the true label's (saliency_target = \"label\") or "
                        "one chosen class. Up to saliency_max_examples (128) inputs, evenly spaced, are "
                        "attributed; each example's gradient is its own (vmapped), whatever its batch."),
    ("Gradient", "∂f_t/∂x: how fast the target logit changes with each input value (Simonyan et al., 2014). "
                 "Local; noisy on ReLU networks."),
    ("Gradient × input", "x ⊙ ∂f_t/∂x (Shrikumar et al., 2016): the first-order share of each input value "
                         "in f_t; zero wherever the input is zero."),
    ("SmoothGrad", "The gradient averaged over smoothgrad_samples (32) copies of x with Gaussian noise of "
                   "σ = smoothgrad_noise (15%) × the inputs' value range (Smilkov et al., 2017), which "
                   "removes much of the gradient's local noise. Each example's noise comes from a key "
                   "derived from its index and saliency_seed: reproducible."),
    ("Integrated Gradients", "(x − x′) ⊙ ∫₀¹ ∂f_t/∂x(x′ + α(x − x′)) dα (Sundararajan et al., 2017), by "
                             "the trapezoid rule on m steps (m + 1 gradients). Baseline x′: zeros, the "
                             "mean of the ModelSpec's inputs, or (images) the input blurred by a Gaussian of "
                             "σ = a quarter of its larger side (ig_baseline)."),
    ("IG completeness", "IG's attributions add up to f_t(x) − f_t(x′). Error per example = "
                        "|Σ attributions − Δf| / max(|Δf|, mean |Δf| over the examples): the floor keeps "
                        "an example whose logit barely moves from dividing by ~0. m starts at ig_steps (128) "
                        "and doubles, up to ig_max_steps (512), until the largest error is within "
                        "ig_tolerance (1%); every step count tried is reported. On ReLU networks the "
                        "integrand jumps at every kink on the path, so the error falls like 1/m."),
    ("Bias audit", "Needs a ModelSpec with tabular inputs, groups (or a sensitive feature whose values define "
                   "them) and sensitive_features. Per group: the rate of the positive prediction "
                   "(bias_positive_class), accuracy, TPR and FPR; demographic parity difference = max − min "
                   "positive rate; equalised-odds difference = the larger of the TPR and FPR ranges. Attribution "
                   "share: each feature's mean |Integrated Gradients| towards the positive class (zeros baseline) "
                   "over the sum for all features. Counterfactual: a two-valued sensitive feature has its values "
                   "swapped (others are permuted across examples); the flip rate is the share of predictions "
                   "that change. A sensitive feature is flagged when it ranks in the top 3 by share and its "
                   "flip rate exceeds bias_flip_threshold (5%). Units: per hidden layer (the ModelSpec's "
                   "intermediates), the bias_top_units with the largest |standardised mean difference| between "
                   "the group with the lowest positive rate and the rest; for a plain Dense stack, also their "
                   "weights to the outputs with every activation replaced by identity (the product of the "
                   "later kernels) and the parity gap with the unit's incoming weights and bias zeroed."),
    ("Training log", "Written by reportgen.TrainingRecorder: per record and tensor, ‖w‖, ‖∇w‖ and ‖Δw‖ "
                     "(L2, float32, on the device) and histograms over bin edges fixed at the first record "
                     "(symmetric, twice its largest |value|, or for a tensor that starts at zero the widest other "
                     "tensor's; values beyond fall into the end bins). Alerts: "
                     "exploding gradients when the largest ‖∇w‖ exceeds exploding_grad_growth (1000) times the "
                     "median of the first tenth of the records (or turns NaN/Inf: error); vanishing when the "
                     "median ‖∇w‖/‖w‖ over the last quarter is below vanishing_grad_rel (1e-7); stalled when the "
                     "median ‖Δw‖/‖w‖ over the last quarter is below stalled_update_ratio (1e-6)."),
    ("Checkpoint diff", "--compare A against this checkpoint B, per same-named tensor: ‖B − A‖F/‖A‖F, cosine "
                        "<A, B>/(‖A‖‖B‖) (float64), max |Δw|; on the unit matrix of ΔW its singular values "
                        "(float64 Gram eigenvalues): the rank counts those above 1e-3 of the largest, the 90% "
                        "energy rank the fewest holding 90% of ‖ΔW‖F²; alpha and log norm of A and B as in the "
                        "spectral section."),
    ("Per-class importance", "Needs a ModelSpec with labels. For class k, L_k = mean cross-entropy over its "
                             "examples (up to importance_max_examples, evenly spaced). Taylor importance of a "
                             "weight = |w · ∂L_k/∂w| (first-order estimate of the loss change when it is "
                             "removed); diagonal empirical Fisher = mean over class-k examples of (∂ℓ_i/∂w)². "
                             "Summed per tensor (shares of the class's total) and per output unit."),
    ("Layers (circuits)", "Found by tracing the ModelSpec's apply_fn to a jaxpr for one example: every dense "
                          "(dot_general) or conv (conv_general_dilated) whose one operand is a parameter is a layer, "
                          "in execution order; its units are the matmul result's last axis. A kernel used twice "
                          "counts once, at its first use."),
    ("Expanded weights", "For a source layer A (or the input) and a target B: the Jacobian of B's matmul result "
                         "with respect to A's, through the model evaluated by reportgen's own jaxpr interpreter "
                         "with max(x, 0) and jax.nn.relu/relu6 as the identity and reduce_window_max as an average "
                         "over the window (count including padding); the model itself is never changed. Conv "
                         "targets are read at their centre position and cropped to the source positions with a "
                         "non-zero weight. With only ReLUs and max-pools in between the map is linear, so the "
                         "Jacobian is the same everywhere (for a linear stack it is the product of the kernels, "
                         "or their composed convolution); other non-linearities (GELU, tanh, normalisation) are "
                         "linearised at the mean input. Pairs: consecutive layers and pairs skipping up to "
                         "circuits_skip (1) layers; computed when the Jacobian is under circuits_max_mb."),
    ("Top connections", "Per target unit, source units ranked by the L2 norm of the spatial kernel connecting "
                        "them in the expanded weights (lucid's ranking); the circuits_max_units (16) target units "
                        "with the largest expanded-weight norm are shown. Layers: circuits_layers, by default the "
                        "last conv layer and the first hidden dense layer."),
    ("Top-activating examples", "Per unit, the ModelSpec inputs (up to circuits_max_examples, evenly spaced) with "
                                "the largest matmul result over positions. A bias and an increasing activation "
                                "after it do not change that order."),
    ("Activation maximisation", "Image models only: per shown unit, an input x = lo + (hi − lo)·sigmoid(z) (the "
                                "inputs' range) from a fixed-seed start, circuits_actmax_steps (128) Adam steps "
                                "(step 0.05) maximising the unit's matmul result at the centre position divided by its "
                                "spread over the examples, minus 0.5·mean((x̂ − ½)²) and 0.5·total variation of "
                                "x̂ = (x − lo)/(hi − lo), with fewer steps where 3 x units x steps x XLA's flop "
                                "count of a forward pass would exceed circuits_actmax_gflop (500; under 32 steps "
                                "the layer is left out, with a note). The hover compares its largest activation "
                                "with the best example's."),
    ("NMF weight factors", "One-sided NMF (Voss et al., 2021): the expanded weights W [target, h, w, source] as a "
                           "matrix over source units, max(0, W) and max(0, −W) stacked into one non-negative X ≈ "
                           "U·V (scikit-learn NMF, nndsvda start, fixed seed), V the circuits_nmf_factors (3) factors "
                           "over source units (scaled to a largest entry of 1, ordered by total loading); U's two "
                           "halves give each unit's excitation and inhibition as RGB. Explained = 1 − ‖X − UV‖²/‖X‖²."),
    ("sha256", "Of the file; for a directory, of the sorted list of (relative path, file sha256)."),
)

# kind -> (title, why it matters): one line each, shown under every alert of that kind.
ALERT_KINDS: dict[str, tuple[str, str]] = {
    "analysis_error": ("Analysis failed", "This tensor could not be analysed; its numbers are missing "
                       "from the report."),
    "non_finite": ("NaN or Inf weights", "Every output that touches these weights becomes NaN/Inf: the "
                   "checkpoint is corrupt or training diverged."),
    "all_zero": ("All-zero tensor", "A kernel of zeros passes no signal: it was never trained, was "
                 "pruned away, or the file was written wrongly."),
    "constant": ("Constant tensor", "Identical weights make every unit compute the same thing: a "
                 "symmetry that training never broke."),
    "extreme_magnitude": ("Extreme magnitudes", "Very large weights overflow float16/bfloat16 "
                          "arithmetic and often mean missing regularisation or normalisation."),
    "dead_units": ("Dead units", "Units with no incoming weight output only their bias: capacity "
                   "that does nothing (or, for embeddings, tokens never trained)."),
    "duplicate_units": ("Near-duplicate units", "Units with the same incoming weights compute the same "
                        "feature: redundant capacity, often from a symmetric initialisation."),
    "over_trained": ("Heavy-tailed spectrum (alpha < 2)", "WeightWatcher's over-trained signal: a few "
                     "directions dominate the layer, often from over-fitting or a too-large learning rate."),
    "under_trained": ("Near-random spectrum (alpha > 6)", "WeightWatcher's under-trained signal: the layer's "
                      "eigenvalues look like those of a random matrix, so it has learned little structure."),
    "sensitive_feature": ("Sensitive feature drives predictions", "A protected attribute that is both among "
                          "the strongest inputs and changes decisions when flipped means the model treats "
                          "otherwise identical people differently: a fairness and often a legal problem."),
    "exploding_gradients": ("Exploding gradients", "A gradient norm that grows by orders of magnitude (or turns "
                            "NaN) makes updates jump: the learning rate is too high, or clipping and "
                            "normalisation are missing."),
    "vanishing_gradients": ("Vanishing gradients", "Gradients that are vanishingly small next to the weights "
                            "leave the tensor untrained: saturated activations, dead units or a broken path."),
    "stalled_layer": ("Stalled layer", "The tensor's updates are negligible next to its weights, so it has "
                      "stopped learning while the rest of the model may not have: frozen by mistake, or "
                      "starved by its learning rate."),
    "norm_outlier": ("Norm outlier", "A tensor far from its peers' scale is often a wrongly loaded, "
                     "rescaled or untrained layer."),
}
