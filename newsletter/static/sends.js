// Live progress of a send: polls its progress.json every two seconds. When the send's state
// changes (it started, finished, or the breaker paused it) the page reloads, so its buttons,
// the pause reason and the report link are the server's own for the new state.
(function () {
  const box = document.getElementById("progress");
  if (!box) return;
  const labels = {scheduled: "已定时", queued: "排队中", sending: "发送中", paused: "已暂停",
                  cancelled: "已取消", done: "已完成"};
  const shown = box.dataset.status;
  function duration(s) {
    if (s === null || s === undefined || s === "") return "—";
    s = Math.round(Number(s));
    if (s < 60) return s + " 秒";
    if (s < 3600) return Math.floor(s / 60) + " 分 " + (s % 60) + " 秒";
    return Math.floor(s / 3600) + " 小时 " + Math.floor((s % 3600) / 60) + " 分";
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
      const value = p[key];
      el.textContent = key === "status" ? (labels[value] || value) : (value ?? "—");
    }
    const eta = document.getElementById("eta");
    if (eta) {
      document.getElementById("eta-label").textContent = p.eta_seconds ? "预计还需" : "用时";
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
