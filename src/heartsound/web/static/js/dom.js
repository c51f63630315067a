// DOM helpers and the information panels. Every user or file string goes in through
// textContent (text nodes), never innerHTML.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "style") node.style.cssText = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export const fmt = (x, d = 2) => (x === null || x === undefined ? "n/a" : Number(x).toFixed(d));
export const pct = (x) => (x === null || x === undefined ? "n/a" : `${Math.round(100 * x)} %`);

export function table(rows, header) {
  const t = el("table", { class: "kv" });
  if (header) t.append(el("tr", {}, header.map((h) => el("th", {}, h))));
  for (const r of rows) t.append(el("tr", {}, r.map((c) => el("td", {}, c))));
  return t;
}

export function qualityPanel(d) {
  const q = d.quality;
  const seg = d.segmentation;
  const rows = [
    ["verdict", q.usable ? "usable" : "NOT usable"], ["score", fmt(q.score)],
    ["reasons", (q.reasons || []).join("; ") || "none"],
    ["notes", Object.entries(q.notes || {}).map(([k, v]) => `${k}: ${v}`).join("; ") || "none"],
    ["duration", `${fmt(d.duration_s, 1)} s at ${d.sr} Hz`],
    ["heart rate", d.heart_rate_bpm === null ? "n/a" : `${fmt(d.heart_rate_bpm, 0)} bpm (${d.n_cycles} cycles)`],
    ["segmentation", `${seg.method || "unavailable"}${seg.corrected ? " (corrected)" : ""}`],
  ];
  if (seg.note) rows.push(["note", seg.note]);
  if (seg.presence && seg.presence.reason) rows.push(["presence", seg.presence.reason]);
  const iv = seg.intervals || {};
  rows.push(["systole / diastole", `${fmt(iv.systole_s, 3)} s / ${fmt(iv.diastole_s, 3)} s`]);
  return [q.usable ? null : el("p", { class: "warn" }, "The recording did not pass the quality check: the classification is uncertain."), table(rows)];
}

// The bars a decision read, as heartsound.plotting.bars draws them in the report figure:
// a conditional score P(grade | murmur) is read among the classes other than this one.
const CONDITIONED_OUT = { murmur: "normal" };

function shownBars(c) {
  const dec = c.decision || {};
  const entries = Object.entries(c.probabilities || {});
  if (dec.graded === false) return { entries, note: " (not graded)", used: false, scoreBar: null };
  const cond = /^P\((\w+) \| (\w+)\)$/.exec(dec.score_name || "");
  const out = cond ? CONDITIONED_OUT[cond[2]] : undefined;
  if (out !== undefined && entries.some(([n]) => n === out)) {
    const keep = entries.filter(([n]) => n !== out);
    const total = keep.reduce((s, [, p]) => s + p, 0) || 1;
    return { entries: keep.map(([n, p]) => [n, p / total]), note: ` (given ${cond[2]})`,
             used: true, scoreBar: cond[1] };
  }
  const plain = /^P\((\w+)\)$/.exec(dec.score_name || "");
  return { entries, note: "", used: true, scoreBar: plain ? plain[1] : null };
}

function probabilityBars(c, shown) {
  const dec = c.decision || {};
  const out = [];
  for (const [name, p] of shown.entries) {
    const bar = el("div", { class: shown.used ? "bar" : "bar unused", title: `${name} ${fmt(p, 3)}` },
                   el("span", { style: `width:${(100 * p).toFixed(1)}%` }));
    if (shown.scoreBar === name && dec.threshold !== undefined && dec.threshold !== null) {
      bar.append(el("i", { style: `left:${(100 * dec.threshold).toFixed(1)}%`, title: `threshold ${dec.threshold}` }));
    }
    out.push(el("div", {}, `${name} ${fmt(p, 2)}`, bar));
  }
  return out;
}

function evidenceTable(ev) {
  if (!ev) return null;
  const phases = ["S1", "systole", "S2", "diastole"];
  return el("div", {}, el("div", { class: "small muted" },
    `Evidence per phase (occlusion of ${ev.score}, full ${fmt(ev.full)}): drop of the score when the phase is masked, its share of the drop vs its share of time; on the time axis the lane under the waveform is darker where the share of the drop exceeds the share of time.`),
    table(phases.map((ph) => { const e = ev[ph] || {}; return [ph, fmt(e.drop), pct(e.share), pct(e.time_share)]; }),
          ["phase", "drop", "share of drop", "share of time"]));
}

export function classificationPanel(d, onShowEvidence) {
  const out = [];
  for (const [task, c] of Object.entries(d.classification || {})) {
    const box = el("div", { class: "task", "data-task": task });
    if (!c.available) {
      const assess = c.assessable === false;  // no heart sounds: the model is there
      box.append(el("strong", {}, task), assess ? " not assessable: " : " unavailable: ",
                 (c.reason || "").replace(/^not assessable: /, ""));
      out.push(box);
      continue;
    }
    const dec = c.decision || {};
    const label = c.label === null ? "not assessable" : c.label;
    const shown = shownBars(c);
    box.append(el("div", {}, el("strong", {}, `${task}: ${label}${shown.note}`),
                  c.uncertain ? el("span", { class: "bad" }, "  uncertain") : null,
                  // murmur not asked for, run as the decision severity's rule reads
                  c.computed_for ? el("span", { class: "small" }, `  not asked: run for ${c.computed_for}`) : null));
    box.append(...probabilityBars(c, shown));
    const rows = [];
    if (dec.rule) rows.push(["rule", dec.rule]);
    if (dec.interval) rows.push(["interval over windows", `${fmt(dec.interval[0])} – ${fmt(dec.interval[1])}`]);
    if (dec.stability !== undefined) rows.push(["stability", fmt(dec.stability)]);
    if (c.model) rows.push(["model", c.model]);
    if (rows.length) box.append(table(rows));
    if (dec.caveat) box.append(el("p", { class: "small warn" }, `Model card: ${dec.caveat}`));
    const ev = evidenceTable(c.evidence_by_phase);
    if (ev) box.append(ev, el("button", { class: "show-evidence", onclick: () => onShowEvidence(task) }, "show on the time axis"));
    out.push(box);
  }
  return out;
}
