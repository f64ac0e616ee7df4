// Live progress of a send: polls its progress.json every two seconds. When the send's state
// changes (it started, finished, or the breaker paused it) the page reloads, so its buttons,
// the pause reason and the report link are the server's own for the new state. Its words
// are the page's: the template hands them over in #progress's data attributes.
(function () {
  const box = document.getElementById("progress");
  if (!box) return;
  const words = box.dataset;
  const shown = box.dataset.status;
  function fill(format, values) {
    return format.replace(/\{(\w)\}/g, (_, k) => values[k]);
  }
  function duration(s) {
    if (s === null || s === undefined || s === "") return "—";
    s = Math.round(Number(s));
    if (s < 60) return fill(words.seconds, {s: s});
    if (s < 3600) return fill(words.minutes, {m: Math.floor(s / 60), s: s % 60});
    return fill(words.hours, {h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60)});
  }
  async function tick() {
    let p;
    try {
      const response = await fetch(box.dataset.url, {headers: {Accept: "application/json"}});
      if (!response.ok) return setTimeout(tick, 5000);
      p = await response.json();
    } catch (e) { return setTimeout(tick, 5000); }
    if (p.status !== shown) { window.location.reload(); return; }
    for (const el of box.querySelectorAll("[data-field]")) {
      const key = el.dataset.field;
      // the status keeps the server's label: a new status reloads the page (above)
      if (key !== "status") el.textContent = p[key] ?? "—";
    }
    const eta = document.getElementById("eta");
    if (eta) {
      document.getElementById("eta-label").textContent = p.eta_seconds ? words.etaLeft : words.etaTook;
      eta.textContent = duration(p.eta_seconds || p.elapsed_seconds);
    }
    const done = p.total - p.remaining;
    box.querySelector(".fill").style.width = (p.total ? (100 * done / p.total) : 0) + "%";
    box.querySelector("[role=progressbar]").setAttribute("aria-valuenow", done);
    if (["done", "cancelled"].includes(p.status)) return;
    setTimeout(tick, 2000);
  }
  setTimeout(tick, 1000);
})();
