// Live progress of a send: polls its progress.json every two seconds until it is final.
(function () {
  const box = document.getElementById("progress");
  if (!box) return;
  const labels = {scheduled: "已定时", queued: "排队中", sending: "发送中", paused: "已暂停",
                  cancelled: "已取消", done: "已完成"};
  async function tick() {
    let p;
    try {
      const response = await fetch(box.dataset.url, {headers: {Accept: "application/json"}});
      if (!response.ok) return setTimeout(tick, 5000);
      p = await response.json();
    } catch (e) { return setTimeout(tick, 5000); }
    for (const el of box.querySelectorAll("[data-field]")) {
      const key = el.dataset.field;
      const value = p[key];
      el.textContent = key === "status" ? (labels[value] || value) : (value ?? "—");
    }
    const done = p.total - p.remaining;
    box.querySelector(".fill").style.width = (p.total ? (100 * done / p.total) : 0) + "%";
    box.querySelector("[role=progressbar]").setAttribute("aria-valuenow", done);
    if (["done", "cancelled"].includes(p.status) && p.remaining === 0) return;
    setTimeout(tick, 2000);
  }
  setTimeout(tick, 1000);
})();
