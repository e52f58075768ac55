// Draw every <canvas class="chart"> from its data attributes with Chart.js (served from static/vendor).
document.addEventListener("DOMContentLoaded", () => {
  if (typeof Chart === "undefined") return;
  const palette = ["#1f5fae", "#1e7b34", "#9a6700", "#b3261e", "#6b4fa3", "#0f7c80", "#7a7a7a"];
  document.querySelectorAll("canvas.chart").forEach((canvas) => {
    const labels = JSON.parse(canvas.dataset.labels || "[]");
    const series = canvas.dataset.series
      ? JSON.parse(canvas.dataset.series)
      : [{ label: canvas.getAttribute("aria-label"), values: JSON.parse(canvas.dataset.values || "[]") }];
    const type = canvas.dataset.type || "bar";
    const datasets = series.map((s, i) => ({
      label: s.label,
      data: s.values,
      backgroundColor: type === "doughnut" ? palette : palette[i % palette.length],
    }));
    new Chart(canvas, {
      type,
      data: { labels, datasets },
      options: {
        indexAxis: canvas.dataset.horizontal ? "y" : "x",
        animation: false,
        plugins: { legend: { display: type === "doughnut" || series.length > 1 } },
      },
    });
    canvas.dataset.ready = "true";
  });
});
