"use strict";
// The detail view of one finding and the raw events behind it. The data block and each part of
// data.raw.part raw events are gzip-compressed JSON in base64, inflated with the browser's
// DecompressionStream: the data when the page opens, a part of raw events on first use. Record text only ever enters the page as textContent.

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

// The JSON in b64: gzip-compressed, base64-encoded.
async function inflate(b64) {
  const bin = atob(b64.trim());
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return JSON.parse(await new Response(stream).text());
}

// The raw events: `raw.count` records in parts of `raw.part`, one part a line of `lines`.
function RawEvents(raw, lines) {
  const parts = [];
  let texts = null;
  function part(k) {
    if (!texts) texts = lines.split("\n");
    if (!parts[k]) parts[k] = inflate(texts[k]);
    return parts[k];
  }
  const count = Math.ceil(raw.count / raw.part);
  return {
    count: count,
    // The raw record at index r (a promise), or null for none.
    get: async function (r) {
      if (r < 0) return null;
      const p = await part(Math.floor(r / raw.part));
      return p[r % raw.part];
    },
    // Every part, inflated (for a search in raw events).
    all: function () {
      const list = [];
      for (let k = 0; k < count; k++) list.push(part(k));
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
  const error = item("Error", [f.error_code, f.error_message].filter(Boolean).join(": "));
  item("Actor", f.actor ? f.actor + (f.actor_type ? " (" + f.actor_type + ")" : "") : "");
  item("Source IP", f.source_ip);
  item("User agent", f.user_agent);
  item("Account / region", [f.account_id, f.region].filter(Boolean).join(" / "));
  item("Time", f.event_time);
  if (f.count) item("Count", f.count + " (" + (f.first_time || "?") + " to " + (f.last_time || "?") + ")");
  // For findings with a raw event, the event id and error message are read from it.
  const eventId = item("Event id", f.event_id || (f.raw >= 0 ? "…" : ""));
  item("Location", f.location);
  const pre = el("pre", f.raw < 0 ? "(no raw event was kept for this finding)" : "loading…", "raw");
  dl.appendChild(el("dt", "Raw event"));
  const dd = el("dd");
  dd.appendChild(pre);
  dl.appendChild(dd);
  if (f.raw >= 0) {
    raws.get(f.raw).then(function (r) {
      pre.textContent = JSON.stringify(r, null, 2);
      if (r && eventId && !f.event_id) eventId.textContent = r.eventID || "(none)";
      if (r && error && !f.error_message && r.errorMessage) error.textContent = f.error_code + ": " + r.errorMessage;
      pre.dataset.loaded = "true";
    }, function (e) {
      pre.textContent = "the raw event could not be read in this browser: " + e;
    });
  }
  td.appendChild(dl);
  tr.appendChild(td);
  return tr;
}
