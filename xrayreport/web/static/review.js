// Review page: the viewer (viewer.js), findings by tooth reviewed by mouse or keyboard with undo, the picked
// tooth at full resolution, drawing a box, and analysis progress. The review forms work without this script;
// with it they are sent with fetch and the parts of the page marked data-live are swapped from the answer, so
// the view (zoom, pan, current finding, picked tooth) stays where the dentist left it.
"use strict";
(function () {
  const review = document.getElementById("review");
  if (!review) return;
  document.documentElement.classList.add("js");
  const byId = (id) => document.getElementById(id);
  const studyUrl = "/studies/" + review.dataset.study;
  const drawButton = document.getElementById("draw-mode");
  const toothCard = document.getElementById("tooth-card");
  const messages = document.getElementById("messages");
  const undoStack = [];
  let current = null;  // id of the current finding
  let picked = null;  // FDI number of the picked tooth
  let busy = false;
  let keyBox = null;  // the box being drawn, [x1, y1, x2, y2] in image pixels (mouse or keys)

  const viewer = new ScanViewer.Viewer(byId("stage"), review.querySelector(".toolbar"), {
    width: Number(review.dataset.width),
    height: Number(review.dataset.height),
    user: review.dataset.user,
    onClick: clickScan,
    onDraw: drawBox,
  });

  // --- what is where -------------------------------------------------------------------------------------------
  const rowOf = (id) => byId("finding-" + id);
  const shapeOf = (id) => document.querySelector('#overlay .finding[data-id="' + id + '"]');
  const toothShape = (fdi) => document.querySelector('#overlay .tooth[data-fdi="' + fdi + '"]');
  const shownRows = () => Array.from(document.querySelectorAll(".finding-row:not(.filtered)"));
  const boxOf = (element) => {
    const rect = element && element.querySelector("rect");
    if (!rect) return null;
    const [x, y, w, h] = ["x", "y", "width", "height"].map((name) => Number(rect.getAttribute(name)));
    return [x, y, x + w, y + h];
  };

  function say(text, kind) {
    messages.textContent = "";
    if (!text) return;
    const line = document.createElement("p");
    line.className = "flash " + (kind || "info");
    line.textContent = text;
    messages.appendChild(line);
  }

  // --- the confidence filter in the list -----------------------------------------------------------------------
  function applyFilter() {
    let hidden = 0;
    document.querySelectorAll(".finding-row").forEach((row) => {
      const out = viewer.hides(row.dataset.source, row.dataset.score);
      row.classList.toggle("filtered", out);
      if (out) hidden++;
    });
    document.querySelectorAll(".tooth-group").forEach((group) => {
      group.hidden = !group.querySelector(".finding-row:not(.filtered)");
    });
    const note = byId("filtered");
    if (note) {
      note.hidden = hidden === 0;
      note.textContent = hidden + " model finding(s) under " + viewer.settings.minScore + " % hidden (Layers).";
    }
    const all = document.querySelector(".all-form");
    if (all) {
      const waiting = document.querySelectorAll(".finding-row.pending:not(.filtered)").length;
      all.querySelector(".count").textContent = waiting;
      all.querySelector("button").disabled = waiting === 0;
    }
  }
  viewer.on((kind) => {
    if (kind === "filter") applyFilter();
    if (kind === "render" && picked) showTooth(picked, false);
  });

  // --- the current finding and the picked tooth ----------------------------------------------------------------
  function setCurrent(id, focus) {
    document.querySelectorAll(".current").forEach((el) => el.classList.remove("current"));
    document.querySelectorAll('[aria-current="true"]').forEach((el) => el.removeAttribute("aria-current"));
    current = id;
    const row = id && rowOf(id);
    if (!row) return;
    row.classList.add("current");
    row.setAttribute("aria-current", "true");
    const shape = shapeOf(id);
    if (shape) {
      shape.classList.add("current");
      viewer.reveal(boxOf(shape));
    }
    if (focus) row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    const rows = shownRows();
    if (!rows.length) return;
    const index = rows.findIndex((row) => row.dataset.id === current);
    const next = index < 0 ? (step > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, index + step));
    setCurrent(rows[next].dataset.id, true);
  }

  function pickTooth(fdi, zoom) {
    picked = fdi;
    document.querySelectorAll(".tooth, .ct, .tooth-group").forEach((el) => {
      el.classList.toggle("selected", el.dataset.fdi === fdi);
    });
    ["add-tooth", "renumber-tooth"].forEach((field) => {
      const select = byId(field);
      if (select && Array.from(select.options).some((option) => option.value === fdi)) select.value = fdi;
    });
    const group = document.querySelector('.tooth-group[data-fdi="' + fdi + '"]');
    if (group) group.scrollIntoView({ block: "nearest" });
    const box = boxOf(toothShape(fdi));
    if (zoom && box) viewer.show(box, 0.5);
    showTooth(fdi, true);
  }

  function showTooth(fdi, open) {
    if (!open && toothCard.hidden) return;
    const chartTooth = document.querySelector('.ct[data-fdi="' + fdi + '"]');
    byId("tooth-title").textContent = "Tooth " + fdi + (chartTooth ? ": " + chartTooth.title.split(": ")[1] : "");
    const list = byId("tooth-findings");
    list.textContent = "";
    document.querySelectorAll('.finding-row[data-tooth="' + fdi + '"]').forEach((row) => {
      const item = document.createElement("li");
      const type = row.querySelector("select") ? row.querySelector("select").selectedOptions[0].text : row.querySelector(".ftype").textContent;
      item.textContent = [row.dataset.id, type, row.querySelector(".score").textContent, row.querySelector(".badge").textContent]
        .filter(Boolean).join(" · ");
      list.appendChild(item);
    });
    if (!list.children.length) list.innerHTML = "<li class=\"hint\">No findings on this tooth.</li>";
    toothCard.hidden = false;
    const crop = byId("tooth-crop");
    const box = boxOf(toothShape(fdi));
    crop.hidden = !box;
    if (box) viewer.crop(box, crop);
  }

  function closeTooth() {
    toothCard.hidden = true;
    picked = null;
    document.querySelectorAll(".selected").forEach((el) => el.classList.remove("selected"));
  }
  byId("tooth-close").addEventListener("click", closeTooth);

  function clickScan(event) {
    const under = document.elementsFromPoint(event.clientX, event.clientY);
    const finding = under.find((el) => el.closest && el.closest("#overlay .finding"));
    const tooth = under.find((el) => el.closest && el.closest("#overlay .tooth"));
    if (finding) setCurrent(finding.closest(".finding").dataset.id, false);
    if (tooth) pickTooth(tooth.closest(".tooth").dataset.fdi, false);
  }

  function drawBox(start, point, done) {
    const drawn = byId("drawn");
    const box = [Math.min(start.x, point.x), Math.min(start.y, point.y), Math.max(start.x, point.x), Math.max(start.y, point.y)];
    keyBox = box;
    drawn.setAttribute("x", box[0]);
    drawn.setAttribute("y", box[1]);
    drawn.setAttribute("width", box[2] - box[0]);
    drawn.setAttribute("height", box[3] - box[1]);
    if (done && byId("add-box")) byId("add-box").value = box.map(Math.round).join(",");
  }

  function setDrawMode(on) {
    if (!drawButton) return;
    viewer.drawMode = on;
    drawButton.setAttribute("aria-pressed", String(on));
    viewer.stage.classList.toggle("drawing", on);
    if (on && !keyBox) startKeyBox();
  }

  // Drawing by keyboard: a box starts on the picked tooth (else a tooth-sized one mid-view); with the scan focused,
  // the arrow keys move it, Shift and the arrows resize it (right and down grow it), Enter sets it as the new
  // finding's box. A step is 8 screen pixels, so it is as fine as the zoom.
  function startKeyBox() {
    const tooth = picked && boxOf(toothShape(picked));
    if (tooth) {
      keyBox = tooth.slice();
    } else {
      const view = viewer.view();
      const side = Number.isFinite(viewer.toothWidth) ? viewer.toothWidth : viewer.width / 20;
      const cx = view.cx * viewer.width;
      const cy = view.cy * viewer.height;
      keyBox = [cx - side / 2, cy - side, cx + side / 2, cy + side];
    }
    drawBox({ x: keyBox[0], y: keyBox[1] }, { x: keyBox[2], y: keyBox[3] }, false);
  }

  function boxKey(event) {
    const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (event.key === "Enter") {
      drawBox({ x: keyBox[0], y: keyBox[1] }, { x: keyBox[2], y: keyBox[3] }, true);
      say("Box set at " + byId("add-box").value + ": pick the type (and tooth) and add the finding.", "ok");
      byId("add-type").focus();
      return true;
    }
    const arrow = arrows[event.key];
    if (!arrow) return false;
    const step = Math.max(1, 8 / viewer.scale);
    const [dx, dy] = [arrow[0] * step, arrow[1] * step];
    let [x1, y1, x2, y2] = keyBox;
    if (event.shiftKey) {
      x2 = Math.max(x1 + 4, x2 + dx);
      y2 = Math.max(y1 + 4, y2 + dy);
    } else {
      const mx = Math.min(Math.max(dx, -x1), viewer.width - x2);
      const my = Math.min(Math.max(dy, -y1), viewer.height - y2);
      [x1, x2, y1, y2] = [x1 + mx, x2 + mx, y1 + my, y2 + my];
    }
    keyBox = [x1, y1, Math.min(x2, viewer.width), Math.min(y2, viewer.height)];
    drawBox({ x: keyBox[0], y: keyBox[1] }, { x: keyBox[2], y: keyBox[3] }, false);
    viewer.reveal(keyBox);
    return true;
  }
  if (drawButton) drawButton.addEventListener("click", () => setDrawMode(!viewer.drawMode));

  // --- hovering: the list highlights the scan and the reverse --------------------------------------------------
  function hover(id, fdi) {
    document.querySelectorAll(".highlight").forEach((el) => el.classList.remove("highlight"));
    if (id) [rowOf(id), shapeOf(id)].forEach((el) => el && el.classList.add("highlight"));
    if (fdi) {
      const group = document.querySelector('.tooth-group[data-fdi="' + fdi + '"]');
      [group, toothShape(fdi)].forEach((el) => el && el.classList.add("highlight"));
    }
  }
  document.addEventListener("pointerover", (event) => {
    const row = event.target.closest(".finding-row");
    const shape = event.target.closest("#overlay .finding");
    const tooth = event.target.closest("#overlay .tooth, .ct, .tooth-link");
    if (row) hover(row.dataset.id, row.dataset.tooth);
    else if (shape) hover(shape.dataset.id, null);
    else if (tooth) hover(null, tooth.dataset.fdi);
    else hover(null, null);
  });
  document.addEventListener("click", (event) => {
    const tooth = event.target.closest(".ct, .tooth-link[data-fdi]");
    if (tooth) pickTooth(tooth.dataset.fdi, tooth.classList.contains("ct"));
    const row = event.target.closest(".finding-row");
    if (row && !event.target.closest("button, select")) setCurrent(row.dataset.id, false);
  });

  // --- sending a review step, and undoing it -------------------------------------------------------------------
  function earlierOf(ids) {
    return ids.map((id) => rowOf(id)).filter(Boolean).map((row) => JSON.parse(row.dataset.earlier));
  }

  function updateUndo() {
    const button = byId("undo");
    if (!button) return;
    const last = undoStack[undoStack.length - 1];
    button.disabled = !last || busy;
    button.textContent = last ? "Undo " + last.label : "Undo";
  }

  async function send(data) {
    busy = true;
    updateUndo();
    try {
      const response = await fetch(studyUrl + "/review", { method: "POST", body: data, credentials: "same-origin" });
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      if (!response.ok || !page.getElementById("review")) {
        const reason = page.querySelector("main p") || page.querySelector("body");
        say("Not saved: " + (reason ? reason.textContent.trim() : response.status), "error");
        return false;
      }
      document.querySelectorAll("[data-live][id]").forEach((element) => {
        const fresh = page.getElementById(element.id);
        if (fresh) element.replaceWith(document.importNode(fresh, true));
      });
      const error = page.querySelector("main > .flash.error");
      say(error ? error.textContent : "", "error");
      return !error;
    } catch (problem) {
      say("Not saved: the server did not answer; check the connection and try again.", "error");
      return false;
    } finally {
      busy = false;
      viewer.applyLayers();
      if (picked) pickTooth(picked, false);
      updateUndo();
    }
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest(".review-form");
    if (!form) return;
    event.preventDefault();
    if (busy) return;
    const data = new FormData(form, event.submitter);
    const action = data.get("action");
    let ids = data.getAll("finding");
    if (form.classList.contains("group-actions") || form.classList.contains("all-form")) {
      // A tooth's or every finding: only those shown, and for accept only those waiting.
      ids = ids.filter((id) => {
        const row = rowOf(id);
        return row && !row.classList.contains("filtered") && (action !== "accept" || row.classList.contains("pending"));
      });
      data.delete("finding");
      ids.forEach((id) => data.append("finding", id));
      if (!ids.length) return;
    }
    // What the step changes, as it was, for its undo: the findings (accept, reject, relabel), the renumbered tooth,
    // or for an add the findings it made (known from the answer).
    let earlier = ["accept", "reject", "relabel"].includes(action) ? earlierOf(ids) : [];
    let label = action + " " + (ids.length === 1 ? ids[0] : ids.length + " findings");
    if (action === "renumber") {
      const now = String(data.get("new_fdi")).trim();
      earlier = [{ tooth: JSON.parse(form.querySelector("select[name=tooth]").selectedOptions[0].dataset.earlier), now: now }];
      label = "renumber " + data.get("tooth") + " → " + now;
    }
    const known = new Set(Array.from(document.querySelectorAll(".finding-row"), (row) => row.dataset.id));
    const position = shownRows().findIndex((row) => row.dataset.id === current);
    if (await send(data)) {
      if (action === "add") {
        const added = Array.from(document.querySelectorAll(".finding-row"), (row) => row.dataset.id).filter((id) => !known.has(id));
        earlier = added.map((id) => ({ added: id }));
        label = "add " + added.join(", ");
        keyBox = null;
        byId("drawn").setAttribute("width", 0);
        if (viewer.drawMode) startKeyBox();
      }
      if (earlier.length) undoStack.push({ label: label, earlier: earlier });
      say(label.charAt(0).toUpperCase() + label.slice(1) + ": saved.", "ok");
    }
    updateUndo();
    const rows = shownRows();
    if (current && rowOf(current)) setCurrent(current, true);
    else if (position >= 0 && rows.length) setCurrent(rows[Math.min(position, rows.length - 1)].dataset.id, true);
  });

  async function undo() {
    const last = undoStack[undoStack.length - 1];
    if (!last || busy) return;
    const data = new FormData();
    data.append("csrf", document.querySelector("input[name=csrf]").value);
    data.append("action", "restore");
    data.append("earlier", JSON.stringify(last.earlier));
    if (await send(data)) {
      undoStack.pop();
      say("Undone: " + last.label + ".", "ok");
      const back = last.earlier.find((item) => item.finding);
      if (back) setCurrent(back.finding.id, true);
      else if (current && rowOf(current)) setCurrent(current, true);
    }
    updateUndo();
  }
  document.addEventListener("click", (event) => {
    if (event.target.closest("#undo")) undo();
  });

  // Relabel (a finding, or a tooth's findings): the type is a menu; a changed one is applied with its button (or
  // Enter), not on every arrow key.
  const relabelled = (select) => select.closest(".finding-row, .group-actions");
  document.addEventListener("change", (event) => {
    const select = event.target.closest(".finding-row select[name=type], .group-actions select[name=type]");
    if (select) relabelled(select).classList.toggle("relabelling", select.value !== "" && select.value !== select.dataset.current);
  });

  // --- keys ----------------------------------------------------------------------------------------------------
  function press(selector) {
    const row = current && rowOf(current);
    const button = row && row.querySelector(selector);
    if (button) button.click();
  }
  document.addEventListener("keydown", (event) => {
    const field = event.target.closest("input, select, textarea");
    if (field) {
      if (event.key === "Enter" && field.matches(".finding-row select, .group-actions select")) {
        event.preventDefault();
        if (relabelled(field).classList.contains("relabelling")) relabelled(field).querySelector("button.relabel").click();
      } else if (event.key === "Escape") {
        field.blur();
        if (current) rowOf(current).focus();
      }
      return;
    }
    if ((event.ctrlKey || event.metaKey) && event.key === "z") {
      event.preventDefault();
      undo();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const onStage = event.target === viewer.stage;
    if (onStage && viewer.drawMode && keyBox && boxKey(event)) {
      event.preventDefault();
      return;
    }
    const keys = {
      j: () => move(1),
      k: () => move(-1),
      a: () => press("button[value=accept]"),
      r: () => press("button[value=reject]"),
      l: () => { const row = current && rowOf(current); if (row && row.querySelector("select")) row.querySelector("select").focus(); },
      u: () => undo(),
      b: () => setDrawMode(!viewer.drawMode),
      Escape: () => { setDrawMode(false); closeTooth(); },
    };
    if (!onStage) Object.assign(keys, { ArrowDown: () => move(1), ArrowUp: () => move(-1) });
    const action = keys[event.key];
    if (action) {
      event.preventDefault();
      action();
    } else {
      viewer.handleKey(event);
    }
  });

  applyFilter();
  updateUndo();

  // --- analysis progress ---------------------------------------------------------------------------------------
  if (review.dataset.status === "queued" || review.dataset.status === "running") {
    const poll = async () => {
      const response = await fetch(studyUrl + "/status");
      if (response.ok) {
        const body = await response.json();
        byId("status-badge").textContent = body.status;
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
