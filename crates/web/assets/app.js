// Slipway's web UI: a little script of its own, loaded from this origin
// (the Content-Security-Policy allows nothing else). Pages work without it;
// with it, the server learns the viewer's time zone, countdowns
// count, the live log of an operation streams in (server-sent events),
// a cluster's page follows the cluster's state, destroy buttons wait for
// the cluster's name, and copy buttons copy.
'use strict';

(() => {
  // Every time on a page is in one zone: the one the server rendered it
  // in (`<html data-tz>`), which is the browser's once this script has told
  // the server (the `slipway_tz` cookie), UTC until then. Times this script
  // adds (the live log, a moved schedule) are written in the same zone and
  // the same words as the server's.
  const zone = document.documentElement.dataset.tz || 'UTC';
  try {
    const mine = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (mine && !document.cookie.split('; ').includes(`slipway_tz=${mine}`)) {
      document.cookie = `slipway_tz=${mine}; path=/; max-age=31536000; samesite=lax${location.protocol === 'https:' ? '; secure' : ''}`;
    }
  } catch {
    // no Intl: the server's UTC it is
  }
  const part = (d, options) => {
    const parts = {};
    for (const p of new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', ...options }).formatToParts(d)) parts[p.type] = p.value;
    return parts;
  };
  const clock = (d) => {
    const p = part(d, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    return `${p.hour}:${p.minute}:${p.second}`;
  };
  const moment = (d) => {
    const p = part(d, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
    return `${p.month} ${p.day}, ${p.year}, ${p.hour}:${p.minute}`;
  };

  function localize(root) {
    for (const t of root.querySelectorAll('time[data-local]')) {
      const d = new Date(t.getAttribute('datetime'));
      if (Number.isNaN(d.getTime())) continue;
      t.textContent = t.dataset.format === 'clock' ? clock(d) : moment(d);
      t.removeAttribute('data-local');
    }
  }

  function span(seconds) {
    const s = Math.max(0, seconds);
    const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60, r = s % 60;
    const two = (n) => String(n).padStart(2, '0');
    if (d > 0) return `${d}d ${two(h)}h ${two(m)}m`;
    if (h > 0) return `${h}h ${two(m)}m ${two(r)}s`;
    if (m > 0) return `${m}m ${two(r)}s`;
    return `${r}s`;
  }

  function tick() {
    for (const el of document.querySelectorAll('[data-countdown]')) {
      const left = Math.round((Date.parse(el.dataset.countdown) - Date.now()) / 1000);
      el.textContent = left > 0 ? `in ${span(left)}` : 'due now';
    }
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v !== null && v !== undefined) node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  }

  const badge = (prefix, state, attr) => el('span', { class: `badge ${prefix}-${state}`, [attr]: state }, state);

  // ---- the destroy confirmation: the button waits for the cluster's name
  function confirmations() {
    for (const input of document.querySelectorAll('input[data-confirm-name]')) {
      const button = input.form && input.form.querySelector('[data-confirm-button]');
      if (!button) continue;
      const update = () => { button.disabled = input.value.trim() !== input.dataset.confirmName; };
      input.addEventListener('input', update);
      update();
    }
  }

  // ---- estimates: the cost of what a form asks for, as it is changed
  // (the same words as the server's `format::estimate`)
  const usd = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const cents = (v) => usd.format(Math.round(v * 100 + Number.EPSILON * 100) / 100);
  function seconds(text) {
    const units = { d: 86400, h: 3600, m: 60, s: 1 };
    let total = 0, rest = text.trim().toLowerCase();
    if (!rest) return null;
    const re = /^(\d+)\s*(days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)\s*/;
    while (rest) {
      const m = re.exec(rest);
      if (!m) return null;
      total += Number(m[1]) * units[m[2][0]];
      rest = rest.slice(m[0].length);
    }
    return total;
  }
  function spanWords(secs) {
    const parts = [[Math.floor(secs / 86400), 'd'], [Math.floor(secs / 3600) % 24, 'h'], [Math.floor(secs / 60) % 60, 'm'], [secs % 60, 's']]
      .filter(([n]) => n > 0).map(([n, u]) => `${n}${u}`);
    return parts.length ? parts.join(' ') : '0s';
  }
  function estimates() {
    for (const box of document.querySelectorAll('[data-estimate]')) {
      const nodesInput = document.getElementById(box.dataset.nodes);
      const ttlInput = box.dataset.ttl && document.getElementById(box.dataset.ttl);
      const blueprint = box.dataset.blueprint && document.getElementById(box.dataset.blueprint);
      const out = box.querySelector('[data-estimate-text]');
      if (!nodesInput || !out || box.dataset.bound) continue;
      box.dataset.bound = 'yes';
      const update = () => {
        const source = blueprint ? blueprint.selectedOptions[0] : box;
        if (!source || source.dataset.fixed === undefined) { box.hidden = true; return; }
        box.hidden = false;
        const fixed = Number(source.dataset.fixed), perNode = Number(source.dataset.perNode);
        const given = nodesInput.value.trim();
        const nodes = given === '' ? Number(source.dataset.defaultNodes || 0) : Number(given);
        if (!Number.isInteger(nodes) || nodes < 0) { out.textContent = 'say a whole number of nodes for an estimate.'; return; }
        if (nodes === 0) { out.textContent = '0 nodes: nothing is deployed, $0.00/h.'; return; }
        const hourly = fixed + perNode * nodes;
        let text = `${nodes} node${nodes === 1 ? '' : 's'} × ${cents(perNode)} + ${cents(fixed)} = ${cents(hourly)}/h`;
        const secs = ttlInput ? seconds(ttlInput.value) : null;
        if (secs) text += `; for ${spanWords(secs)} ≈ ${cents(hourly * secs / 3600)}`;
        out.textContent = text;
      };
      for (const input of [nodesInput, ttlInput, blueprint]) if (input) { input.addEventListener('input', update); input.addEventListener('change', update); }
      update();
    }
  }

  // ---- copy buttons
  document.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-copy]');
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    const status = button.parentElement.querySelector('.copied');
    try {
      await navigator.clipboard.writeText(source.value);
      if (status) status.textContent = 'Copied.';
    } catch {
      source.focus();
      source.select();
      if (status) status.textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
    }
  });

  // ---- the live log of an operation
  function logLine(event) {
    const level = { error: 'lvl-error', warn: 'lvl-warn', debug: 'lvl-debug' }[event.level] || 'lvl-info';
    const time = el('time', { datetime: event.at, 'data-format': 'clock', 'data-local': '' }, event.at);
    const line = el('li', { class: level, 'data-seq': event.seq, 'data-kind': event.kind },
      time, ' ', el('span', { class: 'msg' }, event.message));
    localize(line);
    return line;
  }

  function follow(panel) {
    if (panel.dataset.following) return;
    panel.dataset.following = 'yes';
    const id = panel.dataset.operation;
    const log = panel.querySelector('[data-log]');
    const bar = panel.querySelector('[data-progress]');
    const text = panel.querySelector('[data-field=progress-text]');
    const state = panel.querySelector('[data-field=op-state]');
    const error = panel.querySelector('[data-field=op-error]');
    const setState = (s) => { state.replaceChildren(badge('op', s, 'data-op-state')); };
    const setProgress = (done, planned) => {
      bar.max = Math.max(1, planned);
      bar.value = Math.min(done, bar.max);
      text.textContent = `${done} of ${planned} resources`;
    };
    const after = panel.dataset.after || '0';
    const source = new EventSource(`/operations/${encodeURIComponent(id)}/events?after=${encodeURIComponent(after)}`);
    source.onmessage = (message) => {
      const event = JSON.parse(message.data);
      const progress = event.data && event.data.progress;
      if (progress) setProgress(progress.done, progress.planned);
      if (event.kind === 'operation_started') setState('running');
      if (event.level !== 'debug' || event.kind === 'operation_finished') {
        const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
        log.append(logLine(event));
        if (atEnd) log.scrollTop = log.scrollHeight;
      }
      if (event.kind === 'operation_finished') {
        source.close();
        const s = (event.data && event.data.state) || 'failed';
        if (s === 'succeeded') setProgress(Number(bar.max), Number(bar.max));
        // Otherwise the bar stays where it stopped, in the colour of how.
        bar.dataset.ended = s;
        // A message about this operation the page has overtaken says how
        // it ended, in that colour.
        for (const flash of document.querySelectorAll('[data-flash]')) {
          if (!flash.textContent.includes(id) || flash.dataset.ended) continue;
          flash.dataset.ended = s;
          flash.append(` It has ended: ${s}.`);
          if (s !== 'succeeded') flash.className = `flash ${s === 'cancelled' ? 'warning' : 'refused'}`;
        }
        if (event.data && event.data.error) { error.textContent = event.data.error; error.hidden = false; }
        setState(s);
        panel.removeAttribute('data-follow');
        panel.dataset.done = s;
        refresh(id);
      }
    };
    // The browser reconnects by itself (resuming after the last event) if
    // the stream breaks before the end; a refusal (the session ended) stops.
    source.onerror = () => { if (source.readyState === EventSource.CLOSED) panel.dataset.broken = 'yes'; };
  }

  // What an operation changed (outputs, history, the actions that apply)
  // is read again from the page itself once it ends; a section being
  // typed in is left alone.
  async function refresh(operation) {
    if (!document.querySelector('[data-refresh]')) return;
    try {
      const response = await fetch(window.location.pathname, { headers: { accept: 'text/html' } });
      if (response.ok) {
        const fresh = new DOMParser().parseFromString(await response.text(), 'text/html');
        for (const old of document.querySelectorAll('[data-refresh][id]')) {
          const update = fresh.getElementById(old.id);
          if (update && !old.contains(document.activeElement)) old.replaceWith(document.adoptNode(update));
        }
        localize(document);
        confirmations();
        estimates();
        tick();
      }
    } finally {
      document.body.dataset.refreshed = operation;
    }
  }

  function panelFor(op) {
    return el('div', { class: 'live', 'data-operation': op.id, 'data-follow': 'yes', 'data-after': '0' },
      el('div', { class: 'op-head' },
        el('a', { href: `/operations/${encodeURIComponent(op.id)}` }, `${op.kind} `, el('span', { class: 'opid' }, op.id)),
        ' ', el('span', { 'data-field': 'op-state' }, badge('op', op.state, 'data-op-state'))),
      el('div', { class: 'progress-row' },
        el('progress', { 'data-progress': '', max: '1', value: '0', 'aria-label': 'Resources changed' }),
        el('span', { 'data-field': 'progress-text' }, '0 of ? resources')),
      el('p', { class: 'error-text', 'data-field': 'op-error', hidden: '' }),
      el('ol', { class: 'log', 'data-log': '', 'aria-live': 'polite', 'aria-label': 'Log', tabindex: '0' }));
  }

  // ---- a cluster's page follows the cluster
  function watch(root) {
    const name = root.dataset.watchCluster;
    const source = new EventSource(`/clusters/${encodeURIComponent(name)}/watch`);
    source.addEventListener('status', (message) => {
      const s = JSON.parse(message.data);
      const field = (f) => root.querySelector(`[data-field=${f}]`);
      field('state').replaceChildren(badge('state', s.state, 'data-state'));
      field('nodes').textContent = String(s.nodes);
      const noEndpoint = s.state === 'absent' ? 'none (not deployed)' : 'none (its blueprint exports none)';
      field('endpoint').replaceChildren(s.endpoint ? el('code', {}, s.endpoint) : el('span', { class: 'none' }, noEndpoint));
      const at = field('destroy-at');
      if (s.destroy_at) {
        const t = el('time', { datetime: s.destroy_at, 'data-local': '' }, s.destroy_at);
        at.replaceChildren(t, ' (', el('span', { class: 'countdown', 'data-countdown': s.destroy_at }, ''), ')');
        localize(at);
      } else {
        at.replaceChildren(el('span', { class: 'none' }, 'not scheduled'));
      }
      tick();
      const op = s.last_operation;
      if (op && (op.state === 'queued' || op.state === 'running')) {
        const current = root.querySelector('.live');
        if (!current || current.dataset.operation !== op.id) {
          const panel = panelFor(op);
          const section = root.querySelector('#live-title').parentElement;
          section.replaceChildren(section.querySelector('#live-title'), panel);
          follow(panel);
        }
      }
    });
  }

  function start() {
    localize(document);
    tick();
    setInterval(tick, 1000);
    confirmations();
    // A choice that changes what the rest of the page offers (a blueprint
    // and its settings) takes effect at once; without script, its button.
    // What was typed in the page's other form comes along.
    for (const select of document.querySelectorAll('select[data-submit-on-change]')) {
      select.addEventListener('change', () => {
        for (const hidden of select.form.querySelectorAll('input[type=hidden][data-carry]')) {
          const from = document.getElementById(hidden.dataset.carry);
          if (from) hidden.value = from.value;
        }
        select.form.submit();
      });
    }
    estimates();
    for (const log of document.querySelectorAll('[data-log]')) log.scrollTop = log.scrollHeight;
    for (const panel of document.querySelectorAll('.live[data-follow]')) follow(panel);
    for (const root of document.querySelectorAll('[data-watch-cluster]')) watch(root);
    document.documentElement.dataset.ready = 'yes';
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
