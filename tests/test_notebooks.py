"""The notebooks run top to bottom in a real Jupyter kernel against the current package."""

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO


@pytest.mark.parametrize("name", ["quickstart.ipynb"])
def test_notebook_runs(name):
    notebook = nbformat.read(REPO / "notebooks" / name, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    ).execute()
    outputs = [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    ]
    assert not [output for output in outputs if output.output_type == "error"]
    texts = "".join(output.get("text", "") for output in outputs)
    assert "answer:" in texts
    assert any("image/png" in output.get("data", {}) for output in outputs)
