"""The ``aae-lab`` command line: train, train-images, sample, encode, interpolate, optimize, evaluate, compare, app.

Every sub-command exits with status 0 on success and 2 with a one-line ``error: ...`` on bad input (arguments,
files, checkpoints) or when an output cannot be written; outputs are checked before any work and written
atomically, so a failed command leaves nothing half-written. ``train`` stopped by a signal (Ctrl-C, ``kill``)
writes a resumable checkpoint and exits with 128 + the signal number.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import json
import os
import platform
import shlex
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from aae_core import __version__
from aae_core.config import AUTOCAST, DECODE_BATCH, MAX_SCORED, ModelConfig, TrainConfig, field_help, from_dict
from aae_core.exceptions import AAELabError, ConfigError, DataError
from aae_core.images.training import ImageConfig

SHIPPED_AAE = Path(__file__).resolve().parents[1] / "checkpoints" / "aae_moses.safetensors"
MAX_SAMPLES = 1_000_000  # sample -n: streamed to the output; the prior codes alone take n * latent_dim * 4 bytes
MAX_BATCH = 10_000  # sample --batch-size: rows decoded at once
MAX_STEPS = 1_000  # interpolate --steps
MAX_SEED = 2**32 - 1
MAX_BUDGET = 100_000  # optimize --budget and -n: molecules decoded in one search (about 10 ms each on a CPU)


# -- argument helpers ------------------------------------------------------------------------------
class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` (also for sub-commands) whose usage errors are one line, ``error: <command>: ...``,
    with exit status 2."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def whole(low: int, high: int | None = None):
    """Argument type: a whole number in [``low``, ``high``] (no upper bound when ``high`` is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bounds = f"between {low:,} and {high:,}" if high is not None else f">= {low:,}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value:,}")
        return value

    return parse


