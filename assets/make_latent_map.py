"""Make the shipped data of the app's Latent map (``assets/latent_map/``), so that its first map and its first
colouring by a property take seconds instead of minutes.

- ``molecules.csv.gz``: the map's molecules, the fixed random sample of 20,000 rows of the shipped MOSES train cut
  (``assets/moses/train.csv.gz``) that ``dashboard.services.latent_map.map_sample`` draws (``DataFrame.sample(20000,
  random_state=0)``), in that order, with their properties as the app computes them
  (``aae_core.molecules.chem.properties`` and ``lipinski_violations``): columns ``smiles``, ``QED``, ``logP``,
  ``SA``, ``MW``, ``lipinski``, floats to 6 significant digits. Computing them takes about 4 CPU-ms a molecule.
- ``codes_<model>.npz``: the latent codes (float16, rounded from float32) of the first 10,000 of those molecules
  under a shipped model (default ``checkpoints/aae_moses.safetensors``, the app's default model; 25 CPU-seconds),
  with the SHA-256 of the checkpoint they belong to: the app uses them only for a checkpoint with that hash.
  ``aae-lab encode`` gives the same codes in float32.

Usage (from the repository root)::

    .venv/bin/python assets/make_latent_map.py                     # both
    .venv/bin/python assets/make_latent_map.py --only codes --model checkpoints/aae_moses.safetensors

The gzip and npz bytes are reproducible (fixed timestamps) for the same libraries. Then update the table in
``assets/README.md`` (the script prints the sizes).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shlex
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

OUT = ROOT / "assets" / "latent_map"
MAP_MOLECULES = 20_000  # = max(dashboard.services.latent_map.MAP_SIZES)
CODED_MOLECULES = 10_000  # the map's default size
SIGNIFICANT = "%.6g"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def map_molecules() -> pd.DataFrame:
    """The map's sample of the shipped train cut, column ``smiles`` (the draw ``map_sample`` made before it was
    shipped)."""
    from aae_core.molecules.data import SHIPPED, read_table

    frame, column = read_table(SHIPPED["moses-train"])
    return frame[[column]].rename(columns={column: "smiles"}).sample(MAP_MOLECULES, random_state=0).reset_index(
        drop=True)


def with_properties(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with QED, logP, SA, MW and lipinski (rule-of-five violations) of each SMILES (all must parse)."""
    from aae_core.molecules import chem

    rows = []
    for smiles in frame["smiles"]:
        mol = chem.mol_from_smiles(smiles)
        assert mol is not None, f"the train cut holds an unparsable SMILES: {smiles!r}"
        values = chem.properties(mol)
        rows.append([*(values[name] for name in chem.PROPERTY_NAMES), chem.lipinski_violations(mol)])
    return frame.join(pd.DataFrame(rows, columns=[*chem.PROPERTY_NAMES, "lipinski"], index=frame.index))


def write_molecules(path: Path) -> pd.DataFrame:
    frame = with_properties(map_molecules())
    with gzip.GzipFile(path, "wb", mtime=0) as handle:  # mtime=0: reproducible bytes
        handle.write(frame.to_csv(index=False, float_format=SIGNIFICANT).encode())
    return frame


def write_codes(model: Path, molecules: Path, path: Path) -> None:
    import torch

    from aae_core.molecules.generation import MoleculeGenerator
    from aae_core.registry import load_model

    torch.set_num_threads(1)
    smiles = pd.read_csv(molecules)["smiles"].iloc[:CODED_MOLECULES].tolist()
    codes = MoleculeGenerator(load_model(model)).encode(smiles).numpy()  # TokenizerError if one is unreadable
    meta = {"checkpoint": model.name, "checkpoint_sha256": sha256(model), "molecules": f"assets/latent_map/"
            f"{molecules.name}", "molecules_sha256": sha256(molecules), "rows": len(codes),
            "command": "python assets/make_latent_map.py " + shlex.join(sys.argv[1:]), "torch": torch.__version__,
            "dtype": "float16, rounded from the float32 codes"}
    arrays = {"codes": codes.astype(np.float16), "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:  # np.savez_compressed, with fixed timestamps
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as handle:
                np.lib.format.write_array(handle, array, allow_pickle=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["molecules", "codes"])
    parser.add_argument("--model", type=Path, default=ROOT / "checkpoints" / "aae_moses.safetensors")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    molecules = OUT / "molecules.csv.gz"
    if args.only in (None, "molecules"):
        start = time.perf_counter()
        write_molecules(molecules)
        print(f"{molecules.name}: {molecules.stat().st_size / 1e6:.2f} MB, {time.perf_counter() - start:.0f} s")
    if args.only in (None, "codes"):
        start = time.perf_counter()
        codes = OUT / f"codes_{args.model.stem}.npz"
        write_codes(args.model, molecules, codes)
        print(f"{codes.name}: {codes.stat().st_size / 1e6:.2f} MB, {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
