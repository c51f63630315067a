// The heartsound viewer: recording list, view, playback, correction and export.
import { getJSON, postJSON, query, request, upload } from "./api.js";
import { el, fmt, qualityPanel, classificationPanel } from "./dom.js";
import { Segments, S1, S2 } from "./edit.js";
import { Player } from "./player.js";
import { Viewer } from "./viewer.js";

const $ = (id) => document.getElementById(id);
const state = { id: null, name: "", result: null, segs: null, firstPaint: null };
const player = new Player();
window.heartsound = state;  // read by the browser tests

function status(text, bad = false) { const s = $("status"); s.textContent = text; s.className = bad ? "bad" : ""; }
function opts() { return { method: $("method").value, tasks: $("tasks").value }; }

const viewer = new Viewer($("base"), $("overlay"), {
  wantDetail: loadDetail,
  drawn: () => {
    if (state.firstPaint === null && state.segs && viewer.segs === state.segs) {
      state.firstPaint = performance.now();
      performance.mark("heartsound-first-paint");
    }
  },
  edited: (moved) => { if (moved) status("boundary moved (undo: Ctrl-Z)"); },
  clicked: (t) => {
    if (!state.segs) return;  // still loading
    if (viewer.mode) {
      state.segs.addSound(t, viewer.mode === "s1" ? S1 : S2);
      setMode(null);
    } else {
      const k = state.segs.rowAt(t);
      const r = k >= 0 ? state.segs.rows[k] : null;
      state.segs.selected = r && (r[2] === S1 || r[2] === S2) ? k : -1;
      player.seek(t);
    }
    viewer.draw(); viewer.drawOverlay(player.position());
  },
});
state.viewer = viewer;
state.player = player;

async function image(path) {
  const blob = await (await request(path)).blob();
  return createImageBitmap(blob);
}

async function loadDetail(t0, t1, width) {
  if (!state.id) return;
  const id = state.id, cols = Math.min(4096, Math.ceil(width));
  const base = viewer.overview;
  if ((t1 - t0) * base.sr / cols >= base.samples_per_column) return;  // overview is fine enough
  try {
    const [env, spec] = await Promise.all([
      getJSON(`/api/waveform?${query({ id, t0, t1, columns: cols })}`),
      image(`/api/spectrogram?${query({ id, t0, t1, width: cols, height: 130 })}`)]);
    if (id === state.id) viewer.setDetail(env, spec, t0, t1);
  } catch (e) { status(e.message, true); }
}

async function openRecording(id, result = null) {
  player.stop();
  state.id = id; state.firstPaint = null; state.playableAt = null; state.segs = null;
  status("analysing…");
  document.querySelectorAll("#list tr.row").forEach((tr) => tr.classList.toggle("current", tr.dataset.id === id));
  try {
    $("play").disabled = true;
    const audio = request(`/api/audio?${query({ id })}`).then((r) => r.arrayBuffer());
    audio.catch(() => {});  // reported where it is awaited
    const [d, overview, spec] = await Promise.all([
      result || getJSON(`/api/result?${query({ id, ...opts() })}`),
      getJSON(`/api/waveform?${query({ id, columns: 4000 })}`),
      image(`/api/spectrogram?${query({ id, width: 2000, height: 130 })}`)]);
    if (id !== state.id) return;
    state.result = d; state.name = d.source;
    state.segs = new Segments(d.segmentation.states, d.duration_s);
    $("title").textContent = `${d.source} — ${fmt(d.duration_s, 1)} s`;
    $("save-name").value = String(d.source).split("/").pop().replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9._-]/g, "_") + "-corrected";
    viewer.load({ duration: d.duration_s, overview, specOverview: spec, segs: state.segs, noSignal: d.quality.no_signal_s || [] });
    showEvidence(d, Object.keys(d.classification).find((t) => d.classification[t].evidence_by_phase));
    $("quality").replaceChildren(...qualityPanel(d).filter(Boolean));
    $("classification").replaceChildren(...classificationPanel(d, (task) => showEvidence(d, task)));
    $("differences").replaceChildren(el("p", { class: "muted" }, "Load a .tsv to compare it with the model."));
    const wav = await audio;  // drawn first, playable once the audio is decoded
    if (id !== state.id) return;
    await player.load(wav);
    state.playableAt = performance.now();
    $("play").disabled = false;
    status(`${d.segmentation.events.length} heart sounds, ${d.n_cycles} cycles`);
    refreshList();
  } catch (e) { status(e.message, true); }
}

