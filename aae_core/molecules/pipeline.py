"""Train a molecule model end to end: load and validate data, fit the tokenizer, build, train, save.

Used by ``aae-lab train`` and the dashboard's Train page (which runs it in a worker thread).
"""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from aae_core.checkpoints import check_output, load_checkpoint, require_family
from aae_core.config import ModelConfig, TrainConfig, from_dict, to_dict
from aae_core.exceptions import CheckpointError
from aae_core.molecules import chem
from aae_core.molecules.data import LoadReport, load_molecules
from aae_core.molecules.families import build_model
from aae_core.molecules.sequences import SequenceDataset
from aae_core.molecules.tokenizers import Tokenizer, make_tokenizer
from aae_core.training import Callback, History, Trainer, seed_everything


def validity_monitor(tokenizer: Tokenizer, n: int, seed: int = 1234):
    """Monitor for :class:`~aae_core.training.Trainer`: validity and uniqueness of ``n`` prior samples."""

    def monitor(model) -> dict[str, float]:
        from aae_core.molecules.generation import MoleculeGenerator
        from aae_core.registry import LoadedModel

        device = str(next(model.parameters()).device)
        generator = MoleculeGenerator(LoadedModel(model, tokenizer, None, {}, Path(".")), device=device)
        samples, marked = generator.sample_marked(n, seed=seed)
        valid = [s for s, ok in zip(samples, marked, strict=True) if ok]
        return {"validity": len(valid) / n, "uniqueness": len(set(valid)) / max(len(valid), 1)}

    return monitor


class PropertyDataset:
    """A :class:`SequenceDataset` whose batches also hold ``properties``, (batch, k) float32."""

    def __init__(self, dataset: SequenceDataset, values: torch.Tensor):
        self.dataset, self.values = dataset, values

    def __len__(self) -> int:
        return len(self.dataset)

    def batch(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        return {**self.dataset.batch(indices), "properties": self.values[indices]}


def property_values(smiles: list[str], names: list[str]) -> torch.Tensor:
    """Properties ``names`` (see :data:`aae_core.molecules.chem.PROPERTY_NAMES`) of valid SMILES, (n, k) float32."""
    return torch.tensor([[row[name] for name in names] for row in chem.properties_of_smiles(smiles)],
                        dtype=torch.float32)


def prepare_data(model_cfg: ModelConfig, train_cfg: TrainConfig, tokenizer: Tokenizer | None = None,
                 ) -> tuple[SequenceDataset | PropertyDataset, Tokenizer, LoadReport]:
    """Load ``train_cfg.data``, fit a tokenizer (unless one is given) and tokenize; with
    ``model_cfg.properties``, also compute those properties of every molecule."""
    fresh = make_tokenizer(model_cfg.representation, model_cfg.max_len)
    molecules = load_molecules(train_cfg.data, train_cfg.smiles_column, tokenizer=tokenizer or fresh,
                               max_len=model_cfg.max_len, max_rows=train_cfg.max_molecules)
    tokenizer = tokenizer or fresh.fit(molecules.smiles)
    dataset = SequenceDataset(molecules.smiles, tokenizer)
    if model_cfg.properties:
        dataset = PropertyDataset(dataset, property_values(molecules.smiles, model_cfg.properties))
    return dataset, tokenizer, molecules.report


def train_molecules(model_cfg: ModelConfig, train_cfg: TrainConfig, out: str | Path, card: dict | None = None,
                    callbacks: list[Callback] | None = None, stop_event: threading.Event | None = None,
                    ) -> History:
    """Train a molecule model and write its checkpoint to ``out``: a new one, or with ``train_cfg.init_from``
    one that starts from another checkpoint's weights and tokenizer (fine-tuning; training options such as
    ``posterior_noise`` may differ, the architecture may not).

    Raises
    ------
    OutputError
        If ``out`` cannot be written (checked first, before any data is read; its folder is created).
    CheckpointError
        If ``init_from`` is not a readable checkpoint of the same architecture as ``model_cfg``.
    """
    check_output(out, "checkpoint", create_folder=True)
    seed_everything(train_cfg.seed)
    model, tokenizer = _warm_start(model_cfg, train_cfg.init_from) if train_cfg.init_from else (None, None)
    dataset, tokenizer, report = prepare_data(model_cfg, train_cfg, tokenizer)
    _emit_report(callbacks, report)
    if model is None:
        model = build_model(model_cfg, tokenizer.vocab_size)
    if model_cfg.properties:
        model.property_head.fit_scaling(dataset.values)
    meta = {"model_config": to_dict(model_cfg), "tokenizer": tokenizer.to_dict(),
            "data_report": report.to_dict(), "card": card or {}}
    trainer = Trainer(model, dataset, train_cfg, meta, out, validity_monitor(tokenizer, train_cfg.monitor_samples),
                      callbacks, stop_event)
    return trainer.fit()


def _emit_report(callbacks: list[Callback] | None, report: LoadReport) -> None:
    for callback in callbacks or []:
        callback("data", report.to_dict())


def _warm_start(model_cfg: ModelConfig, path: str) -> tuple[torch.nn.Module, Tokenizer]:
    """A model built from ``model_cfg`` holding the weights of the checkpoint at ``path``, and that checkpoint's
    tokenizer (checked before any data is read); raises :class:`CheckpointError` if the file is not a molecule
    checkpoint or its weights do not fit that architecture."""
    require_family(path, "molecules", "--init-from")
    ckpt = load_checkpoint(path)
    tokenizer = Tokenizer.from_dict(ckpt.meta["tokenizer"])
    model = build_model(model_cfg, tokenizer.vocab_size)
    state = {name: value for name, value in ckpt.model_state.items() if name != "step"}
    state.update({name: value for name, value in model.state_dict().items() if name == "step"})  # schedules restart
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"cannot start from {Path(path).name}: its architecture differs from this run's "
                              f"configuration ({str(err).splitlines()[-1].strip()}); pass the same model options "
                              "as the checkpoint's card") from err
    return model, tokenizer


def resume_molecules(path: str | Path, overrides: dict | None = None, callbacks: list[Callback] | None = None,
                     stop_event: threading.Event | None = None) -> History:
    """Continue the run saved at ``path`` with its own configuration; ``overrides`` may change
    ``epochs`` or ``time_budget_s`` (e.g. to train longer). The callbacks get the data report first, as in
    :func:`train_molecules`.

    Raises
    ------
    CheckpointError
        If ``path`` is not a molecule checkpoint, or holds no optimizer state (a finished checkpoint).
    """
    meta = require_family(path, "molecules", "train --resume")  # the header only: checked before any data is read
    if not meta.get("optimizer_groups"):
        raise CheckpointError(f"{Path(path).name} holds no optimizer state (a finished model): it cannot be resumed; "
                              "start a new run from its weights with --init-from")
    model_cfg = from_dict(ModelConfig, meta["model_config"])
    train_cfg = from_dict(TrainConfig, {**meta["train_config"], **(overrides or {})})
    tokenizer = Tokenizer.from_dict(meta["tokenizer"])
    dataset, _, report = prepare_data(model_cfg, train_cfg, tokenizer)
    _emit_report(callbacks, report)
    model = build_model(model_cfg, tokenizer.vocab_size)
    keep = {k: meta[k] for k in ("model_config", "tokenizer", "data_report", "card") if k in meta}
    trainer = Trainer(model, dataset, train_cfg, keep, path, validity_monitor(tokenizer, train_cfg.monitor_samples),
                      callbacks, stop_event).resume()
    return trainer.fit()
