"""The JAX device the analyses run on: `--device cpu|gpu`, or the one JAX picks."""
from __future__ import annotations

from ..errors import InputError

KINDS = ("cpu", "gpu")


def use(kind: str | None) -> str:
    """Make the first device of `kind` JAX's default (for every thread) and return its platform."""
    import jax

    if kind is None:
        return platform()
    try:
        devices = jax.devices(kind)
    except RuntimeError:
        present = ", ".join(sorted({d.platform for d in jax.devices()}))
        raise InputError(f"--device {kind}: JAX sees no {kind.upper()} here (it has: {present}); "
                         "for a GPU install jax with its CUDA plugin, e.g. pip install 'jax[cuda12]'") from None
    jax.config.update("jax_default_device", devices[0])
    return devices[0].platform


def platform() -> str:
    """Where new arrays go: the configured default device's platform, else JAX's default backend."""
    import jax

    chosen = jax.config.jax_default_device
    if chosen is None:
        return jax.default_backend()
    return chosen if isinstance(chosen, str) else chosen.platform
