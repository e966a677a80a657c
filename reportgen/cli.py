"""Command line: `reportgen demo` and `reportgen report`; main(argv) returns the exit code."""
from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
from typing import Sequence

from ._version import __version__
from .config import SECTIONS
from .errors import InputError

EXIT_OK, EXIT_FAIL_ON, EXIT_BAD_INPUT = 0, 1, 2
_SEVERITY = {"info": 0, "warning": 1, "error": 2}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other bad input
        self.exit(EXIT_BAD_INPUT, f"reportgen: error: {message} (see reportgen {self.prog.split()[-1]} --help)\n"
                  if " " in self.prog else f"reportgen: error: {message} (see reportgen --help)\n")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="report.html", help="HTML report to write (default: report.html)")
    p.add_argument("--json", dest="json_out", metavar="PATH", help="also write the JSON sidecar here")
    p.add_argument("--sections", help=f"comma-separated sections to include (default: all of {','.join(SECTIONS)})")
    p.add_argument("--config", metavar="TOML", help="reportgen.toml with settings and thresholds")
    p.add_argument("--fail-on", choices=("warning", "error"),
                   help="exit 1 when an alert of this severity or worse is found (for release CI)")
    p.add_argument("--timings", action="store_true",
                   help="record wall times in the page footer and the sidecar (the files then differ run to run)")
    p.add_argument("--device", choices=("cpu", "gpu"),
                   help="run the JAX analyses on this device (default: the one JAX picks)")
    p.add_argument("--max-mb", type=float, metavar="MB",
                   help="size budget for the page (default 25; 0 = none): above it heatmaps get coarser, "
                   "then per-tensor plots are left out, and the page says so")
    p.add_argument("--model-card", metavar="MD",
                   help="also write a Markdown summary for a model card's 'Model Examination' section")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--debug", action="store_true", help="show a traceback for bad input")


def build_parser() -> argparse.ArgumentParser:
    from .samples import SAMPLES

    parser = _Parser(prog="reportgen", description="Explain a neural network's weights in one offline HTML file.")
    parser.add_argument("--version", action="version", version=f"reportgen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = sub.add_parser("demo", help="report on a bundled sample model",
                          description="Report on a bundled sample model: "
                          + "; ".join(f"{k}: {s.description}" for k, s in SAMPLES.items()))
    demo.add_argument("target", nargs="?", default="digits", choices=tuple(SAMPLES),
                      help="which sample model (default: digits)")
    _common(demo)
    report = sub.add_parser("report", help="report on a weights file or checkpoint directory")
    report.add_argument("weights", help="safetensors (file or sharded index/dir), Flax msgpack, "
                        "Orbax checkpoint directory, .npz; with extras: PyTorch state dict, ONNX, Keras .h5")
    report.add_argument("--layout", choices=("flax", "pytorch"),
                        help="kernel layout, when the names do not tell (flax: in,out/HWIO; pytorch: out,in/OIHW)")
    report.add_argument("--model", metavar="MODULE:FACTORY",
                        help="a function returning a reportgen.ModelSpec (e.g. mypkg.models:spec or models.py:spec); "
                        "enables the model-level sections (saliency, circuits, bias, per-class importance)")
    report.add_argument("--inputs", metavar="NPZ",
                        help="examples for the model: an .npz with 'inputs' (or 'x'), optional 'labels' (or 'y') "
                        "and 'groups'; replaces the ModelSpec's own")
    report.add_argument("--sensitive-features", metavar="NAMES",
                        help="comma-separated feature names (or indices) the bias audit examines; replaces the "
                        "ModelSpec's own")
    report.add_argument("--training-log", metavar="NPZ",
                        help="a reportgen.TrainingRecorder log: adds the training-dynamics section")
    report.add_argument("--compare", metavar="WEIGHTS",
                        help="another checkpoint of the same model (e.g. the base of a fine-tune, or an earlier "
                        "step): adds the checkpoint-diff section")
    _common(report)
    return parser


def _run(args: argparse.Namespace) -> int:
    from .api import generate_report
    from .config import load_config
    from .progress import Progress

    config = load_config(args.config, sections=args.sections, layout=getattr(args, "layout", None),
                         progress=not args.quiet, disk_cache=True, timings=args.timings or None,
                         max_report_mb=args.max_mb, device=args.device)
    progress = Progress(enabled=config.progress)
    from .modelspec import check_spec, load_factory, load_inputs

    if args.command == "demo":
        from .samples import model_spec, sample_extras, weights_path

        source, spec = weights_path(args.target), model_spec(args.target)
        training_log, compare = sample_extras(args.target)
    else:
        source, spec = args.weights, None
        training_log, compare = args.training_log, args.compare
        for flag, value in (("--inputs", args.inputs), ("--sensitive-features", args.sensitive_features)):
            if value and not args.model:
                raise InputError(f"{flag} needs --model: it describes the examples fed to the model it names")
        if args.model:
            with progress.phase(f"loading the model {args.model}"):
                spec = load_factory(args.model)
                spec = check_spec(spec, f"--model {args.model}")
                if args.inputs:
                    spec = load_inputs(args.inputs, spec)
                if args.sensitive_features:
                    spec = dataclasses.replace(spec, sensitive_features=tuple(
                        int(f) if f.strip().isdigit() else f.strip() for f in args.sensitive_features.split(",")))
                spec = check_spec(spec, f"--model {args.model}")
    analysis = generate_report(source, out=args.output, config=config, json_out=args.json_out,
                               spec=spec, progress=progress, card_out=args.model_card,
                               training_log=training_log, compare=compare)
    if args.fail_on:
        worst = [a for a in analysis.alerts if _SEVERITY[a.severity] >= _SEVERITY[args.fail_on]]
        if worst:
            progress.note(f"{len(worst)} alert(s) at --fail-on {args.fail_on} or worse")
            return EXIT_FAIL_ON
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help/--version exit 0; usage errors exit 2
        return int(exc.code or 0)
    try:
        return _run(args)
    except InputError as exc:
        if args.debug:
            raise
        print(f"reportgen: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("reportgen: interrupted; no report written", file=sys.stderr)
        return 130


def entrypoint() -> None:
    # SIGTERM behaves like Ctrl-C: the atomic writer then leaves no partial file behind.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    sys.exit(main())
