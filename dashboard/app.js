// The dashboard page: one snapshot, then live events and step records (server-sent events).
// Every string from the job is put in the page with textContent, never as HTML.
/* global uPlot, EventSource, document, window */
'use strict';

const COLORS = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#db2777', '#0891b2', '#65a30d'];
const MARK = { failure: '#dc2626', restart: '#f59e0b', recovery: '#10b981', checkpoint: '#6366f1' };

const state = { snapshot: null, steps: [], events: [] };
const plots = {};

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function fmt(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  return typeof v === 'number' ? Number(v.toPrecision(digits || 4)).toString() : String(v);
}

function seriesByStep(field) {
  const ranks = [...new Set(state.steps.filter((r) => typeof r[field] === 'number').map((r) => r.rank))].sort((a, b) => a - b);
  const byStep = new Map();
  for (const r of state.steps) {
    if (typeof r[field] !== 'number') continue;
    if (!byStep.has(r.step)) byStep.set(r.step, new Map());
    byStep.get(r.step).set(r.rank, r[field]);
  }
  const xs = [...byStep.keys()].sort((a, b) => a - b);
  const data = [xs, ...ranks.map((rank) => xs.map((x) => (byStep.get(x).has(rank) ? byStep.get(x).get(rank) : null)))];
  return { ranks, data, points: xs.length };
}

function width(id) {
  return Math.max(300, document.getElementById(id).clientWidth - 8);
}

function drawStepPlot(id, field, label) {
  const { ranks, data, points } = seriesByStep(field);
  const host = document.getElementById(id);
  host.dataset.points = String(points);
  const key = ranks.join(',');
  if (plots[id] && plots[id].key === key) {
    plots[id].plot.setData(data);
    return;
  }
  if (plots[id]) plots[id].plot.destroy();
  const opts = {
    width: width(id),
    height: 220,
    scales: { x: { time: false } },
    axes: [{ label: 'step' }, { label }],
    series: [{ label: 'step' }, ...ranks.map((rank, i) => ({ label: `rank ${rank}`, stroke: COLORS[i % COLORS.length], spanGaps: true, points: { show: false } }))],
  };
  plots[id] = { key, plot: new uPlot(opts, data, host) };
}

function markerEvents() {
  return state.events.filter((e) => e.type === 'failure' || e.type === 'restart' || e.type === 'recovery' || e.type === 'checkpoint');
}

function drawWorldPlot() {
  const id = 'world-plot';
  const host = document.getElementById(id);
  const sizes = state.events.filter((e) => (e.type === 'rendezvous' && typeof e.worldSize === 'number') || e.type === 'world-size');
  const t0 = state.snapshot && state.snapshot.startedAt ? state.snapshot.startedAt : (state.events[0] ? state.events[0].time : Date.now());
  const end = state.snapshot && state.snapshot.endedAt ? state.snapshot.endedAt : Date.now();
  const xs = [];
  const ys = [];
  for (const e of sizes) {
    xs.push((e.time - t0) / 1000);
    ys.push(e.type === 'world-size' ? e.to : e.worldSize);
  }
  if (xs.length > 0) {
    xs.push(Math.max(xs[xs.length - 1], (end - t0) / 1000));
    ys.push(ys[ys.length - 1]);
  }
  const marks = markerEvents().map((e) => ({ x: (e.time - t0) / 1000, type: e.type }));
  host.dataset.markers = String(marks.length);
  host.dataset.failures = String(marks.filter((m) => m.type === 'failure').length);
  const data = [xs, ys];
  const drawMarks = (u) => {
    const ctx = u.ctx;
    ctx.save();
    for (const m of marks) {
      const x = u.valToPos(m.x, 'x', true);
      ctx.strokeStyle = MARK[m.type];
      ctx.lineWidth = m.type === 'checkpoint' ? 1 : 2;
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
    }
    ctx.restore();
  };
  if (plots[id]) plots[id].plot.destroy();
  const opts = {
    width: width(id),
    height: 200,
    scales: { x: { time: false }, y: { range: (u, min, max) => [0, Math.max(1, max) + 1] } },
    axes: [{ label: 'seconds since start' }, { label: 'workers' }],
    series: [{ label: 's' }, { label: 'world size', stroke: '#111827', width: 2, paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } }],
    hooks: { draw: [drawMarks] },
  };
  plots[id] = { plot: new uPlot(opts, data, host) };
}

