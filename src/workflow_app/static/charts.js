// Draw every <canvas class="chart"> from its data attributes with Chart.js (served from static/vendor).
// Long labels wrap onto several lines instead of being cut; counts (data-integer) get whole-number ticks. A chart
// inside a sized box (div.app-chart, dashboard.css) fills the box instead of keeping Chart.js's 2:1 shape.
function wrapLabel(label, width = 26) {
  const lines = [];
  String(label).split(/\s+/).forEach((word) => {
    const last = lines[lines.length - 1];
    if (last !== undefined && (last + " " + word).length <= width) lines[lines.length - 1] = last + " " + word;
    else lines.push(word);
  });
  return lines.length > 1 ? lines : label;
}

document.addEventListener("DOMContentLoaded", () => {
  if (typeof Chart === "undefined") return;
  Chart.defaults.font.size = 14;  // readable labels, in the page's text colour (not Chart.js's grey)
  Chart.defaults.color = "#0b0c0c";
  const palette = ["#1f5fae", "#1e7b34", "#9a6700", "#b3261e", "#6b4fa3", "#0f7c80", "#7a7a7a"];
  document.querySelectorAll("canvas.chart").forEach((canvas) => {
    const labels = JSON.parse(canvas.dataset.labels || "[]").map((label) => wrapLabel(label));
    const series = canvas.dataset.series
      ? JSON.parse(canvas.dataset.series)
      : [{ label: canvas.getAttribute("aria-label"), values: JSON.parse(canvas.dataset.values || "[]") }];
    const type = canvas.dataset.type || "bar";
    const datasets = series.map((s, i) => ({
      label: s.label,
      data: s.values,
      backgroundColor: type === "doughnut" ? palette : palette[i % palette.length],
    }));
    const horizontal = Boolean(canvas.dataset.horizontal);
    const box = canvas.parentElement;
    if (horizontal && box.classList.contains("app-chart")) {
      // one band per label, tall enough for its wrapped lines and every series' bar
      const lines = labels.reduce((most, label) => Math.max(most, Array.isArray(label) ? label.length : 1), 1);
      box.style.height = `${70 + labels.length * Math.max(lines * 17 + 10, series.length * 16 + 14)}px`;
    }
    const valueTicks = canvas.dataset.integer ? { precision: 0 } : {};
    const scales = type === "doughnut" ? {} : { [horizontal ? "x" : "y"]: { beginAtZero: true, ticks: valueTicks },
                                                [horizontal ? "y" : "x"]: { ticks: { autoSkip: false } } };
    new Chart(canvas, {
      type,
      data: { labels, datasets },
      options: {
        indexAxis: horizontal ? "y" : "x",
        maintainAspectRatio: !canvas.parentElement.classList.contains("app-chart"),
        scales,
        animation: false,
        plugins: { legend: { display: type === "doughnut" || series.length > 1 } },
      },
    });
    canvas.dataset.ready = "true";
  });
});
