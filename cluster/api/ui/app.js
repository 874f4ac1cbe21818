/* raymas operator page: plain JavaScript, no build step, no dependencies.
 *
 * Talks to the /v1 API with "Authorization: Bearer <token>"; the token lives in
 * sessionStorage (this tab only). Live updates come from /v1/bus/stream, read with
 * fetch() because EventSource cannot send the Authorization header; a 2 s poll of
 * agents, tasks, plans and status is the fallback.
 */
(function () {
  "use strict";

  const TOKEN_KEY = "raymas.token";
  const POLL_MS = 2000;
  const DEBOUNCE_MS = 250;
  const FEED_MAX = 50;
  const TASK_LIMIT = 50;
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const TERMINAL = new Set(["done", "failed", "cancelled"]);
  const STATE_ORDER = ["submitted", "announced", "awarded", "running", "reassigned",
    "done", "failed", "cancelled"];

  // The API lives next to the page: strip "/ui", "/ui/" or "/ui/index.html" off the path,
  // so a route prefix in front of the app keeps working.
  const API_ROOT = (function () {
    const m = location.pathname.match(/^(.*?)\/ui(?:\/(?:index\.html)?)?$/);
    return m ? m[1] : "";
  })();

  const state = {
    token: null,
    me: null,
    gen: 0, // bumped on sign-in and sign-out: answers for an older session are dropped
    pollTimer: null,
    debounceTimer: null,
    refreshing: false,
    refreshAgain: false,
    controllers: new Set(),
    tracked: new Map(), // task_id -> latest record of tasks submitted from this page
    lastSubmitted: null,
    feeds: {},
  };

  const $ = (id) => document.getElementById(id);

  /* ---------- HTTP ---------- */

  class ApiError extends Error {
    constructor(status, problem) {
      super(problem.detail || problem.title || "HTTP " + status);
      this.status = status;
      this.problem = problem;
    }
  }

  async function readBody(res) {
    const text = await res.text();
    const type = res.headers.get("content-type") || "";
    if (text && type.includes("json")) {
      try { return JSON.parse(text); } catch (_) { /* fall through to text */ }
    }
    return text;
  }

  function problemOf(res, data) {
    const p = data && typeof data === "object" && !Array.isArray(data) ? data : {};
    let detail = p.detail;
    if (Array.isArray(detail)) { // FastAPI validation errors: [{loc, msg}, ...]
      detail = detail.map((d) => (d && d.msg ? (d.loc ? d.loc.join(".") + ": " : "") + d.msg
        : JSON.stringify(d))).join("; ");
    } else if (detail != null && typeof detail !== "string") {
      detail = JSON.stringify(detail);
    }
    if (!detail && typeof data === "string") detail = data.slice(0, 300);
    return {
      type: p.type || "about:blank",
      title: p.title || res.statusText || "HTTP " + res.status,
      status: p.status || res.status,
      detail: detail || "",
    };
  }

  function problemText(err) {
    if (err instanceof ApiError) {
      return err.problem.detail || err.problem.title || "HTTP " + err.status;
    }
    return (err && err.message) || String(err);
  }

  async function api(path, opts) {
    const o = opts || {};
    const token = o.token || state.token;
    const headers = { Accept: "application/json, application/problem+json" };
    if (token) headers.Authorization = "Bearer " + token;
    if (o.body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(API_ROOT + path, {
        method: o.method || "GET",
        headers,
        body: o.body === undefined ? undefined : JSON.stringify(o.body),
        cache: "no-store",
        credentials: "same-origin",
        signal: o.signal,
      });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, { title: "Network error", detail: "cannot reach the API (" + err.message + ")" });
    }
    const data = await readBody(res);
    if (!res.ok) throw new ApiError(res.status, problemOf(res, data));
    return data;
  }

  /** Turn an error into a message for the user; a 401 signs out (and returns null). */
  function failure(err, action) {
    if (err.status === 401) {
      signOut("Signed out: " + (problemText(err) || "the token is no longer valid."));
      return null;
    }
    if (err.status === 403) {
      const role = state.me && state.me.role ? "\u201c" + state.me.role + "\u201d" : "";
      const detail = err.problem && err.problem.detail ? " (" + err.problem.detail + ")" : "";
      return "Your role " + role + " cannot " + action + detail + ".";
    }
    if (err.status === 0) {
      showBanner(problemText(err));
      return "Could not " + action + ": the API cannot be reached.";
    }
    return "Could not " + action + ": " + problemText(err);
  }

  /* ---------- small DOM helpers ---------- */

  function setText(el, text) {
    const t = text == null ? "" : String(text);
    if (el.textContent !== t) el.textContent = t;
  }

  function showError(el, message) {
    setText(el, message);
    el.hidden = !message;
  }

  function showBanner(message) { showError($("banner"), message); }

  function make(tag, props, children) {
    const el = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v == null) continue;
        if (k === "text") el.textContent = v;
        else if (k === "className") el.className = v;
        else if (k === "dataset") Object.assign(el.dataset, v);
        else el.setAttribute(k, v);
      }
    }
    (children || []).forEach((c) => el.append(c));
    return el;
  }

  function toDate(v) {
    if (v == null || v === "") return null;
    if (typeof v === "number") return new Date(v > 1e12 ? v : v * 1000);
    if (/^\s*\d+(\.\d+)?\s*$/.test(String(v))) return toDate(Number(v));
    const d = new Date(v);
    return isNaN(d.getTime()) ? null : d;
  }

  function fmtTime(v) {
    const d = toDate(v);
    if (!d) return { text: v == null || v === "" ? "\u2014" : String(v), title: "" };
    return { text: d.toLocaleTimeString(undefined, { hour12: false }), title: d.toISOString() };
  }

  function compact(value, max) {
    let s;
    try { s = typeof value === "string" ? value : JSON.stringify(value); } catch (_) { s = String(value); }
    if (s === undefined) s = String(value);
    return s.length > max ? s.slice(0, max - 1) + "\u2026" : s;
  }

  function sortedStates(counts) {
    const keys = Object.keys(counts || {});
    keys.sort((a, b) => {
      const ia = STATE_ORDER.indexOf(a), ib = STATE_ORDER.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
    });
    return keys;
  }

  function renderChips(container, counts) {
    const chips = sortedStates(counts).map((k) => make("span", {
      className: "chip state-" + k, text: k + " " + counts[k], dataset: { state: k },
    }));
    container.replaceChildren(...chips);
  }

  /**
   * Keep a <tbody> in step with `items` without rebuilding it, so focus, selection
   * and element references survive a refresh. `fill(tr, item, fresh)` sets the cells.
   */
  function syncRows(tbody, items, keyOf, fill) {
    const old = new Map();
    for (const tr of Array.from(tbody.rows)) old.set(tr.dataset.key, tr);
    let prev = null;
    for (const item of items) {
      const key = String(keyOf(item));
      let tr = old.get(key);
      const fresh = !tr;
      if (fresh) { tr = document.createElement("tr"); tr.dataset.key = key; } else old.delete(key);
      fill(tr, item, fresh);
      const want = prev ? prev.nextSibling : tbody.firstChild;
      if (tr !== want) tbody.insertBefore(tr, want);
      prev = tr;
    }
    old.forEach((tr) => tr.remove());
  }

  /** Make sure `tr` has `n` cells, the first a row header; return them. */
  function cells(tr, n) {
    if (tr.cells.length !== n) {
      tr.replaceChildren();
      tr.append(make("th", { scope: "row" }));
      for (let i = 1; i < n; i++) tr.append(document.createElement("td"));
    }
    return tr.cells;
  }

  function setStateCell(td, st) {
    setText(td, st || "unknown");
    const cls = "state state-" + String(st || "unknown").replace(/[^a-z0-9_-]/gi, "");
    if (td.className !== cls) td.className = cls;
  }

  /* ---------- rendering ---------- */

  function agentState(a) {
    if (!a.alive) return "dead";
    if (a.suspect) return "suspect";
    return "alive";
  }

  function renderAgents(data) {
    const agents = (data && data.agents) || [];
    const tally = { alive: 0, suspect: 0, dead: 0 };
    syncRows($("agents-table").tBodies[0], agents, (a) => a.agent_id, (tr, a) => {
      const c = cells(tr, 6);
      tr.dataset.agentId = a.agent_id;
      setText(c[0], a.agent_id);
      setText(c[1], a.agent_type || "\u2014");
      const st = agentState(a);
      tally[st] += 1;
      const extra = a.state && !["alive", "suspect", "dead"].includes(a.state) ? " (" + a.state + ")" : "";
      setStateCell(c[2], st);
      if (extra) c[2].textContent = st + extra;
      c[2].dataset.testid = "agent-state";
      const max = Number(a.max_tasks != null ? a.max_tasks : a.capacity) || 0;
      const load = Number(a.load) || 0;
      const loadText = load + "/" + (max || "?");
      if (c[3].dataset.v !== loadText) {
        c[3].dataset.v = loadText;
        const bar = make("meter", { min: "0", max: String(max || 1), value: String(load),
          "aria-hidden": "true" });
        c[3].replaceChildren(make("span", { text: loadText }), bar);
        c[3].className = load >= max && max > 0 ? "load full" : "load";
      }
      setText(c[4], (a.capabilities || []).join(", ") || "\u2014");
      const node = a.node_id ? String(a.node_id) : "";
      setText(c[5], node ? node.slice(0, 8) : "\u2014");
      c[5].title = node;
      c[5].className = "mono";
    });
    $("agents-empty").hidden = agents.length > 0;
    setText($("agents-count"), tally.alive + " alive \u00b7 " + tally.suspect + " suspect \u00b7 "
      + tally.dead + " dead");
  }

  function renderTasks(data) {
    const listed = (data && data.tasks) || [];
    renderChips($("task-counts"), (data && data.counts) || {});
    const seen = new Set(listed.map((t) => t.task_id));
    for (const t of listed) {
      const mine = state.tracked.get(t.task_id);
      if (mine) state.tracked.set(t.task_id, Object.assign({}, mine, t));
    }
    // tasks submitted here stay visible even when they fall out of the recent list
    const extra = [];
    for (const [id, t] of state.tracked) if (!seen.has(id)) extra.push(t);
    extra.reverse();
    const rows = extra.concat(listed);
    syncRows($("tasks-table").tBodies[0], rows, (t) => t.task_id, (tr, t) => {
      const c = cells(tr, 7);
      tr.dataset.taskId = t.task_id;
      tr.classList.toggle("mine", state.tracked.has(t.task_id));
      let btn = c[0].firstElementChild;
      if (!btn) {
        btn = make("button", { type: "button", className: "linkish mono",
          title: "Show this task's result" });
        c[0].append(btn);
      }
      btn.dataset.taskId = t.task_id;
      setText(btn, t.task_id);
      setStateCell(c[1], t.state);
      c[1].dataset.testid = "task-state";
      setText(c[2], t.kind || "\u2014");
      setText(c[3], t.agent_id || "\u2014");
      c[3].className = "mono";
      setText(c[4], t.attempts == null ? "\u2014" : t.attempts);
      setText(c[5], t.plan_id || t.goal || "\u2014");
      c[5].className = "mono";
      const at = t.updated_at != null ? t.updated_at
        : t.finished_at != null ? t.finished_at : t.submitted_at;
      const when = fmtTime(at);
      setText(c[6], when.text); c[6].title = when.title;
    });
    $("tasks-empty").hidden = rows.length > 0;
    renderSubmitted();
  }

  function renderPlans(data) {
    const plans = (data && data.plans) || [];
    syncRows($("plans-table").tBodies[0], plans, (p) => p.plan_id, (tr, p) => {
      const c = cells(tr, 4);
      tr.dataset.planId = p.plan_id;
      setText(c[0], p.plan_id);
      c[0].className = "mono";
      setStateCell(c[1], p.state);
      setText(c[2], p.nodes == null ? "\u2014" : p.nodes);
      const counts = p.counts || {};
      const text = sortedStates(counts).map((k) => k + " " + counts[k]).join(" \u00b7 ");
      setText(c[3], text || "\u2014");
    });
    $("plans-empty").hidden = plans.length > 0;
  }

  /** A value for display, with any password in a URL ("//user:secret@host") hidden. */
  function masked(v) {
    return String(v).replace(/(\/\/[^/:@\s]*:)[^@\s/]+@/g, "$1***@");
  }

  function renderStatus(data) {
    const dl = $("status-list");
    const items = [];
    const add = (label, value, testid) => {
      const dd = make("dd", { "data-testid": testid || null });
      if (value instanceof Node) dd.append(value); else dd.textContent = value;
      items.push(make("div", { className: "stat" }, [make("dt", { text: label }), dd]));
    };
    const d = data && typeof data === "object" ? data : {};
    if ("agents" in d) add("Agents", typeof d.agents === "object" ? compact(d.agents, 60) : d.agents, "status-agents");
    if (d.tasks && typeof d.tasks === "object") {
      const box = make("span", { className: "chips" });
      renderChips(box, d.tasks);
      if (!box.childElementCount) box.textContent = "none";
      add("Tasks", box, "status-tasks");
    }
    for (const [k, v] of Object.entries(d)) {
      if (k === "agents" || k === "tasks" || v == null) continue;
      const label = k.replace(/_/g, " ");
      if (typeof v !== "object") add(label.charAt(0).toUpperCase() + label.slice(1), masked(v));
      else if (!Array.isArray(v) && Object.values(v).every((x) => x == null || typeof x !== "object")) {
        const s = Object.entries(v).map(([a, b]) => a.replace(/_/g, " ") + " " + masked(b))
          .join(" \u00b7 ");
        add(label.charAt(0).toUpperCase() + label.slice(1), s || "\u2014");
      }
    }
    dl.replaceChildren(...items);
  }

  function renderSubmitted() {
    const box = $("submit-result");
    const id = state.lastSubmitted;
    if (!id) { box.replaceChildren(); return; }
    const t = state.tracked.get(id) || { task_id: id, state: "submitted" };
    let idEl = $("submitted-task-id");
    if (!idEl || idEl.textContent !== id) {
      const badge = make("span", { id: "submitted-state", "data-testid": "submitted-state" });
      const outcome = make("p", { id: "submitted-outcome", className: "outcome" });
      idEl = make("code", { id: "submitted-task-id", "data-testid": "submitted-task-id", text: id });
      box.replaceChildren(
        make("p", {}, ["Submitted task ", idEl, "."]),
        make("p", {}, ["State: ", badge]),
        outcome);
    }
    setStateCell($("submitted-state"), t.state);
    const outcome = $("submitted-outcome");
    if (!TERMINAL.has(t.outcomeState)) setText(outcome, "");
    else if (t.error) setText(outcome, "Error: " + compact(t.error, 300));
    else setText(outcome, "Result: " + compact(t.value, 300));
  }

  /* ---------- refresh ---------- */

  async function section(gen, path, render, errId, action) {
    try {
      const data = await api(path);
      if (gen !== state.gen) return;
      render(data);
      showError($(errId), "");
      showBanner("");
    } catch (err) {
      if (gen !== state.gen || err.name === "AbortError") return;
      const msg = failure(err, action);
      if (msg && gen === state.gen) showError($(errId), msg);
    }
  }

  async function refreshTracked(gen) {
    const open = [];
    // a task's outcome counts only from a read that itself saw the task ended: the
    // list may say "done" before this task's own read does, and an earlier read of the
    // running task carries no value yet
    for (const [id, t] of state.tracked) {
      if (!TERMINAL.has(t.outcomeState)) open.push(id);
    }
    await Promise.all(open.map(async (id) => {
      try {
        const t = await api("/v1/tasks/" + encodeURIComponent(id));
        if (gen !== state.gen) return;
        state.tracked.set(id, Object.assign({}, state.tracked.get(id), t,
                                            { outcomeState: t.state }));
      } catch (err) {
        if (gen !== state.gen || err.name === "AbortError") return;
        if (err.status === 401) failure(err, "read tasks");
        // anything else: the tasks list still shows the row
      }
    }));
  }

  async function refreshAll() {
    if (!state.token) return;
    if (state.refreshing) { state.refreshAgain = true; return; }
    state.refreshing = true;
    const gen = state.gen;
    try {
      await refreshTracked(gen);
      if (gen !== state.gen) return;
      await Promise.all([
        section(gen, "/v1/agents", renderAgents, "agents-error", "list agents"),
        section(gen, "/v1/tasks?limit=" + TASK_LIMIT, renderTasks, "tasks-error", "list tasks"),
        section(gen, "/v1/plans", renderPlans, "plans-error", "list plans"),
        section(gen, "/v1/status", renderStatus, "status-error", "read the status"),
      ]);
    } finally {
      state.refreshing = false;
      if (state.refreshAgain && gen === state.gen) {
        state.refreshAgain = false;
        scheduleRefresh(0);
      }
    }
  }

  function scheduleRefresh(delay) {
    clearTimeout(state.debounceTimer);
    state.debounceTimer = setTimeout(refreshAll, delay == null ? DEBOUNCE_MS : delay);
  }

  function startPolling() {
    stopPolling();
    state.pollTimer = setInterval(() => { if (!document.hidden) refreshAll(); }, POLL_MS);
  }

  function stopPolling() {
    clearInterval(state.pollTimer);
    clearTimeout(state.debounceTimer);
    state.pollTimer = null;
  }

  /* ---------- event stream (SSE over fetch) ---------- */

  /**
   * Read an SSE body: onData(text) for each event's joined "data:" lines, onId(id) for
   * each "id:" (kept to resume with Last-Event-ID).
   */
  async function readSse(body, onData, onId) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    let cr = "";
    const dispatch = (frame) => {
      const data = [];
      for (const line of frame.split("\n")) {
        if (!line || line.startsWith(":")) continue; // comment / keep-alive
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        let value = i < 0 ? "" : line.slice(i + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") data.push(value);
        else if (field === "id" && !value.includes("\0")) onId(value);
      }
      if (data.length) onData(data.join("\n"));
    };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        let text = cr + decoder.decode(value, { stream: true });
        cr = "";
        if (text.endsWith("\r")) { cr = "\r"; text = text.slice(0, -1); } // may be half of \r\n
        buf += text.replace(/\r\n?/g, "\n");
        let at;
        while ((at = buf.indexOf("\n\n")) >= 0) {
          dispatch(buf.slice(0, at));
          buf = buf.slice(at + 2);
        }
      }
    } finally {
      try { reader.releaseLock(); } catch (_) { /* already released */ }
    }
  }

  function addFeedItem(feed, event) {
    const list = $(feed.listId);
    const when = fmtTime(event.time != null ? event.time : Date.now());
    const payload = event.payload;
    let summary;
    if (payload && typeof payload === "object" && !Array.isArray(payload)) {
      const id = payload.task_id || payload.node || payload.id || payload.message_id;
      const st = payload.state || payload.reason || payload.error;
      summary = [id, st].filter((x) => x != null).map((x) => compact(x, 80)).join(" \u2192 ");
    }
    if (!summary) summary = compact(payload, 120);
    const full = (function () {
      try { return JSON.stringify(payload, null, 2); } catch (_) { return String(payload); }
    })();
    const li = make("li", { "data-topic": event.topic || "" }, [
      make("time", { datetime: when.title || null, text: when.text }),
      make("code", { className: "topic", text: event.topic || feed.topic }),
      make("span", { className: "summary", text: summary }),
    ]);
    if (full && full !== summary && full.length > 2) {
      li.append(make("details", {}, [make("summary", { text: "payload" }), make("pre", { text: full })]));
    }
    list.prepend(li);
    while (list.children.length > FEED_MAX) list.lastElementChild.remove();
    $(feed.emptyId).hidden = true;
  }

  function updateLive() {
    const feeds = Object.values(state.feeds);
    const el = $("live-indicator");
    let text, cls;
    if (feeds.length && feeds.every((f) => f.status === "live")) {
      text = "live"; cls = "live ok";
    } else if (feeds.some((f) => f.status === "forbidden")) {
      text = "polling every 2 s (stream not allowed)"; cls = "live warn";
    } else if (feeds.some((f) => f.status === "retrying")) {
      text = "reconnecting\u2026 (polling every 2 s)"; cls = "live warn";
    } else {
      text = "connecting\u2026"; cls = "live";
    }
    setText(el, text);
    el.className = cls;
  }

  function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

  async function runStream(feed, gen) {
    let delay = BACKOFF_MIN_MS;
    while (gen === state.gen) {
      const ctrl = new AbortController();
      state.controllers.add(ctrl);
      let since = 0;
      try {
        const headers = { Authorization: "Bearer " + state.token, Accept: "text/event-stream" };
        if (feed.lastId) headers["Last-Event-ID"] = feed.lastId; // resume where we left off
        const res = await fetch(API_ROOT + "/v1/bus/stream?topic=" + encodeURIComponent(feed.topic), {
          headers,
          cache: "no-store",
          signal: ctrl.signal,
        });
        if (!res.ok) throw new ApiError(res.status, problemOf(res, await readBody(res)));
        if (!res.body) throw new Error("this browser cannot read streamed responses");
        feed.status = "live";
        updateLive();
        showError($(feed.errorId), "");
        delay = BACKOFF_MIN_MS;
        since = Date.now();
        scheduleRefresh(); // catch up on anything missed while disconnected
        await readSse(res.body, (text) => {
          if (gen !== state.gen) return;
          let event;
          try { event = JSON.parse(text); } catch (_) { event = null; }
          if (!event || typeof event !== "object") event = { topic: feed.topic, payload: text };
          addFeedItem(feed, event);
          scheduleRefresh();
        }, (id) => { feed.lastId = id; });
        // the server ends a stream after its maximum length: reconnect at once, unless it
        // keeps closing straight away
        if (Date.now() - since > 5000) continue;
        throw new Error("the stream closed");
      } catch (err) {
        if (gen !== state.gen || err.name === "AbortError") return;
        if (err.status === 401) { failure(err, "read the event stream"); return; }
        if (err.status === 403) {
          feed.status = "forbidden";
          updateLive();
          showError($(feed.errorId), failure(err, "read " + feed.topic));
          return; // retrying will not help
        }
        feed.status = "retrying";
        updateLive();
        showError($(feed.errorId), "Stream interrupted (" + problemText(err) + "); retrying in "
          + Math.round(delay / 1000) + " s.");
        await sleep(delay);
        delay = Math.min(delay * 2, BACKOFF_MAX_MS);
      } finally {
        state.controllers.delete(ctrl);
        ctrl.abort();
      }
    }
  }

  function startStreams() {
    const gen = state.gen;
    state.feeds = {
      events: { topic: "raymas/events/#", listId: "events-list", emptyId: "events-empty",
        errorId: "events-error", status: "connecting" },
      dead: { topic: "raymas/dead-letter", listId: "dead-list", emptyId: "dead-empty",
        errorId: "dead-error", status: "connecting" },
    };
    updateLive();
    Object.values(state.feeds).forEach((f) => runStream(f, gen));
  }

  function stopStreams() {
    state.controllers.forEach((c) => c.abort());
    state.controllers.clear();
  }

  /* ---------- session ---------- */

  function clearDashboard() {
    ["agents-table", "tasks-table", "plans-table"].forEach((t) => $(t).tBodies[0].replaceChildren());
    ["events-list", "dead-list", "status-list", "task-counts", "submit-result"].forEach(
      (id) => $(id).replaceChildren());
    ["agents-error", "tasks-error", "plans-error", "status-error", "events-error", "dead-error",
      "submit-error", "details-error"].forEach((id) => showError($(id), ""));
    $("events-empty").hidden = false;
    $("dead-empty").hidden = false;
    $("task-details").hidden = true;
    $("details-hint").hidden = false;
    setText($("agents-count"), "");
    state.tracked.clear();
    state.lastSubmitted = null;
  }

  function showLogin(message) {
    $("content").hidden = true;
    $("session").hidden = true;
    $("login-view").hidden = false;
    showError($("login-error"), message || "");
    $("token-input").focus();
  }

  function signOut(message) {
    state.gen += 1;
    stopPolling();
    stopStreams();
    state.token = null;
    state.me = null;
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (_) { /* storage disabled */ }
    clearDashboard();
    showBanner("");
    showLogin(message);
  }

  async function signIn(raw, fromStorage) {
    const token = String(raw || "").trim().replace(/^Bearer\s+/i, "");
    if (!token) { showError($("login-error"), "Paste an access token first."); return; }
    const button = $("login-button");
    button.disabled = true;
    showError($("login-error"), "");
    let me;
    try {
      me = await api("/v1/me", { token });
    } catch (err) {
      button.disabled = false;
      if (fromStorage) { try { sessionStorage.removeItem(TOKEN_KEY); } catch (_) { /* ignore */ } }
      const why = problemText(err);
      showLogin(err.status === 401 ? "Token rejected: " + why
        : err.status === 403 ? "This token may not use the API: " + why
          : "Could not sign in: " + why);
      return;
    }
    button.disabled = false;
    state.gen += 1;
    state.token = token;
    state.me = me;
    try { sessionStorage.setItem(TOKEN_KEY, token); } catch (_) { /* storage disabled */ }
    $("token-input").value = "";
    setText($("session-subject"), me.subject || "?");
    setText($("session-role"), me.role || "?");
    const exp = fmtTime(me.expires_at);
    setText($("session-expiry"), me.expires_at ? "token expires " + exp.text : "");
    $("session-expiry").title = exp.title;
    $("login-view").hidden = true;
    $("session").hidden = false;
    $("content").hidden = false;
    $("content").focus();
    refreshAll();
    startPolling();
    startStreams();
  }

  /* ---------- forms ---------- */

  async function submitTask(ev) {
    ev.preventDefault();
    const err = $("submit-error");
    showError(err, "");
    const argsEl = $("task-args");
    argsEl.removeAttribute("aria-invalid");
    const kind = $("task-kind").value.trim();
    if (!kind) { showError(err, "Kind is required."); $("task-kind").focus(); return; }
    let args = {};
    const rawArgs = argsEl.value.trim();
    if (rawArgs) {
      try { args = JSON.parse(rawArgs); } catch (e) {
        argsEl.setAttribute("aria-invalid", "true");
        showError(err, "Arguments are not valid JSON: " + e.message);
        argsEl.focus();
        return;
      }
    }
    if (args === null || typeof args !== "object" || Array.isArray(args)) {
      argsEl.setAttribute("aria-invalid", "true");
      showError(err, "Arguments must be a JSON object, such as {\"value\": \"hello\"}.");
      argsEl.focus();
      return;
    }
    const caps = $("task-capabilities").value.split(",").map((s) => s.trim()).filter(Boolean);
    const prioText = $("task-priority").value.trim();
    const priority = prioText === "" ? 1 : Number(prioText);
    if (!Number.isInteger(priority)) { showError(err, "Priority must be a whole number."); return; }
    const body = { kind, args, required_capabilities: caps, priority };
    const button = $("submit-button");
    button.disabled = true;
    const gen = state.gen;
    try {
      const res = await api("/v1/tasks", { method: "POST", body });
      if (gen !== state.gen) return;
      const id = res.task_id;
      state.tracked.set(id, { task_id: id, state: res.state || "submitted", kind, attempts: 0 });
      state.lastSubmitted = id;
      renderSubmitted();
      scheduleRefresh(0);
    } catch (e) {
      if (gen !== state.gen || e.name === "AbortError") return;
      const msg = failure(e, "submit tasks");
      if (msg) showError(err, msg);
    } finally {
      button.disabled = false;
    }
  }

  async function showDetails(id) {
    const pre = $("task-details");
    const gen = state.gen;
    try {
      const t = await api("/v1/tasks/" + encodeURIComponent(id));
      if (gen !== state.gen) return;
      pre.textContent = JSON.stringify(t, null, 2);
      pre.hidden = false;
      $("details-hint").hidden = true;
      showError($("details-error"), "");
    } catch (e) {
      if (gen !== state.gen) return;
      const msg = failure(e, "read tasks");
      if (msg) showError($("details-error"), msg);
    }
  }

  function init() {
    $("login-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      signIn($("token-input").value, false);
    });
    $("token-input").addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("login-form").requestSubmit(); }
    });
    $("logout-button").addEventListener("click", () => signOut(""));
    $("submit-form").addEventListener("submit", submitTask);
    $("tasks-table").tBodies[0].addEventListener("click", (ev) => {
      const btn = ev.target.closest("button[data-task-id]");
      if (btn) showDetails(btn.dataset.taskId);
    });
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && state.token) scheduleRefresh(0);
    });
    let saved = null;
    try { saved = sessionStorage.getItem(TOKEN_KEY); } catch (_) { /* storage disabled */ }
    if (saved) signIn(saved, true); else showLogin("");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
