"""Lead optimisation in latent space: from a start molecule's code, search for decoded analogues that improve an
objective under constraints.

Optimising properties in a continuous latent space is the idea of Gómez-Bombarelli et al. (2018, "Automatic
chemical design using a data-driven continuous representation of molecules", ACS Cent. Sci. 4:268); the
constrained setting (improve penalized logP while keeping Tanimoto similarity to the start >= delta) is the
benchmark of Jin et al. (2018, "Junction tree variational autoencoder for molecular graph generation", ICML,
Sec. 4.2). Two searches:

- ``cmaes``: CMA-ES (Hansen & Ostermeier 2001; the ``cma`` package) started at the start molecule's code;
- ``gradient``: gradient ascent on a property regressor of the codes (the model's property head where it has one,
  Gómez-Bombarelli et al. 2018; else an MLP fitted here), with the path's neighbourhood decoded at every step.

Both start from the encoder's code fitted to the decoder (:func:`refine_code`), which decodes back to the start
molecule far more often than the encoder's code itself.

Every proposal is decoded, parsed by RDKit and scored on the real molecule, never on a regressor. The budget counts
decoded molecules (decoder calls).
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from rdkit import Chem
from rdkit.Chem import Crippen
from rdkit.Contrib.SA_Score import sascorer

from aae_core.exceptions import ConfigError, DataError, TokenizerError
from aae_core.molecules import chem
from aae_core.molecules.generation import MoleculeGenerator
from aae_core.molecules.latent_quality import fingerprints, held_out_molecules, tanimoto
from aae_core.molecules.vae import PropertyHead

with warnings.catch_warnings():  # cma warns that matplotlib (for its plots, unused here) is missing
    warnings.simplefilter("ignore")
    import cma

#: Properties of every scored molecule, in the order of the result's columns.
PROPERTY_COLUMNS = ("QED", "logP", "SA", "MW", "penalized_logP")
#: Objective terms: name -> (property, sign). Plain terms are maximised (SA minimised); window terms score minus
#: the distance to the window, 0 inside.
PLAIN_TERMS = {"qed": ("QED", 1.0), "plogp": ("penalized_logP", 1.0), "sa": ("SA", -1.0)}
WINDOW_TERMS = {"logp": "logP", "mw": "MW"}
OBJECTIVE_CHOICES = "qed, plogp, sa, logp[LO,HI], mw[LO,HI] (weighted: 'qed:1,plogp:0.5')"
METHODS = ("cmaes", "gradient")
PENALTY = 1e6  # CMA-ES fitness of an infeasible molecule (plus its violation); twice that for an invalid one
_TERM = re.compile(r"^(?P<name>[a-z]+)(?:\[(?P<lo>[^,\]]+),(?P<hi>[^\]]+)\])?(?::(?P<weight>.+))?$")


def ring_penalty(mol: Chem.Mol) -> int:
    """max(0, size of the largest ring - 6), the ring term of penalized logP (Jin et al. 2018); rings are RDKit's
    smallest set of smallest rings."""
    return max((len(ring) - 6 for ring in mol.GetRingInfo().AtomRings()), default=0) if mol else 0


def penalized_logp(mol: Chem.Mol) -> float:
    """Crippen logP - SA score - :func:`ring_penalty`, unnormalised as in JT-VAE's constrained optimisation (Jin et al.
    2018, Sec. 4.2; Gómez-Bombarelli et al. 2018 normalise each term instead)."""
    return Crippen.MolLogP(mol) - sascorer.calculateScore(mol) - ring_penalty(mol)


def molecule_properties(mol: Chem.Mol) -> dict[str, float]:
    """:func:`aae_core.molecules.chem.properties` (QED, Crippen logP, SA score, MW in Da) plus ``penalized_logP``
    (:func:`penalized_logp`, from the same logP and SA values)."""
    values = chem.properties(mol)
    return {**values, "penalized_logP": values["logP"] - values["SA"] - ring_penalty(mol)}


def _relu(x):
    """max(0, x) for floats, numpy arrays and torch tensors alike (differentiable a.e. for tensors)."""
    return (x + abs(x)) / 2


@dataclass(frozen=True)
class Term:
    """One weighted term: a property to maximise (``sign`` -1 to minimise), or a window [lo, hi] to be in."""

    prop: str
    weight: float = 1.0
    sign: float = 1.0
    window: tuple[float, float] | None = None

    def value(self, props: Mapping):
        x = props[self.prop]
        if self.window is None:
            return self.weight * self.sign * x
        lo, hi = self.window
        return -self.weight * (_relu(lo - x) + _relu(x - hi))


@dataclass(frozen=True)
class Objective:
    """A weighted sum of :class:`Term` (higher is better), e.g. ``Objective.parse("qed:1,plogp:0.5")``."""

    terms: tuple[Term, ...]
    spec: str = ""

    @classmethod
    def parse(cls, spec: str) -> Objective:
        """Parse comma-separated terms ``NAME[:WEIGHT]``: ``qed`` (QED, Bickerton et al. 2012), ``plogp``
        (penalized logP, :func:`molecule_properties`), ``sa`` (minus the SA score, Ertl & Schuffenhauer 2009),
        ``logp[LO,HI]`` or ``mw[LO,HI]`` (minus the distance of Crippen logP or MW in Da to the window, 0 inside).

        Raises
        ------
        ConfigError
            For an unknown name (the choices are listed), a window on a plain term or none on a window term, a
            window with LO > HI, or a weight or bound that is not a number.
        """
        if not isinstance(spec, str) or not spec.strip():
            raise ConfigError(f"empty objective; choose from {OBJECTIVE_CHOICES}")
        parts = re.split(r",(?![^\[]*\])", spec.lower().replace(" ", ""))  # commas outside [LO,HI]
        return cls(tuple(map(_parse_term, parts)), spec)

    @property
    def needs(self) -> set[str]:
        """The properties the objective reads."""
        return {term.prop for term in self.terms}

    def value(self, props: Mapping):
        """The objective of ``props`` (property name -> float, or (n,) array/tensor for n molecules)."""
        return sum(term.value(props) for term in self.terms)


def _parse_term(text: str) -> Term:
    match = _TERM.match(text)
    name = match["name"] if match else text
    if name not in PLAIN_TERMS and name not in WINDOW_TERMS:
        raise ConfigError(f"unknown objective {text!r}; choose from {OBJECTIVE_CHOICES}")
    weight = _number(match["weight"] or "1", text)
    if name in PLAIN_TERMS:
        if match["lo"] is not None:
            raise ConfigError(f"{name!r} takes no window (got {text!r}); windows are for logp and mw")
        prop, sign = PLAIN_TERMS[name]
        return Term(prop, weight, sign)
    if match["lo"] is None:
        raise ConfigError(f"{name!r} needs a window, e.g. '{name}[1,3]' (got {text!r})")
    lo, hi = _number(match["lo"], text), _number(match["hi"], text)
    if lo > hi:
        raise ConfigError(f"window {text!r} has its low end above its high end")
    return Term(WINDOW_TERMS[name], weight, window=(lo, hi))


def _number(text: str, term: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{text!r} in objective term {term!r} is not a number") from None
    if not np.isfinite(value):
        raise ConfigError(f"{text!r} in objective term {term!r} is not a finite number")
    return value


@dataclass(frozen=True)
class Constraints:
    """What every reported molecule must satisfy.

    Parameters
    ----------
    min_similarity : Tanimoto similarity (Morgan radius 2, 2048 bits) to the start molecule, at least this, in [0, 1].
    keep_smarts : SMARTS patterns the molecule must contain (e.g. the start's scaffold).
    max_lipinski : at most this many Lipinski rule-of-five violations (Lipinski et al. 1997), 0-4; None: no limit.
    """

    min_similarity: float = 0.0
    keep_smarts: tuple[str, ...] = ()
    max_lipinski: int | None = None

    def queries(self, start: Chem.Mol) -> list[Chem.Mol]:
        """Check the constraints against the start molecule; returns the compiled SMARTS.

        Raises
        ------
        ConfigError
            If ``min_similarity`` is outside [0, 1], ``max_lipinski`` outside 0-4, a SMARTS is invalid, or the start
            molecule itself lacks a must-keep SMARTS (no analogue could keep it either).
        """
        if not 0.0 <= self.min_similarity <= 1.0:
            raise ConfigError(f"similarity threshold must be in [0, 1], got {self.min_similarity}")
        if self.max_lipinski is not None and not 0 <= self.max_lipinski <= 4:
            raise ConfigError(f"max Lipinski violations must be 0-4 (there are four rules), got {self.max_lipinski}")
        queries = []
        for smarts in self.keep_smarts:
            try:
                query = chem.substructure_query(smarts)
            except ValueError as err:
                raise ConfigError(str(err)) from None
            if not start.HasSubstructMatch(query):
                raise ConfigError(f"the start molecule does not contain the must-keep SMARTS {smarts!r}; "
                                  "give a substructure of the start molecule")
            queries.append(query)
        return queries

    def violation(self, mol: Chem.Mol, similarity: float, queries: list[Chem.Mol]) -> float:
        """0 for a molecule that satisfies every constraint, else how far it is from doing so: the similarity
        shortfall plus one per missing SMARTS plus the excess Lipinski violations."""
        missing = sum(not mol.HasSubstructMatch(q) for q in queries)
        excess = 0 if self.max_lipinski is None else max(0, chem.lipinski_violations(mol) - self.max_lipinski)
        return max(0.0, self.min_similarity - similarity) + missing + excess


@dataclass(frozen=True)
class SearchConfig:
    """How to search. CMA-ES: Hansen & Ostermeier (2001); gradient ascent on a latent property regressor:
    Gómez-Bombarelli et al. (2018)."""

    method: str = "cmaes"  # cmaes or gradient
    budget: int = 500  # molecules decoded (decoder calls), all batches together
    popsize: int = 16  # proposals decoded per batch (CMA-ES population size)
    sigma0: float = 0.5  # CMA-ES initial step size; gradient: std of the proposals around the path (latent units)
    step: float = 0.5  # gradient: length of one step along the regressor's gradient (latent units)
    restart_after: int = 3  # gradient: batches without a feasible molecule before restarting at the start code
    refine_steps: int = 300  # Adam steps fitting the start code to the decoder before the search (0: encoder's code)
    refine_lr: float = 0.1  # their learning rate
    greedy: bool = True  # greedy decoding (else tokens sampled at ``temperature``, seeded)
    temperature: float = 1.0  # sampled decoding: softmax temperature
    #: Anchored decoding: for each share a, one search (with its own part of the budget, in this order) whose every
    #: proposal is decoded starting with the first round(a * n) of the start's n tokens (prefix-constrained
    #: decoding, ``SequenceDecoder.generate``); 0: free decoding. On 20 of the benchmark's molecules (penalized logP,
    #: ``bench/bench_optimization.py``) success at similarity 0.4 / 0.6 went from 60% / 28% (free) to 100% / 75%
    #: with (0.7, 0.5, 0) and 100% / 90% with (0.8, 0.6, 0.4).
    anchors: tuple[float, ...] = (0.8, 0.6, 0.4)
    seed: int = 0

    def check(self) -> None:
        """Raises :class:`ConfigError` for an unknown method or a value out of range."""
        if self.method not in METHODS:
            raise ConfigError(f"unknown search method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.budget < 1 or self.popsize < 2 or self.restart_after < 1 or self.refine_steps < 0:
            raise ConfigError(f"budget must be >= 1, popsize >= 2, restart_after >= 1 and refine_steps >= 0; got "
                              f"{self.budget}, {self.popsize}, {self.restart_after} and {self.refine_steps}")
        if not (self.sigma0 > 0 and self.step > 0 and self.temperature > 0 and self.refine_lr > 0):
            raise ConfigError(f"sigma0, step, temperature and refine_lr must be > 0, got {self.sigma0}, {self.step}, "
                              f"{self.temperature} and {self.refine_lr}")
        if not (self.anchors and all(0 <= a < 1 for a in self.anchors)):
            raise ConfigError(f"anchors must be one or more shares in [0, 1), got {self.anchors}")


@dataclass
class OptimizationResult:
    """What a search found.

    Attributes
    ----------
    start : the start molecule: ``smiles`` (canonical), ``objective``, ``similarity`` (1.0), :data:`PROPERTY_COLUMNS`.
    found : distinct valid molecules other than the start that satisfy the constraints, best objective first; columns
        ``smiles``, ``similarity``, ``objective`` and :data:`PROPERTY_COLUMNS`.
    history : one dict per decoded batch: ``evaluations`` so far, ``valid`` (fraction of the batch), ``found`` (so
        far), ``closest`` (highest similarity to the start of any valid molecule decoded so far, constraints or not:
        says whether a similarity threshold was within the model's reach), and the best so far, ``best_smiles``,
        ``best_objective``, ``best_similarity`` (None/NaN before any).
    path : (evaluations, latent_dim) float32, every decoded code in order, for drawing on a latent map.
    start_code : (latent_dim,) float32, the code the search started from (:func:`refine_code`).
    evaluations : molecules decoded. wall_s : seconds the search took, encoding the start included.
    """

    start: dict
    found: pd.DataFrame
    history: list[dict]
    path: np.ndarray
    start_code: np.ndarray
    evaluations: int
    wall_s: float

    def improvement(self, min_similarity: float = 0.0) -> float:
        """Best objective minus the start's among found molecules with similarity >= ``min_similarity``; 0.0 where
        none improves (Jin et al. 2018 count a failed molecule as no improvement)."""
        found = self.found[self.found["similarity"] >= min_similarity]
        return max(0.0, float(found["objective"].max()) - self.start["objective"]) if len(found) else 0.0


class _Scorer:
    """Scores decoded molecules on their real properties, remembers each distinct molecule once."""

    def __init__(self, start: Chem.Mol, objective: Objective, constraints: Constraints):
        self.objective, self.constraints = objective, constraints
        self.queries = constraints.queries(start)
        self.start_smiles = Chem.MolToSmiles(start)
        self.start_bits = fingerprints([self.start_smiles])[0]
        self.start = self.record(self.start_smiles, start, 1.0)
        self.seen: dict[str, dict] = {}
        self.found: dict[str, dict] = {}
        self.closest = 0.0  # highest similarity of any valid decoded molecule, feasible or not

    def record(self, smiles: str, mol: Chem.Mol, similarity: float) -> dict:
        props = molecule_properties(mol)
        return {"smiles": smiles, "similarity": similarity, "objective": float(self.objective.value(props)), **props}

    def fitness(self, smiles: list[str], valid: np.ndarray) -> np.ndarray:
        """CMA-ES fitness (lower is better) of each decoded string: minus the objective where every constraint
        holds, :data:`PENALTY` plus the violation where one fails, twice :data:`PENALTY` where it is invalid."""
        bits = fingerprints([s if v else None for s, v in zip(smiles, valid, strict=True)])
        similarity = tanimoto(self.start_bits, bits)
        self.closest = max(self.closest, float(similarity.max(initial=0.0)))
        return np.array([self._fitness(s, v, sim) for s, v, sim in zip(smiles, valid, similarity, strict=True)])

    def _fitness(self, smiles: str, valid: bool, similarity: float) -> float:
        if not valid:
            return 2 * PENALTY
        if smiles not in self.seen:
            mol = chem.mol_from_smiles(smiles)
            violation = self.constraints.violation(mol, similarity, self.queries)
            self.seen[smiles] = {**self.record(smiles, mol, float(similarity)), "violation": violation}
            if violation == 0 and smiles != self.start_smiles:
                self.found[smiles] = self.seen[smiles]
        entry = self.seen[smiles]
        return -entry["objective"] if entry["violation"] == 0 else PENALTY + entry["violation"]

    def best(self) -> dict | None:
        return max(self.found.values(), key=lambda r: r["objective"], default=None)

    def frame(self) -> pd.DataFrame:
        columns = ["smiles", "similarity", "objective", *PROPERTY_COLUMNS]
        found = sorted(self.found.values(), key=lambda r: -r["objective"])
        return pd.DataFrame([{c: r[c] for c in columns} for r in found], columns=columns)


# The searches are generators: they yield a batch of codes (popsize, latent_dim) and receive its fitness.
Search = Generator[np.ndarray, np.ndarray, None]


def _cmaes(z0: np.ndarray, cfg: SearchConfig, rng: np.random.Generator) -> Search:
    """CMA-ES from ``z0`` with step size ``sigma0``, restarted from ``z0`` whenever it stops."""
    options = {"popsize": cfg.popsize, "seed": np.nan, "randn": lambda *shape: rng.standard_normal(shape),
               "verbose": -9, "verb_log": 0, "verb_disp": 0}
    while True:
        es = cma.CMAEvolutionStrategy(z0, cfg.sigma0, options)
        while not es.stop():
            codes = np.asarray(es.ask())
            es.tell(list(codes), list((yield codes)))


def _gradient(z0: np.ndarray, objective: Callable[[torch.Tensor], torch.Tensor], cfg: SearchConfig,
              rng: np.random.Generator) -> Search:
    """Gradient ascent of ``objective`` (a differentiable function of codes) from ``z0`` in steps of length ``step``;
    each batch is the path's point and ``popsize - 1`` Gaussian proposals (std ``sigma0``) around it. After
    ``restart_after`` batches without a feasible molecule, the path restarts at a proposal around ``z0``."""
    z, barren = z0.copy(), 0
    while True:
        z = z + cfg.step * _unit_gradient(objective, z)
        codes = np.vstack([z, z + cfg.sigma0 * rng.standard_normal((cfg.popsize - 1, len(z)))])
        fitness = yield codes
        barren = 0 if (fitness < PENALTY).any() else barren + 1
        if barren >= cfg.restart_after:
            z, barren = z0 + cfg.sigma0 * rng.standard_normal(len(z)), 0


def _unit_gradient(objective: Callable[[torch.Tensor], torch.Tensor], z: np.ndarray) -> np.ndarray:
    code = torch.tensor(z, dtype=torch.float32, requires_grad=True)
    (grad,) = torch.autograd.grad(objective(code[None]).sum(), code)  # the regressor's own weights get no gradient
    grad = grad.numpy().astype(np.float64)
    return grad / max(float(np.linalg.norm(grad)), 1e-12)


@dataclass
class PropertyPredictor:
    """Properties predicted from latent codes: ``names[i]`` is column i of ``head(z)`` (n, len(names)), own units."""

    head: PropertyHead
    names: tuple[str, ...]

    def __call__(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.head(z)
        return {name: out[:, i] for i, name in enumerate(self.names)}


def fit_property_predictor(generator: MoleculeGenerator, n_train: int = 3000, epochs: int = 60, seed: int = 0,
                           source: str = "moses-train") -> PropertyPredictor:
    """An MLP (:class:`~aae_core.molecules.vae.PropertyHead`, one hidden layer) from codes to :data:`PROPERTY_COLUMNS`,
    fitted (Adam, mean squared error of standardised values) on the codes of the first ``n_train`` molecules of
    ``source`` that the model can encode and their real properties (the regressor of Gómez-Bombarelli et al. 2018,
    fitted after the autoencoder). Seeded."""
    smiles = held_out_molecules(generator.loaded, source, n_train)
    codes = generator.encode(smiles)
    values = torch.tensor([[p[c] for c in PROPERTY_COLUMNS] for p in map(_properties_of, smiles)])
    with torch.random.fork_rng():  # seeded without touching the caller's random state
        torch.manual_seed(seed)
        head = PropertyHead(codes.shape[1], len(PROPERTY_COLUMNS), 256).fit_scaling(values)
        optimizer = torch.optim.Adam(head.parameters(), lr=1e-3, weight_decay=1e-5)
        for _ in range(epochs):
            for rows in torch.randperm(len(codes)).split(128):
                optimizer.zero_grad()
                head.loss(codes[rows], values[rows]).backward()
                optimizer.step()
    return PropertyPredictor(head.eval(), PROPERTY_COLUMNS)


def _properties_of(smiles: str) -> dict[str, float]:
    return molecule_properties(chem.mol_from_smiles(smiles))


def property_predictor(generator: MoleculeGenerator, objective: Objective, seed: int = 0) -> PropertyPredictor:
    """The model's own property head (``vae-property`` models, Gómez-Bombarelli et al. 2018) where it predicts
    every property ``objective`` needs, else :func:`fit_property_predictor`."""
    head = getattr(generator.model, "property_head", None)
    names = tuple(generator.loaded.config.properties)
    if head is not None and objective.needs <= set(names):
        return PropertyPredictor(head, names)
    return fit_property_predictor(generator, seed=seed)


def start_molecule(smiles: str) -> Chem.Mol:
    """Parse the start molecule.

    Raises
    ------
    DataError
        If ``smiles`` is too long (:func:`aae_core.molecules.chem.check_smiles_length`), empty or not valid SMILES.
    """
    if not isinstance(smiles, str) or not smiles.strip():
        raise DataError("no start molecule given; enter one SMILES, e.g. 'CC(=O)Nc1ccc(O)cc1'")
    mol = chem.mol_from_smiles(chem.check_smiles_length(smiles.strip(), "start SMILES"))
    if mol is None:
        raise DataError(f"start SMILES {smiles!r} is not a valid molecule (RDKit cannot parse it)")
    return mol


def encode_start(generator: MoleculeGenerator, smiles: str) -> np.ndarray:
    """The start molecule's code, (latent_dim,) float64.

    Raises
    ------
    DataError
        If the model cannot encode it (atoms outside its vocabulary, or longer than it reads).
    """
    try:
        return generator.encode([smiles])[0].double().numpy()
    except TokenizerError as err:
        raise DataError(f"the model cannot encode the start molecule: {err}") from None


def refine_code(generator: MoleculeGenerator, smiles: str, z: np.ndarray, steps: int = 300,
                lr: float = 0.1) -> np.ndarray:
    """Fit a code to the decoder: ``steps`` of Adam from ``z`` (latent_dim,) on the teacher-forced cross-entropy of
    ``smiles`` (canonical, encodable) given the code; returns the code, (latent_dim,) float64.

    The encoder's code is only an amortised guess of the code that decodes back to the molecule (the amortisation
    gap; Cremer et al. 2018, "Inference suboptimality in variational autoencoders", ICML; refined by gradient steps
    as in Kim et al. 2018, "Semi-amortized variational autoencoders", ICML). With the shipped AAE and lr 0.1, 100 to
    300 steps raise the greedy reconstruction of 20 MOSES test molecules from 5% to 40-55% exact (mean Tanimoto 0.34
    to 0.66-0.72); searching from the fitted code finds close analogues far more often
    (``bench/bench_optimization.py``). Deterministic; the model's weights are not changed.
    """
    tokens, lengths = generator.tokenizer.encode([smiles])
    batch = {"tokens": tokens.to(generator.device), "lengths": lengths}
    code = torch.tensor(z, dtype=torch.float32, device=generator.device)[None].requires_grad_(True)
    optimizer = torch.optim.Adam([code], lr=lr)
    for _ in range(steps):
        (code.grad,) = torch.autograd.grad(generator.model.decoder.reconstruction_loss(code, batch), code)
        optimizer.step()
    return code.detach()[0].cpu().double().numpy()


def optimize(generator: MoleculeGenerator, start: str, objective: str | Objective = "plogp",
             constraints: Constraints | None = None, config: SearchConfig | None = None,
             predictor: PropertyPredictor | None = None, progress: Callable[[dict], None] | None = None,
             start_code: np.ndarray | None = None) -> OptimizationResult:
    """Search the latent space around ``start`` for molecules that improve ``objective`` under ``constraints``.

    Parameters
    ----------
    generator : decodes codes (``MoleculeGenerator(loaded, constrained=True)`` for syntax-constrained decoding).
    start : the start molecule's SMILES.
    objective : an :class:`Objective` or its spec (see :meth:`Objective.parse`), e.g. ``"qed:1,plogp:0.5"``.
    predictor : for ``method="gradient"``: the property regressor (default :func:`property_predictor`, which may
        fit one: pass it in to reuse it over many start molecules).
    progress : called after each decoded batch with that batch's ``history`` entry (best so far).
    start_code : (latent_dim,) the code to search from, e.g. ``result.start_code`` of an earlier search from the same
        molecule with the same model (default: :func:`refine_code` of the encoder's code).

    The same ``config.seed`` gives the same result (on machines that make the same bf16 choice, see
    :class:`~aae_core.molecules.generation.MoleculeGenerator`).

    Raises
    ------
    DataError
        For an invalid or over-long start SMILES, or one the model cannot encode.
    ConfigError
        For an unknown objective or method, an impossible constraint (see :meth:`Constraints.queries`) or a search
        setting out of range.
    """
    began = time.perf_counter()
    config = config or SearchConfig()
    config.check()
    objective = objective if isinstance(objective, Objective) else Objective.parse(objective)
    mol = start_molecule(start)
    scorer = _Scorer(mol, objective, constraints or Constraints())
    z0 = encode_start(generator, scorer.start_smiles)  # raises DataError where the model cannot read it
    z0 = (np.asarray(start_code, dtype=np.float64) if start_code is not None else
          refine_code(generator, scorer.start_smiles, z0, config.refine_steps, config.refine_lr))
    rng = np.random.default_rng(config.seed)
    if config.method == "gradient":
        predictor = predictor or property_predictor(generator, objective, config.seed)
    tokens = generator.tokenizer.encode_one(scorer.start_smiles)[1:-1]
    history, path = [], []
    for part, anchor in enumerate(config.anchors, 1):
        search = (_cmaes(z0, config, rng) if config.method == "cmaes"
                  else _gradient(z0, lambda z: objective.value(predictor(z)), config, rng))
        _run(generator, scorer, search, config, progress, tokens[: round(anchor * len(tokens))],
             round(config.budget * part / len(config.anchors)), history, path)
    return OptimizationResult(scorer.start, scorer.frame(), history, np.vstack(path).astype(np.float32),
                              z0.astype(np.float32), sum(len(p) for p in path), time.perf_counter() - began)


def _run(generator: MoleculeGenerator, scorer: _Scorer, search: Search, config: SearchConfig,
         progress: Callable[[dict], None] | None, prefix: list[int], stop: int, history: list[dict],
         path: list[np.ndarray]) -> None:
    """Decode (each string starting with ``prefix``) and score the search's batches, appending to ``history`` and
    ``path``, until ``stop`` molecules have been decoded in all."""
    evaluations = history[-1]["evaluations"] if history else 0
    codes = next(search)
    while evaluations < stop:
        codes = codes[: stop - evaluations]
        seed = None if config.greedy else config.seed * 1_000_003 + len(path)
        smiles, valid = generator.decode_marked(torch.tensor(codes, dtype=torch.float32), config.temperature,
                                                config.greedy, seed, prefix=prefix)
        fitness = scorer.fitness(smiles, valid)
        path.append(codes)
        evaluations += len(codes)
        history.append(_entry(scorer, evaluations, float(valid.mean())))
        if progress is not None:
            progress(history[-1])
        if evaluations < stop:
            codes = search.send(fitness)


def _entry(scorer: _Scorer, evaluations: int, valid: float) -> dict:
    best = scorer.best() or {"smiles": None, "objective": float("nan"), "similarity": float("nan")}
    return {"evaluations": evaluations, "valid": valid, "found": len(scorer.found), "closest": scorer.closest,
            "best_smiles": best["smiles"], "best_objective": best["objective"], "best_similarity": best["similarity"]}
