"""Errors psa_geo raises. Each reads as one sentence a user can act on."""

from __future__ import annotations

from pathlib import Path


class PsaGeoError(ValueError):
    """Base class: a problem with the user's input or data, not a bug."""


class InputFileError(PsaGeoError):
    """A file that cannot be used, named in the message."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):  # pickled as raised: a Dask worker's error reaches the client whole
        return type(self), (self.path, self.problem)


class MissingDataError(PsaGeoError):
    """A dataset the step needs is not in the data directory."""
