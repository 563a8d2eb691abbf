"""Use a trained sequence model: sample from the prior, encode, decode, interpolate, find neighbours.

The sampling contract follows MOSES: ``sample(n) -> list[str]``, one decoded string per prior draw
(invalid strings included, so validity can be measured).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import torch

from aae_core.config import DECODE_BATCH
from aae_core.exceptions import DataError
from aae_core.molecules import chem
from aae_core.molecules.grammar import SmilesGrammar
from aae_core.registry import LoadedModel
from aae_core.training import use_bf16


class MoleculeGenerator:
    """Generation on top of a :class:`~aae_core.registry.LoadedModel` (AAE, VAE or AE).

    ``autocast`` ("auto", "bf16" or "off", as in training) runs the decoder's matrix products in bfloat16;
    "auto" does so only where bf16 is fast (:func:`~aae_core.training.use_bf16`: CPUs with AVX-512-BF16,
    bf16-capable GPUs). Token probabilities are computed in float32 either way. A seed gives the same
    molecules on machines that make the same choice.

    ``constrained=True`` decodes SMILES models under :class:`~aae_core.molecules.grammar.SmilesGrammar`
    (syntax-constrained
    decoding: no unbalanced branches or unclosed rings); SELFIES models are valid by construction and decode
    unchanged. With ``False`` (default) decoding is the model's own.
    """

    def __init__(self, loaded: LoadedModel, device: str = "cpu", autocast: str = "auto", constrained: bool = False):
        self.loaded = loaded
        self.model = loaded.model.to(device).eval()
        self.tokenizer = loaded.tokenizer
        self.device = torch.device(device)
        self.bf16 = use_bf16(autocast, self.device)
        smiles = self.tokenizer.kind == "smiles"
        self.grammar = SmilesGrammar(self.tokenizer.vocab_) if constrained and smiles else None

    @property
    def latent_dim(self) -> int:
        return self.loaded.config.latent_dim

    def sample_prior(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` prior draws, (n, latent_dim) float32."""
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        return self.model.prior.sample(n, generator)

    def decode_marked(self, z: torch.Tensor, temperature: float = 1.0, greedy: bool = False, seed: int | None = None,
                      batch_size: int = DECODE_BATCH, workers: int = 1,
                      prefix: Sequence[int] = ()) -> tuple[list[str], np.ndarray]:
        """Decode latent codes (n, latent_dim) to strings (canonical SMILES where valid, raw otherwise) and mark
        validity: returns the n strings and an (n,) bool array, True where RDKit parsed the string (each
        string is parsed once, here).

        Rows are decoded in chunks of ``batch_size``; chunk i draws its tokens from its own random stream
        (``numpy.random.SeedSequence(seed).spawn``), so a seed gives the same strings whatever ``workers`` is.
        ``workers`` > 1 decodes chunks concurrently in threads (PyTorch releases the GIL inside each op). With
        one intra-op thread and one worker per core this uses every core, and unlike intra-op threads it does
        not slow down badly when other work shares the CPU (``bench/bench_dashboard.py`` measures both).
        ``prefix``: token ids every string starts with (see ``SequenceDecoder.generate``), e.g. the first tokens of
        ``tokenizer.encode_one(smiles)[1:-1]``.

        Raises
        ------
        ValueError
            If ``temperature`` is not positive or ``batch_size``/``workers`` is below 1.
        """
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if batch_size < 1 or workers < 1:
            raise ValueError(f"batch_size and workers must be >= 1, got {batch_size} and {workers}")
        chunks = z.split(batch_size)
        streams = np.random.SeedSequence(seed).spawn(len(chunks)) if seed is not None else [None] * len(chunks)
        decode_chunk = functools.partial(self._decode_chunk, temperature=temperature, greedy=greedy,
                                         prefix=torch.tensor(prefix, dtype=torch.long) if len(prefix) else None)
        if workers == 1 or len(chunks) < 2:
            parts = list(map(decode_chunk, chunks, streams))
        else:
            with ThreadPoolExecutor(min(workers, len(chunks))) as pool:
                parts = list(pool.map(decode_chunk, chunks, streams))
        marked = [pair for part in parts for pair in part]
        return [s for s, _ in marked], np.array([valid for _, valid in marked], dtype=bool)

    def decode(self, z: torch.Tensor, temperature: float = 1.0, greedy: bool = False, seed: int | None = None,
               batch_size: int = DECODE_BATCH, workers: int = 1) -> list[str]:
        """The strings of :meth:`decode_marked` (same arguments)."""
        return self.decode_marked(z, temperature, greedy, seed, batch_size, workers)[0]

    @torch.no_grad()
    def _decode_chunk(self, z: torch.Tensor, stream: np.random.SeedSequence | None, temperature: float,
                      greedy: bool, prefix: torch.Tensor | None = None) -> list[tuple[str, bool]]:
        generator = None
        if stream is not None:
            generator = torch.Generator(self.device).manual_seed(int(stream.generate_state(1)[0]))
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            ids = self.model.decoder.generate(z.to(self.device), self.tokenizer.max_len, self.tokenizer.bos_id,
                                              self.tokenizer.eos_id, temperature, greedy, generator, self.grammar,
                                              prefix)
        raw = self.tokenizer.decode(ids)
        return [(canonical or s, canonical is not None) for s, canonical in zip(raw, map(chem.canonicalize, raw),
                                                                                   strict=True)]

    def sample_marked(self, n: int, temperature: float = 1.0, greedy: bool = False, seed: int | None = None,
                      batch_size: int = DECODE_BATCH, workers: int = 1) -> tuple[list[str], np.ndarray]:
        """Sample ``n`` molecules from the prior, z ~ p(z), x ~ p(x|z), and mark validity (see
        :meth:`decode_marked`, whose options these are)."""
        z = self.sample_prior(n, seed)
        return self.decode_marked(z, temperature, greedy, None if seed is None else seed + 1, batch_size, workers)

    def iter_sample_marked(self, n: int, temperature: float = 1.0, greedy: bool = False, seed: int | None = None,
                           batch_size: int = DECODE_BATCH) -> Iterator[tuple[list[str], np.ndarray]]:
        """:meth:`sample_marked` one decode chunk at a time, to write many molecules with flat memory: yields, for
        each chunk of ``batch_size`` rows, its strings and its (rows,) bool validity; joined, they are exactly
        ``sample_marked(n, temperature, greedy, seed, batch_size)``. Only the n prior codes, (n, latent_dim)
        float32, are held for the whole run.

        Raises
        ------
        ValueError
            As :meth:`decode_marked`, when the first chunk is asked for.
        """
        if not temperature > 0 or batch_size < 1:
            raise ValueError(f"need temperature > 0 and batch_size >= 1, got {temperature} and {batch_size}")
        chunks = self.sample_prior(n, seed).split(batch_size)
        streams = np.random.SeedSequence(seed + 1).spawn(len(chunks)) if seed is not None else [None] * len(chunks)
        for z, stream in zip(chunks, streams, strict=True):
            marked = self._decode_chunk(z, stream, temperature, greedy)
            yield [s for s, _ in marked], np.array([valid for _, valid in marked], dtype=bool)

    def sample(self, n: int, temperature: float = 1.0, greedy: bool = False, seed: int | None = None,
               batch_size: int = DECODE_BATCH, workers: int = 1) -> list[str]:
        """The ``n`` strings of :meth:`sample_marked` (the MOSES contract: invalid strings included)."""
        return self.sample_marked(n, temperature, greedy, seed, batch_size, workers)[0]

    @torch.no_grad()
    def encode(self, smiles: Sequence[str], batch_size: int = 1000) -> torch.Tensor:
        """Latent codes (n, latent_dim) of SMILES (for a VAE: the posterior means).

        Raises
        ------
        DataError
            If a SMILES does not parse (it is named).
        TokenizerError
            If a molecule has tokens outside the model's vocabulary or is too long.
        """
        canonical = []
        for s in smiles:
            c = chem.canonicalize(s)
            if c is None:
                raise DataError(f"{s!r} is not a valid SMILES (RDKit cannot parse it)")
            canonical.append(c)
        codes = []
        for start in range(0, len(canonical), batch_size):
            tokens, lengths = self.tokenizer.encode(canonical[start: start + batch_size])
            batch = {"tokens": tokens.to(self.device), "lengths": lengths}
            codes.append(self.model.encode(batch).float().cpu())
        return torch.cat(codes) if codes else torch.zeros(0, self.latent_dim)

    def reconstruct(self, smiles: Sequence[str], greedy: bool = True) -> list[str]:
        """Encode then decode (greedy by default)."""
        return self.decode(self.encode(smiles), greedy=greedy)

    def interpolate(self, start: str, end: str, steps: int = 8, method: str = "linear") -> pd.DataFrame:
        """Decode ``steps`` points on the path between two molecules' codes.

        ``method`` is ``linear`` or ``spherical`` (slerp, Shoemake 1985; White 2016 "Sampling generative
        networks"). Returns a frame with columns ``t``, ``smiles``, ``valid``.
        """
        if steps < 2:
            raise ValueError(f"steps must be >= 2, got {steps}")
        z = self.encode([start, end])
        t = torch.linspace(0, 1, steps)
        path = interpolate_codes(z[0], z[1], t, method)
        smiles = self.decode(path, greedy=True)
        return pd.DataFrame({"t": t.numpy(), "smiles": smiles,
                             "valid": [chem.mol_from_smiles(s) is not None for s in smiles]})


