// Counts down to the server's deadline. `offset` is serverNow − localNow (ms) measured when the
// attempt was fetched, so a wrong phone clock does not matter. Fires `finish` once at zero.
function format(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const m = Math.floor(total / 60);
  const s = total % 60;
  return `${m < 10 ? '0' : ''}${m}:${s < 10 ? '0' : ''}${s}`;
}

Component({
  properties: {
    deadline: { type: String, value: '' },
    offset: { type: Number, value: 0 },
    warnSeconds: { type: Number, value: 60 },
  },
  data: { text: '--:--', warn: false, remainingMs: 0 },
  observers: {
    'deadline, offset'() {
      this.start();
    },
  },
  lifetimes: {
    attached() {
      this.start();
    },
    detached() {
      this.stop();
    },
  },
  pageLifetimes: {
    show() {
      // timers sleep in the background: re-check at once when the page shows again
      if (this.data.deadline && !this.finished) this.tick();
    },
  },
  methods: {
    start() {
      this.stop();
      if (!this.data.deadline) return;
      // one finish per deadline, however often the properties are set again
      this.finished = this.finishedFor === this.data.deadline;
      if (this.finished) return;
      this.tick();
      if (!this.finished) this.timer = setInterval(() => this.tick(), 1000);
    },
    stop() {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
    },
    remaining() {
      const end = Date.parse(this.data.deadline);
      return end - (Date.now() + this.data.offset);
    },
    tick() {
      const ms = this.remaining();
      this.setData({ text: format(ms), warn: ms <= this.data.warnSeconds * 1000, remainingMs: Math.max(0, ms) });
      if (ms <= 0 && !this.finished) {
        this.finished = true;
        this.finishedFor = this.data.deadline;
        this.stop();
        this.triggerEvent('finish');
      }
    },
  },
});
module.exports = { format };
