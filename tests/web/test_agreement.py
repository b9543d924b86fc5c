"""Agreement at this clinic, against figures worked out by hand."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from xrayreport.web.auth import add_user
from xrayreport.web.studies import accept_findings, add_finding, get_study, reject_findings, relabel_findings

from .conftest import bearer, scan_png, upload, wait_for_findings


def test_accepted_relabelled_rejected_and_added_shares_and_the_second_look(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    auth = bearer(client)
    workspace = client.app.state.workspace  # type: ignore[attr-defined]
    with workspace.sessions.begin() as db:
        add_user(db, "dr-kim", "another long passphrase", ["dentist"])
    first, second, waiting = (upload(client, auth, scan_png(seed)) for seed in (1, 2, 3))
    for study_id in (first, second, waiting):
        wait_for_findings(client, auth, study_id)  # each: f1 caries 36, f2 filling 46, f3 caries 17
    with workspace.sessions.begin() as db:
        study = get_study(db, first)
        accept_findings(db, study, ["f1"], "dr-lee")
        relabel_findings(db, study, ["f2"], "crown", "dr-lee")
        reject_findings(db, study, ["f3"], "dr-lee")
        add_finding(db, study, "caries", "37", None, "dr-lee")  # d1
        # A second dentist adds a lesion (d2) and takes back dr-lee's d1.
        add_finding(db, study, "periapical_lesion", "36", None, "dr-kim")
        reject_findings(db, study, ["d1"], "dr-kim")
        accept_findings(db, get_study(db, second), ["f1", "f2", "f3"], "dr-lee")
        accept_findings(db, get_study(db, waiting), ["f1"], "dr-lee")  # f2, f3 wait: not counted
    figures = client.get("/api/agreement", headers=auth).json()
    assert figures["studies"] == 2
    caries = figures["by_type"]["caries"]
    # Caries proposed 4 times (f1, f3 on both): accepted 3, rejected 1; nothing added in the end (d1 was rejected).
    assert (caries["proposed"], caries["accepted"], caries["rejected"], caries["added"]) == (4, 3, 1, 0)
    assert caries["shares"] == {"accepted": 0.75, "relabelled": 0.0, "rejected": 0.25, "added": 0.0}
    filling = figures["by_type"]["filling"]  # relabelled under the model's type
    assert filling["shares"] == {"accepted": 0.5, "relabelled": 0.5, "rejected": 0.0, "added": 0.0}
    lesion = figures["by_type"]["periapical_lesion"]
    assert (lesion["proposed"], lesion["added"], lesion["shares"]["added"], lesion["shares"]["accepted"]) == (
        0,
        1,
        1.0,
        None,
    )
    assert "crown" not in figures["by_type"]
    (month,) = figures["by_month"].values()
    assert month == figures["by_type"]
    assert list(figures["by_model"]) == ["test-double-analyser 0"]
    # dr-lee decided f1, f2, f3 and d1 on the first scan; dr-kim changed d1 (the lesion is a new item).
    assert figures["second_looks"] == {"scans": 1, "decided_by_first": 4, "changed_by_another": 1}