function listRow(item) {
  const labels = Object.entries(item.labels || {}).filter(([, v]) => v).map(([k, v]) => `${k}: ${v}`).join(" · ");
  const tr = el("tr", { class: "row", "data-id": item.id, onclick: () => openRecording(item.id) },
    el("td", {}, item.name, item.upload ? el("span", { class: "muted" }, " (upload)") : null,
       el("div", { class: "labels" }, labels, item.uncertain ? el("span", { class: "bad" }, " · uncertain") : null)),
    el("td", { class: item.usable === false ? "bad" : "" }, item.analysed ? (item.usable ? "usable" : "poor") + ` ${fmt(item.quality_score)}` : "–"),
    el("td", {}, item.heart_rate_bpm ? fmt(item.heart_rate_bpm, 0) : "–"));
  if (item.id === state.id) tr.classList.add("current");
  return tr;
}

async function refreshList() {
  const params = { sort: $("sort").value, order: $("order").value, q: $("q").value,
                   label: $("label-filter").value ? [$("label-filter").value] : [],
                   uncertain: $("uncertain-filter").value, ...opts() };
  try {
    const d = await getJSON(`/api/recordings?${query(params)}`);
    state.items = d.items;
    $("list").tBodies[0].replaceChildren(...d.items.map(listRow));
    const seen = new Set([...$("label-filter").options].map((o) => o.value));
    for (const it of d.items) for (const [t, v] of Object.entries(it.labels || {}))
      if (v && !seen.has(`${t}:${v}`)) { seen.add(`${t}:${v}`); $("label-filter").append(el("option", { value: `${t}:${v}` }, `${t}: ${v}`)); }
  } catch (e) { status(e.message, true); }
}

async function uploadFiles(files) {
  let first = null;
  for (const f of files) {
    status(`uploading ${f.name}…`);
    try {
      const { id, result } = await upload(f, $("method").value, $("tasks").value);
      if (!first) first = { id, result };
    } catch (e) { status(`${f.name}: ${e.message}`, true); }
  }
  await refreshList();
  if (first) await openRecording(first.id, first.result);
}

function setMode(m) {
  viewer.mode = m;
  $("add-s1").classList.toggle("active", m === "s1");
  $("add-s2").classList.toggle("active", m === "s2");
}

// the evidence lane: phases shaded by their share of the decision's evidence / share of time
function showEvidence(d, task) {
  const ev = task && d.classification[task].evidence_by_phase;
  viewer.evidence = ev ? { task, score: ev.score, phases: ev } : null;
  document.querySelectorAll("#classification .task").forEach((box) =>
    box.classList.toggle("shown", box.dataset.task === task));
  viewer.draw();
}

function showDifferences(d) {
  viewer.reference = d.rows; viewer.diffs = d.differences; viewer.draw();
  const items = d.differences.map((x) => el("li", { class: "diff", onclick: () => {
    const s = (x.reference || x.model); viewer.setView(s[0] - 1.5, s[1] + 1.5); } },
    `${x.kind} ${x.sound} at ${fmt((x.reference || x.model)[0], 3)} s` + (x.shift_s ? ` (edge moved ${fmt(1000 * x.shift_s, 0)} ms)` : "")));
  $("differences").replaceChildren(
    el("p", {}, `${d.matched} sounds matched within ${1000 * d.tolerance_s} ms; state agreement ${d.agreement === null ? "n/a" : Math.round(100 * d.agreement) + " %"}; ${d.differences.length} differences (red boxes; reference lane in purple).`),
    el("ul", {}, items));
}

function togglePlay() {
  if (!state.segs) return;
  if (player.playing) player.stop(); else player.play();
  $("play").textContent = player.playing ? "❚❚ Pause" : "▶ Play";
}
player.onended = () => { $("play").textContent = "▶ Play"; };

function tick() {
  if (state.segs) {
    const t = player.position();
    if (player.playing && (t > viewer.view.t1 || t < viewer.view.t0) && viewer.view.t1 - viewer.view.t0 < viewer.duration) {
      const len = viewer.view.t1 - viewer.view.t0; viewer.setView(t - 0.1 * len, t + 0.9 * len);
    }
    viewer.drawOverlay(t);
    state.position = t;
  }
  requestAnimationFrame(tick);
}

