// The conductor's dashboard: reads the API (/v1/...) and follows its live stream (/v1/events) to update in place.
// It never writes. A token, when the conductor asks for one to read, comes from the URL fragment (#token=...) or the
// form, and stays in this tab's sessionStorage. No library: plain DOM and SVG.
'use strict';

const $ = (selector, root = document) => root.querySelector(selector);
const el = (tag, attributes = {}, ...children) => {
  const node = document.createElementNS(tag.startsWith('svg:') ? 'http://www.w3.org/2000/svg' : 'http://www.w3.org/1999/xhtml', tag.replace('svg:', ''));
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? '')));
  return node;
};

const state = {
  token: null,
  running: 0,
  historyRunning: null,   // the running version the history list was loaded at (null: not loaded yet)
  historyLoading: false,
  routers: [],            // from /v1/routers
  paths: [],              // from /v1/paths
  latest: new Map(),      // node -> { t, counters }
  rates: new Map(),       // node -> { tenant: Map(name -> bits/s), service: Map(name -> bits/s) }
  series: { 'tenant-throughput': new Map(), 'service-throughput': new Map(), 'tenant-sessions': new Map(), 'service-sessions': new Map() },
  sessions: new Map(),    // id -> session view
  filters: {},
  dropReasons: new Map(), // reason -> count
};

const ChartWindowMs = 5 * 60 * 1000;
const Palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];

