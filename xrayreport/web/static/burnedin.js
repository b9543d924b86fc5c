// The held-back scans page: one button ticks (or unticks) every scan on the page, for a dentist who has looked at
// them all; without JavaScript the button stays hidden and each box is ticked by hand.
"use strict";
(function () {
  const button = document.getElementById("choose-all");
  if (!button) return;
  const boxes = Array.from(document.querySelectorAll("#held-form input[name=study_ids]"));
  function show() {
    const all = boxes.every((box) => box.checked);
    button.textContent = all ? "Untick all on this page" : "Tick all on this page";
    button.setAttribute("aria-pressed", String(all));
  }
  button.addEventListener("click", () => {
    const tick = !boxes.every((box) => box.checked);
    boxes.forEach((box) => { box.checked = tick; });
    show();
  });
  boxes.forEach((box) => box.addEventListener("change", show));
  button.hidden = false;
  show();
})();
