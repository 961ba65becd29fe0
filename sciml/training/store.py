"""Crash-safe file operations and the versioned checkpoint folder of a training run.

Layout of ``out_dir/checkpoints/`` written by the :class:`~sciml.training.Trainer`::

    checkpoints/
        epoch-0004/        a complete checkpoint directory (see sciml.training.checkpoint)
        epoch-0005/
        latest             text file: "epoch-0005"
        best               text file: "epoch-0004"

Why a kill at any moment leaves only complete checkpoints visible:

1. a checkpoint directory is written under a hidden temporary name
   (``.epoch-0005.tmp-PID``), every file and the directory are fsynced, and
   only then is it renamed to ``epoch-0005`` (a rename is atomic);
2. a pointer file is replaced with ``os.replace`` of a fsynced temporary file,
   so it always names a directory that was complete before the pointer moved;
3. directories no pointer names are deleted only after the pointers moved.

Leftovers of a killed writer (hidden ``.*.tmp-*`` / ``.*.old-*`` entries and
unreferenced ``epoch-*`` folders) are removed by :meth:`CheckpointStore.prune`. A kill between the
two renames of a replacement (step 1 when the folder already exists) leaves the folder missing and
its complete previous version as ``.epoch-0005.old-PID``: pointers resolve to that version, and
:meth:`CheckpointStore.prune` renames it back into place.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from .._atomic import atomic_write_bytes, fsync_dir

__all__ = ["CheckpointStore", "atomic_write_bytes", "fsync_dir", "read_pointer", "write_pointer"]

POINTERS = ("latest", "best")
_EPOCH_DIR = re.compile(r"^epoch-\d+$")


def write_pointer(directory: Path, name: str, target: str) -> None:
    """Atomically make pointer file ``directory/name`` name the sibling folder ``target``."""
    if "/" in target or "\\" in target or target in ("", ".", ".."):
        raise ValueError(f"target: expected the name of a folder next to the pointer, got {target!r}")
    atomic_write_bytes(Path(directory) / name, (target + "\n").encode())


def read_pointer(path: Path) -> Path:
    """The checkpoint folder a pointer file names (``ValueError`` if it names nothing usable).

    When the named folder is missing because its replacement was interrupted
    (see :func:`move_into_place`), the kept previous version ``.NAME.old-PID``
    is returned instead.
    """
    path = Path(path)
    try:
        target = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"path: cannot read checkpoint pointer {str(path)!r} ({exc})") from exc
    if not target or "/" in target or "\\" in target:
        raise ValueError(f"path: {str(path)!r} is not a checkpoint pointer (content {target[:60]!r})")
    folder = path.parent / target
    if folder.is_dir():
        return folder
    stale = stale_versions(folder)      # killed between the two renames of a replacement
    if stale:
        return stale[0]
    raise ValueError(f"path: pointer {str(path)!r} names {target!r}, which does not exist")


def move_into_place(tmp: Path, path: Path) -> None:
    """Rename the finished folder ``tmp`` to ``path``, replacing an existing ``path``.

    An existing ``path`` is first renamed to ``.NAME.old-PID``; the old copy is
    deleted once the new one is in place. If the process dies between the two
    renames, ``path`` is missing and the complete previous version remains as
    ``.NAME.old-PID`` (:func:`sciml.training.load_checkpoint` falls back to it).
    """
    fsync_dir(tmp)
    if not path.exists():
        os.rename(tmp, path)
        fsync_dir(path.parent)
        return
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    if old.exists():
        shutil.rmtree(old)
    os.rename(path, old)
    os.rename(tmp, path)
    fsync_dir(path.parent)
    shutil.rmtree(old, ignore_errors=True)


def stale_versions(path: Path) -> list[Path]:
    """Hidden leftovers ``.NAME.old-*`` of an interrupted replacement of ``path``, newest first."""
    path = Path(path)
    found = [p for p in path.parent.glob(f".{path.name}.old-*") if p.is_dir()] if path.parent.is_dir() else []
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


class CheckpointStore:
    """Versioned checkpoint folders plus ``latest`` / ``best`` pointer files.

    Parameters
    ----------
    root : path
        The folder holding ``epoch-NNNN`` checkpoints and pointers
        (``out_dir/checkpoints`` for the trainer).

    Examples
    --------
    >>> store = CheckpointStore(tmp_path / "checkpoints")  # doctest: +SKIP
    >>> path = store.path_for(5)        # .../checkpoints/epoch-0005  # doctest: +SKIP
    >>> sciml.save_checkpoint(path, model)  # doctest: +SKIP
    >>> store.point("latest", path)  # doctest: +SKIP
    >>> store.resolve("latest") == path  # doctest: +SKIP
    True
    """

    def __init__(self, root):
        self.root = Path(root)

    def path_for(self, epoch: int) -> Path:
        return self.root / f"epoch-{int(epoch):04d}"

    def point(self, pointer: str, path: Path) -> None:
        """Make ``pointer`` (``"latest"`` or ``"best"``) name the checkpoint folder ``path``."""
        if pointer not in POINTERS:
            raise ValueError(f"pointer: expected one of {POINTERS}, got {pointer!r}")
        write_pointer(self.root, pointer, Path(path).name)

    def resolve(self, pointer: str = "latest") -> Path | None:
        """The folder ``pointer`` names, or ``None`` when there is no such pointer."""
        file = self.root / pointer
        return read_pointer(file) if file.is_file() else None

    def prune(self) -> None:
        """Delete checkpoint folders no pointer names, and leftovers of killed writers.

        A pointer that names a folder whose replacement was interrupted gets the
        kept previous version renamed back into place first, so it stays valid.
        """
        if not self.root.is_dir():
            return
        self._restore_interrupted()
        keep = {p.name for p in (self._safe_resolve(n) for n in POINTERS) if p is not None}
        for entry in self.root.iterdir():
            leftover = entry.name.startswith(".") and (".tmp-" in entry.name or ".old-" in entry.name)
            unused = _EPOCH_DIR.match(entry.name) and entry.name not in keep
            if leftover or unused:
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)

    def _restore_interrupted(self) -> None:
        for pointer in POINTERS:
            found = self._safe_resolve(pointer)
            if found is not None and found.name.startswith("."):        # a stale .NAME.old-PID version
                target = self.root / found.name[1:found.name.rindex(".old-")]
                if not target.exists():
                    os.rename(found, target)
                    fsync_dir(self.root)

    def _safe_resolve(self, pointer: str) -> Path | None:
        try:
            return self.resolve(pointer)
        except ValueError:
            return None