function takeToken() {
  const match = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem('fabric-token', decodeURIComponent(match[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  state.token = sessionStorage.getItem('fabric-token');
}

async function api(path) {
  const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
  const response = await fetch(path, { headers, cache: 'no-store' });
  if (response.status === 401) {
    $('#token-box').hidden = false;
    throw new Error('the conductor asks for a token');
  }
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

const number = n => (n ?? 0).toLocaleString('en-US');
const time = ms => new Date(ms).toISOString().substring(11, 19);
const duration = ms => ms < 1000 ? `${Math.max(0, ms)}ms` : ms < 120000 ? `${Math.round(ms / 1000)}s` : ms < 7200000 ? `${Math.round(ms / 60000)}m` : `${Math.round(ms / 3600000)}h`;
const pair = p => `${p.protocol} ${p.source}:${p.source_port} > ${p.destination}:${p.destination_port}`;
const si = v => v >= 1e9 ? `${(v / 1e9).toFixed(1)}G` : v >= 1e6 ? `${(v / 1e6).toFixed(1)}M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)}k` : `${Math.round(v)}`;

// ---- routers, drift, graph -------------------------------------------------------------------------------------------

function nodeHealth(node) {
  const sample = state.latest.get(node.node);
  const fresh = sample && Date.now() - sample.t < 20000;
  if (!node.reported || !fresh) return 'bad';
  return node.drift ? 'warn' : 'ok';
}

function renderRouters() {
  const body = $('#routers tbody');
  body.replaceChildren(...state.routers.flatMap(r => r.nodes).map(n => {
    const counters = state.latest.get(n.node)?.counters ?? {};
    const health = nodeHealth(n);
    return el('tr', { 'data-node': n.node, class: health === 'warn' ? 'drift' : health === 'bad' ? 'down' : '' },
      el('td', {}, n.node), el('td', {}, n.router), el('td', {}, n.role),
      el('td', { class: n.drift ? 'num drift' : 'num', 'data-applied': n.applied }, n.applied),
      el('td', {}, n.failed_version ? `failed ${n.failed_version}: ${n.failure}` : n.drift ? `drift (running ${state.running})` : n.reported ? 'ok' : 'not reported'),
      el('td', { class: 'num', 'data-counter': 'forwarded' }, number(counters.forwarded)),
      el('td', { class: 'num', 'data-counter': 'dropped' }, number(counters.dropped)),
      el('td', { class: 'num', 'data-counter': 'sessions' }, number(counters.sessions)));
  }));
  $('#running-version').textContent = state.running;
  const converged = state.routers.length > 0 && state.routers.every(r => r.nodes.every(n => !n.drift));
  const badge = $('#converged');
  badge.textContent = converged ? 'converged' : 'drift';
  badge.className = `badge ${converged ? 'ok' : 'warn'}`;
  renderGraph();
}

function renderPaths() {
  $('#paths tbody').replaceChildren(...state.paths.map(p => el('tr', { 'data-path': `${p.node}>${p.peer}/${p.neighborhood}/${p.family}`, class: p.up ? '' : 'down' },
    el('td', {}, p.node), el('td', {}, p.peer), el('td', {}, p.neighborhood), el('td', {}, p.family), el('td', {}, p.up ? 'up' : 'down'),
    el('td', { class: 'num' }, p.rtt_milliseconds ?? '-'), el('td', { class: 'num' }, p.jitter_milliseconds ?? '-'),
    el('td', { class: 'num' }, p.loss_percent ?? '-'), el('td', { class: 'num' }, p.sessions))));
  renderGraph();
}

function renderGraph() {
  const svg = $('#graph');
  const routers = state.routers.map(r => r.name);
  for (const p of state.paths) {
    if (!routers.includes(p.router)) routers.push(p.router);
    if (!routers.includes(p.peer)) routers.push(p.peer);
  }
  const [cx, cy, radius] = [450, 175, routers.length > 1 ? 130 : 0];
  const at = new Map(routers.map((name, i) => {
    const angle = -Math.PI / 2 + (2 * Math.PI * i) / routers.length;
    return [name, { x: cx + radius * 2 * Math.cos(angle), y: cy + radius * Math.sin(angle) }];
  }));
  const edges = new Map();
  for (const p of state.paths) {
    const key = [p.router, p.peer].sort().join('~') + '/' + p.neighborhood;
    const edge = edges.get(key) ?? { a: p.router, b: p.peer, neighborhood: p.neighborhood, up: true, rtt: null };
    edge.up = edge.up && p.up;
    if (p.rtt_milliseconds != null) edge.rtt = Math.max(edge.rtt ?? 0, p.rtt_milliseconds);
    edges.set(key, edge);
  }
  const lines = [...edges.entries()].map(([key, e]) => {
    const [a, b] = [at.get(e.a), at.get(e.b)];
    return el('svg:g', {},
      el('svg:line', { class: `path ${e.up ? 'ok' : 'bad'}`, 'data-path': key, x1: a.x, y1: a.y, x2: b.x, y2: b.y },
        el('svg:title', {}, `${e.a} – ${e.b} over ${e.neighborhood}: ${e.up ? 'up' : 'down'}`)),
      el('svg:text', { class: 'path-label', x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 - 6 }, `${e.neighborhood}${e.rtt != null ? ` ${e.rtt} ms` : ''}`));
  });
  const nodes = routers.map(name => {
    const router = state.routers.find(r => r.name === name);
    const healths = router ? router.nodes.map(nodeHealth) : ['bad'];
    const health = healths.includes('bad') ? 'bad' : healths.includes('warn') ? 'warn' : 'ok';
    const { x, y } = at.get(name);
    const version = router ? router.nodes.map(n => `${n.node} v${n.applied}`).join(', ') : 'not in the running document';
    return el('svg:g', { class: `router ${health}`, 'data-router': name },
      el('svg:circle', { cx: x, cy: y, r: 26 }, el('svg:title', {}, `${name}: ${version}`)),
      el('svg:text', { x, y: y + 44 }, name),
      el('svg:text', { x, y: y + 58, class: 'version' }, router ? router.nodes.map(n => `v${n.applied}`).join('/') : ''));
  });
  svg.replaceChildren(...lines, ...nodes);
}

async function loadRouters() {
  const view = await api('/v1/routers');
  state.running = view.running;
  state.routers = view.routers;
  renderRouters();
  followHistory();
}

// The history list is reloaded whenever the running version is not the one it was loaded at, whoever learned of the
// change first: the live stream's rollout event (which a slow page may lose, the stream dropping its oldest events) or
// the routers poll.
function followHistory() {
  if (state.historyRunning === null || state.historyRunning === state.running || state.historyLoading) return;
  state.historyLoading = true;
  loadHistory().catch(report).finally(() => { state.historyLoading = false; });
}

async function loadPaths() {
  state.paths = (await api('/v1/paths')).paths;
  renderPaths();
}

// ---- telemetry: counters and charts ----------------------------------------------------------------------------------

function takeSample(node, t, counters) {
  const previous = state.latest.get(node);
  state.latest.set(node, { t, counters });
  if (!previous || t <= previous.t) return;
  const seconds = (t - previous.t) / 1000;
  const rates = { tenant: new Map(), service: new Map() };
  for (const [name, value] of Object.entries(counters)) {
    const match = /^(tenant|service)\.(.+)\.bytes$/.exec(name);
    if (match && match[2] !== '(none)') rates[match[1]].set(match[2], Math.max(0, (value - (previous.counters[name] ?? 0)) * 8 / seconds));
  }
  state.rates.set(node, rates);
  const point = (series, name, value) => {
    const line = state.series[series].get(name) ?? [];
    line.push({ t, v: value });
    while (line.length && line[0].t < t - ChartWindowMs) line.shift();
    state.series[series].set(name, line);
  };
  for (const kind of ['tenant', 'service']) {
    const throughput = new Map(), sessions = new Map();
    for (const rates of state.rates.values()) for (const [name, v] of rates[kind]) throughput.set(name, (throughput.get(name) ?? 0) + v);
    for (const { counters: c } of state.latest.values()) {
      for (const [name, value] of Object.entries(c)) {
        const match = new RegExp(`^${kind}\\.(.+)\\.sessions\\.active$`).exec(name);
        if (match && match[1] !== '(none)') sessions.set(match[1], (sessions.get(match[1]) ?? 0) + value);
      }
    }
    for (const [name, v] of throughput) point(`${kind}-throughput`, name, v);
    for (const [name, v] of sessions) point(`${kind}-sessions`, name, v);
  }
}

function renderCharts() {
  for (const [series, lines] of Object.entries(state.series)) drawChart($(`#chart-${series}`), lines);
}

function drawChart(svg, lines) {
  const [w, h, left, bottom] = [420, 180, 44, 18];
  const now = Date.now();
  const max = Math.max(1, ...[...lines.values()].flat().map(p => p.v));
  const x = t => left + (w - left - 90) * (1 - (now - t) / ChartWindowMs);
  const y = v => (h - bottom) - (h - bottom - 8) * (v / max);
  const children = [
    el('svg:line', { class: 'axis', x1: left, y1: h - bottom, x2: w - 90, y2: h - bottom }),
    el('svg:line', { class: 'axis', x1: left, y1: 8, x2: left, y2: h - bottom }),
    el('svg:text', { x: 2, y: 14 }, si(max)), el('svg:text', { x: 2, y: h - bottom }, '0'),
    el('svg:text', { x: left, y: h - 4 }, '-5 min'), el('svg:text', { x: w - 110, y: h - 4 }, 'now'),
  ];
  [...lines.keys()].sort().forEach((name, i) => {
    const points = lines.get(name).filter(p => p.t >= now - ChartWindowMs);
    const color = Palette[i % Palette.length];
    const last = points.at(-1);
    children.push(el('svg:polyline', {
      'data-series': name, 'data-last': last?.t, 'data-value': last?.v, stroke: color,
      points: points.map(p => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' '),
    }));
    children.push(el('svg:text', { x: w - 86, y: 14 + i * 13, fill: color, 'data-series-label': name }, `${name} ${last ? si(last.v) : '-'}`));
  });
  svg.replaceChildren(...children);
}

async function loadTelemetry() {
  const view = await api(`/v1/telemetry?since=${Date.now() - ChartWindowMs}`);
  for (const node of view.nodes) for (const sample of node.samples) takeSample(node.node, sample.unix_milliseconds, sample.counters);
  renderRouters();
  renderCharts();
}

// ---- sessions --------------------------------------------------------------------------------------------------------

function matches(s) {
  const f = state.filters;
  const addresses = [s.forward.source, s.forward.destination, s.reverse.source, s.reverse.destination];
  return (!f.router || s.router === f.router) && (!f.tenant || s.tenant === f.tenant) && (!f.service || s.service === f.service)
    && (!f.address || addresses.includes(f.address));
}

function sessionRow(s) {
  return el('tr', { 'data-session-id': s.id, 'data-tenant': s.tenant, 'data-service': s.service },
    el('td', {}, s.node), el('td', {}, s.protocol), el('td', {}, s.tenant ?? '-'), el('td', {}, s.service ?? '-'), el('td', {}, s.role),
    el('td', {}, pair(s.forward)), el('td', {}, pair(s.reverse)),
    el('td', {}, [s.instance, s.peer_router ? `via ${s.peer_router} ${s.local_waypoint ?? ''} > ${s.peer_waypoint ?? ''}` : null].filter(Boolean).join(' ')),
    el('td', { class: 'num', 'data-opened': s.opened_unix_milliseconds }, duration(Date.now() - s.opened_unix_milliseconds)),
    el('td', { class: 'num' }, number(s.forward_bytes)), el('td', { class: 'num' }, number(s.reverse_bytes)));
}

function renderSessions() {
  const rows = [...state.sessions.values()].filter(matches).sort((a, b) => b.opened_unix_milliseconds - a.opened_unix_milliseconds).slice(0, 500);
  $('#sessions tbody').replaceChildren(...rows.map(sessionRow));
  $('#sessions-count').textContent = `${rows.length} shown`;
}

async function loadSessions() {
  const query = new URLSearchParams({ limit: '256' });
  for (const [name, value] of Object.entries(state.filters)) if (value) query.set(name, value);
  const view = await api(`/v1/sessions?${query}`);
  state.sessions = new Map(view.sessions.map(s => [s.id, s]));
  renderSessions();
}

// ---- drops -----------------------------------------------------------------------------------------------------------

function dropRow(d) {
  return el('tr', { 'data-reason': d.reason, 'data-rule': d.rule ?? '' },
    el('td', {}, time(d.unix_milliseconds)), el('td', {}, d.node), el('td', {}, d.reason), el('td', {}, d.tenant ?? '-'), el('td', {}, d.service ?? '-'),
    el('td', {}, pair(d.packet)), el('td', { title: d.why ?? '' }, d.rule ? `${d.rule}: ${d.why}` : '-'));
}

function renderReasons() {
  const rows = [...state.dropReasons.entries()].sort((a, b) => b[1] - a[1]);
  $('#drop-reasons tbody').replaceChildren(...rows.map(([reason, count]) => el('tr', { 'data-reason': reason }, el('td', {}, reason), el('td', { class: 'num' }, number(count)))));
}

async function loadDrops() {
  const view = await api('/v1/drops?limit=50');
  state.dropReasons = new Map(view.reasons.map(r => [r.reason, r.count]));
  renderReasons();
  $('#drops tbody').replaceChildren(...view.recent.map(dropRow));
}

// ---- history ---------------------------------------------------------------------------------------------------------

async function loadHistory() {
  const view = await api('/v1/config/versions');
  state.historyRunning = view.versions.find(v => v.running)?.version ?? 0;
  $('#fabric-name').textContent = '';
  $('#history').replaceChildren(...view.versions.slice().reverse().map(v => el('li', { 'data-version': v.version, class: v.running ? 'running' : '' },
    el('div', { class: 'meta' }, `version ${v.version} · ${new Date(v.time).toISOString().replace('T', ' ').substring(0, 19)}Z · ${v.author}${v.restored_from ? ` · restores ${v.restored_from}` : ''}`),
    el('div', { class: 'message' }, v.message),
    el('div', { class: 'diff' }, ...v.changes.map(c => el('div', { class: c.kind },
      c.kind === 'added' ? `+ ${c.path} = ${c.new}` : c.kind === 'removed' ? `- ${c.path} (was ${c.old})` : `~ ${c.path}: ${c.old} -> ${c.new}`))))));
}

// ---- live stream -----------------------------------------------------------------------------------------------------

function tail(kind, text) {
  const list = $('#tail');
  list.prepend(el('li', { class: kind }, `${time(Date.now())} ${text}`));
  while (list.children.length > 100) list.lastChild.remove();
}

function onEvent(kind, data) {
  switch (kind) {
    case 'telemetry':
      takeSample(data.node, data.unix_milliseconds, data.counters);
      renderRouters();
      renderCharts();
      break;
    case 'rollout': {
      state.running = data.running;
      for (const router of state.routers) {
        for (const node of router.nodes) {
          const n = data.nodes.find(x => x.node === node.node);
          if (n) Object.assign(node, { applied: n.applied, drift: n.drift, reported: n.reported, failed_version: n.failed_version, failure: n.failure });
        }
      }
      renderRouters();
      followHistory();
      break;
    }
    case 'session':
      if (!data.session) break;
      if (data.kind === 'opened') state.sessions.set(data.session.id, data.session);
      else state.sessions.delete(data.session.id);
      renderSessions();
      tail(data.kind, `${data.kind} ${data.session.node} ${data.session.tenant ?? '-'} > ${data.session.service ?? '-'} ${pair(data.session.forward)}`);
      break;
    case 'drop':
      if (!data.packet) break;
      state.dropReasons.set(data.reason, (state.dropReasons.get(data.reason) ?? 0) + 1);
      renderReasons();
      $('#drops tbody').prepend(dropRow(data));
      while ($('#drops tbody').children.length > 50) $('#drops tbody').lastChild.remove();
      tail('drop', `dropped ${data.node} ${data.reason} ${data.tenant ?? '-'} > ${data.service ?? '-'} ${pair(data.packet)}${data.rule ? ` (${data.rule})` : ''}`);
      break;
  }
}

// Server-Sent Events over fetch, so the token travels in a header as on every other request.
async function follow() {
  const live = $('#live');
  for (;;) {
    try {
      const headers = state.token ? { Authorization: `Bearer ${state.token}`, Accept: 'text/event-stream' } : { Accept: 'text/event-stream' };
      const response = await fetch('/v1/events', { headers, cache: 'no-store' });
      if (!response.ok) throw new Error(`events: ${response.status}`);
      live.textContent = 'live';
      live.className = 'badge ok';
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.substring(0, end);
          buffer = buffer.substring(end + 2);
          let kind = 'message', data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) kind = line.substring(7);
            else if (line.startsWith('data: ')) data += line.substring(6);
          }
          if (data) {
            try { onEvent(kind, JSON.parse(data)); } catch (e) { report(e); }
          }
        }
      }
    } catch (e) {
      report(e);
    }
    live.textContent = 'offline';
    live.className = 'badge down';
    await new Promise(resolve => setTimeout(resolve, 2000));
  }
}

function report(error) {
  console.warn('fabric dashboard:', error?.message ?? error);
}

async function refreshAll() {
  await Promise.allSettled([loadRouters(), loadPaths(), loadHistory(), loadSessions(), loadDrops(), loadTelemetry()]);
}

function start() {
  takeToken();
  $('#token-form').addEventListener('submit', e => {
    e.preventDefault();
    sessionStorage.setItem('fabric-token', $('#token-input').value.trim());
    state.token = sessionStorage.getItem('fabric-token');
    $('#token-box').hidden = true;
    refreshAll();
  });
  $('#session-filters').addEventListener('submit', e => {
    e.preventDefault();
    state.filters = Object.fromEntries(new FormData(e.target).entries());
    loadSessions().catch(report);
  });
  refreshAll().then(follow);
  // Reconciled now and then with what the routers hold (a closed session whose event was lost, a path's figures).
  setInterval(() => { loadPaths().catch(report); loadRouters().catch(report); }, 5000);
  setInterval(() => { loadSessions().catch(report); loadDrops().catch(report); }, 10000);
  setInterval(renderCharts, 5000);
}

start();