def interpolate_codes(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, method: str = "linear") -> torch.Tensor:
    """Points between codes ``a`` and ``b`` (latent_dim,) at fractions ``t`` (steps,) -> (steps, latent_dim).

    Raises
    ------
    ValueError
        For a method other than ``linear`` or ``spherical``.
    """
    t = t[:, None]
    if method == "linear":
        return (1 - t) * a + t * b
    if method != "spherical":
        raise ValueError(f"unknown interpolation {method!r}; choose 'linear' or 'spherical'")
    cos = torch.clamp(torch.dot(a, b) / (a.norm() * b.norm() + 1e-12), -1.0, 1.0)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-6:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


class LatentIndex:
    """Nearest neighbours in latent space (scikit-learn ``NearestNeighbors``, Euclidean).

    Parameters
    ----------
    smiles : the indexed molecules; codes : their latent codes, (n, latent_dim).
    """

    def __init__(self, smiles: Sequence[str], codes: torch.Tensor | np.ndarray):
        self.smiles = list(smiles)
        self.codes = np.asarray(codes, dtype=np.float32)
        if len(self.smiles) != len(self.codes) or not len(self.smiles):
            raise ValueError("LatentIndex needs as many codes as molecules, and at least one")
        from sklearn.neighbors import NearestNeighbors  # here: sklearn pulls in scipy.stats, 2 s on every app start

        self.index_ = NearestNeighbors().fit(self.codes)

    def query(self, z: torch.Tensor | np.ndarray, k: int = 5) -> pd.DataFrame:
        """The ``k`` indexed molecules nearest to one code ``z`` (latent_dim,): columns ``smiles``,
        ``distance``, ``row``."""
        k = min(k, len(self.smiles))
        distance, row = self.index_.kneighbors(np.asarray(z, dtype=np.float32).reshape(1, -1), n_neighbors=k)
        return pd.DataFrame({"smiles": [self.smiles[i] for i in row[0]], "distance": distance[0], "row": row[0]})
