"""WCAG 2.x AA contrast of a page's visible text, measured in the browser from computed styles.

Each element with text of its own (a text node, or a menu's chosen option) is checked: its colour, made opaque over
the background behind it (the element's and its ancestors' background colours composited, white at the bottom)
and faded by the opacity of it and its ancestors, against that background. The ratio is WCAG's
``(L1 + 0.05) / (L2 + 0.05)`` of relative luminances; AA needs 4.5, or 3 for large text (24 px, or 18.66 px bold).
Left out, as WCAG leaves them out or as styles cannot tell: disabled controls, text on the scan (``.stage``: over an
image), SVG, and hidden text. Background images are not seen: pages that put text on one need another check.
"""

from __future__ import annotations

from typing import Any

CONTRAST_JS = """() => {
  const parse = (text) => {
    const m = text.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3])).concat([1]);
  const behind = (element) => {
    const layers = [];
    for (let e = element; e; e = e.parentElement) {
      const colour = parse(getComputedStyle(e).backgroundColor);
      if (colour && colour[3] > 0) layers.push(colour);
      if (colour && colour[3] >= 1) break;
    }
    return layers.reverse().reduce((below, layer) => over(layer, below), [255, 255, 255, 1]);
  };
  const opacity = (element) => {
    let value = 1;
    for (let e = element; e; e = e.parentElement) value *= Number(getComputedStyle(e).opacity);
    return value;
  };
  const luminance = (c) => {
    const linear = (v) => (v / 255 <= 0.03928 ? v / 255 / 12.92 : Math.pow((v / 255 + 0.055) / 1.055, 2.4));
    const [r, g, b] = c.slice(0, 3).map(linear);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const name = (e) =>
    e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + Array.from(e.classList, (c) => "." + c).join("");
  const found = [];
  for (const element of document.body.querySelectorAll("*")) {
    if (element.closest("svg, .stage, script, style, option, [hidden]") || element.closest(":disabled")) continue;
    const own = element.tagName === "SELECT"
      ? (element.selectedOptions[0] ? element.selectedOptions[0].text : "")
      : Array.from(element.childNodes).filter((n) => n.nodeType === 3).map((n) => n.textContent).join(" ");
    const text = own.trim();
    if (!text || !element.getClientRects().length) continue;
    const style = getComputedStyle(element);
    const faded = opacity(element);
    if (style.visibility !== "visible" || faded === 0) continue;
    const background = behind(element);
    const colour = over(over(parse(style.color), background).slice(0, 3).concat([faded]), background);
    const [light, dark] = [luminance(colour), luminance(background)].sort((a, b) => b - a);
    const ratio = (light + 0.05) / (dark + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (Number(style.fontWeight) >= 700 && size >= 18.66);
    const needed = large ? 3 : 4.5;
    if (ratio < needed) {
      found.push({ element: name(element), text: text.slice(0, 40), ratio: Math.round(ratio * 100) / 100, needed });
    }
  }
  return found;
}"""


def contrast_failures(page: Any) -> list[dict[str, Any]]:
    """The visible texts of ``page`` (a Playwright page) under WCAG AA contrast: element, text, ratio, needed."""
    return list(page.evaluate(CONTRAST_JS))
