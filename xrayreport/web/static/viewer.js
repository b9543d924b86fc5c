// The scan viewer: zoom (wheel, buttons, keys), pan (drag, arrow keys), fit and 1:1, full screen; the image
// adjustments (window and level, gamma, invert, sharpen) drawn on a canvas; layers and the confidence filter.
// Settings are kept per user in this browser (localStorage): they are display preferences, not patient data.
// Coordinates: "image" units are the scan's original pixels (the findings' boxes); the plane is the scan at
// 1 CSS pixel per image pixel, moved and scaled by a CSS transform.
"use strict";
window.ScanViewer = (function () {
  const STORE = "xrayreport.viewer.v1.";
  const IMAGE_DEFAULTS = { brightness: 0, contrast: 0, gamma: 1, invert: false, sharpen: false };
  const DEFAULTS = Object.assign({ minScore: 0, layers: { teeth: true, problem: true, treated: true, missing: true } }, IMAGE_DEFAULTS);
  const MAX_SCALE = 8;  // screen pixels per image pixel
  const STEP = 1.25;  // one zoom step (button, key, wheel notch)
  const SHARPEN = 0.7;  // unsharp-mask amount of the sharpen toggle
  const COMPACT_BELOW = 26;  // screen pixels of a typical tooth's width under which finding labels are hidden

  function loadSettings(user) {
    let saved = {};
    try {
      saved = JSON.parse(localStorage.getItem(STORE + user) || "{}") || {};
    } catch (error) {
      saved = {};  // unreadable: start again from the defaults
    }
    return Object.assign({}, DEFAULTS, saved, { layers: Object.assign({}, DEFAULTS.layers, saved.layers) });
  }

  function lookupTable(s) {
    // Window and level in grey values 0..255: brightness moves the window's centre down, contrast narrows it.
    const centre = 127.5 - s.brightness * 2.55;
    const width = Math.max(2, 255 * (1 - s.contrast / 100));
    const table = new Uint8ClampedArray(256);
    for (let v = 0; v < 256; v++) {
      let x = Math.min(1, Math.max(0, (v - (centre - width / 2)) / width));
      x = Math.pow(x, 1 / s.gamma);
      table[v] = Math.round(255 * (s.invert ? 1 - x : x));
    }
    return table;
  }

  function loadImage(url) {
    return new Promise((resolve, reject) => {
      const image = new Image();
      image.onload = () => resolve(image);
      image.onerror = () => reject(new Error("the scan image did not load"));
      image.src = url;
    });
  }

  function greyOf(image) {
    const canvas = document.createElement("canvas");
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(image, 0, 0);
    const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
    const grey = new Uint8Array(canvas.width * canvas.height);
    for (let i = 0, j = 0; i < grey.length; i++, j += 4) grey[i] = rgba[j];
    return { grey: grey, width: canvas.width, height: canvas.height };
  }

  class Viewer {
    // stage: the .stage holding the .plane (img with data-detail, svg overlay); tools: the toolbar whose buttons,
    // image settings and layers act on it (null: none; two viewers may share one, and then only the first takes
    // its view buttons: options.viewButtons false). options: width, height (image pixels), user,
    // onClick(event, point), onDraw(start, point, done).
    constructor(stage, tools, options) {
      this.root = tools || stage;
      this.options = options;
      this.stage = stage;
      this.plane = this.stage.querySelector(".plane");
      this.image = this.plane.querySelector("img");
      this.width = options.width;
      this.height = options.height;
      this.settings = loadSettings(options.user);
      this.scale = 1;
      this.x = 0;
      this.y = 0;
      this.fitted = true;
      this.drawMode = false;
      this.source = null;
      this.detailLoading = null;
      this.pending = null;  // the requested render's animation frame
      this.listeners = [];
      this.canvas = document.createElement("canvas");
      this.canvas.className = "scan-canvas";
      this.canvas.setAttribute("aria-hidden", "true");
      this.canvas.style.width = this.width + "px";
      this.canvas.style.height = this.height + "px";
      this.stage.style.aspectRatio = this.width + " / " + this.height;  // as large as the width and height allow
      this.plane.style.width = this.width + "px";
      this.plane.style.height = this.height + "px";
      this.plane.insertBefore(this.canvas, this.image);
      this.toothWidth = Infinity;
      this.bindTools();
      this.bindPointer();
      this.applyLayers();
      new ResizeObserver(() => { if (this.fitted) this.fit(); }).observe(this.stage);
      document.addEventListener("fullscreenchange", () => requestAnimationFrame(() => this.fit()));
      const start = () => this.useSource(greyOf(this.image), false);
      if (this.image.complete && this.image.naturalWidth) start();
      else this.image.addEventListener("load", start, { once: true });
      this.fit();
    }

    // --- the image -------------------------------------------------------------------------------------------
    useSource(source, detail) {
      this.source = source;
      this.source.detail = detail;
      this.canvas.width = source.width;
      this.canvas.height = source.height;
      this.render();
      this.plane.classList.add("rendered");
      this.stage.dataset.resolution = detail ? "detail" : "preview";
    }

    render() {
      if (!this.source) return;
      const { grey, width, height } = this.source;
      const table = lookupTable(this.settings);
      const context = this.canvas.getContext("2d");
      const output = context.createImageData(width, height);
      const pixels = new Uint32Array(output.data.buffer);
      const mapped = new Uint8ClampedArray(grey.length);
      for (let i = 0; i < grey.length; i++) mapped[i] = table[grey[i]];
      if (this.settings.sharpen) {
        const sharp = new Uint8ClampedArray(mapped);
        for (let y = 1; y < height - 1; y++) {
          for (let x = 1, i = y * width + 1; x < width - 1; x++, i++) {
            const v = mapped[i];
            sharp[i] = v + SHARPEN * (4 * v - mapped[i - 1] - mapped[i + 1] - mapped[i - width] - mapped[i + width]);
          }
        }
        for (let i = 0; i < sharp.length; i++) mapped[i] = sharp[i];
      }
      for (let i = 0; i < mapped.length; i++) {
        const v = mapped[i];
        pixels[i] = 0xff000000 | (v << 16) | (v << 8) | v;  // little-endian RGBA: grey, opaque
      }
      context.putImageData(output, 0, 0);
      this.notify("render");
    }

    ensureDetail() {
      // The full-resolution rendition, loaded once, when the view needs more pixels than the preview has.
      if (this.source && this.source.detail) return Promise.resolve();
      if (!this.detailLoading) {
        this.detailLoading = loadImage(this.image.dataset.detail).then((image) => this.useSource(greyOf(image), true));
      }
      return this.detailLoading;
    }

    needDetail() {
      if (!this.source || this.source.detail || !this.image.dataset.detail) return;
      if (this.scale * window.devicePixelRatio > (this.source.width / this.width) * 1.05) this.ensureDetail();
    }

    // --- the view ------------------------------------------------------------------------------------------
    fitScale() {
      const box = this.stage.getBoundingClientRect();
      return Math.min(box.width / this.width, box.height / this.height) || 1;
    }

    fit() {
      const box = this.stage.getBoundingClientRect();
      this.scale = this.fitScale();
      this.x = (box.width - this.width * this.scale) / 2;
      this.y = (box.height - this.height * this.scale) / 2;
      this.fitted = true;
      this.apply();
    }

    actualSize() {
      this.zoomTo(1 / window.devicePixelRatio);
    }

    zoomTo(scale, px, py) {
      const box = this.stage.getBoundingClientRect();
      const cx = px === undefined ? box.width / 2 : px;
      const cy = py === undefined ? box.height / 2 : py;
      const next = Math.min(MAX_SCALE, Math.max(this.fitScale() / 2, scale));
      this.x = cx - ((cx - this.x) * next) / this.scale;
      this.y = cy - ((cy - this.y) * next) / this.scale;
      this.scale = next;
      this.fitted = false;
      this.apply();
    }

    zoomBy(factor, px, py) {
      this.zoomTo(this.scale * factor, px, py);
    }

    panBy(dx, dy) {
      this.x += dx;
      this.y += dy;
      this.fitted = false;
      this.apply();
    }

    show(box, fill, quiet) {
      // Zoom so that ``box`` (image pixels) fills ``fill`` of the stage, centred (``quiet``: linked views stay).
      const stage = this.stage.getBoundingClientRect();
      const w = Math.max(box[2] - box[0], 1);
      const h = Math.max(box[3] - box[1], 1);
      this.scale = Math.min(MAX_SCALE, Math.min((stage.width * fill) / w, (stage.height * fill) / h));
      this.x = stage.width / 2 - ((box[0] + box[2]) / 2) * this.scale;
      this.y = stage.height / 2 - ((box[1] + box[3]) / 2) * this.scale;
      this.fitted = false;
      this.apply(quiet);
    }

    reveal(box) {
      // Pan just enough that ``box`` is on screen (the current finding when it is off it).
      const stage = this.stage.getBoundingClientRect();
      const left = this.x + box[0] * this.scale;
      const right = this.x + box[2] * this.scale;
      const top = this.y + box[1] * this.scale;
      const bottom = this.y + box[3] * this.scale;
      if (left >= 0 && top >= 0 && right <= stage.width && bottom <= stage.height) return;
      this.x += stage.width / 2 - (left + right) / 2;
      this.y += stage.height / 2 - (top + bottom) / 2;
      this.fitted = false;
      this.apply();
    }

    // The view as fractions of the image and a zoom relative to fit: the same on two scans of other sizes.
    view() {
      const stage = this.stage.getBoundingClientRect();
      return {
        cx: (stage.width / 2 - this.x) / this.scale / this.width,
        cy: (stage.height / 2 - this.y) / this.scale / this.height,
        zoom: this.scale / this.fitScale(),
        fitted: this.fitted,
      };
    }

    setView(view) {
      if (view.fitted) {
        this.fit();
        return;
      }
      const stage = this.stage.getBoundingClientRect();
      this.scale = view.zoom * this.fitScale();
      this.x = stage.width / 2 - view.cx * this.width * this.scale;
      this.y = stage.height / 2 - view.cy * this.height * this.scale;
      this.fitted = false;
      this.apply(true);
    }

    apply(quiet) {
      this.plane.style.transform = "translate(" + this.x + "px, " + this.y + "px) scale(" + this.scale + ")";
      this.plane.style.setProperty("--inv", String(1 / this.scale));
      // Finding labels only where a tooth is wide enough on screen for them not to run together.
      this.plane.classList.toggle("compact", this.toothWidth * this.scale < COMPACT_BELOW);
      const readout = this.options.viewButtons === false ? null : this.root.querySelector("[data-view-readout]");
      if (readout) readout.textContent = this.fitted ? "fit" : Math.round(this.scale * window.devicePixelRatio * 100) + " %";
      this.needDetail();
      if (!quiet) this.notify("view");
    }

    toImage(event) {
      const stage = this.stage.getBoundingClientRect();
      const x = (event.clientX - stage.left - this.x) / this.scale;
      const y = (event.clientY - stage.top - this.y) / this.scale;
      return { x: Math.min(Math.max(x, 0), this.width), y: Math.min(Math.max(y, 0), this.height) };
    }

    fullScreen() {
      if (document.fullscreenElement) document.exitFullscreen();
      else this.stage.requestFullscreen();
    }

    // --- layers and the confidence filter ---------------------------------------------------------------------
    hides(source, score) {
      // A model finding under the chosen score is hidden; a dentist's own finding never is.
      return source === "model" && score !== "" && Number(score) * 100 < this.settings.minScore;
    }

    applyLayers() {
      const widths = Array.from(this.plane.querySelectorAll(".tooth rect"), (r) => Number(r.getAttribute("width"))).sort((a, b) => a - b);
      this.toothWidth = widths.length ? widths[widths.length >> 1] : Infinity;
      for (const [layer, shown] of Object.entries(this.settings.layers)) this.plane.classList.toggle("hide-" + layer, !shown);
      this.plane.querySelectorAll(".finding").forEach((shape) => {
        shape.classList.toggle("below", this.hides(shape.dataset.source, shape.dataset.score));
      });
      const readout = this.root.querySelector("[data-min-score-readout]");
      if (readout) readout.textContent = this.settings.minScore + " %";
      this.notify("filter");
    }

    // --- wiring ------------------------------------------------------------------------------------------------
    on(listener) {
      this.listeners.push(listener);
    }

    notify(kind) {
      for (const listener of this.listeners) listener(kind, this);
    }

    save() {
      try {
        localStorage.setItem(STORE + this.options.user, JSON.stringify(this.settings));
      } catch (error) {
        // storage full or refused: the settings last for this page
      }
    }

    bindTools() {
      const tools = this.root;
      if (tools === this.stage) return;
      const actions = {
        "zoom-in": () => this.zoomBy(STEP),
        "zoom-out": () => this.zoomBy(1 / STEP),
        fit: () => this.fit(),
        actual: () => this.actualSize(),
        fullscreen: () => this.fullScreen(),
        reset: () => {
          Object.assign(this.settings, IMAGE_DEFAULTS);
          this.showSettings();
          this.save();
          this.render();
        },
      };
      tools.querySelectorAll("[data-view]").forEach((button) => {
        if (this.options.viewButtons !== false || button.dataset.view === "reset") {
          button.addEventListener("click", () => actions[button.dataset.view]());
        }
      });
      tools.querySelectorAll("[data-setting]").forEach((input) => {
        input.addEventListener("input", () => {
          const name = input.dataset.setting;
          this.settings[name] = input.type === "checkbox" ? input.checked : Number(input.value);
          this.save();
          if (name === "minScore") this.applyLayers();
          else this.scheduleRender();
        });
      });
      tools.querySelectorAll("[data-layer]").forEach((input) => {
        input.addEventListener("change", () => {
          this.settings.layers[input.dataset.layer] = input.checked;
          this.save();
          this.applyLayers();
        });
      });
      // The Image and Layers menus close on a click elsewhere and on Escape.
      const menus = Array.from(tools.querySelectorAll("details.menu"));
      document.addEventListener("click", (event) => {
        menus.forEach((menu) => { if (!menu.contains(event.target)) menu.open = false; });
      });
      document.addEventListener("keydown", (event) => {
        if (event.key === "Escape") menus.forEach((menu) => { menu.open = false; });
      });
      this.showSettings();
    }

    showSettings() {
      this.root.querySelectorAll("[data-setting]").forEach((input) => {
        const value = this.settings[input.dataset.setting];
        if (input.type === "checkbox") input.checked = Boolean(value);
        else input.value = String(value);
      });
      this.root.querySelectorAll("[data-layer]").forEach((input) => {
        input.checked = this.settings.layers[input.dataset.layer];
      });
    }

    toggle(name) {
      this.settings[name] = !this.settings[name];
      this.showSettings();
      this.save();
      this.render();
    }

    scheduleRender() {
      if (this.pending) return;
      this.pending = requestAnimationFrame(() => {
        this.pending = null;
        this.render();
      });
    }

    bindPointer() {
      let start = null;
      let last = null;
      let moved = false;
      this.stage.addEventListener("wheel", (event) => {
        event.preventDefault();
        const box = this.stage.getBoundingClientRect();
        this.zoomBy(event.deltaY < 0 ? STEP : 1 / STEP, event.clientX - box.left, event.clientY - box.top);
      }, { passive: false });
      this.stage.addEventListener("pointerdown", (event) => {
        if (event.button !== 0) return;
        start = this.toImage(event);
        last = { x: event.clientX, y: event.clientY };
        moved = false;
        this.stage.setPointerCapture(event.pointerId);
        if (!this.drawMode) this.stage.classList.add("panning");
      });
      this.stage.addEventListener("pointermove", (event) => {
        if (!start) return;
        if (Math.abs(event.clientX - last.x) + Math.abs(event.clientY - last.y) > 0) moved = true;
        if (this.drawMode) {
          if (this.options.onDraw) this.options.onDraw(start, this.toImage(event), false);
        } else {
          this.panBy(event.clientX - last.x, event.clientY - last.y);
          last = { x: event.clientX, y: event.clientY };
        }
      });
      this.stage.addEventListener("pointerup", (event) => {
        if (!start) return;
        const point = this.toImage(event);
        const from = start;
        start = null;
        this.stage.classList.remove("panning");
        const tiny = Math.abs(point.x - from.x) * this.scale < 4 && Math.abs(point.y - from.y) * this.scale < 4;
        if (this.drawMode && !tiny && this.options.onDraw) this.options.onDraw(from, point, true);
        else if ((tiny || !moved) && this.options.onClick) this.options.onClick(event, point);
      });
    }

    handleKey(event) {
      // Keys of the viewer; returns true when the key was one.
      const keys = {
        "+": () => this.zoomBy(STEP),
        "=": () => this.zoomBy(STEP),
        "-": () => this.zoomBy(1 / STEP),
        "0": () => this.fit(),
        "1": () => this.actualSize(),
        f: () => this.fullScreen(),
        i: () => this.toggle("invert"),
      };
      if (event.target === this.stage) {
        Object.assign(keys, {
          ArrowLeft: () => this.panBy(60, 0),
          ArrowRight: () => this.panBy(-60, 0),
          ArrowUp: () => this.panBy(0, 60),
          ArrowDown: () => this.panBy(0, -60),
        });
      }
      const action = keys[event.key];
      if (!action) return false;
      event.preventDefault();
      action();
      return true;
    }

    crop(box, canvas) {
      // Draw ``box`` (image pixels) and a margin around it into ``canvas`` at full resolution, as adjusted.
      return this.ensureDetail().then(() => {
        const ratio = this.source.width / this.width;
        const margin = 0.25 * Math.max(box[2] - box[0], box[3] - box[1]);
        const x0 = Math.max(0, box[0] - margin);
        const y0 = Math.max(0, box[1] - margin);
        const x1 = Math.min(this.width, box[2] + margin);
        const y1 = Math.min(this.height, box[3] + margin);
        canvas.width = Math.max(1, Math.round((x1 - x0) * ratio));
        canvas.height = Math.max(1, Math.round((y1 - y0) * ratio));
        canvas.getContext("2d").drawImage(this.canvas, x0 * ratio, y0 * ratio, canvas.width, canvas.height,
          0, 0, canvas.width, canvas.height);
      });
    }
  }

  function linkViews(a, b) {
    // Zooming or panning one moves the other as much (in fractions of each scan), so two teeth shown side by side
    // stay side by side; fitting one fits both.
    const last = new Map([[a, a.view()], [b, b.view()]]);
    const follow = (leader, other) => (kind) => {
      if (kind !== "view") return;
      const before = last.get(leader);
      const now = leader.view();
      last.set(leader, now);
      if (now.fitted) other.fit();
      else {
        const mine = last.get(other);
        other.setView({ cx: mine.cx + now.cx - before.cx, cy: mine.cy + now.cy - before.cy, zoom: mine.zoom * now.zoom / before.zoom, fitted: false });
      }
      last.set(other, other.view());
    };
    a.on(follow(a, b));
    b.on(follow(b, a));
    return () => { last.set(a, a.view()); last.set(b, b.view()); };  // call after moving either quietly
  }

  return { Viewer: Viewer, linkViews: linkViews };
})();
