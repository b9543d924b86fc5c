"""What the review page shows of a study: findings by tooth in chart order, review states, the chart."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from xrayreport.web.reviewpage import review_view, type_group
from xrayreport.web.studies import get_study

from .conftest import bearer, scan_png, upload, wait_for_findings


def test_findings_are_grouped_by_tooth_in_chart_order_with_their_states(client: TestClient) -> None:
    auth = bearer(client)
    study_id = upload(client, auth, scan_png(5))
    document = wait_for_findings(client, auth, study_id).json()  # f1 caries 36, f2 filling 46, f3 caries 17
    document["findings"].append({"id": "d1", "type": "missing", "tooth": "38", "box": None, "source": "dentist"})
    document["findings"].append(
        {"id": "d2", "type": "fracture", "tooth": None, "box": [1, 2, 30, 40], "source": "dentist"}
    )
    client.put(f"/api/studies/{study_id}/findings", headers=auth, json=document)
    with client.app.state.workspace.sessions() as db:  # type: ignore[attr-defined]
        study = get_study(db, study_id)
        study.accepted_ids = json.dumps(["f2"])  # as if f1 and f3 still waited
        view = review_view(study)
    # upper jaw from the patient's right (17), then the lower jaw from the right (46) to the left (36, 38)
    assert [(g.fdi, g.state, [r.item.id for r in g.rows]) for g in view.groups] == [
        ("17", "problem", ["f3"]),
        ("46", "treated", ["f2"]),
        ("36", "problem", ["f1"]),
        ("38", "healthy", ["d1"]),  # seen on the scan and marked missing: the chart's conflict, shown as seen
        (None, None, ["d2"]),
    ]
    assert {r.item.id: r.state for r in view.rows} == {
        "f1": "pending",
        "f2": "accepted",
        "f3": "pending",
        "d1": "added",
        "d2": "added",
    }
    assert view.pending == 2 and view.groups[0].pending == ("f3",) and view.groups[1].pending == ()
    assert view.chart.teeth["11"].state == "not_seen" and view.chart.teeth["46"].state == "treated"
    assert json.loads(view.groups[0].rows[0].earlier) == {
        "finding": {
            "id": "f3",
            "type": "caries",
            "tooth": "17",
            "box": list(view.groups[0].rows[0].item.box or ()),
            "source": "model",
            "score": 0.55,
            "note": None,
        },
        "accepted": False,
    }
    assert view.type_codes == [("C", "caries"), ("Fx", "fracture"), ("F", "filling"), ("M", "missing")]
    tooth_36 = next(t for t in view.document.teeth if t.fdi == "36")  # kept by the page to undo a renumbering
    assert json.loads(view.earlier_teeth["36"]) == {
        "fdi": "36",
        "box": list(tooth_36.box or ()),
        "score": 0.9,
        "source": "model",
    }
    assert [type_group(t) for t in ("deep_caries", "crown", "missing")] == ["problem", "treated", "missing"]
