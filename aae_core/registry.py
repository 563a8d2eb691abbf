"""Loading any saved model back from its checkpoint, whatever its modality and family.

A checkpoint stores its ``modality`` (``"images"``; absent or ``"molecules"`` for molecules), its configuration
and (molecules) its tokenizer, so :func:`load_model` rebuilds the right model without the caller knowing its
family. Each modality package registers one loader in :data:`MODALITIES`: molecules in
:func:`aae_core.molecules.families.load_molecule_model` (families in ``aae_core.molecules.families.MODELS``),
images in :func:`aae_core.images.training.load_image_model` (``aae_core.images.training.IMAGE_MODELS``). The
loader is imported by name on first use, so this module imports no modality.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from aae_core.checkpoints import load_checkpoint
from aae_core.exceptions import CheckpointError

if TYPE_CHECKING:
    from aae_core.molecules.tokenizers import Tokenizer

#: modality -> "module:function" of its loader ``(checkpoint, path, device) -> LoadedModel``.
MODALITIES = {
    "molecules": "aae_core.molecules.families:load_molecule_model",
    "images": "aae_core.images.training:load_image_model",
}


@dataclass
class LoadedModel:
    """A trained model ready for generation, with everything its checkpoint says about it: ``tokenizer`` is
    ``None`` for image models, ``config`` a :class:`~aae_core.config.ModelConfig` (molecules) or an
    ``ImageConfig`` (images)."""

    model: nn.Module
    tokenizer: Tokenizer | None
    config: Any
    meta: dict
    path: Path

    @property
    def name(self) -> str:
        return self.meta.get("card", {}).get("name") or self.path.stem

    @property
    def history(self) -> dict:
        return self.meta.get("history", {"steps": [], "epochs": []})


def load_model(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild a model from a checkpoint, in eval mode on ``device``.

    Raises
    ------
    CheckpointError
        If the file is not a valid checkpoint, its modality is unknown, or its weights do not fit its own
        configuration.
    """
    ckpt = load_checkpoint(path)
    modality = ckpt.meta.get("modality", "molecules")
    if modality not in MODALITIES:
        raise CheckpointError(f"{Path(path).name} holds a model of unknown modality {modality!r}; "
                              f"this version reads {sorted(MODALITIES)}")
    module, function = MODALITIES[modality].split(":")
    loader = getattr(importlib.import_module(module), function)
    try:
        return loader(ckpt, Path(path), device)
    except (KeyError, ValueError, RuntimeError) as err:
        kind = "an image model" if modality == "images" else "a model"
        raise CheckpointError(f"{Path(path).name} cannot be rebuilt into {kind}: {err}") from err
