// Playback with Web Audio: speed (playbackRate 0.5-1), looping a cycle, and the current
// position for the moving cursor.
export class Player {
  constructor() { this.ctx = null; this.buffer = null; this.source = null; this.offset = 0; this.rate = 1; this.loop = null; }

  async load(wavBytes) {
    this.stop();
    const sr = new DataView(wavBytes).getUint32(24, true);  // WAV header: sample rate
    if (!this.ctx || this.ctx.sampleRate !== sr) {
      if (this.ctx) this.ctx.close();
      try { this.ctx = new AudioContext({ sampleRate: sr }); } catch (e) { this.ctx = new AudioContext(); }
    }
    this.buffer = await this.ctx.decodeAudioData(wavBytes);
    this.offset = 0;
  }
  get playing() { return this.source !== null; }
  get duration() { return this.buffer ? this.buffer.duration : 0; }

  position() {
    if (!this.source) return this.offset;
    let t = this.offset + (this.ctx.currentTime - this.started) * this.rate;
    if (this.loop && t >= this.loop[1]) {
      const len = this.loop[1] - this.loop[0];
      t = this.loop[0] + ((t - this.loop[0]) % len);
    }
    return Math.min(t, this.duration);
  }
  play(from = null) {
    if (!this.buffer) return;
    if (this.source) this.stop();
    if (from !== null) this.offset = from;
    if (this.offset >= this.duration - 0.01) this.offset = 0;
    if (this.ctx.state === "suspended") this.ctx.resume();
    const src = this.ctx.createBufferSource();
    src.buffer = this.buffer;
    src.playbackRate.value = this.rate;
    if (this.loop) {
      src.loop = true; src.loopStart = this.loop[0]; src.loopEnd = this.loop[1];
      if (this.offset < this.loop[0] || this.offset >= this.loop[1]) this.offset = this.loop[0];
    }
    src.connect(this.ctx.destination);
    src.onended = () => { if (this.source === src) { this.offset = this.position(); this.source = null; if (this.onended) this.onended(); } };
    this.started = this.ctx.currentTime;
    src.start(0, this.offset);
    this.source = src;
  }
  stop() {
    if (!this.source) return;
    const src = this.source;
    this.offset = this.position();
    this.source = null;
    src.onended = null;
    src.stop();
  }
  seek(t) { const was = this.playing; this.stop(); this.offset = Math.max(0, Math.min(t, this.duration)); if (was) this.play(); }
  setRate(r) { const was = this.playing; this.stop(); this.rate = r; if (was) this.play(); }
  setLoop(cycle) { const was = this.playing; this.stop(); this.loop = cycle; if (was) this.play(); }
}
