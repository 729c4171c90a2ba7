// Gallery behaviour. All user text goes through textContent, never innerHTML.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("gallery-data").textContent);
  const classes = data.classes;
  const samples = data.samples;
  const pageSize = data.page_size || 60;
  const storageKey = "factory-gallery-rejected:" + data.storage_key;
  const state = { cls: "all", blend: "all", minQ: 0, status: "all" };
  const pages = {};
  let rejected = new Set();
  try {
    const saved = JSON.parse(window.localStorage.getItem(storageKey) || "[]");
    if (Array.isArray(saved)) rejected = new Set(saved.filter((id) => samples.some((s) => s.id === id)));
  } catch (err) { /* storage may be unavailable on file:// */ }

  const byClass = {};
  classes.forEach((c) => { byClass[c.id] = []; pages[c.id] = 1; });
  samples.forEach((s) => {
    s.classSet = new Set(s.pastes.map((p) => p.c));
    s.blendSet = new Set(s.pastes.map((p) => p.blend));
    s.classSet.forEach((c) => byClass[c].push(s));
  });

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function fmt(v, digits) { return (typeof v === "number") ? v.toFixed(digits) : "n/a"; }

  function passes(s) {
    if (state.blend !== "all" && !s.blendSet.has(state.blend)) return false;
    if (state.minQ > 0 && !(typeof s.q === "number" && s.q >= state.minQ)) return false;
    if (state.status === "rejected" && !rejected.has(s.id)) return false;
    if (state.status === "accepted" && rejected.has(s.id)) return false;
    return true;
  }

  function boxes(frame, s, onlyClass) {
    (s.kept || []).forEach((k) => {
      const [x0, y0, x1, y1] = k.xyxy;
      const box = el("div", "box kept");
      box.style.left = (100 * x0 / s.w) + "%";
      box.style.top = (100 * y0 / s.h) + "%";
      box.style.width = (100 * (x1 - x0) / s.w) + "%";
      box.style.height = (100 * (y1 - y0) / s.h) + "%";
      box.title = "real " + classes[k.c].name + " (background's own label)";
      frame.appendChild(box);
    });
    s.pastes.forEach((p) => {
      const [x0, y0, x1, y1] = p.xyxy;
      const box = el("div", "box c" + (p.c % 10));
      box.style.left = (100 * x0 / s.w) + "%";
      box.style.top = (100 * y0 / s.h) + "%";
      box.style.width = (100 * (x1 - x0) / s.w) + "%";
      box.style.height = (100 * (y1 - y0) / s.h) + "%";
      // A label above a box at the top edge would leave the frame: put it inside instead.
      if (y0 < 0.08 * s.h) box.classList.add("lbl-in");
      box.appendChild(el("span", "lbl", classes[p.c].name));
      if (onlyClass !== undefined && p.c !== onlyClass) box.style.opacity = "0.5";
      frame.appendChild(box);
    });
  }

  function card(s, classId) {
    const node = el("div", "card" + (rejected.has(s.id) ? " rejected" : ""));
    node.dataset.id = s.id;
    const frame = el("div", "frame");
    const img = el("img");
    img.loading = "lazy";
    img.decoding = "async";
    img.alt = s.id;
    img.width = 200;
    img.height = Math.round(200 * s.h / s.w);
    img.src = s.thumb;
    frame.appendChild(img);
    boxes(frame, s, classId);
    frame.addEventListener("click", () => openDetail(s));
    node.appendChild(frame);
    const info = el("div", "info");
    info.appendChild(el("span", "id", s.id));
    const q = el("span", "q" + (typeof s.q === "number" && s.q < 0.3 ? " low" : ""), "q " + fmt(s.q, 2));
    q.title = "quality score (1 = seamless, typical contrast)";
    info.appendChild(q);
    info.appendChild(el("span", "blend", Array.from(s.blendSet).join(", ")));
    const toggle = el("button", "toggle", rejected.has(s.id) ? "Rejected" : "Accept");
    toggle.type = "button";
    toggle.title = "click to toggle accept / reject";
    toggle.addEventListener("click", (event) => { event.stopPropagation(); setRejected(s.id, !rejected.has(s.id)); });
    info.appendChild(toggle);
    node.appendChild(info);
    return node;
  }

  function setRejected(id, value) {
    if (value) rejected.add(id); else rejected.delete(id);
    try { window.localStorage.setItem(storageKey, JSON.stringify(Array.from(rejected))); } catch (err) { /* ignore */ }
    document.querySelectorAll('.card[data-id="' + CSS.escape(id) + '"]').forEach((node) => {
      node.classList.toggle("rejected", value);
      node.querySelector(".toggle").textContent = value ? "Rejected" : "Accept";
    });
    document.getElementById("reject-count").textContent = String(rejected.size);
    if (state.status !== "all") render();
  }

  function renderClass(c) {
    const section = document.getElementById("class-" + c.id);
    const visible = state.cls === "all" || String(c.id) === state.cls;
    section.hidden = !visible;
    if (!visible) return;
    const grid = section.querySelector(".grid");
    const list = byClass[c.id].filter(passes);
    const limit = pages[c.id] * pageSize;
    const fragment = document.createDocumentFragment();
    list.slice(0, limit).forEach((s) => fragment.appendChild(card(s, c.id)));
    grid.replaceChildren(fragment);
    section.querySelector(".shown").textContent =
      "(showing " + Math.min(limit, list.length) + " of " + list.length + " matching, " + byClass[c.id].length + " in class)";
    const more = section.querySelector(".more");
    more.hidden = list.length <= limit;
    more.textContent = "Show more (" + Math.max(0, list.length - limit) + " left)";
  }

  function render() {
    classes.forEach(renderClass);
    document.getElementById("reject-count").textContent = String(rejected.size);
  }

  function openDetail(s) {
    const body = document.getElementById("detail-body");
    body.replaceChildren();
    body.appendChild(el("h2", null, s.id + "  (quality " + fmt(s.q, 3) + ")"));
    const cols = el("div", "detail-cols");
    const full = el("div", "full");
    const frame = el("div", "frame");
    frame.style.cursor = "default";
    const img = el("img");
    img.alt = s.id;
    img.src = s.img;
    frame.appendChild(img);
    boxes(frame, s);
    full.appendChild(frame);
    cols.appendChild(full);
    const side = el("div", "side");
    side.appendChild(el("h3", null, "Clean background before pasting (" + (s.bg_kind || "?") + ")"));
    if (s.bg) {
      const bg = el("img", "bgimg");
      bg.alt = "background";
      bg.src = s.bg;
      side.appendChild(bg);
    }
    side.appendChild(el("p", "note", s.bg_source));
    cols.appendChild(side);
    body.appendChild(cols);
    body.appendChild(el("h3", null, "Pasted defects: zoom, real source patch, scores"));
    s.pastes.forEach((p, k) => {
      const row = el("div", "paste");
      const canvas = el("canvas");
      canvas.width = 128;
      canvas.height = 128;
      canvas.title = "zoom on paste " + k;
      row.appendChild(canvas);
      const draw = () => zoom(canvas, img, p, s);
      if (img.complete && img.naturalWidth) draw(); else img.addEventListener("load", draw);
      if (p.patch) {
        const patch = el("img");
        patch.alt = "source patch " + p.patch_id;
        patch.title = "real source patch " + p.patch_id;
        patch.src = p.patch;
        row.appendChild(patch);
      }
      const dl = el("dl");
      const add = (k2, v) => { dl.appendChild(el("dt", null, k2)); dl.appendChild(el("dd", null, v)); };
      add("class", classes[p.c].name);
      add("box xyxy", p.xyxy.join(", "));
      add("blend / placement", p.blend + " / " + p.placement);
      add("source", p.source + (p.source_xyxy ? "  [" + p.source_xyxy.join(", ") + "]" : ""));
      add("mask", p.mask_method);
      add("seam visibility", fmt(p.seam, 2));
      add("contrast (grey levels)", fmt(p.contrast, 1));
      add("contrast z vs real " + classes[p.c].name, fmt(p.z, 2));
      add("paste score", fmt(p.score, 3));
      row.appendChild(dl);
      body.appendChild(row);
    });
    const toggle = el("button", "toggle", rejected.has(s.id) ? "Rejected (click to accept)" : "Reject this sample");
    toggle.type = "button";
    toggle.addEventListener("click", () => {
      setRejected(s.id, !rejected.has(s.id));
      toggle.textContent = rejected.has(s.id) ? "Rejected (click to accept)" : "Reject this sample";
    });
    body.appendChild(toggle);
    document.getElementById("detail").hidden = false;
  }

  function zoom(canvas, img, p, s) {
    const [x0, y0, x1, y1] = p.xyxy;
    const scale = img.naturalWidth / s.w;
    const side = Math.max(x1 - x0, y1 - y0) * 1.6 + 8;
    const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    const sx = (cx - side / 2), sy = (cy - side / 2);
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(img, sx * scale, sy * scale, side * scale, side * scale, 0, 0, canvas.width, canvas.height);
    const k = canvas.width / side;
    ctx.strokeStyle = getComputedStyle(document.querySelector(".swatch.c" + (p.c % 10)) || document.body).getPropertyValue("--c") || "#f00";
    ctx.lineWidth = 1;
    ctx.strokeRect((x0 - sx) * k, (y0 - sy) * k, (x1 - x0) * k, (y1 - y0) * k);
  }

  function exportRejected() {
    const payload = { synth_dir: data.title, rejected: Array.from(rejected).sort() };
    const blob = new Blob([JSON.stringify(payload, null, 2) + "\n"], { type: "application/json" });
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = "rejected.json";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  document.getElementById("filter-class").addEventListener("change", (e) => { state.cls = e.target.value; render(); });
  document.getElementById("filter-blend").addEventListener("change", (e) => { state.blend = e.target.value; render(); });
  document.getElementById("filter-quality").addEventListener("input", (e) => { state.minQ = parseFloat(e.target.value) || 0; render(); });
  document.getElementById("filter-status").addEventListener("change", (e) => { state.status = e.target.value; render(); });
  document.getElementById("export").addEventListener("click", exportRejected);
  document.querySelectorAll(".more").forEach((button) => button.addEventListener("click", () => {
    const id = Number(button.dataset.class);
    pages[id] += 1;
    renderClass(classes[id]);
  }));
  document.getElementById("detail-close").addEventListener("click", () => { document.getElementById("detail").hidden = true; });
  document.getElementById("detail").addEventListener("click", (e) => { if (e.target.id === "detail") e.target.hidden = true; });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") document.getElementById("detail").hidden = true; });
  render();
  document.body.dataset.ready = "1";
})();
