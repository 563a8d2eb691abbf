"""Uploaded molecule files in :mod:`dashboard.services.uploads`."""

from __future__ import annotations

import pytest

from aae_core.exceptions import DataError
from dashboard import inputs
from dashboard.services import uploads


def test_read_upload_rejects_empty_and_oversized_files(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="empty"):
        uploads.read_upload.__wrapped__("a.smi", b"", "", str(tmp_path))
    monkeypatch.setattr(inputs, "MOLECULE_MAX_BYTES", 10)
    with pytest.raises(DataError, match="limit"):
        uploads.read_upload.__wrapped__("a.smi", b"CCO\n" * 10, "", str(tmp_path))
