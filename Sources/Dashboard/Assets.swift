// The dashboard's page, style and script, served from memory (no files next to the binary, no
// network). Edit the script here; it draws every chart itself as SVG (docs/dashboard.md).
enum Assets {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ablate dashboard</title>
<link rel="stylesheet" href="/app.css">
</head>
<body data-loaded="no">
<header><a href="/">Ablate</a><span>live dashboard</span><span id="live" class="live" title="polling the server"></span><span id="updated"></span></header>
<main id="app"><p class="muted">loading…</p></main>
<script src="/app.js"></script>
</body>
</html>
"""#

    static let style = #"""
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #222; background: #fafafa; }
header { background: #23395d; color: #fff; padding: 6px 16px; display: flex; gap: 16px; align-items: center; }
header a { color: #fff; text-decoration: none; font-weight: 600; }
#updated { margin-left: auto; font-size: 12px; opacity: 0.8; }
.live { width: 10px; height: 10px; border-radius: 50%; background: #999; display: inline-block; }
.live.ok { background: #3c3; } .live.down { background: #d33; }
main { padding: 8px 16px 40px; }
h1 { font-size: 20px; margin: 8px 0; } h2 { font-size: 16px; margin: 20px 0 6px; border-bottom: 1px solid #ddd; }
h3 { font-size: 15px; margin: 12px 0 4px; }
.muted { color: #777; font-weight: normal; font-size: 13px; }
.root { color: #777; font-family: ui-monospace, monospace; }
table { border-collapse: collapse; background: #fff; margin: 4px 0; }
th, td { border: 1px solid #e3e3e3; padding: 2px 8px; text-align: left; font-size: 13px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.table-wrap { overflow-x: auto; max-width: 100%; }
.sweep-table td { font-variant-numeric: tabular-nums; white-space: nowrap; }
.state { padding: 0 6px; border-radius: 8px; background: #eee; font-size: 12px; }
.state.running { background: #d9ecff; color: #0a4e8f; } .state.completed { background: #dcf5dc; color: #1c6b1c; }
.state.failed, .state.diverged, .state.unreadable { background: #fde0e0; color: #8f1010; }
.state.interrupted { background: #fff1cc; color: #7a5a00; } .state.pending { background: #eee; color: #666; }
.error { color: #8f1010; } .read-error { color: #8f1010; font-size: 12px; }
.picker { display: flex; gap: 12px; flex-wrap: wrap; } fieldset { border: 1px solid #ddd; background: #fff; }
fieldset label { margin-right: 10px; }
.grid { display: flex; flex-wrap: wrap; gap: 6px; }
svg.chart { background: #fff; border: 1px solid #e3e3e3; margin: 4px 4px 4px 0; }
svg.chart text { font-size: 10px; fill: #555; } svg.chart text.title { font-size: 12px; fill: #222; font-weight: 600; }
svg.chart .grid { stroke: #eee; } svg.chart path.curve { fill: none; stroke-linejoin: round; }
svg.chart path.band { opacity: 0.18; stroke: none; }
svg.chart .hline { stroke: #000; stroke-dasharray: 6,3; stroke-width: 1; } svg.chart .hline-label { fill: #000; }
pre { background: #fff; border: 1px solid #e3e3e3; padding: 8px; max-height: 400px; overflow: auto; font-size: 12px; }
table.kv th { background: #f4f4f4; font-weight: 600; }
.verdict { margin: 2px 0; }
.verdict-holds b { color: #1a7f37; }
.verdict-contradicted b { color: #b42318; }
.verdict-inconclusive b { color: #8a6d00; }
"""#

    static let script = #"""
// Ablate dashboard: the pages, drawn from /api/* as SVG by this script alone (no libraries, no
// network beyond this server). Every page polls its endpoint and redraws when the data changed.
"use strict";
const NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
const POLL_MS = 2000;
const ui = { hidden: {}, cells: {}, lastText: null, page: null };

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}
function s(tag, attrs, parent) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}
function fmt(x, digits) {
  if (x === null || x === undefined || !isFinite(x)) return "—";
  if (digits !== undefined) return x.toFixed(digits);
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(2);
  return String(+x.toPrecision(4));
}
function link(page, path, text) { return h("a", { href: "/" + page + "?path=" + encodeURIComponent(path) }, text); }
function stateBadge(state) { return h("span", { class: "state " + state.split(/[ :]/)[0], "data-state": state }, state); }
function param(name) { return new URLSearchParams(location.search).get(name) || ""; }

// ---- charts ---------------------------------------------------------------------------------

function ticks(lo, hi, count) {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * mag).find(v => v >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

// series: [{name, xs, ys, color, cls, width, dash, lo, hi}] (lo/hi: a band); hlines: [{y, label}]
function lineChart(opts) {
  const W = opts.width || 620, H = opts.height || 280, L = 58, R = 12, T = 24, B = 34;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "chart " + (opts.cls || ""), id: opts.id });
  s("text", { x: L, y: 15, class: "title" }, svg).textContent = opts.title || "";
  let xs = [], ys = [];
  for (const se of opts.series) {
    xs = xs.concat(se.xs);
    for (let i = 0; i < se.ys.length; i++) {
      if (se.ys[i] === null) continue;
      ys.push(se.ys[i]);
      if (se.lo) { ys.push(se.lo[i]); ys.push(se.hi[i]); }
    }
  }
  for (const l of opts.hlines || []) if (l.y !== null) ys.push(l.y);
  ys = ys.filter(v => v !== null && isFinite(v));
  if (!xs.length || !ys.length) {
    s("text", { x: W / 2, y: H / 2, class: "empty", "text-anchor": "middle" }, svg).textContent = "no data yet";
    return svg;
  }
  let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (opts.x0 !== undefined) x0 = opts.x0;
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) { y1 = y0 + Math.max(Math.abs(y0) * 0.05, 1e-6); y0 -= Math.max(Math.abs(y0) * 0.05, 1e-6); }
  const pad = (y1 - y0) * 0.04; y0 -= pad; y1 += pad;
  const X = x => L + (x - x0) / (x1 - x0) * (W - L - R), Y = y => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const axes = s("g", { class: "axes" }, svg);
  for (const t of ticks(y0, y1, 5)) {
    s("line", { x1: L, x2: W - R, y1: Y(t), y2: Y(t), class: "grid" }, axes);
    s("text", { x: L - 5, y: Y(t) + 4, "text-anchor": "end" }, axes).textContent = fmt(t);
  }
  for (const t of ticks(x0, x1, 6)) {
    s("line", { x1: X(t), x2: X(t), y1: T, y2: H - B, class: "grid" }, axes);
    s("text", { x: X(t), y: H - B + 15, "text-anchor": "middle" }, axes).textContent = fmt(t);
  }
  s("text", { x: W - R, y: H - 4, "text-anchor": "end", class: "label" }, axes).textContent = opts.xlabel || "step";
  for (const l of opts.hlines || []) {
    if (l.y === null || !isFinite(l.y)) continue;
    s("line", { x1: L, x2: W - R, y1: Y(l.y), y2: Y(l.y), class: "hline" }, svg);
    s("text", { x: W - R - 2, y: Y(l.y) - 4, "text-anchor": "end", class: "hline-label" }, svg).textContent = l.label;
  }
  for (const se of opts.series) {
    if (se.lo) {
      let up = "", down = "";
      for (let i = 0; i < se.xs.length; i++) {
        if (se.lo[i] === null) continue;
        up += (up ? "L" : "M") + X(se.xs[i]).toFixed(1) + "," + Y(se.hi[i]).toFixed(1);
      }
      for (let i = se.xs.length - 1; i >= 0; i--) {
        if (se.lo[i] === null) continue;
        down += "L" + X(se.xs[i]).toFixed(1) + "," + Y(se.lo[i]).toFixed(1);
      }
      if (up) s("path", { d: up + down + "Z", class: "band", fill: se.color, "data-band": se.name }, svg);
    }
    let d = "", n = 0;
    for (let i = 0; i < se.xs.length; i++) {
      if (se.ys[i] === null) { continue; }
      d += (d ? "L" : "M") + X(se.xs[i]).toFixed(1) + "," + Y(se.ys[i]).toFixed(1); n++;
    }
    if (!d) continue;
    const p = s("path", { d, class: "curve " + (se.cls || ""), stroke: se.color, "stroke-width": se.width || 1.6,
                          "stroke-dasharray": se.dash, "data-curve": se.name, "data-points": n,
                          "data-last-step": se.xs[se.xs.length - 1] }, svg);
    s("title", {}, p).textContent = se.name;
  }
  if (opts.legend !== false && opts.series.length > 1 && opts.series.length <= 12) {
    let y = T + 4;
    const g = s("g", { class: "legend" }, svg);
    for (const se of opts.series.filter(se => !se.noLegend)) {
      s("rect", { x: L + 8, y: y, width: 10, height: 3, fill: se.color }, g);
      s("text", { x: L + 22, y: y + 5 }, g).textContent = se.name;
      y += 13;
    }
  }
  return svg;
}

// rows[c][r]: column c (an x position), row r; color(v) → CSS colour.
function heatmap(opts) {
  const cols = opts.rows.length, nrows = cols ? opts.rows[0].length : 0;
  const W = opts.width || 620, L = 58, R = 60, T = 24, B = 30;
  const cell = Math.max(3, Math.min(18, Math.floor(300 / Math.max(nrows, 1))));
  const H = T + B + nrows * cell;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "chart heatmap " + (opts.cls || "") });
  s("text", { x: L, y: 15, class: "title" }, svg).textContent = opts.title || "";
  if (!cols || !nrows) {
    s("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, svg).textContent = "no data yet";
    return svg;
  }
  const cw = (W - L - R) / cols;
  const g = s("g", { class: "cells" }, svg);
  for (let c = 0; c < cols; c++) for (let r = 0; r < nrows; r++) {
    const v = opts.rows[c][r];
    s("rect", { x: (L + c * cw).toFixed(2), y: T + r * cell, width: (cw + 0.5).toFixed(2), height: cell, fill: opts.color(v) }, g);
  }
  const step = Math.max(1, Math.ceil(nrows / 16));
  for (let r = 0; r < nrows; r += step) {
    s("text", { x: L - 5, y: T + r * cell + cell / 2 + 4, "text-anchor": "end" }, svg).textContent = (opts.rowLabel || (i => i))(r);
  }
  if (opts.xs && opts.xs.length) {
    const marks = [0, Math.floor(cols / 2), cols - 1];
    for (const c of marks) {
      s("text", { x: L + (c + 0.5) * cw, y: H - B + 15, "text-anchor": "middle" }, svg).textContent = fmt(opts.xs[c]);
    }
    s("text", { x: W - R, y: H - 4, "text-anchor": "end", class: "label" }, svg).textContent = opts.xlabel || "step";
  }
  // Colour key.
  const key = s("g", { class: "key" }, svg), kh = nrows * cell / 11;
  for (let i = 0; i <= 10; i++) {
    const v = opts.keyMin + (opts.keyMax - opts.keyMin) * (1 - i / 10);
    s("rect", { x: W - R + 10, y: (T + i * kh).toFixed(2), width: 12, height: (kh + 0.5).toFixed(2), fill: opts.color(v) }, key);
    if (i % 5 === 0) s("text", { x: W - R + 26, y: (T + i * kh + Math.min(kh, 10)).toFixed(1) }, key).textContent = fmt(v);
  }
  return svg;
}

// Load share (1 = balanced): blue below, white at 1, red above (2 and more saturate).
function shareColor(v) {
  const t = Math.max(-1, Math.min(1, v - 1));
  const a = Math.round(255 * (1 - Math.abs(t)));
  return t < 0 ? `rgb(${a},${a},255)` : `rgb(255,${a},${a})`;
}
function probColor(max) {
  return v => { const t = Math.max(0, Math.min(1, v / (max || 1))); const a = Math.round(255 * (1 - t)); return `rgb(${a},${Math.round(a * 0.9 + 25 * t)},${Math.round(255 - 120 * t)})`; };
}

// ---- pages ----------------------------------------------------------------------------------

// Why a file could not be read: in full for an unreadable one; a short mark when the last good
// read is shown because the file was mid-flush.
function readNote(c) {
  if (!c.read_error) return null;
  if (c.state === "unreadable") return h("span", { class: "read-error" }, " " + c.read_error.slice(0, 300));
  return h("span", { class: "stale-mark", title: "last good read shown; this poll met a flush: " + c.read_error }, " ↻");
}
function cellRow(c, withLinks) {
  const step = c.step === undefined ? "—" : c.steps ? `${c.step}/${c.steps}` : `${c.step}`;
  return h("tr", { class: "cell", "data-state": c.state, "data-index": c.index },
    h("td", {}, c.index === undefined ? "" : c.index), h("td", {}, c.label || c.run_id || c.path),
    h("td", {}, stateBadge(c.state), readNote(c)),
    h("td", { class: "num" }, step), h("td", { class: "num" }, fmt(c.loss, 4)), h("td", { class: "num" }, fmt(c.eval_loss, 4)),
    h("td", {}, withLinks ? link("run", c.path.replace(/\/run\.h5$/, ""), "run") : null));
}
function cellTable(cells) {
  return h("table", { class: "cells" },
    h("thead", {}, h("tr", {}, ["cell", "label", "state", "step", "loss", "eval", ""].map(t => h("th", {}, t)))),
    h("tbody", {}, cells.map(c => cellRow(c, c.state !== "pending" && c.state !== "missing"))));
}
function counts(cells) {
  const by = {};
  for (const c of cells) by[c.state] = (by[c.state] || 0) + 1;
  return Object.keys(by).sort().map(k => `${by[k]} ${k}`).join(", ");
}

function renderHome(d) {
  const out = [h("h1", {}, "Ablate runs"), h("p", { class: "root" }, d.root)];
  if (d.waiting) { out.push(h("p", { class: "waiting" }, d.waiting)); return out; }
  if (!d.sweeps.length && !d.groups.length) out.push(h("p", { class: "empty" }, "nothing here yet: start `ablate sweep SPEC` or `ablate run SPEC`"));
  if (d.sweeps.length) out.push(h("h2", {}, "Sweeps"));
  for (const sw of d.sweeps) {
    out.push(h("section", { class: "sweep", "data-sweep": sw.path },
      h("h3", {}, link("sweep", sw.path, sw.name), " ", h("span", { class: "muted" }, `${sw.cells.length} cell(s): ${counts(sw.cells)}`)),
      sw.manifest_error ? h("p", { class: "error manifest-error" }, "sweep.json unreadable: " + sw.manifest_error) : null,
      cellTable(sw.cells)));
  }
  if (d.groups.length) out.push(h("h2", {}, "Single runs"));
  for (const g of d.groups) {
    out.push(h("section", { class: "runs", "data-group": g.path }, h("h3", {}, g.name, " ", h("span", { class: "muted" }, g.note)), cellTable(g.runs)));
  }
  return out;
}

function visibleGroups(d) {
  return d.groups.filter(g => d.varying_keys.every(k => !(ui.hidden[k] || {})[g.assignments[k]]));
}

function renderSweep(d) {
  const out = [h("p", {}, h("a", { href: "/" }, "← all runs")), h("h1", {}, "Sweep ", d.name || d.path)];
  if (d.manifest_error) {
    out.push(h("p", { class: "error manifest-error" }, "no usable sweep.json: " + d.manifest_error));
    out.push(cellTable(d.cells));
    return out;
  }
  out.push(h("p", { class: "muted" }, `${d.cells.length} cell(s): ${counts(d.cells)} · spec ${d.spec_file}`));
  // Picker: one checkbox per value of each varying key.
  const picker = h("div", { class: "picker" });
  for (const key of d.varying_keys) {
    const box = h("fieldset", { "data-key": key }, h("legend", {}, key));
    for (const v of d.values[key]) {
      const on = !(ui.hidden[key] || {})[v];
      box.append(h("label", {}, h("input", { type: "checkbox", checked: on, "data-value": v,
        onchange: e => { (ui.hidden[key] = ui.hidden[key] || {})[v] = !e.target.checked; redraw(); } }), " " + v));
    }
    picker.append(box);
  }
  if (d.varying_keys.length) out.push(picker);
  const groups = visibleGroups(d), charts = h("div", { class: "grid" });
  out.push(charts);
  const optLabel = (d.optimum_varies ? "Bayes optimum, mean over cells " : "Bayes optimum ") + fmt(d.optimum, 4);
  for (const which of ["train", "eval"]) {
    const series = [];
    groups.forEach(g => {
      const color = PALETTE[g.index % PALETTE.length], b = g[which];
      series.push({ name: g.label, xs: b.steps, ys: b.mean, lo: b.mean.map((m, i) => b.n[i] > 1 ? m - b.std[i] : null),
                    hi: b.mean.map((m, i) => b.n[i] > 1 ? m + b.std[i] : null), color, cls: "group-curve", width: 2 });
      for (const i of g.cells) {
        if (!ui.cells[i]) continue;
        const c = d.cells.find(c => c.index === i);
        series.push({ name: c.label, xs: c[which].steps, ys: c[which].loss, color, cls: "cell-curve", width: 0.8, dash: "3,2", noLegend: true });
      }
    });
    charts.append(lineChart({ width: 600, height: 320, id: which + "-chart", title: `${which} loss (mean ± std over seeds)`, series, x0: 0,
                              hlines: d.optimum !== null ? [{ y: d.optimum, label: optLabel }] : [] }));
  }
  out.push(h("h2", {}, "Table"), h("p", { class: "muted" }, "the same numbers as ", h("code", {}, `ablate table ${d.path}`)));
  if (d.table.error) out.push(h("p", { class: "error" }, d.table.error));
  else {
    const claims = d.table.claims || [];
    if (claims.length) {
      out.push(h("div", { class: "verdicts" }, claims.map(c => h("p", { class: "verdict verdict-" + c.verdict, "data-claim": c.name },
        h("b", {}, c.verdict === "inconclusive" ? "inconclusive at this scale" : c.verdict), ": " + c.name))));
    }
    for (const sec of d.table.sections) {
      if (sec.id !== "rows") out.push(h("h3", {}, sec.title));
      const cell = c => c.bold ? h("b", {}, c.text) : c.text;
      out.push(h("div", { class: "table-wrap" }, h("table", { class: "sweep-table", "data-section": sec.id },
        h("thead", {}, h("tr", {}, sec.columns.map(col => h("th", { class: col.numeric ? "num" : "" }, col.heading)))),
        h("tbody", {}, sec.rows.map(r => h("tr", { class: sec.id === "rows" ? "group-row" : sec.id + "-row" },
          r.map((c, i) => h("td", { class: sec.columns[i].numeric ? "num" : "" }, cell(c)))))))));
      out.push(h("ul", { class: "legend-notes" }, sec.legend.map(l => h("li", {}, l.trim()))));
    }
  }
  out.push(h("h2", {}, "Cells"), h("p", { class: "muted" }, "tick a cell to draw it on its own (dashed)"));
  out.push(h("table", { class: "cells" },
    h("thead", {}, h("tr", {}, ["plot", "cell", "label", "state", "step", "run"].map(t => h("th", {}, t)))),
    h("tbody", {}, d.cells.map(c => h("tr", { class: "cell", "data-state": c.state, "data-index": c.index },
      h("td", {}, h("input", { type: "checkbox", checked: !!ui.cells[c.index], onchange: e => { ui.cells[c.index] = e.target.checked; ui.lastText = null; keepInURL(); poll(true); } })),
      h("td", {}, c.index), h("td", {}, c.label), h("td", {}, stateBadge(c.state), readNote(c)),
      h("td", { class: "num" }, c.steps ? `${c.step}/${c.steps}` : c.step),
      h("td", {}, c.state === "pending" ? "" : link("run", c.path.replace(/\/run\.h5$/, ""), "run")))))));
  return out;
}

function metricSeries(table, name, color) {
  const c = table.columns[name];
  return c ? { name, xs: c.steps, ys: c.values, color } : null;
}
function finite(c) { return c && c.values.some(v => v !== null); }

function renderRun(d) {
  const out = [h("p", {}, h("a", { href: "/" }, "← all runs"))];
  if (d.read_error && !d.run_id) {
    out.push(h("h1", {}, "Run ", d.path), h("p", { class: "error unreadable", "data-state": d.state },
      `run file ${d.state}: ${d.read_error}`), h("p", { class: "muted" }, "retrying every few seconds"));
    return out;
  }
  out.push(h("h1", {}, "Run ", d.run_id, " ", h("span", { class: "muted" }, d.label)),
    h("p", {}, stateBadge(d.status), ` step ${d.last_step + 1}` + (d.total_steps ? `/${d.total_steps}` : ""),
      d.error ? h("span", { class: "error" }, " " + d.error) : null));
  if (d.stale) out.push(h("p", { class: "muted stale", title: d.stale }, "↻ this poll met a flush in progress; showing the last good read"));
  const grid = h("div", { class: "grid" });
  const loss = [metricSeries(d.train, "loss", PALETTE[0])];
  if (d.eval.columns.loss) loss.push({ ...metricSeries(d.eval, "loss", PALETTE[1]), name: "eval loss" });
  grid.append(lineChart({ id: "loss-chart", title: "loss", series: loss.filter(Boolean),
                          hlines: d.optimum !== null ? [{ y: d.optimum, label: `Bayes optimum ${fmt(d.optimum, 4)}` }] : [] }));
  const shown = new Set(["loss"]);
  for (const [table, prefix] of [[d.train, "train"], [d.eval, "eval"]]) {
    for (const name of Object.keys(table.columns)) {
      if ((prefix === "train" && shown.has(name)) || (prefix === "eval" && ["loss", "optimum"].includes(name))) continue;
      if (!finite(table.columns[name])) continue;
      grid.append(lineChart({ title: `${prefix} ${name}`, width: 300, height: 200, series: [metricSeries(table, name, PALETTE[prefix === "train" ? 0 : 1])] }));
    }
  }
  out.push(h("h2", {}, "Metrics"), grid);
  if (d.moe.length) {
    out.push(h("h2", {}, "Experts"));
    out.push(lineChart({ id: "maxvio-chart", title: "MaxVio per layer (per batch)",
      series: d.moe.map((m, i) => ({ name: `layer ${m.layer}`, xs: m.maxvio_steps, ys: m.maxvio, color: PALETTE[i % PALETTE.length] })) }));
    for (const m of d.moe) {
      out.push(heatmap({ cls: "load-map", title: `layer ${m.layer}: expert load ÷ balanced share (white = balanced)`, rows: m.load_share, xs: m.load_steps,
                         color: shareColor, keyMin: 0, keyMax: 2, rowLabel: r => `e${r}` }));
      const bias = [];
      for (let e = 0; e < m.experts; e++) bias.push({ name: `e${e}`, xs: m.bias_steps, ys: m.bias.map(r => r[e]), color: PALETTE[e % PALETTE.length], width: 1 });
      out.push(lineChart({ title: `layer ${m.layer}: balancing bias per expert`, series: bias, legend: m.experts <= 12 }));
    }
  }
  const specialisation = d.tensors.filter(t => t.kind === "specialisation"), sourceMI = d.tensors.filter(t => t.kind === "source_mi");
  if (specialisation.length || sourceMI.length) out.push(h("h2", {}, "Specialisation"));
  for (const t of sourceMI) {
    out.push(lineChart({ cls: "source-mi", title: "I(source; selected expert) per MoE layer, nats (validation set)",
      series: t.layers.map((layer, i) => ({ name: `layer ${layer}`, xs: t.steps, ys: t.values.map(v => v[i]), color: PALETTE[i % PALETTE.length] })) }));
  }
  for (const t of specialisation) {
    const row = h("div", { class: "grid" });
    t.layers.forEach((layer, i) => row.append(heatmap({ cls: "source-map", width: 420,
      title: `layer ${layer}, step ${t.step}: share of each source's selections per expert`, rows: t.share[i],
      xs: t.share[i].map((_, e) => e), xlabel: "expert (rows: source)", color: probColor(1), keyMin: 0, keyMax: 1,
      rowLabel: r => t.sources[r] })));
    out.push(row);
  }
  const spectra = d.tensors.filter(t => t.kind === "spectrum"), maps = d.tensors.filter(t => t.kind === "attention");
  const routers = d.tensors.filter(t => t.kind === "router");
  if (spectra.length || maps.length || routers.length) out.push(h("h2", {}, "Snapshots"));
  for (const t of spectra) {
    const k = t.steps.length;
    out.push(lineChart({ cls: "spectrum", title: `${t.name}: singular values of c_kv`, xlabel: "index", x0: 0,
      series: t.values.map((v, j) => ({ name: `step ${t.steps[j]}`, xs: v.map((_, i) => i), ys: v,
                                          color: `hsl(220, 70%, ${75 - 50 * (j + 1) / k}%)`, noLegend: k > 12 && j < k - 1 })) }));
  }
  for (const t of maps) {
    const row = h("div", { class: "grid" });
    t.maps.forEach((m, head) => {
      const max = Math.max(...m.flat());
      row.append(heatmap({ cls: "attention-map", width: 300, title: `${t.name} head ${head}, step ${t.step}`,
                           rows: m[0].map((_, key) => m.map(q => q[key])), color: probColor(max), keyMin: 0, keyMax: max,
                           xs: m[0].map((_, i) => i), xlabel: "key (rows: query)" }));
    });
    out.push(row);
  }
  for (const t of routers) {
    out.push(heatmap({ cls: "router-map", title: `${t.name}: mean router probability per expert`, rows: t.values, xs: t.steps,
                       color: probColor(Math.max(...t.values.flat())), keyMin: 0, keyMax: Math.max(...t.values.flat()), rowLabel: r => `e${r}` }));
  }
  out.push(h("h2", {}, "Provenance"), h("table", { class: "kv" }, d.provenance.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v)))));
  out.push(h("table", { class: "kv" }, Object.entries(d.model).map(([k, v]) => h("tr", {}, h("th", {}, k.replace(/_/g, " ")), h("td", { class: "num" }, v.toLocaleString("en"))))));
  out.push(h("h2", {}, "Spec"), d.spec.overrides.length ? h("p", {}, "overrides: ", h("code", {}, d.spec.overrides.join(" "))) : null,
    h("details", {}, h("summary", {}, "resolved spec"), h("pre", {}, d.spec.resolved)),
    h("details", {}, h("summary", {}, "spec as given"), h("pre", {}, d.spec.given)));
  return out;
}

// ---- polling --------------------------------------------------------------------------------

let current = null;
function redraw() {
  if (!current) return;
  const root = document.getElementById("app");
  const y = window.scrollY;
  root.replaceChildren(...ui.page.render(current));
  window.scrollTo(0, y);
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
}
async function poll(once) {
  try {
    const url = typeof ui.page.url === "function" ? ui.page.url() : ui.page.url;
    const res = await fetch(url, { cache: "no-store" });
    const text = await res.text();
    if (!res.ok) {
      let message = text; try { message = JSON.parse(text).error; } catch (e) {}
      document.getElementById("app").replaceChildren(h("p", { class: "error" }, `${res.status}: ${message}`));
      document.body.dataset.loaded = "error";
      return;
    }
    if (text !== ui.lastText) { ui.lastText = text; current = JSON.parse(text); redraw(); }
    document.body.dataset.loaded = "yes";
    document.getElementById("live").className = "live ok";
  } catch (e) {
    document.getElementById("live").className = "live down";
  } finally {
    if (!once) setTimeout(poll, POLL_MS);
  }
}
// The ticked cells live in the address (?cells=0,3), so a reload or a shared link keeps them.
function keepInURL() {
  const q = new URLSearchParams(location.search);
  q.set("cells", Object.keys(ui.cells).filter(i => ui.cells[i]).join(","));
  history.replaceState(null, "", location.pathname + "?" + q.toString());
}
function start() {
  for (const i of param("cells").split(",")) if (i !== "") ui.cells[i] = true;
  const path = location.pathname;
  if (path === "/sweep") ui.page = { render: renderSweep, url: () => "/api/sweep?path=" + encodeURIComponent(param("path")) +
    "&cells=" + Object.keys(ui.cells).filter(i => ui.cells[i]).join(",") };
  else if (path === "/run") ui.page = { url: "/api/run?path=" + encodeURIComponent(param("path")), render: renderRun };
  else ui.page = { url: "/api/home", render: renderHome };
  document.body.dataset.page = path === "/" ? "home" : path.slice(1);
  poll();
}
start();
"""#
}
