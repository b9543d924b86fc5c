// Comparison page: two scans side by side in linked viewers (viewer.js); a change shows its tooth on both.
"use strict";
(function () {
  const page = document.getElementById("compare");
  if (!page) return;
  const tools = page.querySelector(".toolbar");
  const make = (side, first) => {
    const stage = document.getElementById("stage-" + side);
    return new ScanViewer.Viewer(stage, tools, {
      width: Number(stage.dataset.width),
      height: Number(stage.dataset.height),
      user: page.dataset.user,
      viewButtons: first,
    });
  };
  const earlier = make("earlier", true);
  const later = make("later", false);
  const settled = ScanViewer.linkViews(earlier, later);

  const box = (text) => (text ? text.split(",").map(Number) : null);
  document.querySelectorAll(".change-link").forEach((link) => {
    link.addEventListener("click", () => {
      document.querySelectorAll(".change-link[aria-current]").forEach((el) => el.removeAttribute("aria-current"));
      link.setAttribute("aria-current", "true");
      // Each scan's own number of the tooth: they differ where a dentist renumbered it on one of them.
      [[earlier, link.dataset.earlierBox, link.dataset.earlierTooth], [later, link.dataset.laterBox, link.dataset.laterTooth]].forEach(([viewer, text, fdi]) => {
        const found = box(text);
        if (found) viewer.show(found, 0.45, true);
        else viewer.fit();
        viewer.plane.querySelectorAll(".tooth").forEach((tooth) => tooth.classList.toggle("selected", tooth.dataset.fdi === fdi));
      });
      settled();
    });
  });
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target === later.stage) later.handleKey(event);
    else earlier.handleKey(event);
  });
})();
