"""The stored scans' PNG renditions: the preview the review page opens with, the detail it loads when zoomed in."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from xrayreport.ingestion import load_scan
from xrayreport.web.config import WebConfig
from xrayreport.web.scans import DETAIL_MAX_WIDTH, PREVIEW_MAX_WIDTH, ScanStore

from .conftest import bearer, scan_png, upload
from .test_pages import login


def _size(png: bytes) -> tuple[int, int]:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    return image.shape[1], image.shape[0]


@pytest.mark.parametrize(("width", "detail_width"), [(2400, 2400), (5000, DETAIL_MAX_WIDTH)])
def test_the_detail_is_the_full_resolution_up_to_its_limit(tmp_path: Path, width: int, detail_width: int) -> None:
    data = scan_png(1, width=width, height=width // 2)
    store = ScanStore(tmp_path / "scans")
    name = store.save(data, load_scan(data, name="pano.png"))
    assert _size(store.rendition(name)) == (PREVIEW_MAX_WIDTH, PREVIEW_MAX_WIDTH // 2)
    assert not (tmp_path / "scans" / name).with_suffix(".detail.png").exists()  # made when first asked for
    detail = store.rendition(name, "detail")
    assert _size(detail) == (detail_width, detail_width // 2)
    if width == detail_width:  # at full resolution it is the scan's own pixels
        assert np.array_equal(cv2.imdecode(np.frombuffer(detail, np.uint8), 0), load_scan(data).pixels)
    assert os.stat((tmp_path / "scans" / name).with_suffix(".detail.png")).st_mode & 0o777 == 0o600
    assert store.rendition(name, "detail") == detail


def test_an_orphaned_detail_goes_with_its_scan(tmp_path: Path) -> None:
    store = ScanStore(tmp_path / "scans")
    data = scan_png(2)
    kept = store.save(data, load_scan(data))
    orphan = store.save(data, load_scan(data))
    store.rendition(orphan, "detail")
    store.rendition(kept, "detail")
    old = time.time() - 7200
    for path in (tmp_path / "scans").iterdir():
        os.utime(path, (old, old))
    assert store.open({kept}) == 3  # the orphan, its preview and its detail
    store.close()
    assert sorted(p.name.split(".", 1)[1] for p in (tmp_path / "scans").glob("*.*") if p.name != ".lock") == [
        "detail.png",
        "preview.png",
        "scan",
    ]


def test_the_page_and_the_api_serve_both_renditions_to_those_who_may_see_scans(
    client: TestClient, make_config: Callable[..., WebConfig]
) -> None:
    study_id = upload(client, bearer(client), scan_png(3, width=2000, height=900))
    login(client)
    detail = client.get(f"/studies/{study_id}/image.png", params={"rendition": "detail"})
    assert detail.status_code == 200 and _size(detail.content) == (2000, 900)
    assert detail.headers["cache-control"] == "private, max-age=3600"
    assert _size(client.get(f"/studies/{study_id}/image.png").content) == (PREVIEW_MAX_WIDTH, 720)
    api = client.get(f"/api/studies/{study_id}/image.png?rendition=detail", headers=bearer(client))
    assert api.content == detail.content
    wrong = client.get(f"/studies/{study_id}/image.png", params={"rendition": "dicom"})
    assert wrong.status_code == 422 and "'preview' or 'detail'" in wrong.text
    client.cookies.clear()
    assert client.get(f"/studies/{study_id}/image.png?rendition=detail", follow_redirects=False).status_code == 303
