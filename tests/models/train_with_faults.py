"""``python tests/models/train_with_faults.py [--enospc-at N] [--kill-in-save N] -- ARGS``:
``python -m models.train ARGS`` with faults injected through ``models.train.SAVE_HOOKS``, for the
resume tests: ENOSPC raised at the N-th checkpoint save, or SIGKILL 2 ms into the N-th save."""

import argparse
import errno
import os
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from models import train  # noqa: E402


def main() -> int:
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    p = argparse.ArgumentParser()
    p.add_argument("--enospc-at", type=int, default=0)
    p.add_argument("--kill-in-save", type=int, default=0)
    faults = p.parse_args(argv[:cut])

    def hook(n: int) -> None:
        if n == faults.enospc_at:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if n == faults.kill_in_save:
            threading.Timer(0.002, os.kill, (os.getpid(), signal.SIGKILL)).start()

    train.SAVE_HOOKS.append(hook)
    return train.main(argv[cut + 1:])


if __name__ == "__main__":
    sys.exit(main())
