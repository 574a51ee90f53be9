// The web chat page's behaviour (served as a file: the page's policy forbids inline script).
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
  const seqKey = key + ".seq";
  let after = 0;
  const log = document.getElementById("log"), t = document.getElementById("t");
  let strings = {};
  function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }
  function scroll() { window.scrollTo(0, document.body.scrollHeight); }
  function mine(text) { log.appendChild(el("div", "msg me", text)); scroll(); }
  function note(text) { log.appendChild(el("div", "note", text)); scroll(); }
  async function post(body) {
    body.session = session; body.id = crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
    body.locale = locale;
    try {
      const r = await fetch("/chat/api/send", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
      if (r.status === 413) note(strings["webchat.too_long"] || "");
      else if (r.status === 429) note(strings["webchat.rate_limited"] || "");
      else if (!r.ok) note(strings["webchat.send_failed"] || "");
    } catch (e) { note(strings["webchat.send_failed"] || ""); }
  }
  function show(m) {
    log.appendChild(el("div", "msg bot", m.text));
    if (m.buttons && m.buttons.length) {
      const row = el("div", "buttons");
      for (const b of m.buttons) {
        const btn = el("button", "", b.label);
        btn.type = "button";
        btn.onclick = () => {
          row.querySelectorAll("button").forEach(x => x.disabled = true);
          if (b.payload === "@location") {
            if (!navigator.geolocation) { note(strings["webchat.no_location"] || ""); return; }
            navigator.geolocation.getCurrentPosition(
              p => { mine("📍 " + p.coords.latitude.toFixed(5) + ", " + p.coords.longitude.toFixed(5));
                     post({type: "location", lat: p.coords.latitude, lon: p.coords.longitude}); },
              () => note(strings["webchat.no_location"] || ""));
            return;
          }
          mine(b.label); post({type: "button", button: b.payload, text: b.label});
        };
        row.appendChild(btn);
      }
      log.appendChild(row);
    }
    scroll();
  }
  async function loop() {
    for (;;) {
      try {
        const r = await fetch(`/chat/api/messages?session=${session}&after=${after}&wait=20`);
        if (r.ok) {
          const data = await r.json();
          for (const m of data.messages) { show(m); after = Math.max(after, m.seq); }
        } else { await new Promise(res => setTimeout(res, 2000)); }
      } catch (e) { await new Promise(res => setTimeout(res, 2000)); }
    }
  }
  document.getElementById("f").onsubmit = ev => {
    ev.preventDefault();
    const text = t.value.trim(); if (!text) return;
    t.value = ""; mine(text); post({type: "text", text});
  };
  t.addEventListener("keydown", ev => { if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); document.getElementById("f").requestSubmit(); } });
  fetch(`/chat/api/strings?lang=${locale}`).then(r => r.json()).then(s => {
    strings = s;
    document.getElementById("title").textContent = s["webchat.title"] || "tipbot";
    document.getElementById("subtitle").textContent = s["webchat.subtitle"] || "";
    t.placeholder = s["webchat.placeholder"] || "";
    document.documentElement.lang = locale;
  }).finally(() => {
    if (!localStorage.getItem(key + ".started")) { localStorage.setItem(key + ".started", "1"); post({type: "follow"}); }
    loop();
  });
})();
