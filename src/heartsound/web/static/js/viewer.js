// The canvas view: waveform (min/max per pixel column) with S1/systole/S2/diastole bands,
// the reference lane and differences, spectrogram image, heart rate over time, one time
// axis; stretches without signal (quality.no_signal_s of the result) greyed and labelled. Zoom (wheel), pan (drag), drag an S1/S2 edge, click to select or seek. The base
// canvas is redrawn on change only; the cursor lives on the overlay canvas.
import { S1, SYS, S2, DIA } from "./edit.js";

const COLOURS = { [S1]: "rgba(228,87,46,0.40)", [SYS]: "rgba(246,213,92,0.22)",
                  [S2]: "rgba(59,142,208,0.40)", [DIA]: "rgba(120,190,130,0.18)" };
const REF = { [S1]: "#7a4fa0", [S2]: "#b58ad6" };
const WAVE = [0, 180], REFLANE = [180, 190], EVLANE = [192, 204], SPEC = [206, 336], HR = [344, 404], AXIS = 404;
const PHASES = { [S1]: "S1", [SYS]: "systole", [S2]: "S2", [DIA]: "diastole" };
const MIN_VIEW_S = 0.2;

export class Viewer {
  constructor(base, overlay, hooks) {
    this.base = base; this.overlay = overlay; this.hooks = hooks;
    this.view = { t0: 0, t1: 1 }; this.duration = 1;
    this.segs = null; this.reference = null; this.diffs = []; this.evidence = null; this.noSignal = [];
    this.overview = null; this.detail = null; this.specOverview = null; this.specDetail = null;
    this.mode = null; this.drag = null; this.cursor = 0;
    this.resize();
    new ResizeObserver(() => { this.resize(); this.draw(); }).observe(base.parentElement);
    this.bindMouse();
  }
  resize() {
    const r = this.base.parentElement.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    this.W = Math.max(100, Math.floor(r.width)); this.H = Math.floor(r.height);
    for (const c of [this.base, this.overlay]) {
      c.width = this.W * dpr; c.height = this.H * dpr;
      c.getContext("2d").setTransform(dpr, 0, 0, dpr, 0, 0);
    }
  }
  load({ duration, overview, specOverview, segs, noSignal = [] }) {
    Object.assign(this, { duration, overview, specOverview, segs, noSignal, detail: null, specDetail: null, reference: null, diffs: [] });
    this.view = { t0: 0, t1: duration };
    this.draw();
  }
  get spp() { return (this.view.t1 - this.view.t0) / this.W; }
  x(t) { return (t - this.view.t0) / this.spp; }
  t(x) { return this.view.t0 + x * this.spp; }
  clientX(t) { return this.base.getBoundingClientRect().left + this.x(t); }

  setView(t0, t1) {
    let len = Math.max(MIN_VIEW_S, Math.min(t1 - t0, this.duration));
    t0 = Math.max(0, Math.min(t0, this.duration - len));
    this.view = { t0, t1: t0 + len };
    this.draw();
    clearTimeout(this.detailTimer);
    this.detailTimer = setTimeout(() => this.hooks.wantDetail(this.view.t0, this.view.t1, this.W), 150);
  }
  zoom(factor, atT = null) {
    const c = atT === null ? (this.view.t0 + this.view.t1) / 2 : atT;
    const f = (c - this.view.t0) / (this.view.t1 - this.view.t0);
    const len = (this.view.t1 - this.view.t0) * factor;
    this.setView(c - f * len, c - f * len + len);
  }
  setDetail(env, spec, t0, t1) {
    if (Math.abs(t0 - this.view.t0) > 1e-6 || Math.abs(t1 - this.view.t1) > 1e-6) return;  // stale
    this.detail = env; this.specDetail = spec ? { img: spec, t0, t1 } : null;
    this.draw();
  }

