"""A storage base location: a local folder or a URI pyarrow's filesystems
understand, and the names of the layout below it.

Checked before any filesystem is built (``ScoutParquetIOManager`` checks its
``base_path`` when it is configured), so that a mistyped URI is refused
instead of silently becoming a local folder.
"""

from __future__ import annotations

import os
import re

__all__ = ["DATA_FILE", "SINGLE_DIMENSION", "as_uri", "check_base_location"]

#: A table's (or a partition's) Parquet file, in its folder.
DATA_FILE = "data.parquet"
#: Name of the folder level of a single-dimension partition.
SINGLE_DIMENSION = "partition"

#: URI schemes of the filesystems pyarrow reads and writes. A base location
#: that starts with one of them but is not ``<scheme>://`` (``s3//bucket``,
#: ``s3:/bucket``, ``s3:bucket``) would be taken as a local folder and fill
#: it silently, so it is refused.
_URI_SCHEMES = ("s3", "gs", "gcs", "az", "abfs", "abfss", "hdfs", "viewfs", "file")
_MISTYPED_URI = re.compile(
    rf"(?P<scheme>{'|'.join(_URI_SCHEMES)})(?::(?!//)|//)(?P<rest>.*)", re.IGNORECASE | re.DOTALL
)


def check_base_location(base: object, what: str = "base_path") -> str:
    """Return ``base`` if it is a usable base location, else raise ValueError.

    Refused: an empty or blank value, one with spaces around it, and a
    mistyped URI (``s3//bucket/x``) that would silently be a local folder.
    Pure: no filesystem is built and nothing is touched.
    """
    if not isinstance(base, str) or not base.strip():
        raise ValueError(
            f"{what} is empty: give a local folder such as 'data/scout' "
            "or a URI such as 's3://bucket/prefix'"
        )
    if base != base.strip():
        raise ValueError(f"{what} {base!r} starts or ends with a space: write {base.strip()!r}")
    mistyped = _MISTYPED_URI.fullmatch(base)
    if mistyped is not None:
        scheme = mistyped["scheme"].lower()
        rest = mistyped["rest"].lstrip("/") or "bucket/prefix"
        meant = f"file:///{rest}" if scheme == "file" else f"{scheme}://{rest}"
        raise ValueError(
            f"{what} {base!r} is not a valid {scheme}:// URI and would be taken as a "
            f"local folder: write {meant!r}"
        )
    return base


def as_uri(base: str) -> str:
    """``base`` as a URI pyarrow builds a filesystem from: a local path made absolute."""
    if "://" in base:
        return base
    return os.path.abspath(base)
