"""Test doubles for the web app's injected stages: an analyser and a report renderer.

They stand in for ``xrayreport.detection.analyze`` and the report stage's PDF renderer, which the web
tests must not depend on: they make small, valid, predictable outputs from their real inputs.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable

from xrayreport.findings import Finding, Findings, ImageInfo, ModelInfo, Quality, Tooth
from xrayreport.ingestion import Radiograph

TEST_MODEL = ModelInfo(name="test-double-analyser", version="0")
TEETH = ("18", "17", "16", "15", "28", "27", "26", "25", "38", "37", "36", "35", "48", "47", "46", "45")


def analyse_for_tests(radiograph: Radiograph) -> Findings:
    """Findings for ``radiograph``: 16 teeth on a grid over the image and three findings on them.

    Upper teeth sit in the top half, lower ones in the bottom half; the patient's right (quadrants 1
    and 4) on the image's left. ``f1`` is caries on 36, ``f2`` a filling on 46, ``f3`` caries on 17.
    """
    width, height = radiograph.width, radiograph.height
    teeth = []
    for fdi in TEETH:
        quadrant = int(fdi[0])
        position = int(fdi[1])  # 8 .. 5 from the outside in
        side = -1 if quadrant in (1, 4) else 1
        centre = width / 2 + side * (width * 0.05 + (position - 5) * width * 0.09)
        top = height * (0.2 if quadrant in (1, 2) else 0.55)
        teeth.append(
            Tooth(fdi=fdi, box=(centre - width * 0.04, top, centre + width * 0.04, top + height * 0.25), score=0.9)
        )
    boxes = {t.fdi: t.box for t in teeth}
    findings = (
        Finding(id="f1", type="caries", tooth="36", box=boxes["36"], score=0.81),
        Finding(id="f2", type="filling", tooth="46", box=boxes["46"], score=0.93),
        Finding(id="f3", type="caries", tooth="17", box=boxes["17"], score=0.55),
    )
    return Findings(
        image=ImageInfo(width=width, height=height, sha256=radiograph.sha256, source=radiograph.source_name),
        model=TEST_MODEL,
        teeth=tuple(teeth),
        findings=findings,
        quality=Quality(verdict="ok"),
    )


class BlockingAnalyser:
    """:func:`analyse_for_tests` that waits until :meth:`release` is called, to observe 'analysis running'."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self._release = threading.Event()

    def release(self) -> None:
        self._release.set()

    def __call__(self, radiograph: Radiograph) -> Findings:
        self.started.set()
        if not self._release.wait(timeout=30):
            raise TimeoutError("the test never released the analyser")
        return analyse_for_tests(radiograph)


def render_report_for_tests(
    radiograph: Radiograph, findings: Findings, language: str, previous: Findings | None = None
) -> bytes:
    """A one-page PDF listing the language, the patient (name; ID, birth date, sex), each finding as
    ``id type tooth`` and, with an earlier scan, ``since <its date>: <its finding types>``."""
    lines = [f"language {language}", f"image {radiograph.width}x{radiograph.height}"]
    if findings.patient and findings.patient.name:
        lines.append(f"patient {findings.patient.name}")
    if findings.patient:
        patient = findings.patient
        lines.append(f"patient ID {patient.id} born {patient.birth_date} sex {patient.sex}")
    lines += [f"finding {f.id} {f.type} {f.tooth}" for f in findings.findings]
    if previous is not None:
        day = previous.study.date if previous.study else None
        lines.append(f"since {day}: {' '.join(f.type for f in previous.findings)}")
    return _pdf(lines)


def _pdf(lines: list[str]) -> bytes:
    text = "BT /F1 11 Tf 50 800 Td 14 TL " + " ".join(f"({_escape(line)}) Tj T*" for line in lines) + " ET"
    stream = zlib.compress(text.encode("latin-1", "replace"))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


DENSE_TYPES = ("caries", "filling", "crown", "root_canal", "deep_caries", "periapical_lesion", "caries", "implant")


def dense_analyser(count: int) -> Callable[[Radiograph], Findings]:
    """An analyser that finds all 32 permanent teeth along an arch and ``count`` findings on them, as a busy
    panoramic has: cycling through :data:`DENSE_TYPES` over every second tooth, then missing 18 and 48 (their
    boxes dropped), with scores spread from 0.3 to 0.98; the last finding lies on no tooth."""

    def analyse(radiograph: Radiograph) -> Findings:
        width, height = radiograph.width, radiograph.height
        teeth = []
        for row, quadrants in enumerate((("1", "2"), ("4", "3"))):
            for side, quadrant in zip((-1, 1), quadrants, strict=True):
                for position in range(1, 9):
                    offset = (position - 0.5) / 8 * 0.3  # from the midline out to 0.3 of the width
                    centre = width * (0.5 + side * offset)
                    top = height * ((0.3 if row == 0 else 0.52) - (offset**2) * (1.2 if row == 0 else 0.8))
                    box = (centre - width * 0.016, top, centre + width * 0.016, top + height * 0.17)
                    if f"{quadrant}{position}" not in ("18", "48"):
                        teeth.append(Tooth(fdi=f"{quadrant}{position}", box=box, score=0.95))
        order = [t for t in teeth if t.fdi[1] in "1357"] + [t for t in teeth if t.fdi[1] in "246"]
        findings = []
        for index in range(count - 3):
            tooth = order[index % len(order)]
            kind = DENSE_TYPES[index % len(DENSE_TYPES)]
            score = 0.3 + (index * 37 % 69) / 100
            findings.append(Finding(id=f"f{index + 1}", type=kind, tooth=tooth.fdi, box=tooth.box, score=score))
        findings += [
            Finding(id=f"f{count - 2}", type="missing", tooth="18", box=None, score=0.9),
            Finding(id=f"f{count - 1}", type="missing", tooth="48", box=None, score=0.88),
            Finding(
                id=f"f{count}",
                type="impacted",
                tooth=None,
                box=(width * 0.05, height * 0.6, width * 0.1, height * 0.8),
                score=0.42,
            ),
        ]
        return Findings(
            image=ImageInfo(width=width, height=height, sha256=radiograph.sha256, source=radiograph.source_name),
            model=TEST_MODEL,
            teeth=tuple(teeth),
            findings=tuple(findings),
            quality=Quality(verdict="ok"),
        )

    return analyse
