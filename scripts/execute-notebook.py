"""Executes Jupyter notebooks in place (headless, nbclient), each in its own folder, as the
exported notebooks expect (their SWEEP_DIR is relative to that folder).

    .venv/bin/python scripts/execute-notebook.py notebooks-export/NAME.ipynb [more.ipynb …]

Exits non-zero on the first notebook whose execution fails (that file keeps its unexecuted content).
"""
import os
import sys

import nbclient
import nbformat

for path in sys.argv[1:]:
    notebook = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(notebook, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}}).execute()
    nbformat.write(notebook, path)
