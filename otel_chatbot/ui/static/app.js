/* otel-chatbot web view: a single-page app over the view document (docs/ui.md).
 *
 * The document comes from <script id="otel-chatbot-view"> (report --html) or from <base>/api/view (a server).
 * Pages are hash routes (#/overview, #/trace/<id>, ...). Every chart is drawn by uPlot (vendored, no CDN).
 * DOM hooks the browser tests rely on: main#page[data-page][data-ready], .chart[data-chart][data-points],
 * table.waterfall[data-trace-id] > tr.span[data-span-name][data-stage][data-depth], a.trace-link, nav a[data-nav].
 */
(function () {
  "use strict";

  const STAGE_KEY = "chatbot.stage";
  const COLORS = ["#2f6fdf", "#e08a1e", "#c0392b", "#2a9d8f", "#8e44ad", "#7f8c8d"];
  const main = document.getElementById("page");
  const base = (document.querySelector('meta[name="otel-chatbot-base"]') || {}).content || "";
  let inline = null;

  // ---- small DOM and formatting helpers -------------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") el.textContent = String(v);
      else el.setAttribute(k, String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const num = (v) => typeof v === "number" && isFinite(v);
  function fmtMs(v) {
    if (!num(v)) return "–";
    if (v === 0) return "0 ms";
    if (v >= 10000) return (v / 1000).toFixed(1) + " s";
    if (v >= 1000) return (v / 1000).toFixed(2) + " s";
    return v >= 10 ? Math.round(v).toLocaleString("en-US") + " ms" : v.toFixed(2) + " ms";
  }
  function fmtUsd(v) {
    if (!num(v)) return "–";
    if (v === 0) return "$0";
    const a = Math.abs(v);
    if (a >= 1) return "$" + v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    // three significant digits: $0.00045, not $0.0004
    const digits = Math.min(12, Math.max(2, 2 - Math.floor(Math.log10(a))));
    return "$" + v.toFixed(digits).replace(/(\.\d*?[1-9])0+$/, "$1");
  }
  const fmtInt = (v) => (num(v) ? Math.round(v).toLocaleString("en-US") : "–");
  const fmtPct = (v) => (num(v) ? (v * 100).toFixed(1) + "%" : "–");
  function fmtTime(s) {
    if (!num(s)) return "–";
    const d = new Date(s * 1000);
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }
  const arr = (v) => (Array.isArray(v) ? v : []);
  const empty = (text) => h("p", { class: "empty" }, text || "no data yet");
  const traceLink = (id, label) =>
    h("a", { class: "trace-link", href: "#/trace/" + encodeURIComponent(id), title: id }, label || id.slice(0, 16) + "…");
  const tile = (label, value, extra) =>
    h("div", { class: "tile" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), extra || null);
  const panel = (title, ...children) => h("div", { class: "panel" }, h("h2", {}, title), ...children);
  function meter(fraction) {
    const f = num(fraction) ? fraction : 0;
    return h("div", { class: "meter" + (f > 1 ? " over" : "") }, h("span", { style: `width:${Math.min(100, f * 100).toFixed(1)}%` }));
  }

  /** A table: columns = [[header, (row) => cell, "num"?], ...]. */
  function table(columns, rows, attrs) {
    return h(
      "table",
      attrs || {},
      h("thead", {}, h("tr", {}, columns.map(([title, , cls]) => h("th", { class: cls || null }, title)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, columns.map(([, cell, cls]) => h("td", { class: cls || null }, cell(r)))))),
    );
  }

  // ---- charts (uPlot) -------------------------------------------------------------------------------------------

  let pending = [];

  /**
   * A chart placeholder drawn once the page is in the document (uPlot measures its width).
   * xs: x values (epoch seconds for time series, or category labels when opts.categories);
   * series: [{label, values}]; opts: {bars, categories, height, y (axis label)}.
   */
  function chart(name, xs, series, opts) {
    const o = opts || {};
    if (!xs.some((_, i) => series.some((s) => num(s.values[i])))) return empty("no data yet for this chart");
    const div = h("div", { class: "chart", "data-chart": name });
    pending.push(() => drawChart(div, xs, series, o));
    return div;
  }

  const short = (text) => (text.length > 24 ? text.slice(0, 23) + "…" : text);

  function drawChart(div, xs, series, o) {
    return new Promise((resolve) => {
      const cats = o.categories ? xs : null;
      // One time point has no span of its own (uPlot would stretch the axis over years): an empty minute either side.
      const lone = !cats && xs.length === 1;
      const x = cats ? cats.map((_, i) => i) : lone ? [xs[0] - 60, xs[0], xs[0] + 60] : xs;
      if (lone) series = series.map((s) => ({ ...s, values: [null, s.values[0], null] }));
      const points = x.filter((_, i) => series.some((s) => num(s.values[i]))).length;
      const width = Math.max(320, Math.floor(div.getBoundingClientRect().width || div.parentNode.clientWidth || 640));
      const bars = o.bars ? uPlot.paths.bars({ size: [0.6, 80], gap: 1 }) : null;
      const opts = {
        width,
        height: o.height || 220,
        legend: { show: true },
        padding: [12, cats && cats.length > 3 ? 64 : 16, 0, 0], // room for the last rotated category label
        scales: {
          x: cats ? { time: false, range: () => [-0.5, cats.length - 0.5] } : { time: true },
          y: bars
            ? { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] }
            : // A flat series (one point, or all 0) gets 0..2x its value, not uPlot's 0..100 (an error rate of 0 read 10000%).
              { range: (u, min, max) => (max > min ? uPlot.rangeNum(min, max, 0.1, true) : [Math.min(0, min), max > 0 ? max * 2 : 1]) },
        },
        axes: [
          cats
            ? {
                splits: () => cats.map((_, i) => i),
                values: (u, splits) => splits.map((i) => short(cats[i] ?? "")),
                rotate: cats.length > 3 ? -30 : 0,
                size: cats.length > 3 ? 90 : 40,
                gap: 4,
              }
            : {},
          { label: o.y || "", size: 64, values: (u, splits) => splits.map((v) => (o.fmt ? o.fmt(v) : v)) },
        ],
        series: [
          { label: cats ? "of" : "time", value: cats ? (u, i) => (i === null ? "" : cats[i] ?? "") : undefined },
          ...series.map((s, i) => {
            const color = s.color || COLORS[i % COLORS.length];
            return {
              label: s.label,
              stroke: color,
              width: bars ? 1 : 2,
              fill: bars ? color + "cc" : undefined,
              paths: bars || undefined,
              points: { show: !bars && x.length < 4 },
              spanGaps: false,
              value: o.fmt ? (u, v) => (v === null || v === undefined ? "–" : o.fmt(v)) : undefined,
            };
          }),
        ],
        hooks: {
          draw: [
            () => {
              div.setAttribute("data-points", String(points));
              resolve();
            },
          ],
        },
      };
      const data = [x, ...series.map((s) => s.values.map((v) => (num(v) ? v : null)))];
      div.uplot = new uPlot(opts, data, div); // its scales, for the browser tests
    });
  }

  // ---- data ------------------------------------------------------------------------------------------------------

  async function loadView() {
    if (inline) return inline;
    const el = document.getElementById("otel-chatbot-view");
    if (el) {
      inline = JSON.parse(el.textContent);
      return inline;
    }
    const response = await fetch(base + "/api/view", { cache: "no-store", headers: { Accept: "application/json" } });
    if (!response.ok) {
      let why = `${base}/api/view answered HTTP ${response.status}`;
      try {
        const body = await response.json();
        if (body && body.error) why = body.error;
      } catch (e) {
        /* not JSON: the status says enough */
      }
      throw new Error(why);
    }
    return response.json();
  }

  function stageDepths(stages) {
    const parents = new Map(stages.map((s) => [s.stage, s.parent || null]));
    const depth = new Map();
    for (const s of stages) {
      let d = 0;
      let p = parents.get(s.stage);
      const seen = new Set([s.stage]);
      while (p && parents.has(p) && !seen.has(p) && d < 20) {
        seen.add(p);
        d += 1;
        p = parents.get(p);
      }
      depth.set(s.stage, s.parent && !parents.has(s.parent) ? d + 1 : d);
    }
    return depth;
  }

  const label = (s, depth) => "\u00a0\u00a0".repeat(depth) + (depth ? "└ " : "") + s;

  // ---- pages -----------------------------------------------------------------------------------------------------

  function overview(doc) {
    const snap = doc.snapshot || {};
    const req = snap.requests;
    const hist = arr(snap.history);
    const out = [h("h1", {}, "Overview: " + (snap.service_name || "service"))];
    const usage = snap.usage || {};
    const total = arr(usage.by_stage).reduce((a, u) => a + (u.cost_usd || 0), 0);
    const projection = projectDaily(hist);
    const daily = arr(doc.budgets).filter((b) => !b.per && num(b.limit_usd) && num(b.window_s));
    const tiles = [
      tile("requests", fmtInt(req ? req.count : 0)),
      // The history counts every request's errors (root spans with an error status); the snapshot's request
      // latency does not carry them, so the rate comes from the history when there is one.
      tile(
        hist.length ? "error rate (history)" : "error rate",
        hist.length
          ? fmtPct(hist.reduce((a, p) => a + (p.errors || 0), 0) / Math.max(1, hist.reduce((a, p) => a + (p.requests || 0), 0)))
          : req ? fmtPct(req.count ? req.errors / req.count : 0) : "–",
      ),
      tile("latency p50 / p95 / p99", req ? `${fmtMs(req.p50_ms)} / ${fmtMs(req.p95_ms)} / ${fmtMs(req.p99_ms)}` : "–"),
      tile("spend", fmtUsd(total)),
      tile(
        "projected daily spend",
        projection === null ? "–" : fmtUsd(projection),
        daily.length && projection !== null
          ? h("div", {}, daily.map((b) => {
              const perDay = (b.limit_usd * 86400) / b.window_s;
              return h("div", { class: "label" }, `budget ${b.name}: ${fmtUsd(perDay)}/day`, meter(projection / perDay));
            }))
          : null,
      ),
    ];
    out.push(h("div", { class: "tiles" }, tiles));
    if (!hist.length) {
      out.push(panel("Over time", empty("no data yet: the history gains a point per interval as requests end")));
      return out;
    }
    const xs = hist.map((p) => p.start);
    const budgetPerHour = daily.length ? (daily[0].limit_usd * 3600) / daily[0].window_s : null;
    const spend = [{ label: "USD/hour", values: hist.map((p) => ((p.cost_usd || 0) * 3600) / (p.interval_s || 1)) }];
    if (budgetPerHour !== null) spend.push({ label: `budget ${daily[0].name} (per hour)`, values: hist.map(() => budgetPerHour), color: COLORS[2] });
    out.push(
      h(
        "div",
        { class: "grid" },
        panel("Requests per second", chart("requests_per_s", xs, [{ label: "requests/s", values: hist.map((p) => (p.requests || 0) / (p.interval_s || 1)) }], { y: "req/s" })),
        panel(
          "Request latency",
          chart("latency", xs, [
            { label: "p50", values: hist.map((p) => p.p50_ms) },
            { label: "p95", values: hist.map((p) => p.p95_ms) },
            { label: "p99", values: hist.map((p) => p.p99_ms) },
          ], { y: "ms", fmt: fmtMs }),
        ),
        panel("Error rate", chart("error_rate", xs, [{ label: "errors / requests", values: hist.map((p) => (p.requests ? (p.errors || 0) / p.requests : null)) }], { y: "%", fmt: fmtPct })),
        panel("Spend per hour", chart("spend_per_hour", xs, spend, { y: "USD/h", fmt: fmtUsd })),
      ),
    );
    return out;
  }

  /** USD per day at the rate of the last hour of history (null without spend data). */
  function projectDaily(hist) {
    if (!hist.length) return null;
    const last = hist[hist.length - 1];
    const end = last.start + (last.interval_s || 0);
    const recent = hist.filter((p) => p.start >= end - 3600);
    const covered = end - recent[0].start;
    if (covered <= 0) return null;
    return (recent.reduce((a, p) => a + (p.cost_usd || 0), 0) / covered) * 86400;
  }

  function stages(doc) {
    const snap = doc.snapshot || {};
    const list = arr(snap.stages);
    const out = [h("h1", {}, "Stages")];
    if (!list.length) return out.concat(empty("no data yet: no stage span has ended"));
    const depth = stageDepths(list);
    const rows = list.map((s) => ({ s, d: depth.get(s.stage) || 0 }));
    out.push(
      panel(
        "Latency and share of request time (request order; nested stages inside their parent)",
        table(
          [
            ["stage", (r) => label(r.s.stage, r.d)],
            ["calls", (r) => fmtInt(r.s.latency.count), "num"],
            ["p50", (r) => fmtMs(r.s.latency.p50_ms), "num"],
            ["p95", (r) => fmtMs(r.s.latency.p95_ms), "num"],
            ["p99", (r) => fmtMs(r.s.latency.p99_ms), "num"],
            ["errors", (r) => fmtInt(r.s.latency.errors), "num"],
            ["share", (r) => fmtPct(r.s.share), "num"],
            ["", (r) => meter(r.s.share)],
            ["slowest", (r) => arr(r.s.latency.slowest_trace_ids).slice(0, 1).map((id) => traceLink(id))],
          ],
          rows,
          { class: "stages" },
        ),
      ),
    );
    const top = rows.filter((r) => r.d === 0);
    const shareSum = top.reduce((a, r) => a + (r.s.share || 0), 0);
    const grid = h("div", { class: "grid" });
    grid.appendChild(
      panel(
        "Latency per stage",
        chart("stage_latency", rows.map((r) => label(r.s.stage, r.d)), [
          { label: "p99", values: rows.map((r) => r.s.latency.p99_ms), color: COLORS[2] },
          { label: "p95", values: rows.map((r) => r.s.latency.p95_ms), color: COLORS[1] },
          { label: "p50", values: rows.map((r) => r.s.latency.p50_ms), color: COLORS[0] },
        ], { bars: true, categories: true, y: "ms", fmt: fmtMs }),
      ),
    );
    const parts = breakdown(rows);
    if (shareSum < 1) parts.push(["(outside stages)", 1 - shareSum]);
    grid.appendChild(
      panel(
        "Request breakdown: share of request time (a stage with nested stages is shown as them, plus its own rest)",
        chart("stage_share", parts.map((p) => p[0]), [{ label: "share", values: parts.map((p) => p[1]) }],
          { bars: true, categories: true, y: "share", fmt: fmtPct }),
      ),
    );
    out.push(grid);
    const streams = arr(snap.streams);
    out.push(h("h2", {}, "Time to first token and output speed, per model"));
    if (!streams.length) {
      out.push(empty("no streaming calls yet"));
      return out;
    }
    const names = streams.map((s) => `${s.model || "?"} (${s.stage})`);
    out.push(
      panel(
        "Streams",
        table(
          [
            ["model (stage)", (s) => `${s.model || "?"} (${s.stage})`],
            ["calls", (s) => fmtInt(s.count), "num"],
            ["TTFT p50", (s) => fmtMs(s.ttft_p50_ms), "num"],
            ["TTFT p95", (s) => fmtMs(s.ttft_p95_ms), "num"],
            ["TTFT p99", (s) => fmtMs(s.ttft_p99_ms), "num"],
            ["first chunk p95", (s) => fmtMs(s.ttfc_p95_ms), "num"],
            ["tokens/s", (s) => (num(s.output_tokens_per_s) ? s.output_tokens_per_s.toFixed(1) : "–"), "num"],
          ],
          streams,
        ),
      ),
      h(
        "div",
        { class: "grid" },
        panel("Time to first token", chart("ttft", names, [
          { label: "p99", values: streams.map((s) => s.ttft_p99_ms), color: COLORS[2] },
          { label: "p95", values: streams.map((s) => s.ttft_p95_ms), color: COLORS[1] },
          { label: "p50", values: streams.map((s) => s.ttft_p50_ms), color: COLORS[0] },
        ], { bars: true, categories: true, y: "ms", fmt: fmtMs })),
        panel("Output tokens per second", chart("tokens_per_s", names, [{ label: "tokens/s", values: streams.map((s) => s.output_tokens_per_s) }], { bars: true, categories: true, y: "tokens/s" })),
      ),
    );
    return out;
  }

  /** [label, share] in request order: each top-level stage, or its direct children and the parent's own rest. */
  function breakdown(rows) {
    const parts = [];
    rows.forEach((r, i) => {
      if (r.d !== 0) return;
      const kids = [];
      for (let j = i + 1; j < rows.length && rows[j].d > 0; j++) if (rows[j].d === 1) kids.push(rows[j]);
      const own = r.s.share || 0;
      if (!kids.length) {
        parts.push([r.s.stage, own]);
        return;
      }
      for (const k of kids) parts.push([k.s.stage, k.s.share || 0]);
      const rest = own - kids.reduce((a, k) => a + (k.s.share || 0), 0);
      if (rest > 0.0005) parts.push([r.s.stage + " (rest)", rest]);
    });
    return parts;
  }

  function usageTable(rows, link) {
    if (!rows.length) return empty();
    return table(
      [
        ["key", (u) => (link && link(u.key) ? h("a", { href: link(u.key) }, u.key) : u.key || "(none)")],
        ["calls", (u) => fmtInt(u.calls), "num"],
        ["input tokens", (u) => fmtInt(u.input_tokens), "num"],
        ["output tokens", (u) => fmtInt(u.output_tokens), "num"],
        ["cache-read tokens", (u) => fmtInt(u.cache_read_tokens), "num"],
        ["prompt-cache share", (u) => (u.input_tokens ? fmtPct((u.cache_read_tokens || 0) / u.input_tokens) : "–"), "num"],
        ["USD", (u) => fmtUsd(u.cost_usd), "num"],
      ],
      rows,
    );
  }

  function cost(doc) {
    const snap = doc.snapshot || {};
    const usage = snap.usage || {};
    const models = arr(usage.by_model);
    const out = [h("h1", {}, "Cost")];
    const total = arr(usage.by_stage).reduce((a, u) => a + (u.cost_usd || 0), 0);
    const input = models.reduce((a, u) => a + (u.input_tokens || 0), 0);
    const cached = models.reduce((a, u) => a + (u.cache_read_tokens || 0), 0);
    const caches = arr(snap.caches);
    out.push(
      h("div", { class: "tiles" },
        tile("spend", fmtUsd(total)),
        tile("input tokens", fmtInt(input)),
        tile("output tokens", fmtInt(models.reduce((a, u) => a + (u.output_tokens || 0), 0))),
        tile("prompt-cache share", input ? fmtPct(cached / input) : "–"),
        tile("cache savings", fmtUsd(caches.reduce((a, c) => a + (c.saved_usd || 0), 0))),
      ),
    );
    if (models.length) {
      out.push(
        h("div", { class: "grid" },
          panel("USD per model", chart("cost_by_model", models.map((u) => u.key || "(none)"), [{ label: "USD", values: models.map((u) => u.cost_usd) }], { bars: true, categories: true, y: "USD", fmt: fmtUsd })),
          panel("Tokens per model", chart("tokens_by_model", models.map((u) => u.key || "(none)"), [
            { label: "input", values: models.map((u) => u.input_tokens) },
            { label: "output", values: models.map((u) => u.output_tokens) },
          ], { bars: true, categories: true, y: "tokens" })),
        ),
      );
    }
    const dims = [["model", "by_model"], ["provider", "by_provider"], ["stage", "by_stage"], ["tenant", "by_tenant"], ["variant", "by_variant"], ["top users", "by_user"], ["top conversations", "by_conversation"]];
    const kept = new Set(arr(snap.conversations).map((c) => c.conversation_id));
    const toConversation = (id) => (kept.has(id) ? "#/conversation/" + encodeURIComponent(id) : null);
    for (const [title, key] of dims) {
      out.push(panel("Per " + title, usageTable(arr(usage[key]), key === "by_conversation" ? toConversation : null)));
    }
    out.push(
      panel(
        "Caches",
        caches.length
          ? table(
              [
                ["stage", (c) => c.stage],
                ["lookups", (c) => fmtInt(c.lookups), "num"],
                ["hits", (c) => fmtInt(c.hits), "num"],
                ["hit rate", (c) => fmtPct(c.lookups ? c.hits / c.lookups : 0), "num"],
                ["saved tokens", (c) => fmtInt(c.saved_tokens), "num"],
                ["saved USD", (c) => fmtUsd(c.saved_usd), "num"],
              ],
              caches,
            )
          : empty("no cache lookups (spans with chatbot.cache.hit)"),
      ),
    );
    out.push(panel("Budgets", budgetsTable(arr(doc.budgets))));
    return out;
  }

  function budgetsTable(budgets) {
    if (!budgets.length) return empty("no budgets known here (configure(budgets=...) in the app, seen through its mounted view)");
    return table(
      [
        ["budget", (b) => b.name],
        ["window", (b) => b.window],
        ["kind", (b) => (b.hard ? "hard" : "soft") + (b.per ? " per " + b.per : "")],
        ["limit", (b) => fmtUsd(b.limit_usd), "num"],
        ["spent in window", (b) => (b.error ? h("span", { class: "error" }, b.error) : fmtUsd(b.spent_usd) + (b.per ? " (top " + b.per + ")" : "")), "num"],
        ["", (b) => meter(num(b.spent_usd) ? b.spent_usd / b.limit_usd : 0)],
        ["keys", (b) => arr(b.keys).map((k) => `${k.key || "(none)"} ${fmtUsd(k.spent_usd)}`).join(", ")],
      ],
      budgets,
      { class: "budgets" },
    );
  }

  function variants(doc) {
    const list = arr((doc.snapshot || {}).variants);
    const out = [h("h1", {}, "Variants side by side")];
    if (!list.length) return out.concat(empty("no data yet: no span carried a variant (oc.conversation(..., variant=...))"));
    const perReq = (v) => (v.requests && v.requests.count ? v.cost_usd / v.requests.count : null);
    const rows = [
      ["requests", (v) => fmtInt(v.requests ? v.requests.count : 0)],
      ["latency p50", (v) => fmtMs(v.requests && v.requests.p50_ms)],
      ["latency p95", (v) => fmtMs(v.requests && v.requests.p95_ms)],
      ["latency p99", (v) => fmtMs(v.requests && v.requests.p99_ms)],
      ["error rate", (v) => (v.requests ? fmtPct(v.requests.count ? v.requests.errors / v.requests.count : 0) : "–")],
      ["LLM calls", (v) => fmtInt(v.calls)],
      ["input tokens", (v) => fmtInt(v.input_tokens)],
      ["output tokens", (v) => fmtInt(v.output_tokens)],
      ["USD", (v) => fmtUsd(v.cost_usd)],
      ["USD / request", (v) => fmtUsd(perReq(v))],
      ["feedback mean", (v) => (v.feedback ? v.feedback.mean.toFixed(2) : "–")],
      ["feedback count", (v) => fmtInt(v.feedback ? v.feedback.count : 0)],
    ];
    out.push(
      panel("Side by side", h("table", { class: "variants" },
        h("thead", {}, h("tr", {}, h("th", {}, ""), list.map((v) => h("th", { class: "num" }, v.variant || "(none)")))),
        h("tbody", {}, rows.map(([name, cell]) => h("tr", {}, h("th", {}, name), list.map((v) => h("td", { class: "num" }, cell(v)))))),
      )),
    );
    const names = list.map((v) => v.variant || "(none)");
    out.push(
      h("div", { class: "grid" },
        panel("Request latency per variant", chart("variant_latency", names, [
          { label: "p99", values: list.map((v) => v.requests && v.requests.p99_ms), color: COLORS[2] },
          { label: "p95", values: list.map((v) => v.requests && v.requests.p95_ms), color: COLORS[1] },
          { label: "p50", values: list.map((v) => v.requests && v.requests.p50_ms), color: COLORS[0] },
        ], { bars: true, categories: true, y: "ms", fmt: fmtMs })),
        panel("USD per request", chart("variant_cost", names, [{ label: "USD/request", values: list.map(perReq) }], { bars: true, categories: true, y: "USD", fmt: fmtUsd })),
      ),
    );
    return out;
  }

  function traceTable(list) {
    return table(
      [
        ["trace", (t) => traceLink(t.trace_id)],
        ["root", (t) => t.root_name],
        ["start", (t) => fmtTime(t.start)],
        ["duration", (t) => fmtMs(t.duration_ms), "num"],
        ["spans", (t) => fmtInt(arr(t.spans).length), "num"],
        ["", (t) => (t.error ? h("span", { class: "tag bad" }, "error") : "")],
      ],
      list,
      { class: "traces" },
    );
  }

  function traces(doc) {
    const list = arr((doc.snapshot || {}).traces);
    const out = [h("h1", {}, "Traces")];
    if (!list.length) return out.concat(empty("no data yet: no trace has been kept"));
    const has = (t, r) => arr(t.reasons).includes(r);
    const slowest = list.filter((t) => has(t, "slowest")).sort((a, b) => b.duration_ms - a.duration_ms);
    const recent = list.filter((t) => has(t, "recent")).sort((a, b) => b.start - a.start);
    const byStart = list.slice().sort((a, b) => a.start - b.start);
    out.push(panel("Duration of the kept traces", chart("trace_durations", byStart.map((t) => t.start), [{ label: "duration", values: byStart.map((t) => t.duration_ms) }], { y: "ms", fmt: fmtMs })));
    out.push(panel("Slowest", slowest.length ? traceTable(slowest) : empty()));
    out.push(panel("Most recent", recent.length ? traceTable(recent) : empty()));
    return out;
  }

  function trace(doc, id) {
    const list = arr((doc.snapshot || {}).traces);
    const t = list.find((x) => x.trace_id === id);
    const out = [h("h1", {}, "Trace ", h("code", {}, id || ""))];
    if (!t) {
      return out.concat(empty(`trace ${id} is not among the ${list.length} kept traces (only the most recent and the slowest are kept); look for it in Jaeger`));
    }
    const spans = arr(t.spans);
    const ids = new Map(spans.map((s) => [s.span_id, s]));
    const depth = new Map();
    for (const s of spans) {
      let d = 0;
      let p = s.parent_id;
      while (p && ids.has(p) && d < 50) {
        d += 1;
        p = ids.get(p).parent_id;
      }
      depth.set(s.span_id, d);
    }
    const total = Math.max(t.duration_ms || 0, ...spans.map((s) => (s.start_ms || 0) + (s.duration_ms || 0)), 0.001);
    out.push(
      h("div", { class: "tiles" },
        tile("root", t.root_name),
        tile("start", fmtTime(t.start)),
        tile("duration", fmtMs(t.duration_ms)),
        tile("spans", fmtInt(spans.length) + (t.dropped_spans ? ` (+${t.dropped_spans} dropped)` : "")),
        tile("status", t.error ? "error" : "ok"),
      ),
    );
    const body = h("tbody");
    for (const s of spans) {
      const attrs = s.attributes || {};
      const stage = attrs[STAGE_KEY] === undefined ? "" : String(attrs[STAGE_KEY]);
      const d = depth.get(s.span_id) || 0;
      const err = String(s.status || "").endsWith("ERROR");
      const left = ((s.start_ms || 0) / total) * 100;
      const width = ((s.duration_ms || 0) / total) * 100;
      const row = h(
        "tr",
        { class: "span" + (err ? " error" : ""), "data-span-name": s.name, "data-stage": stage, "data-depth": d, "data-span-id": s.span_id },
        h("td", { style: `padding-left:${8 + d * 16}px` }, s.name),
        h("td", {}, stage),
        h("td", { class: "num" }, fmtMs(s.start_ms)),
        h("td", { class: "num" }, fmtMs(s.duration_ms)),
        h("td", { class: "bar" }, h("div", { class: "wf-track" }, h("div", { class: "wf-bar", style: `left:${left.toFixed(2)}%;width:${width.toFixed(2)}%` }))),
      );
      const keys = Object.keys(attrs).sort();
      const detail = h(
        "tr",
        { class: "span-attrs", hidden: true },
        h("td", { colspan: 5 },
          h("div", {}, `${s.kind || ""} · ${s.status || ""} · span ${s.span_id}`),
          keys.length ? h("dl", {}, keys.map((k) => [h("dt", {}, k), h("dd", {}, typeof attrs[k] === "string" ? attrs[k] : JSON.stringify(attrs[k]))])) : empty("no attributes"),
        ),
      );
      row.addEventListener("click", () => { detail.hidden = !detail.hidden; });
      body.appendChild(row);
      body.appendChild(detail);
    }
    out.push(
      panel("Waterfall (click a span for its attributes)",
        h("table", { class: "waterfall", "data-trace-id": t.trace_id },
          h("thead", {}, h("tr", {}, ["span", "stage", "start", "duration", ""].map((x) => h("th", {}, x)))),
          body,
        ),
      ),
    );
    return out;
  }

  function conversations(doc) {
    const list = arr((doc.snapshot || {}).conversations);
    const out = [h("h1", {}, "Conversations")];
    if (!list.length) return out.concat(empty("no data yet: no request carried gen_ai.conversation.id"));
    const sum = (c, k) => arr(c.turns).reduce((a, t) => a + (t[k] || 0), 0);
    out.push(
      panel("Most recent first",
        table(
          [
            ["conversation", (c) => h("a", { class: "conversation-link", href: "#/conversation/" + encodeURIComponent(c.conversation_id) }, c.conversation_id)],
            ["user", (c) => c.user_id || "–"],
            ["tenant", (c) => c.tenant_id || "–"],
            ["variant", (c) => c.variant || "–"],
            ["turns", (c) => fmtInt(arr(c.turns).length), "num"],
            ["input tokens", (c) => fmtInt(sum(c, "input_tokens")), "num"],
            ["output tokens", (c) => fmtInt(sum(c, "output_tokens")), "num"],
            ["USD", (c) => fmtUsd(sum(c, "cost_usd")), "num"],
            ["last turn", (c) => fmtTime(arr(c.turns).length ? c.turns[c.turns.length - 1].start : null)],
          ],
          list,
          { class: "conversations" },
        ),
      ),
    );
    return out;
  }

  function conversation(doc, id) {
    const list = arr((doc.snapshot || {}).conversations);
    const c = list.find((x) => x.conversation_id === id);
    const out = [h("h1", {}, "Conversation ", h("code", {}, id || ""))];
    if (!c) return out.concat(empty(`conversation ${id} is not among the ${list.length} kept conversations`));
    const turns = arr(c.turns);
    out.push(h("div", { class: "tiles" }, tile("user", c.user_id || "–"), tile("tenant", c.tenant_id || "–"), tile("variant", c.variant || "–"), tile("turns", fmtInt(turns.length))));
    if (!turns.length) return out.concat(empty());
    out.push(
      panel("Turns",
        table(
          [
            ["#", (t) => String(turns.indexOf(t) + 1), "num"],
            ["start", (t) => fmtTime(t.start)],
            ["latency", (t) => fmtMs(t.latency_ms), "num"],
            ["TTFT", (t) => fmtMs(t.ttft_ms), "num"],
            ["input tokens", (t) => fmtInt(t.input_tokens), "num"],
            ["output tokens", (t) => fmtInt(t.output_tokens), "num"],
            ["USD", (t) => fmtUsd(t.cost_usd), "num"],
            ["model", (t) => t.model || "–"],
            ["", (t) => (t.error ? h("span", { class: "tag bad" }, "error") : "")],
            ["trace", (t) => (t.trace_id ? traceLink(t.trace_id) : "–")],
          ],
          turns,
          { class: "turns" },
        ),
      ),
    );
    const xs = turns.map((_, i) => "turn " + (i + 1));
    out.push(
      h("div", { class: "grid" },
        panel("Input tokens per turn (how the context grows)", chart("input_growth", xs, [
          { label: "input tokens", values: turns.map((t) => t.input_tokens) },
          { label: "output tokens", values: turns.map((t) => t.output_tokens) },
        ], { bars: true, categories: true, y: "tokens" })),
        panel("Latency per turn", chart("turn_latency", xs, [
          { label: "latency", values: turns.map((t) => t.latency_ms) },
          { label: "TTFT", values: turns.map((t) => t.ttft_ms) },
        ], { bars: true, categories: true, y: "ms", fmt: fmtMs })),
      ),
    );
    return out;
  }

  function recommendations(doc) {
    const recs = arr(doc.recommendations);
    const out = [h("h1", {}, "Recommendations")];
    if (!recs.length) return out.concat(empty("nothing to recommend yet (rules need at least 20 calls of a stage to judge it)"));
    for (const r of recs) {
      out.push(
        h("div", { class: "rec", "data-rule": r.rule },
          h("h2", {}, r.title),
          h("div", {}, h("span", { class: "tag" }, r.rule), r.stage ? h("span", { class: "tag" }, "stage " + r.stage) : null, h("span", { class: "tag" }, "impact " + fmtPct(r.impact))),
          h("p", {}, r.detail),
          arr(r.evidence).length ? table([["evidence", (e) => e[0]], ["value", (e) => e[1]]], arr(r.evidence), { class: "evidence" }) : null,
          arr(r.trace_ids).length ? h("p", {}, "traces: ", arr(r.trace_ids).map((id) => [traceLink(id), " "])) : null,
        ),
      );
    }
    return out;
  }

  // ---- router ----------------------------------------------------------------------------------------------------

  const PAGES = { overview, stages, cost, variants, traces, trace, conversations, conversation, recommendations };
  const NAV = { trace: "traces", conversation: "conversations" };
  let generation = 0;

  async function render() {
    const match = /^#\/([a-z]+)(?:\/(.*))?$/.exec(location.hash);
    const name = match && PAGES[match[1]] ? match[1] : "overview";
    let arg = match && match[2] ? match[2] : null;
    try {
      arg = arg === null ? null : decodeURIComponent(arg);
    } catch (err) {
      // A malformed %-escape in a hand-edited link: use it as typed (the page then says it knows no such id).
    }
    const mine = ++generation;
    main.setAttribute("data-page", name);
    main.setAttribute("data-ready", "false");
    for (const a of document.querySelectorAll("nav a[data-nav]")) a.classList.toggle("active", a.dataset.nav === (NAV[name] || name));
    let doc;
    try {
      doc = await loadView();
    } catch (err) {
      if (mine !== generation) return;
      main.replaceChildren(h("p", { class: "error" }, `cannot load the data: ${err.message}; reload the page to try again`));
      main.setAttribute("data-error", "true");
      return;
    }
    if (mine !== generation) return;
    main.removeAttribute("data-error");
    const src = document.getElementById("source");
    if (src) src.textContent = `${doc.source || ""} · ${fmtTime(doc.generated_at)}`;
    pending = [];
    try {
      main.replaceChildren(...PAGES[name](doc, arg).flat());
      const draws = pending.map((f) => f());
      pending = [];
      await Promise.all(draws);
    } catch (err) {
      // Data this page cannot show (a field of an unexpected type): say so instead of staying on "Loading...".
      pending = [];
      if (mine !== generation) return;
      main.replaceChildren(h("p", { class: "error" }, `cannot show this page: ${err.message}`));
      main.setAttribute("data-error", "true");
      console.warn("otel-chatbot ui:", err);
    }
    if (mine === generation) main.setAttribute("data-ready", "true");
  }

  window.addEventListener("hashchange", render);
  const refresh = document.getElementById("refresh");
  if (refresh) refresh.addEventListener("click", render);
  if (!location.hash) history.replaceState(null, "", "#/overview");
  render();
})();
