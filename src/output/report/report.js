(async function () {
  const SEVERITIES = ["critical", "high", "medium", "low", "info"];
  const COLORS = { critical: "#8b0000", high: "#c0392b", medium: "#e67e22", low: "#2980b9", info: "#95a5a6" };
  const PAGE = 50;
  const data = await inflate(document.getElementById("data").textContent);
  const S = data.strings;
  function str(i) { return i < 0 ? "" : S[i]; }
  const nf = data.fields.length;
  const rules = data.rules.map(function (r) {
    return { id: str(r[0]), title: str(r[1]), pack: str(r[2]), severity: str(r[3]),
      description: str(r[4]), why: str(r[5]), references: r[6].map(str) };
  });
  const findings = data.findings.map(function (row, i) {
    const f = { i: i };
    for (let j = 0; j < nf; j++) f[data.fields[j]] = str(row[j]);
    f.hits = row[nf].map(function (h) { return { rule: h[0], severity: str(h[1]), lowered: str(h[2]) }; });
    f.rules = f.hits.map(function (h) { return rules[h.rule].id; });
    f.controls = row[nf + 1].map(str);
    f.attack = row[nf + 2].map(str);
    f.raw = row[nf + 3];
    f.location += str(row[nf + 4]);
    return f;
  });
  const raws = RawEvents(data.raw, document.getElementById("raw").textContent);
  // Lower-case text a search looks in: the fields, rule ids and titles, controls, ATT&CK.
  function text(f) {
    if (f.text === undefined) {
      const titles = f.hits.map(function (h) { return rules[h.rule].title; });
      f.text = data.fields.map(function (k) { return f[k]; })
        .concat(f.rules, titles, f.controls, f.attack).join("\n").toLowerCase();
    }
    return f.text;
  }

  const svgNS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, t) {
    const e = document.createElementNS(svgNS, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    if (t !== undefined) e.textContent = String(t);
    return e;
  }
  function count(key) {
    const m = new Map();
    findings.forEach(function (f) { const v = f[key] || "(none)"; m.set(v, (m.get(v) || 0) + 1); });
    return Array.from(m.entries()).sort(function (a, b) { return b[1] - a[1] || (a[0] < b[0] ? -1 : 1); });
  }
  function $(id) { return document.getElementById(id); }

  $("subtitle").textContent = findings.length + " finding(s), " + rules.length + " rule(s); written " +
    data.generated + " by trailwatch " + data.version;
  $("inputs").textContent = "Inputs: " + data.inputs.join(", ");
  $("about").textContent = "Self-contained report: no network access. Raw events are those of findings only.";

  SEVERITIES.forEach(function (s) {
    const n = findings.filter(function (f) { return f.severity === s; }).length;
    const d = el("button", null, "total sev-" + s);
    d.type = "button";
    d.dataset.severity = s;
    d.appendChild(el("b", n));
    d.appendChild(el("span", s));
    d.addEventListener("click", function () { $("f-severity").value = s; apply(); });
    $("totals").appendChild(d);
  });

  function groupTable(id, key, limit, filter) {
    const t = $(id);
    count(key).slice(0, limit).forEach(function (e) {
      const tr = el("tr");
      tr.dataset.key = e[0];
      tr.appendChild(el("td", e[0]));
      tr.appendChild(el("td", e[1], "n"));
      if (e[0] !== "(none)") {
        tr.addEventListener("click", function () {
          if (filter === "f-search") $("f-search").value = e[0]; else $(filter).value = e[0];
          apply();
        });
      }
      t.appendChild(tr);
    });
  }
  groupTable("by-account", "account_id", 20, "f-account");
  groupTable("by-region", "region", 20, "f-region");
  groupTable("by-service", "service", 20, "f-service");
  groupTable("by-actor", "actor", 10, "f-search");

  (function chart() {
    const days = new Map();
    findings.forEach(function (f) {
      const d = f.event_time.slice(0, 10) || "unknown";
      if (!days.has(d)) days.set(d, {});
      const c = days.get(d);
      c[f.severity] = (c[f.severity] || 0) + 1;
    });
    const keys = Array.from(days.keys()).sort();
    const W = 900, H = 220, L = 40, B = 30;
    const root = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img" });
    root.appendChild(svg("title", {}, "Findings per day by severity"));
    let max = 1;
    keys.forEach(function (k) {
      const c = days.get(k);
      max = Math.max(max, SEVERITIES.reduce(function (a, s) { return a + (c[s] || 0); }, 0));
    });
    const bw = keys.length ? (W - L - 10) / keys.length : 0;
    const every = Math.ceil(keys.length / 15);
    keys.forEach(function (k, i) {
      const c = days.get(k);
      let y = H - B;
      SEVERITIES.slice().reverse().forEach(function (s) {
        const n = c[s] || 0;
        if (!n) return;
        const h = n / max * (H - B - 10);
        y -= h;
        const r = svg("rect", { x: L + i * bw + 1, y: y, width: Math.max(bw - 2, 1), height: h, fill: COLORS[s],
          "data-day": k, "data-severity": s, "data-count": n });
        r.appendChild(svg("title", {}, k + " " + s + ": " + n));
        root.appendChild(r);
      });
      if (i % every === 0) {
        root.appendChild(svg("text", { x: L + i * bw + bw / 2, y: H - 10, "font-size": 10, "text-anchor": "middle" }, k.slice(5)));
      }
    });
    root.appendChild(svg("text", { x: 4, y: 14, "font-size": 10 }, String(max)));
    root.appendChild(svg("line", { x1: L, y1: H - B, x2: W - 10, y2: H - B, stroke: "#999" }));
    $("chart").appendChild(root);
  })();

  function fill(id, entries) {
    const s = $(id);
    entries.forEach(function (v) { const o = el("option", v); o.value = v; s.appendChild(o); });
  }
  function keysOf(k) { return count(k).map(function (e) { return e[0]; }).sort(); }
  fill("f-severity", SEVERITIES);
  fill("f-service", keysOf("service"));
  fill("f-account", keysOf("account_id"));
  fill("f-region", keysOf("region"));
  fill("f-rule", rules.map(function (r) { return r.id; }).sort());

  let page = 0;
  let shown = findings;
  const tbody = document.querySelector("#findings tbody");

  function render() {
    tbody.textContent = "";
    const pages = Math.max(1, Math.ceil(shown.length / PAGE));
    if (page >= pages) page = pages - 1;
    if (page < 0) page = 0;
    shown.slice(page * PAGE, page * PAGE + PAGE).forEach(function (f) {
      const tr = el("tr", null, "row");
      tr.dataset.index = f.i;
      tr.tabIndex = 0;
      [f.event_time, f.severity, f.event_name + (f.outcome === "failure" ? " (failed)" : ""), f.actor,
        f.account_id, f.region, f.source_ip, f.title].forEach(function (v, j) {
        tr.appendChild(el("td", v, j === 1 ? "sev sev-" + f.severity : undefined));
      });
      function toggle() {
        const next = tr.nextSibling;
        if (next && next.className === "detail") next.remove();
        else tr.after(detailView(f, rules, raws, 8));
      }
      tr.addEventListener("click", toggle);
      tr.addEventListener("keydown", function (e) { if (e.key === "Enter") toggle(); });
      tbody.appendChild(tr);
    });
    $("shown").textContent = shown.length + " of " + findings.length + " findings shown";
    $("page").textContent = "page " + (page + 1) + " of " + pages;
    $("prev").disabled = page === 0;
    $("next").disabled = page + 1 >= pages;
  }

  let generation = 0;
  async function apply() {
    const run = ++generation;
    const sev = $("f-severity").value, svc = $("f-service").value, acct = $("f-account").value;
    const region = $("f-region").value, rule = $("f-rule").value;
    const q = $("f-search").value.trim().toLowerCase();
    let rawText = null;
    if (q && $("f-raw").checked && raws.count) {
      document.body.dataset.ready = "searching";
      const parts = await raws.all();
      if (run !== generation) return;
      rawText = parts.map(function (p) { return p.map(function (r) { return JSON.stringify(r).toLowerCase(); }); });
    }
    function inRaw(f) {
      return rawText !== null && f.raw >= 0 && rawText[Math.floor(f.raw / data.raw.part)][f.raw % data.raw.part].indexOf(q) >= 0;
    }
    shown = findings.filter(function (f) {
      return (!sev || f.severity === sev) && (!svc || f.service === svc) && (!acct || f.account_id === acct) &&
        (!region || f.region === region) && (!rule || f.rules.indexOf(rule) >= 0) &&
        (!q || text(f).indexOf(q) >= 0 || inRaw(f));
    });
    page = 0;
    render();
    document.body.dataset.ready = "true";
  }
  ["f-severity", "f-service", "f-account", "f-region", "f-rule", "f-raw"].forEach(function (id) {
    $(id).addEventListener("change", apply);
  });
  $("f-search").addEventListener("input", apply);
  $("filters").addEventListener("submit", function (e) { e.preventDefault(); apply(); });
  $("f-clear").addEventListener("click", function () { $("filters").reset(); apply(); });
  $("prev").addEventListener("click", function () { page--; render(); });
  $("next").addEventListener("click", function () { page++; render(); });
  findings.sort(function (a, b) { return a.event_time < b.event_time ? -1 : a.event_time > b.event_time ? 1 : a.i - b.i; });
  render();
  // The page's own "ready" marker, with the time since navigation began (benchmarks read it).
  document.body.dataset.readyMs = String(Math.round(performance.now()));
  document.body.dataset.ready = "true";
})().catch(function (e) {
  document.body.dataset.ready = "error";
  document.getElementById("subtitle").textContent = "This report could not be opened in this browser: " + e;
  throw e;
});
