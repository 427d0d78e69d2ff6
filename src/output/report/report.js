"use strict";
(function () {
  const SEVERITIES = ["critical", "high", "medium", "low", "info"];
  const COLORS = { critical: "#8b0000", high: "#c0392b", medium: "#e67e22", low: "#2980b9", info: "#95a5a6" };
  const PAGE = 50;
  const data = JSON.parse(document.getElementById("data").textContent);
  const S = data.strings;
  const nf = data.fields.length;
  const findings = data.findings.map(function (row, i) {
    const f = { i: i };
    data.fields.forEach(function (k, j) { f[k] = S[row[j]]; });
    f.rules = row[nf].map(function (x) { return S[x]; });
    f.controls = row[nf + 1].map(function (x) { return S[x]; });
    f.attack = row[nf + 2].map(function (x) { return S[x]; });
    f.ruleTitles = row[nf + 3].map(function (x) { return S[x]; });
    f.text = (data.fields.map(function (k) { return f[k]; }).join("\n") + "\n" +
      f.rules.concat(f.controls, f.attack).join("\n")).toLowerCase();
    return f;
  });

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  const svgNS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    const e = document.createElementNS(svgNS, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function count(key) {
    const m = new Map();
    findings.forEach(function (f) { const v = f[key] || "(none)"; m.set(v, (m.get(v) || 0) + 1); });
    return Array.from(m.entries()).sort(function (a, b) { return b[1] - a[1] || (a[0] < b[0] ? -1 : 1); });
  }

  document.getElementById("subtitle").textContent = findings.length + " findings";

  const totals = document.getElementById("totals");
  SEVERITIES.forEach(function (s) {
    const n = findings.filter(function (f) { return f.severity === s; }).length;
    const d = el("div", null, "total sev-" + s);
    d.dataset.severity = s;
    d.appendChild(el("b", n));
    d.appendChild(el("span", s));
    totals.appendChild(d);
  });

  function groupTable(id, key, limit) {
    const t = document.getElementById(id);
    count(key).slice(0, limit).forEach(function (e) {
      const tr = el("tr");
      tr.appendChild(el("td", e[0]));
      tr.appendChild(el("td", e[1], "n"));
      t.appendChild(tr);
    });
  }
  groupTable("by-account", "account_id", 20);
  groupTable("by-region", "region", 20);
  groupTable("by-service", "service", 20);
  groupTable("by-actor", "actor", 10);

  (function chart() {
    const days = new Map();
    findings.forEach(function (f) {
      const d = (f.event_time || "").slice(0, 10) || "unknown";
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
    keys.forEach(function (k, i) {
      const c = days.get(k);
      let y = H - B;
      SEVERITIES.slice().reverse().forEach(function (s) {
        const n = c[s] || 0;
        if (!n) return;
        const h = n / max * (H - B - 10);
        y -= h;
        const r = svg("rect", { x: L + i * bw + 1, y: y, width: Math.max(bw - 2, 1), height: h, fill: COLORS[s] });
        r.appendChild(svg("title", {}, k + " " + s + ": " + n));
        root.appendChild(r);
      });
      if (keys.length <= 31 || i % Math.ceil(keys.length / 15) === 0) {
        root.appendChild(svg("text", { x: L + i * bw + bw / 2, y: H - 10, "font-size": 10, "text-anchor": "middle" }, k.slice(5)));
      }
    });
    root.appendChild(svg("text", { x: 4, y: 14, "font-size": 10 }, String(max)));
    root.appendChild(svg("line", { x1: L, y1: H - B, x2: W - 10, y2: H - B, stroke: "#999" }));
    document.getElementById("chart").appendChild(root);
  })();

  function fill(id, entries) {
    const s = document.getElementById(id);
    entries.forEach(function (v) { const o = el("option", v); o.value = v; s.appendChild(o); });
  }
  fill("f-severity", SEVERITIES);
  fill("f-service", count("service").map(function (e) { return e[0]; }).sort());
  fill("f-account", count("account_id").map(function (e) { return e[0]; }).sort());
  const ruleSet = new Set();
  findings.forEach(function (f) { f.rules.forEach(function (r) { ruleSet.add(r); }); });
  fill("f-rule", Array.from(ruleSet).sort());

  let page = 0;
  let shown = findings;
  const tbody = document.querySelector("#findings tbody");

  function detail(f) {
    const tr = el("tr", null, "detail");
    const td = el("td");
    td.colSpan = 8;
    const dl = el("dl");
    function item(k, v) { if (v === undefined || v === null || v === "" || (Array.isArray(v) && !v.length)) return; dl.appendChild(el("dt", k)); dl.appendChild(el("dd", Array.isArray(v) ? v.join(", ") : v)); }
    item("What happened", f.summary);
    item("Why it matters", f.why);
    item("Rules", f.rules.map(function (r, i) { return r + (f.ruleTitles[i] ? " — " + f.ruleTitles[i] : ""); }).join("\n"));
    item("Controls", f.controls);
    item("ATT&CK", f.attack);
    item("Outcome", f.outcome);
    item("Error", f.error_code);
    item("User agent", f.user_agent);
    item("Event id", f.event_id);
    item("Location", f.location);
    td.appendChild(dl);
    tr.appendChild(td);
    return tr;
  }

  function render() {
    tbody.textContent = "";
    const pages = Math.max(1, Math.ceil(shown.length / PAGE));
    if (page >= pages) page = pages - 1;
    shown.slice(page * PAGE, page * PAGE + PAGE).forEach(function (f) {
      const tr = el("tr", null, "row");
      tr.dataset.index = f.i;
      [f.event_time, f.severity, f.event_name, f.actor, f.account_id, f.region, f.source_ip, f.title].forEach(function (v, j) {
        tr.appendChild(el("td", v, j === 1 ? "sev sev-" + f.severity : undefined));
      });
      tr.addEventListener("click", function () {
        const next = tr.nextSibling;
        if (next && next.className === "detail") { next.remove(); } else { tr.after(detail(f)); }
      });
      tbody.appendChild(tr);
    });
    document.getElementById("shown").textContent = shown.length + " of " + findings.length + " findings shown";
    document.getElementById("page").textContent = "page " + (page + 1) + " of " + pages;
    document.getElementById("prev").disabled = page === 0;
    document.getElementById("next").disabled = page + 1 >= pages;
  }

  function apply() {
    const sev = document.getElementById("f-severity").value;
    const svc = document.getElementById("f-service").value;
    const acct = document.getElementById("f-account").value;
    const rule = document.getElementById("f-rule").value;
    const q = document.getElementById("f-search").value.trim().toLowerCase();
    shown = findings.filter(function (f) {
      return (!sev || f.severity === sev) && (!svc || f.service === svc) &&
        (!acct || f.account_id === acct) && (!rule || f.rules.indexOf(rule) >= 0) &&
        (!q || f.text.indexOf(q) >= 0);
    });
    page = 0;
    render();
  }
  ["f-severity", "f-service", "f-account", "f-rule"].forEach(function (id) {
    document.getElementById(id).addEventListener("change", apply);
  });
  document.getElementById("f-search").addEventListener("input", apply);
  document.getElementById("prev").addEventListener("click", function () { page--; render(); });
  document.getElementById("next").addEventListener("click", function () { page++; render(); });
  findings.sort(function (a, b) { return a.event_time < b.event_time ? -1 : a.event_time > b.event_time ? 1 : a.i - b.i; });
  render();
  document.body.dataset.ready = "true";
})();
