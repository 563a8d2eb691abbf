"""Progress of the long steps of the metrics: a callback hook for any front end, and a tqdm bar for the CLI.

A progress callback is any callable ``progress(stage, done, total)``:

- ``stage`` (str): a short label of the step, e.g. ``"reference: ChemNet activations"`` or ``"SNN"``;
- ``done``, ``total`` (int): items finished so far and in all (molecules unless the label says otherwise).

Each step calls it with ``done=0`` when it starts, as work completes (at most every few hundred molecules), and
with ``done == total`` when it ends. Steps follow one another: a new label means the previous step is over.
Every call comes from the thread that called the metrics function (worker processes report through it), so a
Streamlit page can update an ``st.progress`` element from the callback. ``None`` reports nothing. The callback
must not raise; an exception it raises propagates and aborts the computation.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TextIO, TypeVar

__all__ = ["Progress", "ProgressBar", "report", "sample_with_progress", "tracked"]

#: ``progress(stage, done, total)``, see the module docstring.
Progress = Callable[[str, int, int], None]

T = TypeVar("T")


def report(progress: Progress | None, stage: str, done: int, total: int) -> None:
    """Call ``progress(stage, done, total)`` unless ``progress`` is ``None``."""
    if progress is not None:
        progress(stage, int(done), int(total))


def tracked(progress: Progress | None, stage: str, chunks: Iterable[Sequence[T]], total: int) -> Iterator[Sequence[T]]:
    """Yield ``chunks`` unchanged, reporting ``stage`` with ``done=0`` first and after each chunk is consumed
    the running count of items (``len`` of the chunks so far) out of ``total``."""
    report(progress, stage, 0, total)
    done = 0
    for chunk in chunks:
        yield chunk
        done += len(chunk)
        report(progress, stage, done, total)
    if done != total:  # e.g. no chunk at all: still close the step
        report(progress, stage, total, total)


class ProgressBar:
    """A :data:`Progress` callback that draws one tqdm bar per step on ``file`` (default standard error).

    The bar of a step closes (and stays on screen, with its elapsed time) when the step reports
    ``done == total`` or when the next step starts. Use as a context manager, or call :meth:`close`, to
    close the last bar if a step was interrupted.

    Parameters
    ----------
    file : text stream, optional
        Where to draw (default ``sys.stderr``).
    disable : bool
        Draw nothing (the callback still accepts calls).
    unit : str
        Unit shown after the rates.
    """

    def __init__(self, file: TextIO | None = None, disable: bool = False, unit: str = "mol"):
        self.file = file
        self.disable = disable
        self.unit = unit
        self._bar = None
        self._stage: str | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.disable:
            return
        if self._bar is None or stage != self._stage:
            self.close()
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=stage, unit=self.unit, file=self.file or sys.stderr,
                             dynamic_ncols=True, mininterval=0.5, unit_scale=total >= 10_000)
            self._stage = stage
        if done >= total:  # the last state is drawn once, by close
            self._bar.n = done
            self.close()
        else:
            self._bar.update(done - self._bar.n)

    def close(self) -> None:
        """Close the bar of the current step, if one is open."""
        if self._bar is not None:
            self._bar.close()
        self._bar, self._stage = None, None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def sample_with_progress(generator, n: int, temperature: float = 1.0, seed: int | None = 0,
                         progress: Progress | None = None, stage: str = "sampling") -> list[str]:
    """``generator.sample(n, temperature, seed=seed)`` (a :class:`~aae_core.molecules.generation.MoleculeGenerator`),
    reporting each decoded chunk: the same strings, from :meth:`~aae_core.molecules.generation.MoleculeGenerator.
    iter_sample_marked` with its default chunk size.

    Returns
    -------
    list of str
        ``n`` strings, canonical SMILES where valid (the MOSES sampling contract).
    """
    smiles: list[str] = []
    report(progress, stage, 0, n)
    for chunk, _ in generator.iter_sample_marked(n, temperature, seed=seed):
        smiles += chunk
        report(progress, stage, len(smiles), n)
    return smiles
