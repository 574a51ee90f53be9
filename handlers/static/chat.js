// The web chat page's behaviour (served as a file: the page's policy forbids inline script).
// The server keeps the history: a reload shows the volunteer's own messages and the bot's again,
// with the buttons of answered questions disabled.
(() => {
  const params = new URLSearchParams(location.search);
  const name = (params.get("as") || "").replace(/[^A-Za-z0-9_-]/g, "").slice(0, 32);
  const key = "tipbot.session" + (name ? "." + name : "");
  const locale = params.get("lang") === "en" ? "en" : "th";
  let session = localStorage.getItem(key);
  if (!session || !/^[0-9a-f]{32}$/.test(session)) {
    const b = new Uint8Array(16); crypto.getRandomValues(b);
    session = Array.from(b, x => x.toString(16).padStart(2, "0")).join("");
    localStorage.setItem(key, session);
  }
  const CODE = /TB-[A-Z0-9]{4}-[A-Z0-9]{4}/;
  // phones and tablets: Enter makes a new line, the send button sends
  const touch = window.matchMedia("(pointer: coarse)").matches;
  let after = 0;
  let strings = {};
  const shownIds = new Set();  // the page's own messages already on screen
  const log = document.getElementById("log"), t = document.getElementById("t");
  const S = (k, vars) => {
    let s = strings["webchat." + k] || "";
    for (const [n, v] of Object.entries(vars || {})) s = s.split("{" + n + "}").join(String(v));
    return s;
  };
  function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }
  function scroll() { window.scrollTo(0, document.body.scrollHeight); }
  function stamp(at) {
    const d = at ? new Date(at) : new Date();
    const time = el("time", "", d.toLocaleTimeString(locale === "th" ? "th-TH" : "en-GB", {hour: "2-digit", minute: "2-digit", timeZone: "Asia/Bangkok"}));
    time.dateTime = d.toISOString();
    return time;
  }
  function note(text, warn) { if (!text) return; log.appendChild(el("div", warn ? "note warn" : "note", text)); scroll(); }
  function answered() {
    // a question the volunteer has answered keeps its buttons on screen, but no longer tappable
    log.querySelectorAll(".buttons button").forEach(x => { x.disabled = true; });
  }
  function bubbleMine(text, at) {
    answered();
    const b = el("div", "msg me", text);
    b.appendChild(stamp(at));
    log.appendChild(b); scroll();
    return b;
  }
  function setState(b, cls, text) {
    b.classList.remove("pending", "sent", "refused");
    b.classList.add(cls);
    let st = b.querySelector(".state");
    if (!st) { st = el("span", "state"); b.appendChild(st); }
    st.textContent = text;
  }
  function newId() { return crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2, 10); }
  async function post(body, bubble) {
    body.session = session; body.id = body.id || newId(); body.locale = locale;
    shownIds.add(body.id);
    try {
      const r = await fetch("/chat/api/send", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
      if (r.ok) { if (bubble) setState(bubble, "sent", "✓"); return true; }
      const why = r.status === 413 ? S("too_long", {max: strings.max_text_chars, n: (body.text || "").length})
                : r.status === 429 ? S("rate_limited") : S("send_failed");
      if (bubble) setState(bubble, "refused", S("not_sent"));
      note(why, true);
    } catch (e) {
      if (bubble) setState(bubble, "refused", S("not_sent"));
      note(S("send_failed"), true);
    }
    return false;
  }
  function showMine(m) {
    if (m.id && shownIds.has(m.id)) return;
    if (m.id) shownIds.add(m.id);
    let text = m.text || "";
    if (m.place) text = placeText(m.place[0], m.place[1]);
    if (m.file !== undefined) text = fileText(m.kind, m.file);
    bubbleMine(text, m.at);
  }
  function placeText(lat, lon) { return S("place") + " " + lat.toFixed(5) + ", " + lon.toFixed(5); }
  function fileText(kind, name) { return (kind === "image" ? S("image") : S("file")) + ": " + (name || ""); }
  function copyButton(code) {
    const btn = el("button", "copy", S("copy") + " " + code);
    btn.type = "button";
    btn.onclick = async () => {
      try { await navigator.clipboard.writeText(code); }
      catch (e) {  // no clipboard permission (e.g. plain http): select the code for a long-press copy
        const r = document.createRange(); r.selectNodeContents(btn); const sel = getSelection(); sel.removeAllRanges(); sel.addRange(r);
      }
      btn.textContent = S("copied") + " " + code;
    };
    return btn;
  }
  function showBot(m) {
    const b = el("div", "msg bot", m.text);
    const code = (m.text || "").match(CODE);
    if (code) { b.appendChild(document.createElement("br")); b.appendChild(copyButton(code[0])); }
    b.appendChild(stamp(m.at));
    log.appendChild(b);
    if (m.buttons && m.buttons.length) {
      const row = el("div", "buttons");
      for (const btnData of m.buttons) {
        const btn = el("button", "", btnData.label);
        btn.type = "button";
        btn.onclick = () => tapped(btn, btnData);
        row.appendChild(btn);
      }
      log.appendChild(row);
    }
    scroll();
  }
  function tapped(btn, b) {
    if (b.payload === "@location") {
      if (!navigator.geolocation) { note(S("no_location"), true); return; }
      navigator.geolocation.getCurrentPosition(p => {
        const bubble = bubbleMine(placeText(p.coords.latitude, p.coords.longitude));
        btn.classList.add("chosen");
        post({type: "location", lat: p.coords.latitude, lon: p.coords.longitude}, bubble);
      }, () => note(S("no_location"), true));
      return;
    }
    const bubble = bubbleMine(b.label);
    btn.classList.add("chosen");
    post({type: "button", button: b.payload, text: b.label}, bubble);
  }
  function show(m) { if (m.role === "me") showMine(m); else showBot(m); }
  async function fetchMessages(wait) {
    const r = await fetch(`/chat/api/messages?session=${session}&after=${after}&wait=${wait}`);
    if (!r.ok) throw new Error(String(r.status));
    const data = await r.json();
    for (const m of data.messages) { show(m); after = Math.max(after, m.seq); }
    return data.messages.length;
  }
  async function loop() {
    for (;;) {
      try { await fetchMessages(20); }
      catch (e) { await new Promise(res => setTimeout(res, 2000)); }
    }
  }
  function sendText() {
    const text = t.value.replace(/\s+$/, "");
    if (!text.trim()) return;
    const max = strings.max_text_chars || 5000;
    if (text.length > max) {  // refused here: nothing is shown as sent, the text stays in the box
      note(S("too_long", {max, n: text.length}), true);
      return;
    }
    t.value = ""; grow();
    const bubble = bubbleMine(text);
    bubble.classList.add("pending");
    post({type: "text", text}, bubble).then(ok => { if (!ok && !t.value) { t.value = text; grow(); } });
  }
  function grow() { t.style.height = "auto"; t.style.height = Math.min(t.scrollHeight + 2, 136) + "px"; }
  function upload(file, kind) {
    const max = strings.max_media_bytes || 20 * 1024 * 1024;
    if (file.size > max) { note(strings.too_large || "", true); return; }
    const id = newId();
    shownIds.add(id);
    const bubble = bubbleMine(fileText(kind, file.name));
    bubble.classList.add("pending");
    const bar = el("progress"); bar.max = 100; bar.value = 0; bubble.appendChild(bar);
    const q = new URLSearchParams({session, id, name: file.name.slice(0, 200), kind, locale});
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/chat/api/upload?" + q.toString());
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    xhr.upload.onprogress = e => { if (e.lengthComputable) bar.value = Math.round(100 * e.loaded / e.total); };
    xhr.onload = () => {
      bar.remove();
      if (xhr.status === 200) { setState(bubble, "sent", "✓"); return; }
      setState(bubble, "refused", S("not_sent"));
      note(xhr.status === 413 ? strings.too_large : xhr.status === 429 ? S("rate_limited") : S("send_failed"), true);
    };
    xhr.onerror = () => { bar.remove(); setState(bubble, "refused", S("not_sent")); note(S("send_failed"), true); };
    xhr.send(file);
  }
  function picked(input) {
    const file = input.files && input.files[0];
    if (file) upload(file, file.type.startsWith("image/") ? "image" : file.type.startsWith("video/") ? "video" : file.type.startsWith("audio/") ? "audio" : "file");
    input.value = "";
  }
  document.getElementById("f").onsubmit = ev => { ev.preventDefault(); sendText(); };
  t.addEventListener("keydown", ev => {
    if (ev.key === "Enter" && !ev.shiftKey && !touch && !ev.isComposing) { ev.preventDefault(); sendText(); }
  });
  t.addEventListener("input", grow);
  const fileInput = document.getElementById("file"), camera = document.getElementById("camera");
  document.getElementById("attach").onclick = () => fileInput.click();
  document.getElementById("shoot").onclick = () => camera.click();
  fileInput.onchange = () => picked(fileInput);
  camera.onchange = () => picked(camera);
  function labels(s) {
    strings = s;
    const set = (id, k) => { const v = S(k); if (v) document.getElementById(id).textContent = v; };
    set("title", "title"); set("operator", "operator"); set("privacy", "privacy"); set("sendbtn", "send");
    document.title = S("page_title") || document.title;
    document.getElementById("privacy").href = "/privacy" + (locale === "en" ? "?lang=en" : "");
    document.getElementById("attach").setAttribute("aria-label", S("attach"));
    document.getElementById("shoot").setAttribute("aria-label", S("camera"));
    document.getElementById("sendbtn").setAttribute("aria-label", S("send"));
    t.placeholder = S("placeholder");
    document.documentElement.lang = locale;
    const menu = document.getElementById("menu");
    menu.setAttribute("aria-label", S("menu"));
    for (const item of s.menu || []) {
      const btn = el("button", "", item.label);
      btn.type = "button";
      btn.onclick = () => { const bubble = bubbleMine(item.label); post({type: "button", button: item.payload, text: item.label}, bubble); };
      menu.appendChild(btn);
    }
  }
  fetch(`/chat/api/strings?lang=${locale}`).then(r => r.json()).then(labels).catch(() => {}).finally(async () => {
    let had = 0;
    try { had = await fetchMessages(0); } catch (e) { had = -1; }
    if (had === 0 && !localStorage.getItem(key + ".started")) { localStorage.setItem(key + ".started", "1"); post({type: "follow"}); }
    loop();
  });
})();