  draw() {
    const g = this.base.getContext("2d");
    g.clearRect(0, 0, this.W, this.H);
    if (!this.overview) return;
    this.drawBands(g); this.drawNoSignal(g); this.drawWave(g); this.drawEvidenceLabel(g); this.drawReference(g); this.drawSpec(g); this.drawHR(g); this.drawAxis(g);
    if (this.hooks.drawn) this.hooks.drawn();
  }
  visibleRows(rows) {
    const out = [];
    for (const r of rows) if (r[1] >= this.view.t0 && r[0] <= this.view.t1) out.push(r);
    return out;
  }
  drawBands(g) {
    if (!this.segs) return;
    const rows = this.segs.rows;
    const i0 = Math.max(0, this.segs.rowAt(this.view.t0));
    for (let i = i0; i < rows.length && rows[i][0] <= this.view.t1; i++) {
      const r = rows[i], col = COLOURS[r[2]];
      if (!col) continue;
      const x0 = this.x(r[0]), w = Math.max(1, this.x(r[1]) - x0);
      g.fillStyle = col; g.fillRect(x0, WAVE[0], w, WAVE[1] - WAVE[0]);
      const ev = this.evidence && this.evidence.phases[PHASES[r[2]]];
      if (ev) {  // the phase's share of the evidence over its share of time (1 = chance)
        g.fillStyle = `rgba(150,20,90,${Math.min(1, (ev.ratio || 0) / 3).toFixed(2)})`;
        g.fillRect(x0, EVLANE[0], w, EVLANE[1] - EVLANE[0]);
      }
      if (i === this.segs.selected) { g.strokeStyle = "#000"; g.lineWidth = 2; g.strokeRect(x0, WAVE[0] + 1, w, WAVE[1] - 2); }
    }
  }
  drawNoSignal(g) {  // the quality check's near-silent stretches (as the report figure)
    g.font = "10px sans-serif"; g.textAlign = "center";
    for (const [a, b] of this.noSignal) {
      if (b < this.view.t0 || a > this.view.t1) continue;
      const x0 = Math.max(0, this.x(a)), x1 = Math.min(this.W, this.x(b));
      g.fillStyle = "rgba(0,0,0,0.12)"; g.fillRect(x0, WAVE[0], x1 - x0, WAVE[1] - WAVE[0]);
      if (x1 - x0 > 60) { g.fillStyle = "#444"; g.fillText("no signal", (x0 + x1) / 2, WAVE[0] + 30); }
    }
    g.textAlign = "start";
  }
  envelope() {
    const d = this.detail, o = this.overview;
    if (d && d.t0 <= this.view.t0 + 1e-6 && d.t1 >= this.view.t1 - 1e-6 &&
        d.samples_per_column < o.samples_per_column) return d;
    return o;
  }
  drawWave(g) {
    const env = this.envelope(), n = env.lo.length, dt = (env.t1 - env.t0) / n;
    const mid = (WAVE[0] + WAVE[1]) / 2, half = (WAVE[1] - WAVE[0]) / 2 - 4;
    const k = half / (this.overview.peak || 1), W = this.W, spp = this.spp;
    const i0 = Math.max(0, Math.floor((this.view.t0 - env.t0) / dt));
    const i1 = Math.min(n, Math.ceil((this.view.t1 - env.t0) / dt) + 1);
    g.fillStyle = "#1f3b57";
    if (dt / spp >= 1) {  // columns wider than a pixel: one rectangle each
      for (let i = i0; i < i1; i++) {
        const x0 = (env.t0 + i * dt - this.view.t0) / spp;
        g.fillRect(x0, mid - env.hi[i] * k, Math.max(1, dt / spp + 0.5), Math.max(1, (env.hi[i] - env.lo[i]) * k));
      }
      return;
    }
    const lo = new Float32Array(W).fill(Infinity), hi = new Float32Array(W).fill(-Infinity);
    for (let i = i0; i < i1; i++) {
      const x = Math.floor((env.t0 + (i + 0.5) * dt - this.view.t0) / spp);
      if (x < 0 || x >= W) continue;
      if (env.lo[i] < lo[x]) lo[x] = env.lo[i];
      if (env.hi[i] > hi[x]) hi[x] = env.hi[i];
    }
    for (let x = 0; x < W; x++) if (hi[x] >= lo[x]) g.fillRect(x, mid - hi[x] * k, 1, Math.max(1, (hi[x] - lo[x]) * k));
  }
  drawEvidenceLabel(g) {
    if (!this.evidence) return;
    const text = `evidence for ${this.evidence.task} (${this.evidence.score})`;
    g.font = "9px sans-serif";
    g.fillStyle = "rgba(255,255,255,0.85)"; g.fillRect(2, EVLANE[0], g.measureText(text).width + 4, EVLANE[1] - EVLANE[0]);
    g.fillStyle = "#000"; g.fillText(text, 4, EVLANE[1] - 3);
  }
  drawReference(g) {
    if (!this.reference) return;
    for (const r of this.visibleRows(this.reference)) {
      if (!REF[r[2]]) continue;
      g.fillStyle = REF[r[2]]; g.fillRect(this.x(r[0]), REFLANE[0], Math.max(1, this.x(r[1]) - this.x(r[0])), REFLANE[1] - REFLANE[0]);
    }
    g.strokeStyle = "#d00"; g.lineWidth = 1.5; g.setLineDash([4, 3]);
    for (const d of this.diffs) {
      const span = d.reference || d.model;
      if (span[1] < this.view.t0 || span[0] > this.view.t1) continue;
      g.strokeRect(this.x(span[0]) - 2, WAVE[0] + 2, this.x(span[1]) - this.x(span[0]) + 4, REFLANE[1] - 4);
    }
    g.setLineDash([]);
  }
  drawSpec(g) {
    const s = this.specDetail && this.specDetail.t0 <= this.view.t0 + 1e-6 && this.specDetail.t1 >= this.view.t1 - 1e-6
      ? this.specDetail : this.specOverview && { img: this.specOverview, t0: 0, t1: this.duration };
    if (!s || !s.img) return;
    const w = s.img.width, span = s.t1 - s.t0;
    const sx = ((this.view.t0 - s.t0) / span) * w, sw = ((this.view.t1 - this.view.t0) / span) * w;
    g.imageSmoothingEnabled = false;
    g.drawImage(s.img, sx, 0, Math.max(1, sw), s.img.height, 0, SPEC[0], this.W, SPEC[1] - SPEC[0]);
    g.fillStyle = "#fff"; g.font = "10px sans-serif"; g.fillText("spectrogram 0–800 Hz", 4, SPEC[0] + 11);
  }
  drawHR(g) {
    if (!this.segs) return;
    const pts = this.segs.heartRate();
    g.strokeStyle = "#ccc"; g.strokeRect(0, HR[0], this.W, HR[1] - HR[0]);
    g.fillStyle = "#555"; g.font = "10px sans-serif"; g.fillText("heart rate (bpm)", 4, HR[0] + 10);
    if (!pts.length) return;
    let lo = Infinity, hi = -Infinity;
    for (const p of pts) { lo = Math.min(lo, p[1]); hi = Math.max(hi, p[1]); }
    lo = Math.floor(lo - 5); hi = Math.ceil(hi + 5);
    const y = (b) => HR[1] - 2 - ((b - lo) / (hi - lo)) * (HR[1] - HR[0] - 4);
    g.fillText(`${hi}`, this.W - 28, HR[0] + 10); g.fillText(`${lo}`, this.W - 28, HR[1] - 3);
    g.strokeStyle = "#c0392b"; g.beginPath();
    let first = true;
    for (const [t, b] of pts) {
      if (t < this.view.t0 - 2 || t > this.view.t1 + 2) continue;
      if (first) { g.moveTo(this.x(t), y(b)); first = false; } else g.lineTo(this.x(t), y(b));
    }
    g.stroke();
  }
  drawAxis(g) {
    const span = this.view.t1 - this.view.t0, raw = span / 10;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
    g.fillStyle = "#333"; g.strokeStyle = "#999"; g.font = "10px sans-serif";
    for (let t = Math.ceil(this.view.t0 / step) * step; t <= this.view.t1; t += step) {
      const x = this.x(t);
      g.beginPath(); g.moveTo(x, AXIS); g.lineTo(x, AXIS + 5); g.stroke();
      g.fillText(`${+t.toFixed(3)} s`, x + 2, AXIS + 14);
    }
  }
  drawOverlay(t) {
    this.cursor = t;
    const g = this.overlay.getContext("2d");
    g.clearRect(0, 0, this.W, this.H);
    if (!this.overview) return;
    const x = this.x(t);
    if (x >= 0 && x <= this.W) { g.fillStyle = "#d00"; g.fillRect(x - 0.5, 0, 1.5, AXIS); }
    if (this.drag && this.drag.kind === "edge") {
      g.fillStyle = "#000"; g.fillRect(this.x(this.drag.t) - 1, WAVE[0], 2, WAVE[1]);
    }
  }
  bindMouse() {
    const o = this.overlay;
    const pos = (e) => { const r = o.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
    o.addEventListener("wheel", (e) => {
      e.preventDefault();
      if (Math.abs(e.deltaX) > Math.abs(e.deltaY) || e.shiftKey) {
        const d = (e.shiftKey ? e.deltaY : e.deltaX) * this.spp;
        this.setView(this.view.t0 + d, this.view.t1 + d);
      } else this.zoom(e.deltaY > 0 ? 1.25 : 0.8, this.t(pos(e)[0]));
    }, { passive: false });
    o.addEventListener("mousedown", (e) => {
      if (!this.overview) return;
      const [x, y] = pos(e), t = this.t(x);
      const edge = this.segs && y < REFLANE[1] ? this.segs.boundaryNear(t, 6 * this.spp) : null;
      if (edge && !this.mode) {
        this.segs.snapshot();
        this.drag = { kind: "edge", row: edge.row, edge: edge.edge, t };
      } else this.drag = { kind: "pan", x0: x, t0: this.view.t0, t1: this.view.t1, moved: false };
    });
    window.addEventListener("mousemove", (e) => {
      if (!this.drag) {
        const [x, y] = pos(e);
        if (this.segs && y >= 0 && y < REFLANE[1] && x >= 0 && x <= this.W)
          o.style.cursor = this.segs.boundaryNear(this.t(x), 6 * this.spp) ? "ew-resize" : "crosshair";
        return;
      }
      const [x] = pos(e);
      if (this.drag.kind === "edge") {
        this.drag.t = this.segs.moveEdge(this.drag.row, this.drag.edge, this.t(x));
        this.drag.moved = true;
        this.draw(); this.drawOverlay(this.cursor);
      } else {
        const dt = (this.drag.x0 - x) * this.spp;
        if (Math.abs(this.drag.x0 - x) > 3) this.drag.moved = true;
        if (this.drag.moved) this.setView(this.drag.t0 + dt, this.drag.t1 + dt);
      }
    });
    window.addEventListener("mouseup", (e) => {
      const d = this.drag;
      this.drag = null;
      if (!d) return;
      if (d.kind === "edge") {
        if (!d.moved) this.segs.undoStack.pop();
        this.hooks.edited(d.moved);
        this.drawOverlay(this.cursor);
        return;
      }
      if (!d.moved) this.hooks.clicked(this.t(pos(e)[0]));
    });
  }
}
