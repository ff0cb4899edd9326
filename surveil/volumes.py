"""Storage volumes: where each segment file lives, and how full each volume is.

A segment row names its volume; its path is relative to that volume's root. With no
``[[storage.volumes]]`` there is one volume, ``main``, the data directory. A volume named
``main`` in the configuration takes that name's place; rows from before volumes existed are
on ``main`` (docs/design/storage.md).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from index.records import DEFAULT_VOLUME
from surveil.config import StorageConfig

LEVELS: Final = ("ok", "warn", "critical", "full", "error")


@dataclass(frozen=True)
class VolumeUsage:
    """One reading of a volume's space, and the level it puts the volume at."""

    name: str
    path: str
    total_bytes: int
    used_bytes: int
    free_bytes: int
    level: str  # one of LEVELS; 'full' is set by the monitor when nothing may be deleted
    error: str | None = None

    @property
    def used_percent(self) -> float:
        return 100.0 * self.used_bytes / self.total_bytes if self.total_bytes else 100.0


class Volumes:
    """The volumes by name; each segment's file is file(volume, path)."""

    def __init__(self, roots: Mapping[str, Path], cfg: StorageConfig | None = None) -> None:
        if not roots:
            raise ValueError("at least one volume is needed")
        self._roots = dict(roots)
        self.cfg = cfg or StorageConfig()
        quotas = {v.name: v.quota_gb for v in self.cfg.volumes}
        self.quota_bytes: dict[str, int | None] = {
            name: None if quotas.get(name) is None else int(quotas[name] * 1e9)  # type: ignore[operator]
            for name in self._roots
        }

    @classmethod
    def configured(cls, data_dir: Path, cfg: StorageConfig) -> Volumes:
        roots = {DEFAULT_VOLUME: data_dir}
        roots.update({v.name: v.path for v in cfg.volumes})
        return cls(roots, cfg)

    @classmethod
    def single(cls, data_dir: Path) -> Volumes:
        """The data directory as the one volume, main (tests, tools without a config)."""
        return cls({DEFAULT_VOLUME: data_dir})

    def __iter__(self) -> Iterator[str]:
        return iter(self._roots)

    def __contains__(self, volume: object) -> bool:
        return volume in self._roots

    def names(self) -> list[str]:
        return list(self._roots)

    def root(self, volume: str) -> Path:
        try:
            return self._roots[volume]
        except KeyError:
            raise KeyError(f"no storage volume named {volume!r} is configured") from None

    def file(self, volume: str, rel_path: str) -> Path:
        return self.root(volume) / rel_path

    def usage(self, volume: str) -> VolumeUsage:
        """Space on the volume now (statvfs), leveled by the warn and critical marks."""
        root = self.root(volume)
        try:
            du = shutil.disk_usage(root)
        except OSError as exc:
            return VolumeUsage(volume, str(root), 0, 0, 0, "error", exc.strerror or str(exc))
        used = du.total - du.free
        pct = 100.0 * used / du.total if du.total else 100.0
        level = "ok"
        if pct >= self.cfg.critical_percent:
            level = "critical"
        elif pct >= self.cfg.warn_percent:
            level = "warn"
        return VolumeUsage(volume, str(root), du.total, used, du.free, level)

    def below_floor(self, usage: VolumeUsage) -> bool:
        """Less free space than storage.min_free_mb: recording must stop unless space is made."""
        return usage.free_bytes < self.cfg.min_free_mb * 1e6


# What the archive functions take: the volumes, or a data directory as the only one.
Storage = Volumes | Path


def as_volumes(storage: Storage) -> Volumes:
    return storage if isinstance(storage, Volumes) else Volumes.single(storage)
