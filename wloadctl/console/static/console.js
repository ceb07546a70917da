// WLOADCTL console: the few live parts, in plain JavaScript (pages work without it).
// Log output is added as text (textContent / text nodes), never as markup.
"use strict";

function followLog(pre) {
  const url = pre.dataset.stream + "?offset=" + encodeURIComponent(pre.dataset.offset || "0");
  const status = document.getElementById("log-status");
  const source = new EventSource(url);
  source.addEventListener("log", (event) => {
    const data = JSON.parse(event.data);
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.appendChild(document.createTextNode(data.text));
    if (atBottom) { pre.scrollTop = pre.scrollHeight; }
  });
  source.addEventListener("end", (event) => {
    const data = JSON.parse(event.data);
    source.close();
    if (status) { status.textContent = data.error ? "stream ended: " + data.error : "complete" + (data.state ? " (" + data.state + ")" : ""); }
    const state = document.getElementById("run-state");
    if (state && data.state) { state.textContent = data.state; }
    pre.dataset.done = "yes";
  });
  source.onerror = () => {
    // EventSource reconnects by itself (Last-Event-ID resumes at the byte offset reached).
    if (status && source.readyState === EventSource.CONNECTING) { status.textContent = "reconnecting..."; }
  };
}

function refreshOverview() {
  // The overview's numbers again every 15 s, from the same calls (/api/overview).
  const cells = document.querySelectorAll("[data-metric]");
  if (!cells.length) { return; }
  setInterval(async () => {
    if (document.hidden) { return; }
    const answer = await fetch("/api/overview", { headers: { "Accept": "application/json" }, credentials: "same-origin" });
    if (answer.status === 401) { window.location.assign("/login"); return; }
    if (!answer.ok) { return; }
    const data = await answer.json();
    const set = (name, value) => {
      const cell = document.querySelector('[data-metric="' + name + '"]');
      if (cell && value !== null && value !== undefined) { cell.textContent = String(value); }
    };
    set("jobs", data.jobs); set("workflows", data.workflows); set("agents-online", data.agents_online);
    if (data.active) { set("running", data.active.running); set("queued", data.active.queued); }
    set("leader", data.leader); set("epoch", data.epoch);
    for (const day of data.days || []) {
      set(day.label + "-created", day.created); set(day.label + "-succeeded", day.succeeded); set(day.label + "-failed", day.failed);
    }
  }, 15000);
}

document.addEventListener("DOMContentLoaded", () => {
  const pre = document.getElementById("log");
  if (pre && pre.dataset.stream) { followLog(pre); }
  if (document.getElementById("days")) { refreshOverview(); }
});
