// The bureau dashboard: plain JavaScript, no framework, no build step.
// It never sees an API key after sign-in: every request carries the httpOnly session cookie,
// and every request that changes something carries the X-Bureau-Dashboard header, which a
// cross-site form cannot send (the control plane refuses such requests without it).
"use strict";

const HEADER = { "X-Bureau-Dashboard": "1" };
const SCREENSHOT_EVERY_MS = 1000;
const RETRY_MS = 2000;
const FEED_MAX = 200;

const $ = (id) => document.getElementById(id);
const state = { me: null, desktops: new Map(), selected: null, screen: null, feed: null, list: null };

async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { ...HEADER } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  let data = null;
  if ((resp.headers.get("Content-Type") || "").startsWith("application/json")) data = await resp.json();
  return { status: resp.status, data };
}

// Server-sent events over fetch (not EventSource): the status of the answer is known, so a
// route the agent does not have (404) can be told from a dropped connection.
function sse(path, onEvent, onState) {
  const controller = new AbortController();
  let stopped = false;
  async function run() {
    while (!stopped) {
      let resp;
      try {
        resp = await fetch(path, { credentials: "same-origin", headers: HEADER, signal: controller.signal });
      } catch (e) {
        if (stopped) return;
        onState("down");
        await sleep(RETRY_MS);
        continue;
      }
      if (resp.status === 401) { showSignIn(); return; }
      if (!resp.ok) {
        onState(resp.status === 404 ? "absent" : "error", resp.status);
        if (resp.status === 404 || resp.status === 403) return;
        await sleep(RETRY_MS);
        continue;
      }
      onState("open");
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let name = "message", data = [];
            for (const line of block.split("\n")) {
              if (line.startsWith(":")) continue;
              const at = line.indexOf(":");
              const field = at < 0 ? line : line.slice(0, at);
              const val = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
              if (field === "event") name = val;
              else if (field === "data") data.push(val);
            }
            if (data.length) {
              try { onEvent(name, JSON.parse(data.join("\n"))); } catch (e) { /* not JSON: ignored */ }
            }
          }
        }
      } catch (e) { /* aborted or cut */ }
      if (stopped) return;
      onState("down");
      await sleep(RETRY_MS);
    }
  }
  run();
  return () => { stopped = true; controller.abort(); };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// sign-in ------------------------------------------------------------------------------

function showSignIn() {
  stopAll();
  state.me = null;
  $("who").hidden = true;
  $("desktops-view").hidden = true;
  $("sign-in-view").hidden = false;
  $("key").focus();
}

async function signIn(event) {
  event.preventDefault();
  const input = $("key");
  const key = input.value.trim();
  input.value = ""; // the key leaves the page with this request and is not kept
  const { status, data } = await api("POST", "/dashboard/session", { key });
  if (status !== 200) {
    $("sign-in-error").textContent = (data && data.error && data.error.message) || `Sign-in failed (${status}).`;
    return;
  }
  $("sign-in-error").textContent = "";
  await start();
}

async function signOut() {
  await api("DELETE", "/dashboard/session");
  showSignIn();
}

// desktops -----------------------------------------------------------------------------

function can(capability) { return !!state.me && state.me.capabilities.includes(capability); }

function row(id) {
  let li = document.querySelector(`li.desktop[data-id="${CSS.escape(id)}"]`);
  if (!li) {
    li = $("desktop-row").content.firstElementChild.cloneNode(true);
    li.dataset.id = id;
    li.querySelector(".select").addEventListener("click", () => select(id));
    for (const button of li.querySelectorAll("[data-action]")) {
      button.addEventListener("click", () => lifecycle(id, button.dataset.action, li));
    }
    $("desktops").appendChild(li);
  }
  return li;
}

function render(id) {
  const d = state.desktops.get(id);
  const li = row(id);
  li.querySelector(".name").textContent = d.name || id;
  li.querySelector(".id").textContent = id;
  const status = li.querySelector(".status");
  status.textContent = d.status;
  status.className = `status ${d.status}`;
  const ready = li.querySelector(".ready");
  ready.className = d.agentReady ? "ready yes" : "ready";
  ready.title = d.agentReady ? "agent ready" : "agent not ready";
  const m = d.metrics;
  li.querySelector(".metrics").textContent =
    m && d.status === "running" ? `cpu ${pct(m.cpu)} · memory ${pct(m.memory)} · disk ${pct(m.disk)}` : "";
  const busy = d.status === "booting" || d.status === "stopping";
  const lifecycleOk = can("desktop:lifecycle");
  li.querySelector('[data-action="start"]').disabled = !lifecycleOk || busy || d.status === "running";
  li.querySelector('[data-action="stop"]').disabled = !lifecycleOk || busy || d.status === "stopped";
  li.querySelector('[data-action="restart"]').disabled = !lifecycleOk || busy || d.status !== "running";
  li.classList.toggle("selected", state.selected === id);
  if (state.selected === id) renderDetail();
}

const pct = (v) => (typeof v === "number" ? `${Math.round(v)} %` : "–");

async function lifecycle(id, action, li) {
  li.querySelector(".row-error").textContent = "";
  const { status, data } = await api("POST", `/v1/desktops/${encodeURIComponent(id)}/${action}`);
  if (status === 401) return showSignIn();
  if (status >= 400) {
    li.querySelector(".row-error").textContent = (data && data.error && data.error.message) || `${action} failed (${status})`;
    return;
  }
  if (data && data.id) update(data); // the stream brings the rest
}

function update(d) {
  const known = state.desktops.get(d.id) || { id: d.id };
  Object.assign(known, d);
  state.desktops.set(d.id, known);
  render(d.id);
}

