"""A private folder in the user's cache (`$XDG_CACHE_HOME/dr-guard`, else `~/.cache/dr-guard`)
for what is expensive to rebuild and safe to rebuild: compiled report templates, compiled
pattern databases. What is kept there is code or code-like, so a folder is used only when no
other user could have put anything in it."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def root() -> Path:
    """The cache root of this program (not created)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dr-guard"


def _others_can_replace(st: os.stat_result, uid: int) -> bool:
    """Whether another user could put or rename something in this folder: it is neither ours
    nor root's, or others may write it without the sticky bit (`/tmp` keeps its entries to
    their owners)."""
    if st.st_uid not in (uid, 0):
        return True
    writable_by_others = stat.S_IMODE(st.st_mode) & (stat.S_IWGRP | stat.S_IWOTH)
    return bool(writable_by_others) and not st.st_mode & stat.S_ISVTX


def private_folder(name: str) -> Path | None:
    """`<root>/<name>`, created if missing, when this user owns it, nobody else can write it,
    and no folder above it lets another user swap it (each ancestor of its real path is this
    user's or root's, and writable by others only with the sticky bit). Else None: the caller
    rebuilds instead of caching. Never raises for a folder that cannot be used."""
    folder = root() / name
    uid = os.getuid()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=stat.S_IRWXU)
        st = os.lstat(folder)
        if (not stat.S_ISDIR(st.st_mode) or st.st_uid != uid
                or stat.S_IMODE(st.st_mode) & (stat.S_IWGRP | stat.S_IWOTH)
                or not os.access(folder, os.W_OK)):
            return None
        real = Path(os.path.realpath(folder))
        for parent in real.parents:
            if _others_can_replace(os.stat(parent), uid):
                return None
    except OSError:
        return None
    return folder
