// Ladeflyt dashboard: small helpers around htmx (no build step, no framework).
(function () {
  "use strict";
  // Every htmx request carries the CSRF token (also set on <body hx-headers>).
  document.addEventListener("htmx:configRequest", function (e) {
    var token = document.body.getAttribute("data-csrf");
    if (token) { e.detail.headers["X-CSRF-Token"] = token; }
  });
  // Charts: <div class="chart" data-series='{"x": [...], "series": [{"label": "...", "values": [...]}]}'>
  function drawCharts(root) {
    if (typeof uPlot === "undefined") { return; }
    root.querySelectorAll(".chart[data-series]").forEach(function (el) {
      if (el.dataset.drawn) { return; }
      el.dataset.drawn = "1";
      var spec = JSON.parse(el.dataset.series);
      var colours = ["#0a7d4f", "#1f5fbf", "#b3261e", "#8a5a00", "#6b3fa0"];
      var series = [{ label: spec.xLabel || "" }];
      spec.series.forEach(function (s, i) {
        series.push({ label: s.label, stroke: colours[i % colours.length], width: 2,
                      fill: spec.bars ? colours[i % colours.length] + "55" : undefined,
                      paths: spec.bars && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.6, 60] }) : undefined });
      });
      var data = [spec.x].concat(spec.series.map(function (s) { return s.values; }));
      var width = Math.max(Math.min(el.clientWidth || 600, 1100), 280);
      var opts = { width: width, height: 260, series: series,
                   // Times shown as in Oslo, on a 24-hour clock, whatever the browser's zone.
                   tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Europe/Oslo"); },
                   fmtDate: function (tpl) {
                     return uPlot.fmtDate(tpl.replace("{h}:{mm}{aa}", "{HH}:{mm}").replace("{h}{aa}", "{HH}:00"));
                   },
                   scales: { x: { time: spec.time !== false } },
                   axes: [{}, { label: spec.yLabel || "" }] };
      new uPlot(opts, data, el);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    // The menu is a <details> to open on a phone; on a wide screen it is always open.
    var menu = document.querySelector("details.menu");
    if (menu && window.matchMedia("(min-width: 900px)").matches) { menu.open = true; }
    drawCharts(document);
  });
  document.addEventListener("htmx:afterSwap", function (e) { drawCharts(e.target); });
})();
