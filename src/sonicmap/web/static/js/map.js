// The artist map on one <canvas>: every artist a dot coloured by cluster, zoom and pan (wheel,
// drag, pinch, keyboard), hover names, click to open, a path drawn over it. Drawing 10,000 dots
// is one path per cluster (a few milliseconds), redrawn at most once per animation frame.

const LIGHT = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#e07b00", "#17becf", "#8c564b", "#e377c2", "#7f7f00", "#5a5a5a", "#3b4cc0", "#b8860b"];
const DARK = ["#6cb6ff", "#ff7b72", "#56d364", "#d2a8ff", "#ffa657", "#39c5cf", "#e0a47a", "#ff9bce", "#d4d46a", "#b1bac4", "#8fa4ff", "#f2cc60"];

export function palette() {
  return matchMedia("(prefers-color-scheme: dark)").matches ? DARK : LIGHT;
}

export class ArtistMap {
  constructor(canvas, { onSelect, onHover } = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d", { alpha: false });
    this.onSelect = onSelect || (() => {});
    this.onHover = onHover || (() => {});
    this.n = 0;
    this.scale = 1;
    this.cx = 0;
    this.cy = 0;
    this.selected = -1;
    this.marked = new Set(); // indices drawn with a ring (similar artists)
    this.path = []; // indices of the path's artists, in order
    this.focusCluster = null; // legend filter: dim the other clusters
    this.pending = false;
    this.pointers = new Map();
    this._bind();
    // For automation (tests, bench): where an artist's dot is, in CSS pixels of the canvas.
    canvas.redraw = () => this._draw(); // one full frame, synchronously (bench/ui.py times it)
    canvas.pointOf = (artistId) => {
      const i = this.index ? this.index.get(artistId) : undefined;
      return i === undefined ? null : this.toScreen(i);
    };
    new ResizeObserver(() => this.resize()).observe(canvas);
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => this.draw());
  }

  // data: the /map answer (columnar). Returns after the first frame is drawn.
  setData(data) {
    const a = data.artists;
    this.n = a.id.length;
    this.ids = a.id;
    this.names = a.name;
    this.xs = Float32Array.from(a.x);
    this.ys = Float32Array.from(a.y);
    this.clusters = data.clusters;
    const slot = new Map(data.clusters.map((c, i) => [c.id, i]));
    this.slot = Uint16Array.from(a.cluster, (c) => slot.get(c) ?? 0);
    this.index = new Map(a.id.map((id, i) => [id, i]));
    this.selected = -1;
    this.marked = new Set();
    this.path = [];
    this.fit();
  }

  colour(slot) {
    const p = palette();
    return p[slot % p.length];
  }

  resize() {
    const r = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    this.w = Math.max(1, r.width);
    this.h = Math.max(1, r.height);
    this.canvas.width = Math.round(this.w * dpr);
    this.canvas.height = Math.round(this.h * dpr);
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    // Fit again when the last fit was made while the canvas was hidden (zero size).
    if (!this.fitted || this.fitSize < 10) this.fit();
    else this.draw(true);
  }

  fit() {
    if (!this.w) {
      const r = this.canvas.getBoundingClientRect();
      this.w = r.width || 1;
      this.h = r.height || 1;
    }
    this.scale = (Math.min(this.w, this.h) / 2) * 0.92;
    this.fitScale = this.scale;
    this.fitSize = Math.min(this.w, this.h);
    this.cx = 0;
    this.cy = 0;
    this.fitted = true;
    this.draw(true);
  }

  toScreen(i) {
    return [this.w / 2 + (this.xs[i] - this.cx) * this.scale, this.h / 2 - (this.ys[i] - this.cy) * this.scale];
  }

  toData(px, py) {
    return [(px - this.w / 2) / this.scale + this.cx, -(py - this.h / 2) / this.scale + this.cy];
  }

  zoom(factor, px = this.w / 2, py = this.h / 2) {
    const [dx, dy] = this.toData(px, py);
    this.scale = Math.min(Math.max(this.scale * factor, 20), 200000);
    // keep the data point under (px, py) in place
    this.cx = dx - (px - this.w / 2) / this.scale;
    this.cy = dy + (py - this.h / 2) / this.scale;
    this.draw();
  }

  pan(px, py) {
    this.cx -= px / this.scale;
    this.cy += py / this.scale;
    this.draw();
  }

  centreOn(i, minScale) {
    this.cx = this.xs[i];
    this.cy = this.ys[i];
    if (minScale && this.scale < minScale) this.scale = minScale;
    this.draw();
  }

  // The dot nearest to (px, py) within `radius` pixels, or -1.
  hit(px, py, radius = 10) {
    const [x, y] = this.toData(px, py);
    const r = radius / this.scale;
    let best = -1;
    let bestD = r * r;
    const xs = this.xs;
    const ys = this.ys;
    for (let i = 0; i < this.n; i++) {
      const dx = xs[i] - x;
      if (dx > r || dx < -r) continue;
      const dy = ys[i] - y;
      const d = dx * dx + dy * dy;
      if (d <= bestD) {
        bestD = d;
        best = i;
      }
    }
    return best;
  }

  draw(now = false) {
    if (now) return this._draw();
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this._draw();
    });
  }

  _draw() {
    const ctx = this.ctx;
    const css = getComputedStyle(this.canvas);
    ctx.fillStyle = css.getPropertyValue("--map-bg").trim() || "#fff";
    ctx.fillRect(0, 0, this.w, this.h);
    if (!this.n) return;
    // Dots grow with the zoom and are larger when there are few of them.
    const base = this.n < 300 ? 7 : this.n < 3000 ? 4 : 2.2;
    const size = Math.min(12, base * Math.max(1, Math.sqrt(this.scale / this.fitScale)));
    const half = size / 2;
    const k = this.clusters.length || 1;
    const w = this.w;
    const h = this.h;
    const xs = this.xs;
    const ys = this.ys;
    const sc = this.scale;
    const ox = w / 2 - this.cx * sc;
    const oy = h / 2 + this.cy * sc;
    const dimmed = this.focusCluster !== null || this.path.length > 0;
    for (let s = 0; s < k; s++) {
      ctx.beginPath();
      for (let i = 0; i < this.n; i++) {
        if (this.slot[i] !== s) continue;
        const px = ox + xs[i] * sc;
        const py = oy - ys[i] * sc;
        if (px < -size || py < -size || px > w + size || py > h + size) continue;
        ctx.rect(px - half, py - half, size, size);
      }
      ctx.globalAlpha = dimmed && this.focusCluster !== s ? 0.25 : 1;
      ctx.fillStyle = this.colour(s);
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    const fg = css.getPropertyValue("--fg").trim() || "#000";
    if (this.path.length) {
      ctx.strokeStyle = fg;
      ctx.lineWidth = 2;
      ctx.beginPath();
      this.path.forEach((i, j) => {
        const [px, py] = this.toScreen(i);
        if (j) ctx.lineTo(px, py);
        else ctx.moveTo(px, py);
      });
      ctx.stroke();
      ctx.font = "bold 11px system-ui, sans-serif";
      this.path.forEach((i, j) => {
        const [px, py] = this.toScreen(i);
        ctx.fillStyle = this.colour(this.slot[i]);
        ctx.beginPath();
        ctx.arc(px, py, 8, 0, 2 * Math.PI);
        ctx.fill();
        ctx.strokeStyle = fg;
        ctx.lineWidth = 1.5;
        ctx.stroke();
        ctx.fillStyle = fg;
        ctx.fillText(String(j + 1), px + 10, py - 8);
      });
    }
    ctx.lineWidth = 2;
    ctx.strokeStyle = fg;
    for (const i of this.marked) {
      const [px, py] = this.toScreen(i);
      ctx.beginPath();
      ctx.arc(px, py, 6, 0, 2 * Math.PI);
      ctx.stroke();
    }
    if (this.selected >= 0) {
      const [px, py] = this.toScreen(this.selected);
      ctx.lineWidth = 3;
      ctx.beginPath();
      ctx.arc(px, py, 10, 0, 2 * Math.PI);
      ctx.stroke();
      ctx.font = "600 13px system-ui, sans-serif";
      ctx.fillStyle = fg;
      ctx.fillText(this.names[this.selected], px + 13, py + 4);
    }
    this.canvas.dataset.points = String(this.n);
    this.canvas.dataset.path = String(this.path.length);
  }

  _bind() {
    const c = this.canvas;
    const local = (e) => {
      const r = c.getBoundingClientRect();
      return [e.clientX - r.left, e.clientY - r.top];
    };
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      const [px, py] = local(e);
      this.zoom(Math.exp(-e.deltaY * 0.0015), px, py);
    }, { passive: false });
    let moved = 0;
    c.addEventListener("pointerdown", (e) => {
      c.setPointerCapture(e.pointerId);
      this.pointers.set(e.pointerId, local(e));
      moved = 0;
      c.classList.add("dragging");
    });
    c.addEventListener("pointermove", (e) => {
      const p = local(e);
      if (!this.pointers.has(e.pointerId)) {
        const i = this.n ? this.hit(p[0], p[1]) : -1;
        this.onHover(i, p);
        return;
      }
      const prev = this.pointers.get(e.pointerId);
      if (this.pointers.size === 2) {
        const [other] = [...this.pointers].filter(([id]) => id !== e.pointerId).map(([, v]) => v);
        const before = Math.hypot(prev[0] - other[0], prev[1] - other[1]);
        const after = Math.hypot(p[0] - other[0], p[1] - other[1]);
        if (before > 0) this.zoom(after / before, (p[0] + other[0]) / 2, (p[1] + other[1]) / 2);
      } else {
        this.pan(p[0] - prev[0], p[1] - prev[1]);
      }
      moved += Math.abs(p[0] - prev[0]) + Math.abs(p[1] - prev[1]);
      this.pointers.set(e.pointerId, p);
    });
    const up = (e) => {
      const p = local(e);
      const wasTap = this.pointers.size === 1 && moved < 5;
      this.pointers.delete(e.pointerId);
      if (!this.pointers.size) c.classList.remove("dragging");
      if (wasTap && e.type === "pointerup") {
        const i = this.hit(p[0], p[1], e.pointerType === "touch" ? 18 : 10);
        if (i >= 0) this.onSelect(this.ids[i]);
      }
    };
    c.addEventListener("pointerup", up);
    c.addEventListener("pointercancel", up);
    c.addEventListener("pointerleave", () => this.onHover(-1));
    c.addEventListener("keydown", (e) => {
      const step = 60;
      const keys = {
        ArrowLeft: () => this.pan(step, 0),
        ArrowRight: () => this.pan(-step, 0),
        ArrowUp: () => this.pan(0, step),
        ArrowDown: () => this.pan(0, -step),
        "+": () => this.zoom(1.4),
        "=": () => this.zoom(1.4),
        "-": () => this.zoom(1 / 1.4),
        0: () => this.fit(),
        // open the artist nearest the middle of the view (pan it there with the arrows)
        Enter: () => {
          const i = this.hit(this.w / 2, this.h / 2, 60);
          if (i >= 0) this.onSelect(this.ids[i]);
        },
      };
      const f = keys[e.key];
      if (f) {
        e.preventDefault();
        f();
      }
    });
  }
}
