"""Opening the report: size, time to write it, time to the first screen in headless Chromium, JS heap.

For the GPT-2-small-shaped model (124M parameters, 148 tensors) and the digits demo: the report
is written by `reportgen report` in a fresh process (its wall time recorded), then opened from
file:// in Debian's Chromium five times, each in a new browser context. "First screen" is
navigation start (performance.now() = 0) until every plot in the first viewport is drawn and
every Bokeh document is idle. The JS heap (CDP Performance.getMetrics, JSHeapUsedSize) is read
at the first screen, and once per report after every plot has been scrolled into view and drawn.

Run: python benchmarks/bench_browser.py   -> benchmarks/results/browser.json
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # the suite's Chromium helper

from browser import ARGS, CHROMIUM  # noqa: E402
from models import WORK, gpt2_small_shapes, random_weights, write_safetensors  # noqa: E402

RESULTS = HERE / "results"
FIRST_SCREEN = """() => {
  if (!window.Bokeh || document.readyState === 'loading') return false;
  const visible = [...document.querySelectorAll('.plot')].filter(e => {
    const r = e.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; });
  if (!visible.every(e => e.dataset.state === 'rendered')) return false;
  return Bokeh.documents.every(d => d.is_idle) ? [performance.now(), visible.length] : false;
}"""

ALL_DRAWN = ("() => [...document.querySelectorAll('.plot')].every(e => e.dataset.state === 'rendered')"
             " && Bokeh.documents.every(d => d.is_idle)")


def _write(args: list[str], out: Path) -> dict:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from reportgen.cli import entrypoint; entrypoint()", *args, "-o", str(out), "--json", str(out.with_suffix(".json")),
                    "-q", "--timings"], check=True)
    wall = time.perf_counter() - t0
    return {"write_wall_s": round(wall, 2), "size_mb": round(out.stat().st_size / 1e6, 2),
            "timings": json.loads(out.with_suffix(".json").read_text())["timings"]}


def _open(browser, path: Path, fragment: str = "", scroll_all: bool = False) -> dict:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    page.goto(path.resolve().as_uri() + fragment, wait_until="commit")
    first_ms, first_plots = page.wait_for_function(FIRST_SCREEN, polling="raf", timeout=60_000).json_value()
    timing = page.evaluate("() => { const n = performance.getEntriesByType('navigation')[0];"
                           " return [n.domContentLoadedEventEnd, n.loadEventEnd]; }")

    def heap() -> float:
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        return round(metrics["JSHeapUsedSize"] / 1e6, 1)

    result = {"first_screen_ms": round(first_ms), "first_screen_plots": first_plots,
              "dom_content_loaded_ms": round(timing[0]), "load_event_ms": round(timing[1]),
              "js_heap_first_screen_mb": heap()}
    if scroll_all:  # slow on a big page (every plot drawn): once per report, not per run
        for el in page.query_selector_all(".plot"):
            el.scroll_into_view_if_needed()
        page.wait_for_function(ALL_DRAWN, timeout=600_000)
        cdp.send("HeapProfiler.collectGarbage")
        result["js_heap_all_plots_mb"] = heap()
    result.update(n_plots=page.eval_on_selector_all(".plot", "els => els.length"), errors=errors,
                  non_file_requests=[u for u in requests if not u.startswith(("file:", "data:"))])
    context.close()
    return result


def main(repeats: int = 5) -> dict:
    from playwright.sync_api import sync_playwright

    gpt2 = write_safetensors("gpt2_small", random_weights(gpt2_small_shapes()))
    cases = {"gpt2_small": ["report", str(gpt2)], "digits_demo": ["demo", "digits"]}
    found = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for name, args in cases.items():
            out = WORK / f"browser_{name}.html"
            written = _write(args, out)
            found[name] = written
            # The top of the page (overview: cards, alerts, the tensor table), and a link straight
            # to the middle tensor's section, whose first screen is all plots.
            middle = len(json.loads(out.with_suffix(".json").read_text())["tensors"]) // 2
            for view, fragment in (("top", ""), ("deep_link", f"#t{middle}")):
                runs = [_open(browser, out, fragment) for _ in range(repeats)]
                med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k.endswith(("_ms", "_mb", "plots"))}
                found[name][view] = {"fragment": fragment, "median": med, "runs": runs}
                print(f"{name} {view}: {written['size_mb']} MB, written in {written['write_wall_s']} s, first screen "
                      f"{med['first_screen_ms']:.0f} ms ({med['first_screen_plots']:.0f} plots), heap "
                      f"{med['js_heap_first_screen_mb']} MB", flush=True)
            every = _open(browser, out, scroll_all=True)
            found[name]["every_plot_drawn"] = every
            print(f"{name}: {every['n_plots']} plots drawn: heap {every['js_heap_all_plots_mb']} MB", flush=True)
        version = browser.version
        browser.close()
    result = {"benchmark": "report size and opening it in headless Chromium", "repeats": repeats,
              "machine": {"python": platform.python_version(), "platform": platform.platform(),
                          "cpu_count": os.cpu_count(), "chromium": version},
              **found}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "browser.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
