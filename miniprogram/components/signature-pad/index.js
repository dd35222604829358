// Handwritten signature on a canvas of type 2d. exportImage() resolves a temp PNG path
// (wx.canvasToTempFilePath); `change` {empty} fires when the first stroke is drawn or cleared.
Component({
  properties: {
    height: { type: Number, value: 200 }, // px
    lineWidth: { type: Number, value: 3 },
    color: { type: String, value: '#111111' },
    disabled: { type: Boolean, value: false },
  },
  data: { empty: true },
  lifetimes: {
    ready() {
      this.prepare().catch(() => {});
    },
    detached() {
      this.canvas = null;
      this.ctx = null;
    },
  },
  methods: {
    // Finds the canvas node once and scales it for the screen's pixel ratio.
    prepare() {
      if (this.ctx) return Promise.resolve(this.ctx);
      if (this.preparing) return this.preparing;
      this.preparing = new Promise((resolve, reject) => {
        wx.createSelectorQuery()
          .in(this)
          .select('#signature-canvas')
          .fields({ node: true, size: true })
          .exec((res) => {
            const info = res && res[0];
            if (!info || !info.node) {
              this.preparing = null;
              reject(new Error('canvas not ready'));
              return;
            }
            const dpr = (wx.getWindowInfo ? wx.getWindowInfo() : wx.getSystemInfoSync()).pixelRatio || 1;
            const canvas = info.node;
            canvas.width = info.width * dpr;
            canvas.height = info.height * dpr;
            const ctx = canvas.getContext('2d');
            ctx.scale(dpr, dpr);
            ctx.fillStyle = '#ffffff';
            ctx.fillRect(0, 0, info.width, info.height);
            ctx.lineCap = 'round';
            ctx.lineJoin = 'round';
            ctx.lineWidth = this.data.lineWidth;
            ctx.strokeStyle = this.data.color;
            this.canvas = canvas;
            this.ctx = ctx;
            this.size = { width: info.width, height: info.height };
            resolve(ctx);
          });
      });
      return this.preparing;
    },
    point(e) {
      const t = (e.touches && e.touches[0]) || (e.changedTouches && e.changedTouches[0]) || {};
      return { x: t.x !== undefined ? t.x : t.clientX, y: t.y !== undefined ? t.y : t.clientY };
    },
    async onTouchStart(e) {
      if (this.data.disabled) return;
      const ctx = await this.prepare();
      const p = this.point(e);
      this.drawing = true;
      this.last = p;
      ctx.beginPath();
      ctx.moveTo(p.x, p.y);
      ctx.lineTo(p.x + 0.1, p.y + 0.1); // a dot for a single tap
      ctx.stroke();
    },
    onTouchMove(e) {
      if (!this.drawing || !this.ctx) return;
      const p = this.point(e);
      const ctx = this.ctx;
      ctx.beginPath();
      ctx.moveTo(this.last.x, this.last.y);
      ctx.lineTo(p.x, p.y);
      ctx.stroke();
      this.last = p;
      if (this.data.empty) {
        this.setData({ empty: false });
        this.triggerEvent('change', { empty: false });
      }
    },
    onTouchEnd() {
      this.drawing = false;
    },
    clear() {
      if (this.ctx && this.size) {
        this.ctx.fillStyle = '#ffffff';
        this.ctx.fillRect(0, 0, this.size.width, this.size.height);
      }
      if (!this.data.empty) {
        this.setData({ empty: true });
        this.triggerEvent('change', { empty: true });
      }
    },
    isEmpty() {
      return this.data.empty;
    },
    // → Promise<tempFilePath> of the drawn signature as PNG
    async exportImage() {
      if (this.data.empty) throw new Error('请先手写签名');
      await this.prepare();
      return new Promise((resolve, reject) => {
        wx.canvasToTempFilePath(
          {
            canvas: this.canvas,
            fileType: 'png',
            success: (res) => resolve(res.tempFilePath),
            fail: () => reject(new Error('签名图片生成失败，请重试')),
          },
          this
        );
      });
    },
  },
});
