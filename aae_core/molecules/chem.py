"""RDKit helpers: canonical SMILES, molecular properties, drug-likeness rules and 2-D drawings.

RDKit is imported lazily by callers through this module only, so the rest of the package stays light.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rdkit import Chem, RDLogger
from rdkit.Chem import QED, Crippen, Descriptors, Lipinski, rdDepictor
from rdkit.Chem.Draw import rdMolDraw2D
from rdkit.Contrib.SA_Score import sascorer

from aae_core.config import PROPERTY_NAMES  # noqa: F401 (re-exported: the properties computed here)
from aae_core.exceptions import DataError

RDLogger.DisableLog("rdApp.*")

#: Longest SMILES, in characters, handed to RDKit or selfies. Longer strings are refused before any parser sees
#: them: RDKit's recursive SMILES parser overflows the stack (and kills the process) near 20,000 atoms, and the
#: shipped models read at most 100 tokens. MOSES's longest molecule has 57 characters, ChEMBL's drugs < 500.
MAX_SMILES_CHARS = 1000
#: Most atoms of a molecule read from a molblock (an SDF record), explicit hydrogens included; a larger record is
#: refused before RDKit parses it (writing a SMILES out takes time growing with the square of the atom count).
MAX_MOLBLOCK_ATOMS = 2 * MAX_SMILES_CHARS

PROPERTY_LABELS = {
    "QED": "QED (0-1, drug-likeness)",
    "logP": "logP (Crippen)",
    "SA": "SA score (1 easy - 10 hard)",
    "MW": "molecular weight (Da)",
}


def too_long(smiles: str) -> bool:
    """Whether ``smiles`` is longer than :data:`MAX_SMILES_CHARS` (and so never parsed)."""
    return len(smiles) > MAX_SMILES_CHARS


def check_smiles_length(smiles: str, what: str = "SMILES") -> str:
    """``smiles`` itself if it is at most :data:`MAX_SMILES_CHARS` characters long.

    Raises
    ------
    DataError
        If it is longer; the message names ``what`` (e.g. "start SMILES"), its length and the limit.
    """
    if too_long(smiles):
        raise DataError(f"{what} has {len(smiles):,} characters, over the limit of {MAX_SMILES_CHARS:,}: "
                        "give one molecule of drug-like size")
    return smiles


def mol_from_smiles(smiles: str | None) -> Chem.Mol | None:
    """Parse a SMILES string; returns ``None`` for empty, unparsable or over-long (:func:`too_long`) input
    (never raises, never hands RDKit a string longer than :data:`MAX_SMILES_CHARS`)."""
    if not smiles or not isinstance(smiles, str) or too_long(smiles):
        return None
    mol = Chem.MolFromSmiles(smiles)
    return mol if mol is not None and mol.GetNumAtoms() > 0 else None


def canonicalize(smiles: str | None) -> str | None:
    """RDKit canonical isomeric SMILES of ``smiles``, or ``None`` if it does not parse."""
    mol = mol_from_smiles(smiles)
    return Chem.MolToSmiles(mol) if mol is not None else None


def canonicalize_many(smiles: Iterable[str | None]) -> list[str | None]:
    """:func:`canonicalize` over a sequence; invalid entries stay ``None`` at their position."""
    return [canonicalize(s) for s in smiles]


def properties(mol: Chem.Mol) -> dict[str, float]:
    """QED (Bickerton et al. 2012), Crippen logP (Wildman & Crippen 1999), SA score (Ertl & Schuffenhauer
    2009, RDKit Contrib) and molecular weight in Da of one molecule."""
    return {
        "QED": QED.qed(mol),
        "logP": Crippen.MolLogP(mol),
        "SA": sascorer.calculateScore(mol),
        "MW": Descriptors.MolWt(mol),
    }


def properties_of_smiles(smiles: Sequence[str | None]) -> list[dict[str, float] | None]:
    """:func:`properties` of each SMILES; ``None`` where the SMILES does not parse."""
    return [properties(m) if (m := mol_from_smiles(s)) is not None else None for s in smiles]


def lipinski_violations(mol: Chem.Mol) -> int:
    """Number of Lipinski rule-of-five violations (Lipinski et al. 1997): MW > 500, logP > 5,
    H-bond donors > 5, H-bond acceptors > 10."""
    return sum(
        (
            Descriptors.MolWt(mol) > 500,
            Crippen.MolLogP(mol) > 5,
            Lipinski.NumHDonors(mol) > 5,
            Lipinski.NumHAcceptors(mol) > 10,
        )
    )


def substructure_query(smarts: str) -> Chem.Mol:
    """Compile a SMARTS pattern.

    Raises
    ------
    ValueError
        If ``smarts`` is empty or not valid SMARTS.
    """
    query = Chem.MolFromSmarts(smarts) if smarts and smarts.strip() else None
    if query is None:
        raise ValueError(f"{smarts!r} is not a valid SMARTS pattern (example: 'c1ccccc1' for benzene)")
    return query


def mol_to_svg(mol: Chem.Mol | None, size: tuple[int, int] = (220, 160), legend: str = "") -> str:
    """2-D depiction of ``mol`` as an SVG string (coordinates from RDKit's CoordGen); an empty box with
    the legend "invalid" when ``mol`` is ``None``. Atom labels are SVG text rather than FreeType glyph
    outlines: half the drawing time, smaller files, faster to render in a browser."""
    drawer = rdMolDraw2D.MolDraw2DSVG(*size, noFreetype=True)
    options = drawer.drawOptions()
    options.clearBackground = False
    if mol is None:
        drawer.DrawMolecule(Chem.Mol(), legend=legend or "invalid")
    else:
        mol = Chem.Mol(mol)
        rdDepictor.SetPreferCoordGen(True)
        rdDepictor.Compute2DCoords(mol)
        drawer.DrawMolecule(mol, legend=legend)
    drawer.FinishDrawing()
    return drawer.GetDrawingText()
