"""Train the digits CNN deterministically and write beside it: weights.msgpack, metrics.json, the
first epoch's checkpoint (weights_epoch1.msgpack, for the checkpoint diff) and the training log
recorded by reportgen.TrainingRecorder every RECORD_EVERY steps (training_log.npz)."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from flax import serialization  # noqa: E402

from model import HERE, WEIGHTS, load_data, make_model  # noqa: E402

from reportgen import TrainingRecorder  # noqa: E402

EPOCHS, BATCH, LR, SEED = 40, 64, 2e-3, 0
RECORD_EVERY = 4


def main() -> None:
    start = time.perf_counter()
    x_train, y_train, x_test, y_test = load_data()
    model = make_model()
    params = model.init(jax.random.PRNGKey(SEED), x_train[:1])["params"]
    opt = optax.adam(LR)
    opt_state = opt.init(params)

    def loss_fn(p, x, y):
        logits = model.apply({"params": p}, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    @jax.jit
    def step(p, s, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss, grads, updates

    recorder = TrainingRecorder(every=RECORD_EVERY, metadata={"model": "digits_cnn", "optimizer": f"adam({LR})",
                                                              "batch": BATCH})

    rng = np.random.default_rng(SEED)
    n = len(x_train) // BATCH * BATCH  # whole batches only: one compiled shape
    t = 0
    for epoch in range(EPOCHS):
        order = rng.permutation(len(x_train))[:n].reshape(-1, BATCH)
        for idx in order:
            # The recorder sees the weights before the update and the gradients and updates computed
            # from them, so that update / weight is this step's relative change.
            before = params
            params, opt_state, loss, grads, updates = step(params, opt_state, x_train[idx], y_train[idx])
            recorder.record(t, before, grads, updates=updates, loss=loss)
            t += 1
        if epoch == 0:
            (HERE / "weights_epoch1.msgpack").write_bytes(serialization.to_bytes({"params": jax.device_get(params)}))
    accuracy = lambda x, y: float(jnp.mean(jnp.argmax(model.apply({"params": params}, x), -1) == y))
    metrics = {"train_accuracy": accuracy(x_train, y_train), "test_accuracy": accuracy(x_test, y_test),
               "n_train": len(x_train), "n_test": len(x_test), "epochs": EPOCHS,
               "train_seconds": round(time.perf_counter() - start, 1),
               "n_params": int(sum(np.size(v) for v in jax.tree_util.tree_leaves(params)))}
    WEIGHTS.write_bytes(serialization.to_bytes({"params": jax.device_get(params)}))
    recorder.save(HERE / "training_log.npz")
    (HERE / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
