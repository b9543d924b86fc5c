// Drag and drop upload: one request per file, so each scan shows its own result and the size limit is per file.
"use strict";
(function () {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("file-input");
  const zone = document.getElementById("drop-zone");
  const list = document.getElementById("upload-list");
  let chosen = [];

  function show(files) {
    chosen = Array.from(files);
    list.innerHTML = "";
    for (const file of chosen) {
      const item = document.createElement("li");
      item.textContent = file.name + " (" + (file.size / 1048576).toFixed(1) + " MiB)";
      list.appendChild(item);
    }
  }
  input.addEventListener("change", () => show(input.files));
  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    show(event.dataTransfer.files);
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!chosen.length) {
      list.innerHTML = "<li class='failed'>Choose or drop at least one scan first.</li>";
      return;
    }
    const button = document.getElementById("upload-button");
    button.disabled = true;
    let patient = form.elements.patient ? form.elements.patient.value : "";
    let last = null;
    const items = list.querySelectorAll("li");
    for (let i = 0; i < chosen.length; i++) {
      const data = new FormData();
      data.append("csrf", form.elements.csrf.value);
      if (patient) data.append("patient", patient);
      for (const field of ["name", "patient_id", "birth_date"]) {
        if (!patient && form.elements[field]) data.append(field, form.elements[field].value);
      }
      data.append("files", chosen[i]);
      items[i].textContent = chosen[i].name + ": uploading…";
      try {
        const response = await fetch("/upload", { method: "POST", body: data, headers: { Accept: "application/json" } });
        const body = await response.json().catch(() => ({ detail: response.statusText }));
        if (response.ok) {
          patient = String(body.patient);
          last = body;
          items[i].className = "done";
          items[i].textContent = chosen[i].name + ": uploaded, analysis started";
        } else {
          items[i].className = "failed";
          items[i].textContent = body.detail;  // the server's message names the file
        }
      } catch (error) {
        items[i].className = "failed";
        items[i].textContent = chosen[i].name + ": upload interrupted (" + error + ")";
      }
    }
    button.disabled = false;
    const failed = list.querySelectorAll(".failed").length;
    if (last && !failed) {
      window.location = chosen.length === 1 ? last.url : "/patients/" + patient;
    } else if (last) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = "/patients/" + patient;
      link.textContent = "Show the uploaded scans";
      item.appendChild(link);
      list.appendChild(item);
    }
  });
})();
