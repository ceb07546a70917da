// WLOADCTL console: the business link view of a workflow run (templates/workflow_run.html).
// Loads the run's graph (JSON), lays it out with ELK (vendor/elkjs, the "layered" algorithm), draws
// it as SVG, follows the node states live (Server-Sent Events, no polling, no relayout), shows a
// selected task's details, log tail and impact set, and carries out actions after their preview.
// Every text from the cluster is set with textContent (never as markup); no inline script or style.
"use strict";

(function () {
  const NS = "http://www.w3.org/2000/svg";
  const NODE_H = 40;
  const MAX_DRAWN = 5000;        // more tasks than this: the table only (a layout would take minutes)
  const LOG_TAIL = 16384;        // characters of the selected task's log kept on the page
  const STATES = ["running", "succeeded", "failed", "killed", "skipped", "waiting", "retrying", "paused", "pending"];

  const root = document.getElementById("linkview");
  if (!root) { return; }
  const svg = document.getElementById("lv-svg");
  const viewport = document.getElementById("lv-viewport");
  const edgeLayer = document.getElementById("lv-edges");
  const nodeLayer = document.getElementById("lv-nodes");
  const statusLine = document.getElementById("lv-status");
  const byId = (id) => document.getElementById(id);

  const view = { x: 20, y: 20, k: 1 };
  const nodes = new Map();       // task -> {data, g, rect, stateText, title, x, y, w, h}
  const edges = [];              // {from, to, path}
  let selected = "";
  let highlighted = new Set();
  let logSource = null;
  let logUrl = null;             // the log followed (a new attempt is a new run: its log is followed then)
  let detailsSeq = 0;
  let pending = null;            // the action previewed: its parameters and key
  let graphBox = { width: 1, height: 1 };

  function say(text) { statusLine.textContent = text; }

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) { node.setAttribute(k, String(v)); }
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function html(name, text, className) {
    const node = document.createElement(name);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (className) { node.className = className; }
    return node;
  }

  async function getJSON(url) {
    const answer = await fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" });
    if (answer.status === 401) { window.location.assign("/login"); throw new Error("log in again"); }
    let data = null;
    try { data = await answer.json(); } catch (e) { data = null; }
    if (!answer.ok) { throw new Error((data && data.error) || ("HTTP " + answer.status)); }
    return data;
  }

  // ---- drawing

  function label(text, max) { return text.length > max ? text.slice(0, max - 1) + "\u2026" : text; }

  function nodeWidth(name) { return Math.max(96, Math.min(220, 16 + 7.2 * Math.min(name.length, 28))); }

  function setState(entry, data) {
    const g = entry.g;
    for (const s of STATES) { g.classList.remove("st-" + s); }
    g.classList.add("st-" + data.state);
    g.setAttribute("data-state", data.state);
    let text = data.state;
    if (data.attempt) { text += " \u00b7 attempt " + data.attempt; }
    entry.stateText.textContent = text;
    entry.title.textContent = data.id + ": " + text + (data.run ? " (" + data.run + ")" : "");
    entry.data = Object.assign(entry.data || {}, data);
  }

  function draw(graph, laid) {
    const fragmentEdges = document.createDocumentFragment();
    const fragmentNodes = document.createDocumentFragment();
    for (const child of laid.children || []) {
      const data = graph.byId.get(child.id);
      const g = el("g", { "class": "lv-node", "transform": "translate(" + child.x + "," + child.y + ")",
                          "data-task": child.id, "tabindex": "0", "role": "button" });
      const title = el("title", {}, g);
      const rect = el("rect", { width: child.width, height: child.height, rx: 6, ry: 6 }, g);
      const name = el("text", { x: 9, y: 16, "class": "lv-node-name" }, g);
      name.textContent = label(child.id, Math.floor((child.width - 14) / 7.2));
      const stateText = el("text", { x: 9, y: 32, "class": "lv-node-state" }, g);
      if (data.handler) { g.classList.add("lv-handler"); }
      const entry = { data: null, g: g, rect: rect, stateText: stateText, title: title,
                      x: child.x, y: child.y, w: child.width, h: child.height };
      nodes.set(child.id, entry);
      setState(entry, data);
      fragmentNodes.appendChild(g);
    }
    for (const e of laid.edges || []) {
      const section = (e.sections || [])[0];
      if (!section) { continue; }
      const points = [section.startPoint, ...(section.bendPoints || []), section.endPoint];
      const d = points.map((p, i) => (i ? "L" : "M") + p.x.toFixed(1) + " " + p.y.toFixed(1)).join(" ");
      const path = el("path", { d: d, "class": "lv-edge", "marker-end": "url(#lv-arrow)" });
      edges.push({ from: e.sources[0], to: e.targets[0], path: path });
      fragmentEdges.appendChild(path);
    }
    edgeLayer.appendChild(fragmentEdges);
    nodeLayer.appendChild(fragmentNodes);
    graphBox = { width: laid.width || 1, height: laid.height || 1 };
  }

  // ---- pan and zoom

  function apply() { viewport.setAttribute("transform", "translate(" + view.x + "," + view.y + ") scale(" + view.k + ")"); }

  function fit() {
    const box = svg.getBoundingClientRect();
    const k = Math.min((box.width - 40) / graphBox.width, (box.height - 40) / graphBox.height, 1.5);
    view.k = Math.max(0.02, k);
    view.x = (box.width - graphBox.width * view.k) / 2;
    view.y = (box.height - graphBox.height * view.k) / 2;
    apply();
  }

  function zoomAt(factor, cx, cy) {
    const k = Math.max(0.02, Math.min(4, view.k * factor));
    view.x = cx - (cx - view.x) * (k / view.k);
    view.y = cy - (cy - view.y) * (k / view.k);
    view.k = k;
    apply();
  }

  function centerOn(task) {
    const n = nodes.get(task);
    if (!n) { return; }
    const box = svg.getBoundingClientRect();
    if (view.k < 0.6) { view.k = 0.9; }
    view.x = box.width / 2 - (n.x + n.w / 2) * view.k;
    view.y = box.height / 2 - (n.y + n.h / 2) * view.k;
    apply();
  }

  function enablePanZoom() {
    let drag = null;
    svg.addEventListener("wheel", (event) => {
      event.preventDefault();
      const box = svg.getBoundingClientRect();
      zoomAt(event.deltaY < 0 ? 1.15 : 1 / 1.15, event.clientX - box.left, event.clientY - box.top);
    }, { passive: false });
    svg.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) { return; }
      drag = { x: event.clientX, y: event.clientY, vx: view.x, vy: view.y, moved: false };
    });
    svg.addEventListener("pointermove", (event) => {
      if (!drag) { return; }
      const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
      if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) { return; }
      if (!drag.moved) { drag.moved = true; svg.setPointerCapture(event.pointerId); svg.classList.add("lv-dragging"); }
      view.x = drag.vx + dx; view.y = drag.vy + dy; apply();
    });
    const end = (event) => {
      if (!drag) { return; }
      const moved = drag.moved;
      drag = null;
      svg.classList.remove("lv-dragging");
      if (moved) { return; }
      const g = event.target.closest ? event.target.closest("g.lv-node") : null;
      if (g) { select(g.getAttribute("data-task")); } else { deselect(); }
    };
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", () => { drag = null; svg.classList.remove("lv-dragging"); });
    nodeLayer.addEventListener("keydown", (event) => {
      const g = event.target.closest ? event.target.closest("g.lv-node") : null;
      if (g && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); select(g.getAttribute("data-task")); }
    });
    byId("lv-fit").addEventListener("click", fit);
    byId("lv-zoom-in").addEventListener("click", () => { const b = svg.getBoundingClientRect(); zoomAt(1.3, b.width / 2, b.height / 2); });
    byId("lv-zoom-out").addEventListener("click", () => { const b = svg.getBoundingClientRect(); zoomAt(1 / 1.3, b.width / 2, b.height / 2); });
  }

  // ---- highlighting (the impact set, or what a previewed action touches)

  function highlight(names, kind) {
    for (const name of highlighted) {
      const n = nodes.get(name);
      if (n) { n.g.classList.remove("impacted", "previewed"); }
    }
    highlighted = new Set(names);
    for (const name of highlighted) {
      const n = nodes.get(name);
      if (n) { n.g.classList.add(kind); }
    }
    const lit = new Set(highlighted);
    if (selected) { lit.add(selected); }
    for (const e of edges) {
      const hot = highlighted.size > 0 && lit.has(e.from) && lit.has(e.to) && highlighted.has(e.to);
      if (hot !== e.path.classList.contains("impacted")) {
        e.path.classList.toggle("impacted", hot);
        e.path.setAttribute("marker-end", hot ? "url(#lv-arrow-hot)" : "url(#lv-arrow)");
      }
    }
    svg.classList.toggle("lv-dim", highlighted.size > 0 || selected !== "");
  }

  // ---- the selected task

  function fact(list, name, value, href) {
    if (value === undefined || value === null || value === "" || value === "-") { return; }
    list.appendChild(html("dt", name));
    const dd = html("dd");
    if (href) { const a = html("a", value); a.href = href; dd.appendChild(a); } else { dd.textContent = String(value); }
    list.appendChild(dd);
  }

  function select(task) {
    if (!nodes.has(task)) { return; }
    if (selected && nodes.has(selected)) { nodes.get(selected).g.classList.remove("selected"); }
    selected = task;
    const entry = nodes.get(task);
    entry.g.classList.add("selected");
    root.dataset.selected = task;
    byId("lv-hint").hidden = true;
    byId("lv-details").hidden = false;
    byId("lv-d-name").textContent = task;
    const badge = byId("lv-d-state");
    badge.textContent = entry.data.state;
    badge.className = "lv-badge st-" + entry.data.state;
    byId("lv-task-actions").hidden = !!entry.data.handler;
    closePreview();
    highlight([], "impacted");
    loadDetails(task, true);
  }

  function deselect() {
    if (!selected) { return; }
    if (nodes.has(selected)) { nodes.get(selected).g.classList.remove("selected"); }
    selected = "";
    detailsSeq++;
    delete root.dataset.selected;
    root.dataset.impact = "";
    if (logSource) { logSource.close(); logSource = null; }
    logUrl = null;
    byId("lv-details").hidden = true;
    byId("lv-hint").hidden = false;
    closePreview();
    highlight([], "impacted");
  }

  async function loadDetails(task, newSelection) {
    const seq = ++detailsSeq;
    let data;
    try {
      data = await getJSON(root.dataset.taskUrl + "?name=" + encodeURIComponent(task));
    } catch (e) {
      if (seq === detailsSeq) { byId("lv-d-facts").textContent = ""; byId("lv-d-facts").appendChild(html("dd", String(e.message), "error")); }
      return;
    }
    if (seq !== detailsSeq || task !== selected) { return; }
    const t = data.task, spec = data.spec, run = data.run;
    const facts = byId("lv-d-facts");
    facts.textContent = "";
    fact(facts, "State", t.api_state + (t.ready ? " (ready: starts when the run is resumed)" : ""));
    fact(facts, "Why", t.reason);
    fact(facts, "Waiting for", t.waiting_for + (t.held_until ? " (until " + t.held_until + ")" : ""));
    fact(facts, "Attempt", t.attempt ? String(t.attempt) + (t.previous_runs.length ? " (earlier runs: " + t.previous_runs.join(", ") + ")" : "") : "");
    fact(facts, "Run", t.run, t.run ? "/runs/" + encodeURIComponent(t.run) : "");
    fact(facts, "Sub-workflow run", t.child, t.child ? "/workflows/runs/" + encodeURIComponent(t.child) : "");
    if (run) {
      fact(facts, "Run state", run.state);
      fact(facts, "Agent", run.agent + (run.pid ? " (pid " + run.pid + ")" : ""));
    } else if (data.run_error) {
      fact(facts, "Run", data.run_error);
    }
    fact(facts, "Started", t.started);
    fact(facts, "Ended", t.ended);
    fact(facts, "Took", t.took);
    fact(facts, "Retry at", t.retry_at);
    if (t.exit_code !== null && t.exit_code !== undefined) { fact(facts, "Exit code", String(t.exit_code)); }
    if (run) { fact(facts, "Error", run.error); }
    if (t.chosen && t.chosen.length) { fact(facts, "Chose", t.chosen.join(", ")); }
    if (spec) {
      fact(facts, "Runs", spec.kind + (spec.job ? " " + spec.job : "") + (spec.workflow ? " " + spec.workflow : ""));
      fact(facts, "Depends on", spec.depends_on.join(", ") || "nothing");
      fact(facts, "Trigger rule", spec.trigger_rule);
      fact(facts, "Condition", spec.when);
      fact(facts, "Waits for", spec.waits.join("; "));
      fact(facts, "Description", spec.description);
    }
    if (t.handler) { fact(facts, "On failure", "a handler: runs once every task ended and one failed"); }

    // what it blocks: the Impact API's answer (as `wloadctl impact`)
    const list = byId("lv-d-impact"), other = byId("lv-d-elsewhere");
    list.textContent = ""; other.textContent = "";
    const impact = data.impact;
    const affected = impact ? impact.affected : [];
    byId("lv-d-impact-count").textContent = impact ? affected.length + " task(s) after it" : (data.impact_error || "");
    byId("lv-d-impact-none").hidden = !impact || affected.length > 0;
    for (const a of affected) {
      const li = html("li");
      const b = html("button", a.id, "lv-link");
      b.type = "button";
      b.addEventListener("click", () => { select(a.id); centerOn(a.id); });
      li.appendChild(b);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(html("span", a.state, "lv-badge st-" + a.state));
      list.appendChild(li);
    }
    const elsewhere = impact ? impact.elsewhere : [];
    byId("lv-d-elsewhere-box").hidden = elsewhere.length === 0;
    for (const e of elsewhere) {
      const li = html("li");
      const a = html("a", e.run + " / " + e.task);
      a.href = "/workflows/runs/" + encodeURIComponent(e.run) + "?task=" + encodeURIComponent(e.task);
      li.appendChild(a);
      li.appendChild(html("span", " (workflow " + e.workflow + ", domain " + e.domain + ") ", "muted small"));
      li.appendChild(html("span", e.state, "lv-badge st-" + e.state));
      other.appendChild(li);
    }
    root.dataset.impact = affected.map((a) => a.id).join(",");
    if (!pending) { highlight(affected.map((a) => a.id), "impacted"); }

    const outputs = byId("lv-d-outputs").tBodies[0];
    outputs.textContent = "";
    for (const [k, v] of (run ? run.outputs : [])) {
      const tr = html("tr");
      tr.appendChild(html("th", k)); tr.appendChild(html("td", v));
      outputs.appendChild(tr);
    }
    if (!outputs.rows.length) { const tr = html("tr"); tr.appendChild(html("td", "none", "muted")); outputs.appendChild(tr); }

    const runLink = byId("lv-d-run-link");
    runLink.hidden = !t.run;
    if (t.run) { runLink.href = "/runs/" + encodeURIComponent(t.run); }
    if (newSelection || data.log !== logUrl) { followLog(data.log); }
  }

  function followLog(url) {
    if (logSource) { logSource.close(); logSource = null; }
    logUrl = url;
    const pre = byId("lv-log"), status = byId("lv-log-status");
    let tail = "";
    pre.textContent = "";
    delete pre.dataset.done;
    if (!url) { status.textContent = "no run yet"; return; }
    status.textContent = "live";
    const source = new EventSource(url + "?offset=0");
    logSource = source;
    source.addEventListener("log", (event) => {
      const data = JSON.parse(event.data);
      tail = (tail + data.text).slice(-LOG_TAIL);
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.textContent = tail;
      if (atBottom) { pre.scrollTop = pre.scrollHeight; }
    });
    source.addEventListener("end", (event) => {
      const data = JSON.parse(event.data);
      source.close();
      if (logSource === source) { logSource = null; }
      status.textContent = data.error ? "stream ended: " + data.error : "complete" + (data.state ? " (" + data.state + ")" : "");
      pre.dataset.done = "yes";
    });
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) { status.textContent = "the log is not available"; }
      else { status.textContent = "reconnecting..."; }
    };
  }

  // ---- actions: preview (the CLI's --dry-run), then confirm

  const ACTION_TITLES = {
    "rerun:downstream": (t) => "Rerun from " + t + ": it and every task after it",
    "rerun:only": (t) => "Rerun " + t + " alone",
    "mark:succeeded": (t) => "Mark " + t + " succeeded",
    "mark:skipped": (t) => "Mark " + t + " skipped",
    "pause": () => "Pause the workflow run", "resume": () => "Resume the workflow run",
    "kill": () => "Kill the workflow run",
  };

  function cliOf(p, run) {
    if (p.action === "rerun") { return "wloadctl rerun " + run + " --task " + p.task + (p.mode === "only" ? " --only" : "") + " --dry-run"; }
    if (p.action === "mark") { return "wloadctl mark " + run + " " + p.task + " " + p.outcome + " --dry-run"; }
    if (p.action === "kill") { return "wloadctl kill " + run + " --dry-run"; }
    return "wloadctl describe run " + run;
  }

  function closePreview() {
    pending = null;
    byId("lv-preview").hidden = true;
    root.dataset.previewState = "";
  }

  async function preview(button) {
    const p = { action: button.dataset.action, task: "", mode: button.dataset.mode || "", outcome: button.dataset.outcome || "" };
    if (p.action === "rerun" || p.action === "mark") {
      if (!selected) { return; }
      p.task = selected;
    }
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(p)) { if (v) { params.set(k, v); } }
    const box = byId("lv-preview");
    byId("lv-result").hidden = true;
    byId("lv-preview-title").textContent = (ACTION_TITLES[p.action + (p.mode || p.outcome ? ":" + (p.mode || p.outcome) : "")] || ACTION_TITLES[p.action])(p.task);
    byId("lv-preview-text").textContent = "asking the cluster what it would do...";
    byId("lv-preview-cli").textContent = cliOf(p, root.dataset.run);
    const confirm = byId("lv-confirm");
    confirm.disabled = true;
    box.hidden = false;
    pending = null;
    let data;
    try {
      data = await getJSON(root.dataset.preview + "?" + params.toString());
    } catch (e) {
      byId("lv-preview-text").textContent = "refused: " + e.message;
      root.dataset.previewState = "error";
      return;
    }
    pending = { action: p.action, task: p.task, mode: p.mode, outcome: p.outcome, key: data.key };
    byId("lv-preview-text").textContent = data.text;
    confirm.disabled = !!data.changes_nothing;
    confirm.textContent = data.changes_nothing ? "Nothing to do" : "Confirm";
    root.dataset.previewState = "ready";
    highlight(data.highlight || [], "previewed");
  }

  async function confirmAction() {
    if (!pending) { return; }
    const p = pending;
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(p)) { if (v) { body.set(k, v); } }
    byId("lv-confirm").disabled = true;
    let answer, data = null;
    try {
      answer = await fetch(root.dataset.action, {
        method: "POST", credentials: "same-origin", body: body,
        headers: { "Accept": "application/json", "X-CSRF-Token": root.dataset.csrf,
                   "Content-Type": "application/x-www-form-urlencoded" },
      });
      if (answer.redirected && answer.url.indexOf("/login") >= 0) { window.location.assign("/login"); return; }
      try { data = await answer.json(); } catch (e) { data = { ok: false, error: "HTTP " + answer.status + " (reload the page)" }; }
    } catch (e) {
      data = { ok: false, error: "no answer: " + e.message };
    }
    closePreview();
    const result = byId("lv-result");
    result.hidden = false;
    const text = byId("lv-result-text");
    text.textContent = data.error ? "refused: " + data.error : data.text;
    text.className = data.error ? "error" : (data.approval_id ? "warn" : "ok");
    byId("lv-result-message").textContent = data.message || "";
    byId("lv-result-approvals").hidden = !data.approval_id;
    root.dataset.result = data.approval_id ? "approval" : (data.error ? "error" : "done");
    if (data.approval_id) { root.dataset.approval = data.approval_id; }
    if (selected) { loadDetails(selected, false); } else { highlight([], "impacted"); }
  }

  function enableActions() {
    for (const button of document.querySelectorAll("button.lv-action")) {
      button.addEventListener("click", () => preview(button));
    }
    byId("lv-confirm").addEventListener("click", confirmAction);
    byId("lv-cancel").addEventListener("click", () => {
      closePreview();
      if (selected) { loadDetails(selected, false); } else { highlight([], "impacted"); }
    });
  }

  // ---- live states

  function follow() {
    const source = new EventSource(root.dataset.events);
    let refresh = null;
    source.addEventListener("nodes", (event) => {
      let touched = false;
      for (const data of JSON.parse(event.data)) {
        const entry = nodes.get(data.id);
        if (!entry) { continue; }
        setState(entry, data);
        if (data.id === selected) { touched = true; }
      }
      if (touched) {
        const badge = byId("lv-d-state");
        badge.textContent = nodes.get(selected).data.state;
        badge.className = "lv-badge st-" + nodes.get(selected).data.state;
        clearTimeout(refresh);
        refresh = setTimeout(() => { if (selected) { loadDetails(selected, false); } }, 150);
      }
      root.dataset.updates = String(Number(root.dataset.updates || "0") + 1);
    });
    source.addEventListener("run", (event) => {
      const run = JSON.parse(event.data);
      const state = byId("wf-state");
      state.textContent = run.state;
      state.className = "state wf-" + run.state.toLowerCase();
      byId("wf-paused").hidden = !run.paused;
      byId("wf-counts").textContent = run.total + " tasks: " + run.succeeded + " succeeded, " + run.failed + " failed, " + run.skipped + " skipped";
      byId("wf-ended").hidden = !run.ended_ms;
      if (run.ended_ms) { byId("wf-ended-at").textContent = new Date(run.ended_ms).toISOString().slice(0, 19) + "Z"; }
    });
    source.addEventListener("end", () => { source.close(); say("live updates ended: reload the page"); });
    source.onopen = () => { root.dataset.live = "yes"; say(nodes.size + " tasks \u00b7 live"); };
    source.onerror = () => {
      root.dataset.live = "";
      say(source.readyState === EventSource.CLOSED ? "live updates refused: reload the page" : "reconnecting...");
    };
  }

  // ---- start

  async function start() {
    enableActions();
    let graph;
    try {
      graph = await getJSON(root.dataset.graph);
    } catch (e) {
      say("the graph could not be loaded: " + e.message);
      return;
    }
    graph.byId = new Map(graph.nodes.map((n) => [n.id, n]));
    if (graph.nodes.length > MAX_DRAWN) {
      say(graph.nodes.length + " tasks: too many to draw here; see the table below");
      byId("lv-task-table").open = true;
      return;
    }
    say("laying out " + graph.nodes.length + " tasks...");
    // Let the browser paint the message before the layout takes the thread.
    await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    const big = graph.nodes.length > 300;
    const elkGraph = {
      id: "root",
      layoutOptions: {
        "elk.algorithm": "layered",
        "elk.direction": "RIGHT",
        "elk.edgeRouting": "POLYLINE",
        "elk.spacing.nodeNode": "14",
        "elk.layered.spacing.nodeNodeBetweenLayers": "48",
        "elk.layered.spacing.edgeNodeBetweenLayers": "12",
        "elk.layered.thoroughness": big ? "1" : "7",
        "elk.layered.nodePlacement.strategy": big ? "SIMPLE" : "BRANDES_KOEPF",
        "elk.separateConnectedComponents": "false",
      },
      children: graph.nodes.map((n) => ({ id: n.id, width: nodeWidth(n.id), height: NODE_H })),
      edges: graph.edges.map((e, i) => ({ id: "e" + i, sources: [e[0]], targets: [e[1]] })),
    };
    const t0 = performance.now();
    let laid;
    try {
      laid = await new ELK().layout(elkGraph);
    } catch (e) {
      say("the layout failed: " + e.message + "; see the table below");
      byId("lv-task-table").open = true;
      return;
    }
    const elkMs = performance.now() - t0;
    draw(graph, laid);
    fit();
    enablePanZoom();
    await new Promise((resolve) => requestAnimationFrame(() => resolve()));
    root.dataset.elkMs = String(Math.round(elkMs));
    root.dataset.layoutMs = String(Math.round(performance.now()));   // from the navigation's start
    performance.mark("linkview-layout-done");
    const note = graph.edges_error ? " (dependencies not shown: " + graph.edges_error + ")" : "";
    say(graph.nodes.length + " tasks, laid out in " + (elkMs / 1000).toFixed(1) + " s" + note);
    follow();
    if (root.dataset.select && nodes.has(root.dataset.select)) {
      select(root.dataset.select);
      centerOn(root.dataset.select);
    }
  }

  start();
})();