function renderSummary() {
  const s = state.snapshot;
  if (!s) return;
  document.getElementById('job').textContent = s.job + (s.node ? ` · node ${s.node}` : '');
  const box = document.getElementById('summary');
  box.replaceChildren();
  const add = (label, value) => box.append(el('span', `${label}: ${value}`));
  add('world size', fmt(s.worldSize));
  add('restarts', `${s.restartCount} of ${s.maxRestarts === null ? '?' : s.maxRestarts}`);
  add('failures', s.failuresTotal);
  if (s.lastRecovery) add('last recovery', `${fmt(s.lastRecovery.seconds, 3)} s from ${s.lastRecovery.tier} at step ${s.lastRecovery.step}`);
  if (s.outcome) add('outcome', s.outcome);
}

function renderWorkers() {
  const body = document.querySelector('#workers tbody');
  body.replaceChildren();
  for (const w of state.snapshot ? state.snapshot.workers : []) {
    const tr = el('tr');
    tr.dataset.rank = String(w.rank);
    tr.dataset.failures = String(w.failures);
    tr.append(el('td', w.rank), el('td', w.state, `state-${w.state}`), el('td', fmt(w.step)), el('td', fmt(w.loss)), el('td', w.failures));
    body.append(tr);
  }
}

function renderCheckpoints() {
  const body = document.querySelector('#checkpoints tbody');
  body.replaceChildren();
  const s = state.snapshot;
  if (!s) return;
  for (const tier of Object.keys(s.checkpointsPerTier).sort()) {
    const last = s.lastCheckpoint[tier];
    const tr = el('tr');
    tr.append(el('td', tier), el('td', s.checkpointsPerTier[tier]), el('td', fmt(last && last.step)), el('td', last ? `${fmt(last.seconds, 3)} s, ${fmt(last.bytes / 1048576, 3)} MiB` : '–'));
    body.append(tr);
  }
}

function describe(e) {
  switch (e.type) {
    case 'failure': return `rank ${e.rank} failed (${e.signal ? e.signal : `exit ${e.exitCode}`}): ${e.reason}`;
    case 'restart': return `restart ${e.restartCount} of ${e.maxRestarts}`;
    case 'recovery': return `recovered in ${fmt(e.seconds, 3)} s from ${e.tier}, step ${e.step}`;
    case 'rendezvous': return `rendezvous round ${e.round}: world size ${e.worldSize}`;
    case 'world-size': return `world size ${e.from} -> ${e.to}`;
    case 'checkpoint': return `checkpoint step ${e.step} on ${e.tier} (rank ${e.rank})`;
    case 'workers-started': return `workers started: ranks ${e.ranks.join(', ')}`;
    case 'worker-state': return `rank ${e.rank}: ${e.state}`;
    case 'job-start': return `job started (max restarts ${e.maxRestarts})`;
    case 'job-end': return `job ${e.outcome} (exit ${e.exitCode})`;
    default: return e.type;
  }
}

function renderEvents() {
  const list = document.getElementById('events');
  list.replaceChildren();
  for (const e of state.events.filter((x) => x.type !== 'worker-state').slice(-60).reverse()) {
    const li = el('li', `${new Date(e.time).toISOString().slice(11, 23)}  ${describe(e)}`, e.type);
    list.append(li);
  }
}

let pending = false;
function render() {
  if (pending) return;
  pending = true;
  window.requestAnimationFrame(() => {
    pending = false;
    renderSummary();
    renderWorkers();
    renderCheckpoints();
    renderEvents();
    drawStepPlot('loss-plot', 'loss', 'loss');
    drawStepPlot('throughput-plot', 'samplesPerSec', 'samples/s');
    drawWorldPlot();
  });
}

function applyEvent(e) {
  state.events.push(e);
  if (state.events.length > 5000) state.events.splice(0, state.events.length - 5000);
}

function connect() {
  const status = document.getElementById('connection');
  const source = new EventSource('/api/stream');
  source.addEventListener('snapshot', (m) => {
    state.snapshot = JSON.parse(m.data);
    state.steps = state.snapshot.steps;
    state.events = state.snapshot.events;
    status.textContent = 'live';
    render();
  });
  source.addEventListener('event', (m) => {
    applyEvent(JSON.parse(m.data));
    // Derived figures (restarts, tiers, workers) come from the server's bookkeeping, fetched at most once a second.
    refreshSnapshotSoon();
    render();
  });
  source.addEventListener('step', (m) => {
    state.steps.push(JSON.parse(m.data));
    render();
  });
  source.onerror = () => { status.textContent = 'disconnected: retrying'; };
}

let refreshTimer = null;
function refreshSnapshotSoon() {
  if (refreshTimer !== null) return;
  refreshTimer = window.setTimeout(async () => {
    refreshTimer = null;
    try {
      const r = await window.fetch('/api/snapshot');
      const s = await r.json();
      state.snapshot = s;
      render();
    } catch { /* the stream's own retry covers a lost server */ }
  }, 300);
}

connect();