def shares(text: str) -> tuple[float, ...]:
    """Argument type: comma-separated numbers in [0, 1), at most 10 of them."""
    try:
        values = tuple(map(float, text.split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a comma-separated list of numbers") from None
    if not 1 <= len(values) <= 10 or not all(0 <= value < 1 for value in values):
        raise argparse.ArgumentTypeError(f"must be 1 to 10 numbers in [0, 1), comma-separated; got {text[:40]}")
    return values


def positive(text: str) -> float:
    """Argument type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text[:40]}")
    return value


def parse_prior(text: str) -> dict:
    """``"mixture,k=10,radius=4"`` -> ``{"name": "mixture", "k": 10, "radius": 4.0}``."""
    name, *params = text.split(",")
    spec: dict = {"name": name.strip()}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"prior parameter {item!r} must look like key=value")
        spec[key.strip()] = int(value) if value.strip().lstrip("-").isdigit() else float(value)
    return spec


def _add_config_options(parser: argparse.ArgumentParser, cls, skip: Sequence[str] = ()) -> None:
    """One ``--field-name`` option per dataclass field (except ``skip``), typed from its default, its help the
    field's comment (:func:`field_help`); unset means default."""
    group = parser.add_argument_group(f"{cls.__name__} (defaults: the shipped model)")
    meanings = field_help(cls)
    for field in (f for f in dataclasses.fields(cls) if f.name not in skip):
        default = field.default_factory() if field.default is dataclasses.MISSING else field.default
        flag = "--" + field.name.replace("_", "-")
        meaning = f"{meanings[field.name].replace('%', '%%')}; " if field.name in meanings else ""
        if field.name == "prior":
            group.add_argument(flag, type=parse_prior, default=None,
                               help=f"{meaning}e.g. 'gaussian,sigma=1'; default {default}")
        elif isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                               help=f"{meaning}default {default}")
        elif isinstance(default, list):
            item = str if "str" in str(field.type) else int
            group.add_argument(flag, type=lambda s, item=item: [item(x) for x in s.split(",")], default=None,
                               help=f"{meaning}comma-separated, default {','.join(map(str, default)) or 'none'}")
        else:
            kind = type(default) if default is not None else next(
                t for t in (str, int, float) if t.__name__ in str(field.type) or t is float)
            kind = str if field.name in ("smiles_column",) else kind
            group.add_argument(flag, type=kind, default=None, help=f"{meaning}default {default}")


def _config_from_args(cls, args: argparse.Namespace, base: dict | None = None):
    values = dict(base or {})
    for field in dataclasses.fields(cls):
        value = getattr(args, field.name, None)
        if value is not None:
            values[field.name] = value
    return from_dict(cls, values)


def _is_file(text: str) -> bool:
    """Whether ``text`` names an existing file (False for strings that cannot be paths, e.g. 255+ characters)."""
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def _read_smiles_arg(values: Sequence[str], file: str | None, generator) -> list[str]:
    """SMILES given on the command line (each checked against the length limit before any parser sees it), or
    the valid molecules of a file (``--file``, or a single value naming an existing file; at most
    :data:`MAX_SAMPLES`) with its load report printed: rows the model cannot read (unparsable, unknown tokens, too
    long, duplicates) are left out."""
    from aae_core.molecules.chem import check_smiles_length
    from aae_core.molecules.data import load_molecules

    if file is None and len(values) == 1 and _is_file(values[0]):
        file = values[0]
    elif file is not None and values:
        raise ConfigError("give SMILES or --file, not both")
    if file is None:
        if not values:
            raise ConfigError("give one or more SMILES, or --file with a .smi/.csv/.sdf file")
        return [check_smiles_length(s, "SMILES" if len(values) == 1 else f"SMILES {i}") for i, s in
                enumerate(values, start=1)]
    tokenizer = generator.tokenizer
    molecules = load_molecules(file, tokenizer=tokenizer, max_len=tokenizer.max_len)
    print(_report_line(molecules.report.to_dict()), file=sys.stderr)
    if len(molecules) > MAX_SAMPLES:
        raise DataError(f"{Path(file).name} has {len(molecules):,} molecules, over the limit of {MAX_SAMPLES:,} "
                        "encoded at once: split it")
    return molecules.smiles


def _write_frame(frame: pd.DataFrame, out: str | None) -> None:
    """``frame`` as CSV to ``out`` (atomically) or to standard output."""
    with _csv_output(out) as handle:
        frame.to_csv(handle, index=False)
    if out:
        print(f"wrote {len(frame)} rows to {out}", file=sys.stderr)


@contextlib.contextmanager
def _csv_output(out: str | None):
    """A text handle: to a temporary file that replaces ``out`` when the block succeeds, or standard output."""
    if not out:
        yield sys.stdout
        return
    from aae_core.checkpoints import atomic_output

    with atomic_output(out) as tmp, open(tmp, "w", newline="") as handle:
        yield handle


def _check_out(args: argparse.Namespace) -> None:
    """Check ``--out`` can be written, before any work."""
    from aae_core.checkpoints import check_output

    if getattr(args, "out", None):
        check_output(args.out)


def _generator(path: str, command: str, autocast: str = "auto", constrained: bool = False):
    """A generator on the molecule model at ``path`` (``constrained``: syntax-constrained SMILES decoding);
    :class:`CheckpointError` for an image model."""
    from aae_core.checkpoints import require_family
    from aae_core.molecules.generation import MoleculeGenerator
    from aae_core.registry import load_model

    require_family(path, "molecules", f"aae-lab {command}")
    return MoleculeGenerator(load_model(path), autocast=autocast, constrained=constrained)


# -- sub-commands ----------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from aae_core.checkpoints import check_output
    from aae_core.molecules.pipeline import resume_molecules, train_molecules
    from aae_core.training import finish_distributed, init_distributed

    check_output(args.out, create_folder=not args.resume)
    distributed = init_distributed()
    progress = TrainProgress(quiet=args.quiet or (distributed and torch.distributed.get_rank() > 0))
    stop, received = threading.Event(), []
    handlers = _stop_on_signals(stop, received)
    try:
        if args.resume:
            overrides = {k: getattr(args, k) for k in ("epochs", "time_budget_s", "max_steps")
                         if getattr(args, k) is not None}
            history = resume_molecules(args.out, overrides, callbacks=[progress], stop_event=stop)
        else:
            model_cfg = _config_from_args(ModelConfig, args)
            train_cfg = _config_from_args(TrainConfig, args)
            history = train_molecules(model_cfg, train_cfg, args.out, _card(args), callbacks=[progress],
                                      stop_event=stop)
        finish_distributed()
    finally:
        progress.close()
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    if received:
        name = signal.Signals(received[0]).name
        print(f"stopped by {name}: resumable checkpoint written to {args.out}; continue with aae-lab train --out "
              f"{shlex.quote(args.out)} --resume", file=sys.stderr)
        return 128 + received[0]
    last = history.epochs[-1] if history.epochs else {}
    print(f"checkpoint: {args.out}  epochs done: {len(history.epochs)}  last epoch: {json.dumps(last)}")
    return 0


def _stop_on_signals(stop: threading.Event, received: list[int]) -> dict:
    """Make Ctrl-C and SIGTERM (``kill``) set ``stop`` and append their number to ``received``, so training ends
    after the current step with a checkpoint; returns the previous handlers (none are installed outside the main
    thread)."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handle(signum: int, _frame) -> None:
        received.append(signum)
        stop.set()

    return {signum: signal.signal(signum, handle) for signum in (signal.SIGINT, signal.SIGTERM)}


def cmd_train_images(args: argparse.Namespace) -> int:
    from aae_core.checkpoints import check_output, finish_checkpoint
    from aae_core.images.metrics import evaluate_image_model
    from aae_core.images.training import train_images

    check_output(args.out, create_folder=True)
    cfg, train_cfg = _config_from_args(ImageConfig, args), _config_from_args(TrainConfig, args)
    progress, wall, cpu = TrainProgress(quiet=args.quiet), time.perf_counter(), time.process_time()
    try:
        history, model, prepared = train_images(cfg, train_cfg, args.out, _card(args), callbacks=[progress])
    finally:
        progress.close()
    card = {"seed": train_cfg.seed, "data": prepared.report(), "wall_s": round(time.perf_counter() - wall, 3),
            "cpu_s": round(time.process_time() - cpu, 3), "epochs_done": len(history.epochs),
            "metrics": evaluate_image_model(model, prepared, cfg.model)}
    finish_checkpoint(args.out, card)
    print(f"checkpoint: {args.out}  {json.dumps(card)}")
    return 0


def _card(args: argparse.Namespace) -> dict:
    return {"name": Path(args.out).stem, "command": "aae-lab " + shlex.join(args.argv),
            "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "aae_lab_version": __version__,
            "torch": torch.__version__, "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
            "threads": torch.get_num_threads()}


class TrainProgress:
    """Trainer callback: a tqdm bar over the batches of the current epoch, one JSON line per epoch."""

    TERMS = ("reconstruction", "discriminator", "generator", "kl", "supervised")

    def __init__(self, quiet: bool):
        self.quiet, self.bar = quiet, None

    def __call__(self, event: str, record: dict) -> None:
        from tqdm import tqdm

        if event == "data":
            print(_report_line(record), file=sys.stderr)
        elif event == "step" and not self.quiet:
            if self.bar is None or self.bar.total != record["batches"] or record["batch"] < self.bar.n:
                self.close()
                self.bar = tqdm(total=record["batches"], initial=record["batch"] - 1, unit="batch", dynamic_ncols=True)
            self.bar.set_description(f"epoch {record['epoch'] + 1}")
            self.bar.set_postfix({k: f"{record[k]:.3f}" for k in self.TERMS if k in record}, refresh=False)
            self.bar.update(record["batch"] - self.bar.n)
        elif event == "epoch":
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()}),
                  file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _report_line(report: dict) -> str:
    rejected = ", ".join(f"{k} {v}" for k, v in report["rejected"].items() if v) or "none"
    return f"data {report['source']}: read {report['rows_read']}, kept {report['kept']}, rejected: {rejected}"


def cmd_sample(args: argparse.Namespace) -> int:
    _check_out(args)
    generator = _generator(args.model, "sample", args.autocast, args.constrained)
    chunks = generator.iter_sample_marked(args.n, args.temperature, args.greedy, args.seed, args.batch_size)
    valid = 0
    with _csv_output(args.out) as handle:
        for index, (smiles, marked) in enumerate(chunks):
            pd.DataFrame({"smiles": smiles, "valid": marked}).to_csv(handle, header=index == 0, index=False)
            valid += int(marked.sum())
    if args.out:
        print(f"wrote {args.n} rows to {args.out}", file=sys.stderr)
    print(f"{valid}/{args.n} valid ({valid / args.n:.3f})", file=sys.stderr)
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    _check_out(args)
    generator = _generator(args.model, "encode", constrained=args.constrained)
    smiles = _read_smiles_arg(args.smiles, args.file, generator)
    z = generator.encode(smiles).numpy()
    frame = pd.DataFrame(z, columns=[f"z{i}" for i in range(z.shape[1])])
    frame.insert(0, "smiles", smiles)
    if args.reconstruct:
        frame.insert(1, "reconstruction", generator.decode(torch.from_numpy(z), greedy=True))
    _write_frame(frame, args.out)
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    from aae_core.molecules.chem import check_smiles_length

    start, end = check_smiles_length(args.start, "start SMILES"), check_smiles_length(args.end, "end SMILES")
    _check_out(args)
    generator = _generator(args.model, "interpolate")
    _write_frame(generator.interpolate(start, end, args.steps, args.method), args.out)
    return 0


def cmd_optimize(args: argparse.Namespace) -> int:
    from aae_core.molecules.optimize_cli import optimize_cli

    return optimize_cli(args)


def _metrics_threads(args: argparse.Namespace) -> None:
    """evaluate / compare: the RDKit work runs in one worker process per core, so torch (sampling, ChemNet,
    Tanimoto) gets one thread unless --threads says otherwise (OpenMP threads competing with the workers for
    the cores spin: ChemNet took 6x the CPU time with 2 threads next to busy workers)."""
    if args.threads is None:
        torch.set_num_threads(1)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from aae_core.molecules.metrics import evaluate_cli

    _metrics_threads(args)
    return evaluate_cli(args)


def cmd_compare(args: argparse.Namespace) -> int:
    from aae_core.molecules.compare import REPORT_COLUMNS, compare_runs, metrics_table
    from aae_core.molecules.metrics import ProgressBar

    _metrics_threads(args)
    with ProgressBar(disable=args.quiet) as progress:  # one tqdm bar per step on stderr
        reports = compare_runs(args.runs, args.out, args.n, args.seed, args.reference, args.train, args.held_out,
                               args.n_held_out, "aae-lab " + shlex.join(args.argv), args.annotate, n_jobs=-1,
                               progress=progress, n_pool=args.n_pool)
    table = metrics_table({r.name: r.metrics for r in reports})
    print(table[[c for c in REPORT_COLUMNS if c in table.columns]].to_string(float_format="{:.3f}".format))
    print(f"report written to {args.out}", file=sys.stderr)
    return 0


#: What the app's first script run imports before it draws anything (torch is imported above).
DASHBOARD_IMPORTS = ("aae_core.registry", "aae_core.molecules.families", "aae_core.molecules.generation",
                     "aae_core.images.training", "streamlit", "plotly.graph_objects")


def cmd_dashboard(args: argparse.Namespace) -> int:
    app = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
    if not app.is_file():
        raise AAELabError(f"the dashboard is not installed next to aae_core (looked for {app})")
    for module in DASHBOARD_IMPORTS:  # imported before the server listens, so the first page does not wait for them
        importlib.import_module(module)  # (the server runs in this process: bench/bench_browser.py --cold)
    from streamlit.web import cli as streamlit_cli

    return streamlit_cli.main(["run", str(app), "--server.port", str(args.port), "--server.address", args.address,
                               "--server.headless", "true"], prog_name="streamlit")


# -- parser ----------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="aae-lab", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"aae-lab {__version__}")
    parser.add_argument("--threads", type=whole(1, 1024), default=None,
                        help="CPU threads for PyTorch (default: all cores; evaluate and compare: 1, as their "
                             "RDKit work runs in one process per core)")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a molecule model (AAE by default) and write a checkpoint")
    train.add_argument("--out", required=True,
                       help="checkpoint path (.safetensors; its folder is created), rewritten atomically")
    train.add_argument("--resume", action="store_true", help="continue the run saved at --out")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_config_options(train, ModelConfig)
    _add_config_options(train, TrainConfig)
    train.set_defaults(func=cmd_train)

    sample = sub.add_parser("sample", help="sample molecules from the prior and decode them (CSV)")
    _model_option(sample)
    sample.add_argument("-n", type=whole(1, MAX_SAMPLES), default=1000,
                        help=f"number of samples, 1 to {MAX_SAMPLES:,} (default 1000)")
    sample.add_argument("--temperature", type=positive, default=1.0)
    sample.add_argument("--greedy", action="store_true", help="argmax decoding instead of sampling")
    sample.add_argument("--seed", type=whole(0, MAX_SEED), default=0)
    sample.add_argument("--batch-size", type=whole(1, MAX_BATCH), default=DECODE_BATCH,
                        help="rows decoded together, each chunk with its own random stream (default %(default)s)")
    sample.add_argument("--autocast", choices=AUTOCAST, default="auto",
                        help="bf16 decoding: auto (where bf16 is fast: AVX-512-BF16 CPUs, GPUs), bf16 or off")
    sample.add_argument("--out", help="CSV file, written as the samples come (default: standard output)")
    _constrained_option(sample)
    sample.set_defaults(func=cmd_sample)

    encode = sub.add_parser("encode", help="latent codes of SMILES (CSV: smiles, z0..)")
    _model_option(encode)
    encode.add_argument("smiles", nargs="*", help="SMILES strings (or the path of one .smi/.csv/.sdf file)")
    encode.add_argument("--file", help="encode the valid molecules of this .smi/.csv/.sdf file (load report on stderr)")
    encode.add_argument("--reconstruct", action="store_true", help="also decode each code back (greedy)")
    encode.add_argument("--out", help="CSV file (default: standard output)")
    _constrained_option(encode)
    encode.set_defaults(func=cmd_encode)

    interp = sub.add_parser("interpolate", help="decode the latent path between two molecules")
    _model_option(interp)
    interp.add_argument("start")
    interp.add_argument("end")
    interp.add_argument("--steps", type=whole(2, MAX_STEPS), default=8)
    interp.add_argument("--method", choices=["linear", "spherical"], default="linear")
    interp.add_argument("--out", help="CSV file (default: standard output)")
    interp.set_defaults(func=cmd_interpolate)

    optimize = sub.add_parser(
        "optimize", help="search the latent space for analogues of a molecule that improve an objective (CSV)",
        description="Lead optimisation: from the start molecule's latent code (fitted to the decoder), search for "
                    "decoded molecules that improve --objective while keeping every constraint. Writes CSV, best "
                    "first: smiles, similarity (Tanimoto to the start), objective, QED, logP, SA, MW, penalized_logP "
                    "of the distinct valid molecules found (other than the start); only the header when none is "
                    "found. The start molecule's own values go to standard error, in a line 'start SMILES: "
                    "objective ...', followed by a summary of the search.")
    _model_option(optimize)
    optimize.add_argument("smiles", help="the start molecule (SMILES, at most 1,000 characters)")
    optimize.add_argument("--objective", default="plogp",
                          help="what to maximise: qed, plogp (penalized logP), sa (minus the SA score), logp[LO,HI] "
                               "or mw[LO,HI] (minus the distance to the window), or a weighted sum such as "
                               "'qed:1,plogp:0.5' (default plogp)")
    optimize.add_argument("--min-similarity", type=float, default=0.4,
                          help="Tanimoto similarity to the start (Morgan radius 2, 2048 bits) that every molecule "
                               "written keeps, 0 to 1 (default 0.4)")
    optimize.add_argument("--smarts", action="append", metavar="SMARTS",
                          help="a substructure every molecule written keeps, e.g. the start's scaffold (repeatable; "
                               "the start molecule must contain it)")
    optimize.add_argument("--lipinski", type=whole(0, 4), default=None, metavar="N",
                          help="at most N Lipinski rule-of-five violations, 0 to 4 (default: no limit)")
    optimize.add_argument("-n", type=whole(1, MAX_BUDGET), default=20,
                          help="write the N best molecules found (default 20)")
    optimize.add_argument("--budget", type=whole(1, MAX_BUDGET), default=500,
                          help=f"molecules decoded in the whole search, 1 to {MAX_BUDGET:,} (default 500)")
    optimize.add_argument("--method", choices=["cmaes", "gradient"], default="cmaes",
                          help="cmaes: CMA-ES around the start code; gradient: ascent on a property regressor of the "
                               "codes, its neighbourhood decoded at every step (default cmaes)")
    optimize.add_argument("--popsize", type=whole(2, 1000), default=16,
                          help="codes decoded per batch (CMA-ES population, default 16)")
    optimize.add_argument("--sigma0", type=positive, default=0.5,
                          help="CMA-ES initial step size; gradient: spread of the proposals (default 0.5 latent units)")
    optimize.add_argument("--step", type=positive, default=0.5,
                          help="gradient: length of one step (latent units, default 0.5)")
    optimize.add_argument("--refine-steps", type=whole(0, 10_000), default=300,
                          help="Adam steps fitting the start code to the decoder before the search (0: the "
                               "encoder's code; default 300)")
    optimize.add_argument("--temperature", type=positive, default=None,
                          help="decode by sampling tokens at this temperature (default: greedy decoding)")
    optimize.add_argument("--anchors", type=shares, default=None, metavar="A[,A...]",
                          help="anchored decoding: one search per share A, each with its part of the budget, whose "
                               "molecules all start with the first A of the start's SMILES tokens (0: free "
                               "decoding; default 0.8,0.6,0.4)")
    optimize.add_argument("--seed", type=whole(0, MAX_SEED), default=0)
    optimize.add_argument("--out", help="CSV file, written when the search ends (default: standard output)")
    optimize.add_argument("--quiet", action="store_true", help="no progress bar")
    _constrained_option(optimize)
    optimize.set_defaults(func=cmd_optimize)

    evaluate = sub.add_parser("evaluate", help="MOSES/GuacaMol metrics of a model's samples or a SMILES file")
    _model_option(evaluate)
    evaluate.add_argument("--samples", help="evaluate this SMILES or SDF file instead of sampling the model")
    evaluate.add_argument("-n", type=whole(1, MAX_SCORED), default=10000,
                          help=f"samples to draw from the model, 1 to {MAX_SCORED:,} (default 10000)")
    evaluate.add_argument("--temperature", type=positive, default=1.0)
    evaluate.add_argument("--seed", type=whole(0, MAX_SEED), default=0)
    evaluate.add_argument("--reference", default="moses-test", help="reference set: 'moses-test' or a file")
    evaluate.add_argument("--train", default="moses-train", help="training set for novelty: name or file")
    evaluate.add_argument("--out", help="write the metrics as .csv or .json")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bars")
    evaluate.set_defaults(func=cmd_evaluate)

    images = sub.add_parser("train-images", help="train an image model (digits, MNIST-format files)")
    images.add_argument("--out", required=True,
                        help="checkpoint path (.safetensors; its folder is created), rewritten atomically")
    images.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_config_options(images, ImageConfig)
    _add_config_options(images, TrainConfig, skip=("data", "smiles_column", "max_molecules", "monitor_samples"))
    images.set_defaults(func=cmd_train_images)

    compare = sub.add_parser("compare", help="compare checkpoints: MOSES metrics, loss curves, latent quality")
    compare.add_argument("runs", nargs="+", help="checkpoints (.safetensors) to compare")
    compare.add_argument("-n", "--n", type=whole(1, MAX_SCORED), default=2000,
                         help=f"prior samples per model, 1 to {MAX_SCORED:,} (default 2000)")
    compare.add_argument("--seed", type=whole(0, MAX_SEED), default=0)
    compare.add_argument("--reference", default="moses-test", help="reference set: 'moses-test' or a file")
    compare.add_argument("--train", default="moses-train", help="training set for novelty: name or file")
    compare.add_argument("--held-out", default="moses-test", help="held-out molecules for latent quality")
    compare.add_argument("--n-held-out", type=whole(1, MAX_SCORED), default=1000,
                         help="first N held-out rows (default 1000)")
    compare.add_argument("--n-pool", type=whole(0, MAX_SCORED), default=10_000,
                         help="training molecules (first N of --train) among which each held-out molecule's 5 "
                              "nearest latent neighbours are found (0: skip; default 10000)")
    compare.add_argument("--out", default="compare-report", help="report folder (default ./compare-report)")
    compare.add_argument("--annotate", action="store_true", help="also store each run's numbers in its card")
    compare.add_argument("--quiet", action="store_true", help="no progress bars")
    compare.set_defaults(func=cmd_compare)

    dash = sub.add_parser("dashboard", help="open the Streamlit app on the shipped models")
    dash.add_argument("--port", type=whole(1, 65535), default=8501)
    dash.add_argument("--address", default="127.0.0.1",
                      help="interface to listen on (default: this machine only; 0.0.0.0 for all)")
    dash.set_defaults(func=cmd_dashboard)
    return parser


def _constrained_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--constrained", action="store_true",
                        help="syntax-constrained SMILES decoding: no unbalanced branch or unclosed ring")


def _model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=str(SHIPPED_AAE), help="checkpoint (default: the shipped MOSES AAE)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return args.func(args)
    except BrokenPipeError:  # the reader went away (`aae-lab sample | head`): stop quietly, as `yes | head` does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes stdout
        return 128 + signal.SIGPIPE
    except (AAELabError, ValueError, OSError) as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; outputs are written whole or not at all", file=sys.stderr)
        return 128 + signal.SIGINT


def _one_line(err: Exception, limit: int = 1000) -> str:
    """The message of ``err`` on one line of at most ``limit`` characters (an OSError names its file)."""
    text = str(err)
    if isinstance(err, OSError) and err.strerror:
        text = f"{err.strerror}: {err.filename}" if err.filename else err.strerror
    text = " ".join(text.split()) or type(err).__name__
    return text if len(text) <= limit else text[:limit] + "..."


if __name__ == "__main__":
    sys.exit(main())
