"""Re-executing a bench script inside the project's venv (scripts/python-env.sh makes it)."""
from __future__ import annotations

import os
import sys
from pathlib import Path


def reexec_in_venv(root: Path, script: str, usable_without: tuple[str, ...] = ()) -> None:
    """Re-execute the calling script with the venv's interpreter ($ABLATE_VENV, default
    ROOT/.venv) unless it already runs there. Without a venv, carry on when every module in
    `usable_without` imports (an interpreter that has them will do), else exit with a message.
    """
    venv = Path(os.environ.get("ABLATE_VENV", root / ".venv")).resolve()
    marker = "ABLATE_BENCH_IN_VENV"
    if Path(sys.prefix).resolve() == venv or os.environ.get(marker):
        return
    python = venv / "bin" / "python"
    if not python.exists():
        if usable_without:
            try:
                for module in usable_without:
                    __import__(module)
                return
            except ImportError:
                pass
        sys.exit(f"{script}: no venv at {venv}; create it with scripts/python-env.sh")
    os.environ[marker] = "1"
    os.execv(str(python), [str(python), str(Path(sys.argv[0]).resolve()), *sys.argv[1:]])
