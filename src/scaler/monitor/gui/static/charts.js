// Two hand-drawn canvas charts: the per-worker task stream and the rolling memory chart. No chart library:
// the page must work with no internet, and these two need little more than lines and rectangles.
"use strict";

const COLORS = {
  text: "#c9d1d9", muted: "#8b949e", grid: "#30363d", background: "#0d1117",
  assigned: "#58a6ff", success: "#3fb950", failed: "#f85149", canceled: "#8b949e", moved: "#d29922",
  unknown: "#6e7681", scheduler: "#d2a8ff", workers: "#58a6ff", free: "#3fb950",
};
const SERIES_COLORS = ["#ffa657", "#79c0ff", "#7ee787", "#ff7b72", "#d2a8ff", "#f2cc60", "#a5d6ff", "#ffc6a5"];

function stateColor(state) {
  return COLORS[state] || COLORS.failed; // every other outcome (timeout, worker_died, ...) is a failure
}

// A canvas sized to its box in device pixels, with a context that draws in CSS pixels.
function prepare(canvas, height) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  canvas.style.height = `${height}px`;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.fillStyle = COLORS.background;
  ctx.fillRect(0, 0, width, height);
  ctx.font = "12px ui-monospace, SFMono-Regular, Menlo, monospace";
  ctx.textBaseline = "middle";
  return { ctx, width, height };
}

function timeAxis(ctx, left, right, bottom, start, end) {
  const span = end - start;
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  const step = steps.find((s) => (right - left) / (span / s) >= 80) || 3600;
  ctx.fillStyle = COLORS.muted;
  ctx.strokeStyle = COLORS.grid;
  ctx.textAlign = "center";
  for (let t = Math.ceil(start / step) * step; t <= end; t += step) {
    const x = left + ((t - start) / span) * (right - left);
    ctx.beginPath();
    ctx.moveTo(x, 0);
    ctx.lineTo(x, bottom);
    ctx.stroke();
    ctx.fillText(fmt.clockShort(t), x, bottom + 10);
  }
}

const charts = {
  timeline(canvas, state, now) {
    const windowSeconds = Number(document.getElementById("timeline-window").value);
    const workers = [...state.tables.workers.keys()].sort();
    const rowHeight = Math.max(14, Math.min(28, 420 / Math.max(1, workers.length)));
    const labelWidth = 200;
    const axisHeight = 22;
    const { ctx, width, height } = prepare(canvas, Math.max(120, workers.length * rowHeight + axisHeight + 8));
    const left = labelWidth;
    const right = width - 10;
    const bottom = height - axisHeight;
    const start = now - windowSeconds;
    timeAxis(ctx, left, right, bottom, start, now);
    const rows = new Map(workers.map((id, i) => [id, i]));
    ctx.textAlign = "left";
    workers.forEach((id, i) => {
      ctx.fillStyle = COLORS.text;
      ctx.fillText(fmt.worker(id).slice(-26), 6, i * rowHeight + rowHeight / 2 + 2);
    });
    const scale = (right - left) / windowSeconds;
    const draw = (row, from, to, state, open) => {
      const x0 = left + Math.max(0, from - start) * scale;
      const x1 = Math.max(x0 + 1.5, left + (to - start) * scale); // a 1 ms task still shows
      const y = row * rowHeight + 3;
      ctx.fillStyle = stateColor(state);
      ctx.globalAlpha = open ? 0.35 : 1;
      ctx.fillRect(x0, y, x1 - x0, rowHeight - 6);
      ctx.globalAlpha = 1;
      if (open) {
        ctx.strokeStyle = COLORS.assigned;
        ctx.strokeRect(x0 + 0.5, y + 0.5, x1 - x0 - 1, rowHeight - 7);
      }
    };
    // Finished bars as they are; of the open ones only the oldest on each worker, which is the one running
    // (the others wait in the worker's queue), drawn from when the worker's previous task ended.
    const lastEnd = new Map();
    const running = new Map();
    for (const bar of state.bars.values()) {
      const row = rows.get(bar.worker);
      if (row === undefined) continue;
      if (bar.end === null) {
        const oldest = running.get(bar.worker);
        if (!oldest || bar.sent < oldest.sent) running.set(bar.worker, bar);
        continue;
      }
      lastEnd.set(bar.worker, Math.max(lastEnd.get(bar.worker) || 0, bar.end));
      if (bar.end >= start) draw(row, bar.start, bar.end, bar.state, false);
    }
    for (const [worker, bar] of running) {
      draw(rows.get(worker), Math.max(bar.start, lastEnd.get(worker) || 0), now, bar.state, true);
    }
    if (!workers.length) {
      ctx.fillStyle = COLORS.muted;
      ctx.fillText("no workers", left + 10, bottom / 2);
    }
  },

  memory(canvas, state, now) {
    const samples = state.memory;
    const { ctx, width, height } = prepare(canvas, 360);
    const left = 70;
    const right = width - 10;
    const bottom = height - 22;
    const top = 10;
    // The window grows with the history, up to the ten minutes kept: a young cluster is not a sliver at the edge.
    const span = samples.length ? Math.min(600, Math.max(60, now - samples[0].t)) : 60;
    const start = now - span;
    timeAxis(ctx, left, right, bottom, start, now);
    const series = [
      { name: "workers (agents + processors)", color: COLORS.workers, value: (s) => s.workers, width: 2 },
      { name: "scheduler", color: COLORS.scheduler, value: (s) => s.scheduler, width: 2 },
    ];
    const latest = samples.length ? samples[samples.length - 1] : null;
    Object.keys(latest ? latest.by_worker : {}).sort().forEach((id, i) => {
      series.push({ name: fmt.worker(id), color: SERIES_COLORS[i % SERIES_COLORS.length], width: 1,
        value: (s) => (id in s.by_worker ? s.by_worker[id] : null) });
    });
    let high = 1;
    for (const s of samples) for (const line of series) high = Math.max(high, line.value(s) || 0);
    high *= 1.1;
    const y = (v) => bottom - (v / high) * (bottom - top);
    ctx.textAlign = "right";
    for (let i = 0; i <= 4; i += 1) {
      const value = (high * i) / 4;
      ctx.strokeStyle = COLORS.grid;
      ctx.beginPath();
      ctx.moveTo(left, y(value));
      ctx.lineTo(right, y(value));
      ctx.stroke();
      ctx.fillStyle = COLORS.muted;
      ctx.fillText(fmt.size(value), left - 6, y(value));
    }
    const x = (t) => left + ((t - start) / (now - start)) * (right - left);
    for (const line of series) {
      ctx.strokeStyle = line.color;
      ctx.lineWidth = line.width;
      ctx.beginPath();
      let drawing = false;
      for (const s of samples) {
        const v = line.value(s);
        if (v === null || s.t < start) { drawing = false; continue; }
        if (drawing) ctx.lineTo(x(s.t), y(v));
        else ctx.moveTo(x(s.t), y(v));
        drawing = true;
      }
      ctx.stroke();
      ctx.lineWidth = 1;
    }
    // Built as elements: the page's Content-Security-Policy forbids inline style attributes.
    const legend = document.getElementById("memory-legend");
    legend.replaceChildren(...series.map((line) => {
      const value = latest ? line.value(latest) : null;
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = line.color;
      item.append(swatch, `${line.name} ${fmt.size(value === null ? -1 : value)}`);
      return item;
    }));
    if (latest) {
      const free = document.createElement("span");
      free.className = "muted";
      free.textContent = `host memory free: ${fmt.size(latest.free)}`;
      legend.append(free);
    }
  },
};
