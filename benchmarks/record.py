"""Where benchmark results go: results/<name>.json, with the machine they were measured on."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    import jax

    return {"python": platform.python_version(), "platform": platform.platform(), "cpu": cpu,
            "cpu_count": os.cpu_count(), "memory_gb": round(int(mem.split()[1]) / 1e6, 1),
            "jax": jax.__version__, "jax_devices": [str(d) for d in jax.devices()]}


def save(name: str, result: dict) -> dict:
    """Add the machine description, write results/<name>.json, return the result."""
    result = {**result, "machine": machine()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    return result
