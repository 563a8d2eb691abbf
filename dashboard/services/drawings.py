"""Drawings of molecules: SVG data URIs, one per SMILES or aligned along a path, and the size of a grid page."""

from __future__ import annotations

import base64
import functools

import pandas as pd
from rdkit import Chem
from rdkit.Chem import rdDepictor
from rdkit.Chem.Draw import rdMolDraw2D
from rdkit.Chem.Scaffolds import MurckoScaffold

from aae_core.molecules import chem

GRID_PAGE = 24  # molecules drawn per page of a molecule grid (bench/bench_browser.py)


def svg_uri(svg: str) -> str:
    """An SVG document as a ``data:`` URI (for image columns and ``st.image``)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def invalid_svg(size: tuple[int, int]) -> str:
    """A dashed grey box saying "invalid SMILES", the drawing of a string that does not parse."""
    width, height = size
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
            f'<rect x="2" y="2" width="{width - 4}" height="{height - 4}" fill="#fafafa" stroke="#ccc" '
            'stroke-dasharray="5 4"/><text x="50%" y="50%" text-anchor="middle" dominant-baseline="middle" '
            'font-family="sans-serif" font-size="15" fill="#999">invalid SMILES</text></svg>')


@functools.lru_cache(maxsize=20_000)
def drawing(smiles: str, size: tuple[int, int] = (200, 140)) -> str:
    """RDKit drawing of a SMILES as a data URI (:func:`invalid_svg` when it does not parse)."""
    mol = chem.mol_from_smiles(smiles)
    return svg_uri(chem.mol_to_svg(mol, size) if mol is not None else invalid_svg(size))


def with_drawings(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a first column ``molecule`` holding each row's drawing."""
    return frame.assign(molecule=[drawing(s) for s in frame["smiles"]])[["molecule", *frame.columns]]


def aligned_drawings(smiles: list[str], size: tuple[int, int] = (220, 170), bond_length: float = 22.0) -> list[str]:
    """Drawings of a sequence of molecules laid out consistently: each molecule is aligned on the
    Bemis-Murcko scaffold of the first (else the last) valid molecule when it contains it, and every bond
    is drawn at the same length. Returns data URIs, one per input."""
    mols = [chem.mol_from_smiles(s) for s in smiles]
    templates = [_template(m) for m in (mols[0], mols[-1]) if m is not None]
    out = []
    for mol in mols:
        if mol is None:
            out.append(svg_uri(invalid_svg(size)))
            continue
        mol = Chem.Mol(mol)
        pattern = next((t for t in templates if mol.HasSubstructMatch(t[1])), None)
        if pattern is None:
            rdDepictor.Compute2DCoords(mol)
        else:
            rdDepictor.GenerateDepictionMatching2DStructure(mol, pattern[0], refPatt=pattern[1], acceptFailure=True)
        drawer = rdMolDraw2D.MolDraw2DSVG(*size)
        drawer.drawOptions().fixedBondLength = bond_length
        drawer.drawOptions().clearBackground = False
        drawer.DrawMolecule(mol)
        drawer.FinishDrawing()
        out.append(svg_uri(drawer.GetDrawingText()))
    return out


def _template(mol: Chem.Mol) -> tuple[Chem.Mol, Chem.Mol]:
    """(scaffold with 2-D coordinates, the same scaffold as a query): the anchor of aligned drawings."""
    scaffold = MurckoScaffold.GetScaffoldForMol(mol)
    scaffold = scaffold if scaffold.GetNumAtoms() else Chem.Mol(mol)
    rdDepictor.Compute2DCoords(scaffold)
    return scaffold, Chem.MolFromSmarts(Chem.MolToSmarts(scaffold))