function bind() {
  $("upload").addEventListener("change", (e) => uploadFiles([...e.target.files]));
  for (const id of ["q", "label-filter", "uncertain-filter", "sort", "order"]) $(id).addEventListener("change", refreshList);
  $("q").addEventListener("input", refreshList);
  $("analyse-all").addEventListener("click", async () => {
    for (const it of (state.items || []).filter((i) => !i.analysed)) {
      status(`analysing ${it.name}…`);
      try { await getJSON(`/api/result?${query({ id: it.id, ...opts() })}`); } catch (e) { status(e.message, true); }
    }
    status("done"); refreshList();
  });
  $("play").addEventListener("click", togglePlay);
  $("speed").addEventListener("change", (e) => player.setRate(Number(e.target.value)));
  $("loop").addEventListener("change", (e) => player.setLoop(e.target.checked && state.segs ? state.segs.cycleAt(player.position()) : null));
  $("zoom-in").addEventListener("click", () => viewer.zoom(0.5, player.position()));
  $("zoom-out").addEventListener("click", () => viewer.zoom(2));
  $("zoom-fit").addEventListener("click", () => viewer.setView(0, viewer.duration));
  $("add-s1").addEventListener("click", () => setMode(viewer.mode === "s1" ? null : "s1"));
  $("add-s2").addEventListener("click", () => setMode(viewer.mode === "s2" ? null : "s2"));
  $("relabel").addEventListener("click", () => { if (state.segs && state.segs.relabelSelected()) viewer.draw(); });
  $("delete").addEventListener("click", () => { if (state.segs && state.segs.deleteSelected()) viewer.draw(); });
  $("undo").addEventListener("click", () => { if (state.segs && state.segs.undo()) viewer.draw(); });
  $("save").addEventListener("click", async () => {
    if (!state.segs) return;
    try {
      const r = await postJSON("/api/save", { id: state.id, name: $("save-name").value, rows: state.segs.rows, ...opts() });
      status(`saved ${r.written.join(", ")}`); state.saved = r.written;
    } catch (e) { status(e.message, true); }
  });
  $("download").addEventListener("click", () => {
    if (!state.segs) return;
    const a = el("a", { href: URL.createObjectURL(new Blob([state.segs.tsv()], { type: "text/tab-separated-values" })), download: `${$("save-name").value || "segmentation"}.tsv` });
    a.click(); URL.revokeObjectURL(a.href);
  });
  $("ref-file").addEventListener("change", async (e) => {
    const f = e.target.files[0]; if (!f || !state.id) return;
    try { showDifferences(await postJSON("/api/compare", { id: state.id, tsv: await f.text(), ...opts() })); } catch (err) { status(err.message, true); }
    e.target.value = "";
  });
  $("ref-folder").addEventListener("click", async () => {
    if (!state.id) return;
    try { showDifferences(await getJSON(`/api/reference?${query({ id: state.id, ...opts() })}`)); } catch (err) { status(err.message, true); }
  });
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
    if (e.key === " ") { e.preventDefault(); togglePlay(); }
    else if ((e.ctrlKey || e.metaKey) && e.key === "z") { if (state.segs && state.segs.undo()) viewer.draw(); }
    else if (e.key === "Delete" || e.key === "Backspace") { if (state.segs && state.segs.deleteSelected()) viewer.draw(); }
    else if (e.key === "r") { if (state.segs && state.segs.relabelSelected()) viewer.draw(); }
    else if (e.key === "Escape") setMode(null);
  });
  document.addEventListener("dragover", (e) => { e.preventDefault(); document.body.classList.add("dragging"); });
  document.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
  document.addEventListener("drop", (e) => { e.preventDefault(); document.body.classList.remove("dragging"); uploadFiles([...e.dataTransfer.files]); });
}

async function init() {
  bind();
  try {
    const h = await getJSON("/api/health");
    $("method").replaceChildren(...h.methods.map((m) => el("option", { value: m }, m)));
    $("method").value = h.default_method;
    $("tasks").value = h.tasks.join(",");
    $("save").disabled = !h.folder;
    if (!h.folder) $("save").title = "start heartsound serve FOLDER to save (Download works)";
  } catch (e) { status(e.message, true); }
  await refreshList();
  requestAnimationFrame(tick);
}
init();
