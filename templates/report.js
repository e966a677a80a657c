// reportgen page script: lazy Bokeh rendering, tensor filter, sortable table. Offline only.
(function () {
  "use strict";
  async function inflate(b64) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return JSON.parse(await new Response(stream).text());
  }
  async function render(el) {
    if (el.dataset.state) return;
    el.dataset.state = "rendering";
    try {
      const item = await inflate(el.dataset.plot);
      el.textContent = "";
      await Bokeh.embed.embed_item(item, el.id);
      el.removeAttribute("data-plot");
      el.dataset.state = "rendered";
      applyLogCounts();
      applyMapColour();
    } catch (err) {
      el.dataset.state = "failed";
      el.textContent = "This plot could not be drawn: " + err;
      throw err;
    }
  }
  // One page-wide switch for every histogram, including those rendered later.
  const logBox = document.getElementById("log-counts");
  function applyLogCounts() {
    if (!window.Bokeh || !logBox) return;
    const field = logBox.checked ? "logc" : "count";
    for (const doc of Bokeh.documents) {
      const r = doc.get_model_by_name("hist");
      if (r && r.glyph.top.field !== field) r.glyph.top = { field };
      const axis = doc.get_model_by_name("hist-y");
      if (axis) axis.axis_label = logBox.checked ? "log10(1 + count)" : "count";
    }
  }
  if (logBox) logBox.addEventListener("change", applyLogCounts);

  // Neuron maps: one switch recolours every unit scatter by norm, cluster or head, where the
  // map has that column (layers without clusters or heads keep the norm colours).
  function mapColour() {
    const picked = document.querySelector('input[name="map-colour"]:checked');
    return picked ? picked.value : "norm";
  }
  function applyMapColour() {
    if (!window.Bokeh) return;
    const want = mapColour();
    for (const doc of Bokeh.documents) {
      for (const r of doc.all_models) {
        if (r.name !== "units" || !r.data_source) continue;
        const field = "c_" + want in r.data_source.data ? "c_" + want : "c_norm";
        if (r.glyph.fill_color.field !== field) {
          r.glyph.fill_color = { field };
          r.glyph.line_color = { field };
        }
      }
    }
  }
  document.querySelectorAll('input[name="map-colour"]').forEach((el) => el.addEventListener("change", applyMapColour));

  const plots = document.querySelectorAll(".plot[data-plot]");
  if ("IntersectionObserver" in window) {
    // Plots on screen render at once; those within 600px are prefetched when the page is idle,
    // so that they never delay the first screen but are usually drawn before they are reached.
    const idle = window.requestIdleCallback || ((fn) => setTimeout(fn, 50));
    const watch = (margin, start) => {
      const io = new IntersectionObserver((entries) => {
        for (const e of entries) if (e.isIntersecting) { io.unobserve(e.target); start(e.target); }
      }, { rootMargin: margin });
      plots.forEach((el) => io.observe(el));
    };
    watch("0px", render);
    watch("600px 0px", (el) => idle(() => render(el), { timeout: 1000 }));
  } else {
    plots.forEach(render);
  }
  // Printing shows every plot, not only those scrolled past.
  window.addEventListener("beforeprint", () => plots.forEach(render));

  const filter = document.getElementById("tensor-filter");
  if (filter) filter.addEventListener("input", () => {
    const q = filter.value.trim().toLowerCase();
    document.querySelectorAll("#tensor-nav li").forEach((li) => {
      li.classList.toggle("hidden", q !== "" && !li.dataset.filter.includes(q));
    });
  });

  document.querySelectorAll("table.sortable").forEach((table) => {
    const body = table.tBodies[0];
    table.querySelectorAll("th").forEach((th) => th.addEventListener("click", () => {
      const col = Number(th.dataset.col), numeric = th.classList.contains("num");
      const desc = th.classList.contains("sorted-asc");
      table.querySelectorAll("th").forEach((h) => h.classList.remove("sorted-asc", "sorted-desc"));
      th.classList.add(desc ? "sorted-desc" : "sorted-asc");
      const key = (tr) => {
        const td = tr.cells[col], v = td.dataset.sort ?? td.textContent;
        return numeric ? (v === "" || isNaN(Number(v)) ? -Infinity : Number(v)) : v.toLowerCase();
      };
      const rows = Array.from(body.rows).sort((a, b) => {
        const x = key(a), y = key(b);
        return (x < y ? -1 : x > y ? 1 : 0) * (desc ? -1 : 1);
      });
      rows.forEach((r) => body.appendChild(r));
    }));
  });
})();
