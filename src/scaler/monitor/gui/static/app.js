// The page: one WebSocket (full picture on connect, then increments), a local copy of the model, and views
// redrawn at most once per animation frame. See scaler/monitor/gui/model.py for the message format.
"use strict";

const MAX_TASK_ROWS_SHOWN = 500;
const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 10000;

const state = {
  status: null,
  receivedAt: 0, // browser time (s) of the last status: the charts' "now" advances from it smoothly
  tables: { workers: new Map(), managers: new Map(), clients: new Map(), functions: new Map() },
  tasks: new Map(), // insertion order = order of last change
  bars: new Map(),
  memory: [],
  workerSort: { key: "id", descending: false },
  tab: "overview",
};

// --- connection ------------------------------------------------------------------------------------------------

let reconnectDelay = RECONNECT_FIRST_MS;

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws`);
  setConnection("connecting", "connecting");
  socket.onopen = () => {
    reconnectDelay = RECONNECT_FIRST_MS;
    setConnection("live", "live");
  };
  socket.onmessage = (event) => {
    apply(JSON.parse(event.data));
    scheduleRender();
  };
  socket.onclose = () => {
    const seconds = (reconnectDelay / 1000).toFixed(1);
    setConnection("down", `disconnected: retrying in ${seconds}s`);
    setTimeout(connect, reconnectDelay);
    reconnectDelay = Math.min(RECONNECT_MAX_MS, reconnectDelay * 2);
  };
  // onerror is always followed by onclose, which retries.
}

function setConnection(kind, text) {
  const badge = document.getElementById("connection");
  badge.className = `badge ${kind}`;
  badge.textContent = text;
}

function apply(message) {
  if (message.type === "idle") {
    setConnection("stale", `no status from the scheduler for ${fmt.duration(message.seconds)}`);
    return;
  }
  if (message.type === "full") {
    for (const table of Object.values(state.tables)) table.clear();
    state.tasks.clear();
    state.bars.clear();
    state.memory = [];
  }
  setConnection("live", "live");
  if (message.status && message.status.address) {
    state.status = message.status;
    state.receivedAt = Date.now() / 1000;
  }
  for (const [name, table] of Object.entries(state.tables)) {
    const change = message[name];
    if (!change) continue;
    for (const row of change.set) table.set(row.id, row);
    for (const id of change.del) table.delete(id);
  }
  for (const row of message.tasks || []) {
    state.tasks.delete(row.id); // re-inserted at the end: newest change last
    state.tasks.set(row.id, row);
  }
  while (state.tasks.size > 2000) state.tasks.delete(state.tasks.keys().next().value);
  for (const bar of message.bars || []) state.bars.set(bar.id, bar);
  const horizon = (state.status ? state.status.time : 0) - 1800;
  for (const [id, bar] of state.bars) {
    if (bar.end === null || bar.end >= horizon) break; // oldest first: stop at the first one still in the window
    state.bars.delete(id);
  }
  state.memory.push(...(message.memory || []));
  if (state.memory.length > 600) state.memory.splice(0, state.memory.length - 600);
}

// --- rendering -------------------------------------------------------------------------------------------------

let renderPending = false;

function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    render();
  });
}

function render() {
  const status = state.status;
  if (status) {
    document.getElementById("scheduler-address").textContent = `${status.address} (pid ${status.pid})`;
    document.title = `Scaler – ${status.address}`;
  }
  if (state.tab === "overview") renderOverview();
  else if (state.tab === "workers") renderProcessors();
  else if (state.tab === "tasks") renderTaskLog();
  else if (state.tab === "timeline") charts.timeline(document.getElementById("timeline"), state, chartNow());
  else if (state.tab === "memory") charts.memory(document.getElementById("memory-chart"), state, chartNow());
}

function chartNow() {
  if (!state.status) return Date.now() / 1000;
  return state.status.time + Math.min(5, Date.now() / 1000 - state.receivedAt);
}

function figures(pairs) {
  return pairs.map(([label, value]) => `<dt>${fmt.esc(label)}</dt><dd>${fmt.esc(value)}</dd>`).join("");
}

function renderOverview() {
  const status = state.status;
  if (!status) return;
  document.getElementById("scheduler-figures").innerHTML = figures([
    ["cpu", fmt.percent(status.cpu)],
    ["rss", fmt.size(status.rss)],
    ["host memory free", fmt.size(status.free_memory)],
    ["uptime", fmt.duration(status.uptime_s)],
    ["workers", fmt.count(state.tables.workers.size)],
    ["clients", fmt.count(state.tables.clients.size)],
  ]);
  const live = Object.entries(status.tasks_by_state).sort();
  const finished = Object.entries(status.finished).sort((a, b) => b[1] - a[1]);
  document.getElementById("task-figures").innerHTML =
    figures(live.length ? live.map(([k, v]) => [k, fmt.count(v)]) : [["live", "none"]]) +
    figures(finished.map(([k, v]) => [`finished: ${k}`, fmt.count(v)]));
  const types = new Set([...Object.keys(status.messages_received), ...Object.keys(status.messages_sent)]);
  const count = (type) => (status.messages_received[type] || 0) + (status.messages_sent[type] || 0);
  document.getElementById("messages-body").innerHTML = [...types]
    .sort((a, b) => count(b) - count(a))
    .map((t) => `<tr><td>${fmt.esc(t)}</td><td class="num">${fmt.count(status.messages_received[t] || 0)}</td>` +
      `<td class="num">${fmt.count(status.messages_sent[t] || 0)}</td></tr>`)
    .join("");
  renderWorkers();
  renderRows("managers-table", [...state.tables.managers.values()], (m) => [
    m.id, fmt.count(m.connected), m.desired === null ? "–" : fmt.count(m.desired), fmt.count(m.reported),
    m.max_task_concurrency < 0 ? "unlimited" : fmt.count(m.max_task_concurrency), fmt.capabilities(m.capabilities),
    fmt.age(m.age_s),
  ], () => "", "no worker manager connected (workers started by a cluster combo or by hand have none)");
  renderRows("functions-table", [...state.tables.functions.values()], (f) => [
    f.id, fmt.count(f.queued), fmt.count(f.running), fmt.count(f.succeeded), fmt.count(f.failed), fmt.count(f.canceled),
  ], () => "", "no task submitted yet");
  renderRows("clients-table", [...state.tables.clients.values()], (c) => [c.id, fmt.count(c.tasks), fmt.age(c.age_s)],
    () => "", "no client connected");
}

function renderRows(tableId, rows, cells, rowAttributes = () => "", empty = "none") {
  const table = document.getElementById(tableId);
  const numeric = [...table.tHead.rows[0].cells].map((th) => th.classList.contains("num"));
  if (!rows.length) {
    table.tBodies[0].innerHTML = `<tr class="empty"><td colspan="${numeric.length}">${fmt.esc(empty)}</td></tr>`;
    return;
  }
  table.tBodies[0].innerHTML = rows
    .map((row) => `<tr ${rowAttributes(row)}>` + cells(row)
      .map((cell, i) => `<td${numeric[i] ? ' class="num"' : ""}>${fmt.esc(cell)}</td>`).join("") + "</tr>")
    .join("");
}

function renderWorkers() {
  const { key, descending } = state.workerSort;
  const rows = [...state.tables.workers.values()].sort((a, b) => {
    const x = key === "capabilities" ? fmt.capabilities(a[key]) : a[key];
    const y = key === "capabilities" ? fmt.capabilities(b[key]) : b[key];
    const order = x < y ? -1 : x > y ? 1 : a.id < b.id ? -1 : 1;
    return descending ? -order : order;
  });
  document.getElementById("workers-count").textContent = `(${rows.length})`;
  for (const th of document.querySelectorAll("#workers-table th")) {
    th.classList.toggle("sorted", th.dataset.key === key);
    th.classList.toggle("descending", th.dataset.key === key && descending);
  }
  renderRows("workers-table", rows, (w) => [
    fmt.worker(w.id), w.manager, w.host, fmt.percent(w.agent_cpu), fmt.size(w.agent_rss), fmt.percent(w.cpu),
    fmt.size(w.rss), fmt.size(w.free_memory), fmt.count(w.free), fmt.count(w.sent), fmt.count(w.queued),
    fmt.count(w.suspended), fmt.duration(w.latency_ms / 1000), fmt.age(w.age_s), fmt.capabilities(w.capabilities),
  ], (w) => `data-id="${fmt.esc(w.id)}"`, "no worker connected");
}

function renderProcessors() {
  const groups = new Map();
  for (const worker of state.tables.workers.values()) {
    if (!groups.has(worker.manager)) groups.set(worker.manager, []);
    groups.get(worker.manager).push(worker);
  }
  const html = [];
  for (const manager of [...groups.keys()].sort()) {
    const workers = groups.get(manager).sort((a, b) => (a.id < b.id ? -1 : 1));
    const info = state.tables.managers.get(manager);
    const desired = info && info.desired !== null ? `, desired ${fmt.count(info.desired)}` : "";
    const processors = workers.reduce((n, w) => n + w.processors.length, 0);
    html.push(`<div class="group" data-manager="${fmt.esc(manager)}"><h2>${fmt.esc(manager)} <span class="muted">` +
      `${workers.length} worker(s), ${processors} processor(s)${desired}</span></h2><div class="workers">`);
    for (const w of workers) {
      html.push(`<div class="worker card" data-id="${fmt.esc(w.id)}"><h3>${fmt.esc(fmt.worker(w.id))}</h3>` +
        `<div class="muted">${fmt.esc(w.host)} · agent ${fmt.percent(w.agent_cpu)} ${fmt.size(w.agent_rss)} · ` +
        `${fmt.count(w.sent)} sent, ${fmt.count(w.queued)} queued</div><ul class="processors">`);
      for (const p of w.processors) {
        const what = p.suspended ? "suspended" : p.busy ? "busy" : "idle";
        html.push(`<li class="processor ${what}"><span class="dot"></span>pid ${p.pid} <b>${what}</b> ` +
          `${fmt.percent(p.cpu)} ${fmt.size(p.rss)}</li>`);
      }
      html.push("</ul></div>");
    }
    html.push("</div></div>");
  }
  document.getElementById("processor-groups").innerHTML = html.join("") || '<p class="muted">no workers</p>';
}

function renderTaskLog() {
  const filter = document.getElementById("task-filter").value.trim().toLowerCase();
  const rows = [];
  const all = [...state.tasks.values()];
  for (let i = all.length - 1; i >= 0 && rows.length < MAX_TASK_ROWS_SHOWN; i -= 1) {
    const t = all[i];
    if (filter && ![t.id, t.function, t.worker, t.state].some((v) => v.toLowerCase().includes(filter))) continue;
    rows.push(t);
  }
  document.getElementById("task-count").textContent =
    `${rows.length} shown of the last ${fmt.count(all.length)} tasks`;
  renderRows("task-log", rows, (t) => [
    fmt.clock(t.time), t.id.slice(-12), t.function, t.state, fmt.worker(t.worker || "–"), fmt.duration(t.elapsed_s),
    fmt.duration(t.duration_s), fmt.size(t.peak_memory), fmt.capabilities(t.capabilities),
  ], (t) => `data-id="${fmt.esc(t.id)}" class="state-${fmt.esc(t.state)}"`, "no task seen yet");
}

// --- controls --------------------------------------------------------------------------------------------------

function showTab(name) {
  state.tab = name;
  for (const button of document.querySelectorAll("#tabs button")) {
    button.classList.toggle("active", button.dataset.tab === name);
  }
  for (const section of document.querySelectorAll("main > section")) {
    section.classList.toggle("active", section.id === `tab-${name}`);
  }
  location.hash = name;
  render();
}

function setUp() {
  for (const button of document.querySelectorAll("#tabs button")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }
  for (const th of document.querySelectorAll("#workers-table th")) {
    th.addEventListener("click", () => {
      const sort = state.workerSort;
      sort.descending = sort.key === th.dataset.key ? !sort.descending : th.classList.contains("num");
      sort.key = th.dataset.key;
      render();
    });
  }
  document.getElementById("task-filter").addEventListener("input", render);
  document.getElementById("timeline-window").addEventListener("change", render);
  window.addEventListener("resize", scheduleRender);
  // The charts move with time even between statuses.
  setInterval(() => { if (state.tab === "timeline" || state.tab === "memory") scheduleRender(); }, 250);
  const wanted = location.hash.slice(1);
  if (document.getElementById(`tab-${wanted}`)) showTab(wanted);
  connect();
}

document.addEventListener("DOMContentLoaded", setUp);
