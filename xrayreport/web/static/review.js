// Review page: pick a tooth by clicking it, draw a finding box by dragging, follow analysis progress.
"use strict";
(function () {
  const review = document.getElementById("review");
  if (!review) return;
  const svg = document.getElementById("overlay");
  const drawn = document.getElementById("drawn");
  const boxField = document.getElementById("add-box");
  const toothField = document.getElementById("add-tooth");
  const renumberField = document.getElementById("renumber-tooth");

  function selectTooth(fdi) {
    document.querySelectorAll(".tooth, .chip").forEach((el) => el.classList.toggle("selected", el.dataset.fdi === fdi));
    if (toothField) toothField.value = fdi;
    if (renumberField) renumberField.value = fdi;
  }
  document.querySelectorAll(".chip").forEach((chip) => chip.addEventListener("click", () => selectTooth(chip.dataset.fdi)));

  // Boxes are kept in original-image pixels: the SVG's viewBox is the scan's full size.
  function toImage(event) {
    const point = svg.createSVGPoint();
    point.x = event.clientX;
    point.y = event.clientY;
    const p = point.matrixTransform(svg.getScreenCTM().inverse());
    const [, , width, height] = svg.getAttribute("viewBox").split(" ").map(Number);
    return { x: Math.min(Math.max(p.x, 0), width), y: Math.min(Math.max(p.y, 0), height) };
  }
  let start = null;
  svg.addEventListener("pointerdown", (event) => {
    start = toImage(event);
    svg.setPointerCapture(event.pointerId);
  });
  svg.addEventListener("pointermove", (event) => {
    if (!start) return;
    const p = toImage(event);
    drawn.setAttribute("x", Math.min(start.x, p.x));
    drawn.setAttribute("y", Math.min(start.y, p.y));
    drawn.setAttribute("width", Math.abs(p.x - start.x));
    drawn.setAttribute("height", Math.abs(p.y - start.y));
  });
  svg.addEventListener("pointerup", (event) => {
    if (!start) return;
    const p = toImage(event);
    const box = [Math.min(start.x, p.x), Math.min(start.y, p.y), Math.max(start.x, p.x), Math.max(start.y, p.y)].map(Math.round);
    const clicked = document.elementsFromPoint(event.clientX, event.clientY).find((el) => el.closest && el.closest(".tooth"));
    start = null;
    if (box[2] - box[0] < 4 || box[3] - box[1] < 4) {  // a click, not a drag: pick the tooth under it
      drawn.setAttribute("width", 0);
      if (clicked) selectTooth(clicked.closest(".tooth").dataset.fdi);
      return;
    }
    boxField.value = box.join(",");
  });

  document.querySelectorAll("table.findings tr").forEach((row) => {
    const id = row.id.replace("finding-", "");
    const shape = svg.querySelector('.finding[data-id="' + id + '"]');
    if (!shape) return;
    row.addEventListener("mouseenter", () => shape.classList.add("highlight"));
    row.addEventListener("mouseleave", () => shape.classList.remove("highlight"));
  });

  if (review.dataset.status === "queued" || review.dataset.status === "running") {
    const poll = async () => {
      const response = await fetch("/studies/" + review.dataset.study + "/status");
      if (response.ok) {
        const body = await response.json();
        document.getElementById("status-badge").textContent = body.status;
        if (body.status !== "queued" && body.status !== "running") {
          window.location.reload();
          return;
        }
      }
      setTimeout(poll, 1000);
    };
    setTimeout(poll, 1000);
  }
})();
