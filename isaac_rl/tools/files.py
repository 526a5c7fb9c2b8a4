"""Output files that are either absent or whole: a writer fills a temporary file beside the target, which is then
fsynced and renamed onto it (``os.replace``, atomic on POSIX). An error, Ctrl-C or SIGTERM during the write leaves
the target as it was (absent, or the previous file) and no temporary behind; only SIGKILL can leave a hidden
``.tmp-out-*`` file, never a torn target."""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator

TEMP_PREFIX = ".tmp-out-"


@contextlib.contextmanager
def atomic_output(path: str) -> Iterator[str]:
    """Yield a temporary path in ``path``'s folder with ``path``'s extension (writers that pick their format from
    the name, Pillow, matplotlib and ffmpeg, see the real one); when the block ends normally, the file written there
    replaces ``path``; when it raises (any exception, ``KeyboardInterrupt`` included) the temporary is deleted."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=os.path.splitext(path)[1], dir=folder)
    os.close(fd)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; outputs get the usual permissions
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