function select(id) {
  if (state.selected === id) return;
  state.selected = id;
  for (const li of document.querySelectorAll("li.desktop")) li.classList.toggle("selected", li.dataset.id === id);
  stopScreen();
  stopFeed();
  $("feed").textContent = "";
  renderDetail();
}

// the selected desktop: screen and activity ------------------------------------------------

function renderDetail() {
  const d = state.desktops.get(state.selected);
  if (!d) return;
  $("detail-name").textContent = d.name || d.id;
  const live = d.status === "running" && d.agentReady;
  if (!live) {
    stopScreen();
    stopFeed();
    $("screen").hidden = true;
    $("screen-placeholder").hidden = false;
    $("screen-placeholder").textContent = `The desktop is ${d.status}${d.status === "running" ? " (agent not ready)" : ""}.`;
    $("screen-mode").textContent = "";
    $("feed-state").textContent = "";
    return;
  }
  if (!state.screen && can("desktop:control")) startScreen(d.id);
  if (!state.screen && !can("desktop:control")) {
    $("screen-placeholder").textContent = "This key cannot view the screen (desktop:control).";
  }
  if (!state.feed) startFeed(d.id);
}

function startScreen(id) {
  const img = $("screen");
  const base = `/v1/desktops/${encodeURIComponent(id)}`;
  const screen = { id, timer: null, stopped: false, url: null };
  state.screen = screen;
  $("screen-placeholder").hidden = true;
  img.hidden = false;
  $("screen-mode").textContent = "live";
  img.onerror = async () => {
    if (screen.stopped) return;
    // Why did the stream fail? An agent without the route (404) gets refreshed screenshots.
    const probe = new AbortController();
    let status = 0;
    try {
      const resp = await fetch(`${base}/screen/stream?maxWidth=1280`, { credentials: "same-origin", signal: probe.signal });
      status = resp.status;
    } catch (e) { /* unreachable */ }
    probe.abort();
    if (screen.stopped) return;
    if (status === 404) return screenshots(screen, base);
    if (status === 401) return showSignIn();
    screen.timer = setTimeout(() => { if (!screen.stopped) img.src = `${base}/screen/stream?maxWidth=1280&r=${Date.now()}`; }, RETRY_MS);
  };
  img.src = `${base}/screen/stream?maxWidth=1280`;
}

function screenshots(screen, base) {
  const img = $("screen");
  img.onerror = null;
  $("screen-mode").textContent = `screenshots every ${SCREENSHOT_EVERY_MS / 1000} s (no screen stream on this agent)`;
  async function tick() {
    if (screen.stopped) return;
    try {
      const resp = await fetch(`${base}/screenshot?format=jpeg&maxWidth=1280`, { credentials: "same-origin" });
      if (resp.status === 401) return showSignIn();
      if (resp.ok) {
        const url = URL.createObjectURL(await resp.blob());
        if (screen.stopped) { URL.revokeObjectURL(url); return; }
        img.src = url;
        if (screen.url) URL.revokeObjectURL(screen.url);
        screen.url = url;
      }
    } catch (e) { /* retried */ }
    if (!screen.stopped) screen.timer = setTimeout(tick, SCREENSHOT_EVERY_MS);
  }
  tick();
}

function stopScreen() {
  const screen = state.screen;
  if (!screen) return;
  screen.stopped = true;
  clearTimeout(screen.timer);
  const img = $("screen");
  img.onerror = null;
  img.removeAttribute("src"); // closes the stream
  if (screen.url) URL.revokeObjectURL(screen.url);
  state.screen = null;
}

function startFeed(id) {
  $("feed-state").textContent = "connecting…";
  state.feed = sse(`/v1/desktops/${encodeURIComponent(id)}/events`, (name, data) => feedItem(name, data), (s, status) => {
    $("feed-state").textContent =
      s === "open" ? "" : s === "absent" ? "No activity feed on this agent." :
      s === "error" && status === 403 ? "This key cannot read the activity feed." : "reconnecting…";
  });
}

function feedItem(name, data) {
  const li = document.createElement("li");
  const at = new Date(data.at || Date.now()).toLocaleTimeString();
  if (name === "action") {
    li.textContent = `${at}  ${data.route || ""}  ${data.summary || ""}  ${data.status ?? ""}  ${data.durationMs ?? "?"} ms`;
    if (typeof data.status === "number" && data.status >= 400) li.className = "failed";
  } else {
    li.textContent = `${at}  ${name}  ${JSON.stringify(data)}`;
  }
  const feed = $("feed");
  feed.prepend(li);
  while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
}

function stopFeed() {
  if (state.feed) state.feed();
  state.feed = null;
}

// start --------------------------------------------------------------------------------

function stopAll() {
  stopScreen();
  stopFeed();
  if (state.list) state.list();
  state.list = null;
}

async function start() {
  const me = await api("GET", "/v1/me");
  if (me.status !== 200) return showSignIn();
  state.me = me.data;
  $("key-name").textContent = `${me.data.name} · ${me.data.capabilities.join(", ")}`;
  $("who").hidden = false;
  $("sign-in-view").hidden = true;
  $("desktops-view").hidden = false;
  const list = await api("GET", "/v1/desktops");
  if (list.status === 200) {
    for (const d of list.data.desktops) update(d);
    if (!state.selected && list.data.desktops.length) select(list.data.desktops[0].id);
  }
  stopAll();
  state.list = sse("/v1/desktops/stream", (name, data) => {
    if (name === "desktop.status") update(data);
    else if (name === "desktop.metrics" && state.desktops.has(data.id)) update({ id: data.id, metrics: data });
  }, (s) => { $("live").className = s === "open" ? "live on" : "live"; });
  if (state.selected) renderDetail();
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  start();
});
