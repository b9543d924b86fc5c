"""The researcher notebooks run top to bottom (nbclient, the current interpreter's kernel) and are committed clean."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
WALKTHROUGH = NOTEBOOKS / "researcher-walkthrough.ipynb"


def text_outputs(cell: nbformat.NotebookNode) -> str:
    return "".join(output.get("text", "") for output in cell.get("outputs", []))


def test_notebooks_are_committed_without_outputs() -> None:
    # Outputs would carry dataset pixels (the annotated scan) into the repository.
    for path in NOTEBOOKS.glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear outputs first"


@pytest.mark.slow
def test_the_walkthrough_runs_from_data_to_evaluation(datasets_dir: Path) -> None:
    from nbclient import NotebookClient

    notebook = nbformat.read(WALKTHROUGH, as_version=4)
    client = NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    printed = "\n".join(text_outputs(cell) for cell in notebook.cells if cell.cell_type == "code")
    assert "ufba425              coco   labels ['tooth']: train 341, val 42, test 42" in printed
    assert "['best.pt', 'config.json', 'last.pt', 'metrics.jsonl', 'summary.json']" in printed
    difference = re.search(r"max \|torch - onnxruntime\| = (\S+)", printed)
    assert difference is not None and float(difference.group(1)) < 1e-4
    assert '"numbering_accuracy"' in printed
    dentex = "dentex-crops           crop-folder  teaches ['caries', 'deep_caries', 'implant', 'periapical_lesion'"
    assert dentex in printed
    assert "trained on ['dentex-crops'], scored on ['tufts']" in printed and "reported per Tufts scan: {" in printed
    assert '"dentex-crops": {' in printed  # per-tooth caries metrics of the tiny second stage, by source
    # Learning from the clinic: a generated export, split by patient; the fine-tuned model compared on the test part.
    assert "clinic: train 7, val 1, test 2" in printed and "2 held-back scans of 2 patients" in printed
    images = [o for cell in notebook.cells for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 3  # the annotated scan, the loss curve and the tooth crops
