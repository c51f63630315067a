// The editable segmentation: CirCor rows [start_s, end_s, state] (1 S1, 2 systole,
// 3 S2, 4 diastole, 0 unannotated), with undo.
export const S1 = 1, SYS = 2, S2 = 3, DIA = 4;
const MIN_S = 0.01;  // shortest row an edit may leave (s)

export class Segments {
  constructor(rows, duration) {
    this.rows = rows.map((r) => [Number(r[0]), Number(r[1]), Number(r[2])]);
    this.duration = duration;
    this.undoStack = [];
    this.selected = -1;
  }
  snapshot() {
    this.undoStack.push(JSON.stringify(this.rows));
    if (this.undoStack.length > 200) this.undoStack.shift();
  }
  undo() {
    if (!this.undoStack.length) return false;
    this.rows = JSON.parse(this.undoStack.pop());
    this.selected = -1;
    return true;
  }
  // index of the row containing time t (binary search)
  rowAt(t) {
    let lo = 0, hi = this.rows.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1, r = this.rows[mid];
      if (t < r[0]) hi = mid - 1; else if (t >= r[1]) lo = mid + 1; else return mid;
    }
    return -1;
  }
  // boundaries (between row i and i+1, or a sound's free edge) nearest to t, within tol s
  boundaryNear(t, tol) {
    let best = null;
    const i = this.rowAt(t);
    for (let k = Math.max(0, i - 2); k <= Math.min(this.rows.length - 1, i + 2); k++) {
      for (const edge of [0, 1]) {
        const x = this.rows[k][edge];
        const isSound = this.rows[k][2] === S1 || this.rows[k][2] === S2;
        if (!isSound) continue;  // only S1/S2 edges are dragged
        const d = Math.abs(x - t);
        if (d <= tol && (!best || d < best.dist)) best = { row: k, edge, dist: d };
      }
    }
    return best;
  }
  // move edge (0 start, 1 end) of row k to t, moving the neighbour's shared edge too
  moveEdge(k, edge, t) {
    const r = this.rows[k];
    const prev = this.rows[k - 1], next = this.rows[k + 1];
    if (edge === 0) {
      const lo = (prev ? prev[0] : 0) + MIN_S, hi = r[1] - MIN_S;
      t = Math.min(Math.max(t, lo), hi);
      if (prev && Math.abs(prev[1] - r[0]) < 1e-6) prev[1] = t;
      r[0] = t;
    } else {
      const lo = r[0] + MIN_S, hi = (next ? next[1] : this.duration) - MIN_S;
      t = Math.min(Math.max(t, lo), hi);
      if (next && Math.abs(next[0] - r[1]) < 1e-6) next[0] = t;
      r[1] = t;
    }
    return t;
  }
  addSound(t, state, width = 0.1) {
    const a = Math.max(0, t - width / 2), b = Math.min(this.duration, t + width / 2);
    this.snapshot();
    const out = [];
    let placed = false;
    for (const r of this.rows) {
      if (r[1] <= a || r[0] >= b) { out.push(r); continue; }
      if (r[0] < a) out.push([r[0], a, r[2]]);
      if (!placed) { out.push([a, b, state]); placed = true; }
      if (r[1] > b) out.push([b, r[1], r[2]]);
    }
    if (!placed) out.push([a, b, state]);
    out.sort((x, y) => x[0] - y[0]);
    this.rows = out;
    this.normalise();
    this.selected = this.rowAt(t);
  }
  deleteSelected() {
    const k = this.selected, r = this.rows[k];
    if (!r || (r[2] !== S1 && r[2] !== S2)) return false;
    this.snapshot();
    const prev = this.rows[k - 1], next = this.rows[k + 1];
    r[2] = prev ? prev[2] : next ? next[2] : 0;
    this.normalise();
    this.selected = -1;
    return true;
  }
  relabelSelected() {
    const r = this.rows[this.selected];
    if (!r || (r[2] !== S1 && r[2] !== S2)) return false;
    this.snapshot();
    r[2] = r[2] === S1 ? S2 : S1;
    return true;
  }
  // merge neighbours with the same state, drop empty rows
  normalise() {
    const out = [];
    for (const r of this.rows) {
      if (r[1] - r[0] <= 1e-9) continue;
      const last = out[out.length - 1];
      if (last && last[2] === r[2] && Math.abs(last[1] - r[0]) < 1e-6) last[1] = r[1];
      else out.push([...r]);
    }
    this.rows = out;
  }
  sounds(state) { return this.rows.filter((r) => r[2] === state); }
  tsv() {
    return this.rows.map((r) => `${r[0].toFixed(6)}\t${r[1].toFixed(6)}\t${r[2]}\n`).join("");
  }
  // heart rate over time from consecutive S1 onsets: [[t_mid, bpm], ...]
  heartRate() {
    const on = this.sounds(S1).map((r) => r[0]);
    const out = [];
    for (let i = 1; i < on.length; i++) {
      const rr = on[i] - on[i - 1];
      if (rr > 0.24 && rr < 2.0) out.push([(on[i] + on[i - 1]) / 2, 60 / rr]);
    }
    return out;
  }
  // the cycle (S1 onset to next S1 onset) around t
  cycleAt(t) {
    const on = this.sounds(S1).map((r) => r[0]);
    for (let i = 0; i + 1 < on.length; i++) if (on[i] <= t && t < on[i + 1]) return [on[i], on[i + 1]];
    return on.length >= 2 ? [on[0], on[1]] : null;
  }
}
