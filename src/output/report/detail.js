"use strict";
// The detail view of one finding and the raw events behind it. Raw events come in parts of
// data.raw.part records, each a gzip-compressed JSON array in base64, inflated on first use
// with the browser's DecompressionStream. Record text only ever enters the page as textContent.

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function RawEvents(raw) {
  const parts = [];
  function part(k) {
    if (!parts[k]) {
      parts[k] = (async function () {
        const bytes = Uint8Array.from(atob(raw.parts[k]), function (c) { return c.charCodeAt(0); });
        const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
        return JSON.parse(await new Response(stream).text());
      })();
    }
    return parts[k];
  }
  return {
    count: raw.parts.length,
    // The raw record at index r (a promise), or null for none.
    get: async function (r) {
      if (r < 0) return null;
      const p = await part(Math.floor(r / raw.part));
      return p[r % raw.part];
    },
    // Every part, inflated (for a search in raw events).
    all: function () {
      const list = [];
      for (let k = 0; k < raw.parts.length; k++) list.push(part(k));
      return Promise.all(list);
    },
  };
}

function detailView(f, rules, raws, columns) {
  const tr = el("tr", null, "detail");
  const td = el("td");
  td.colSpan = columns;
  const dl = el("dl");
  function item(k, v) {
    if (v === undefined || v === null || v === "" || (Array.isArray(v) && !v.length)) return null;
    dl.appendChild(el("dt", k));
    const dd = el("dd", Array.isArray(v) ? v.join(", ") : v);
    dl.appendChild(dd);
    return dd;
  }
  item("What happened", f.summary);
  item("What to check", f.why);
  const ruleText = f.hits.map(function (h, i) {
    const r = rules[h.rule];
    let s = r.id + " — " + r.title + " (" + h.severity + (r.pack ? ", " + r.pack : "") + ")";
    if (h.lowered) s += "\n  lowered: " + h.lowered;
    // The top rule's texts are the finding's own; the others are shown here.
    if (i > 0 && r.description) s += "\n  " + r.description;
    if (i > 0 && r.why) s += "\n  What to check: " + r.why;
    return s;
  });
  item(f.hits.length > 1 ? "Rules (" + f.hits.length + ")" : "Rule", ruleText.join("\n"));
  item("Controls", f.controls);
  item("ATT&CK", f.attack);
  const refs = [];
  f.hits.forEach(function (h) {
    rules[h.rule].references.forEach(function (x) { if (refs.indexOf(x) < 0) refs.push(x); });
  });
  item("References", refs.join("\n"));
  item("Suppressed by", f.suppressed_by);
  item("Event", [f.event_source, f.event_name].filter(Boolean).join(" "));
  item("Outcome", f.outcome);
  item("Error", [f.error_code, f.error_message].filter(Boolean).join(": "));
  item("Actor", f.actor ? f.actor + (f.actor_type ? " (" + f.actor_type + ")" : "") : "");
  item("Source IP", f.source_ip);
  item("User agent", f.user_agent);
  item("Account / region", [f.account_id, f.region].filter(Boolean).join(" / "));
  item("Time", f.event_time);
  if (f.count) item("Count", f.count + " (" + (f.first_time || "?") + " to " + (f.last_time || "?") + ")");
  item("Event id", f.event_id);
  item("Location", f.location);
  const pre = el("pre", f.raw < 0 ? "(no raw event was kept for this finding)" : "loading…", "raw");
  dl.appendChild(el("dt", "Raw event"));
  const dd = el("dd");
  dd.appendChild(pre);
  dl.appendChild(dd);
  if (f.raw >= 0) {
    raws.get(f.raw).then(function (r) {
      pre.textContent = JSON.stringify(r, null, 2);
      pre.dataset.loaded = "true";
    }, function (e) {
      pre.textContent = "the raw event could not be read in this browser: " + e;
    });
  }
  td.appendChild(dl);
  tr.appendChild(td);
  return tr;
}
