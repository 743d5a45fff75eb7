// The per-minute chart of a customer's day (uPlot), from the JSON API behind the page.
(async () => {
  const box = document.getElementById("chart");
  const status = document.getElementById("chart-status");
  const data = await (await fetch(box.dataset.url)).json();
  const channels = Object.keys(data.series);
  if (!data.minutes.length) { status.textContent = "Sem notificações neste dia."; return; }
  const xs = data.minutes.map((iso) => Date.parse(iso) / 1000);
  const colors = ["#0b5d4b", "#c2410c", "#1d4ed8", "#a21caf", "#4d7c0f"];
  const tz = box.dataset.tz;
  const hhmm = new Intl.DateTimeFormat("pt-BR", { timeZone: tz, hour: "2-digit", minute: "2-digit" });
  const full = new Intl.DateTimeFormat("pt-BR", { timeZone: tz, dateStyle: "short", timeStyle: "short" });
  const opts = {
    width: Math.min(box.clientWidth || 1100, 1100), height: 320,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), tz),
    series: [{ label: "minuto", value: (u, v) => v == null ? "-" : full.format(new Date(v * 1e3)) },
      ...channels.map((c, i) => ({
      label: c, stroke: colors[i % colors.length], width: 1.5,
      value: (u, v) => v == null ? "-" : v.toLocaleString("pt-BR") }))],
    axes: [{ values: (u, vals) => vals.map((v) => hhmm.format(new Date(v * 1e3))) }, { values: (u, vals) => vals.map((v) => v.toLocaleString("pt-BR")) }],
  };
  new uPlot(opts, [xs, ...channels.map((c) => data.series[c])], box);
  box.dataset.points = String(xs.length);
  status.textContent = `${xs.length.toLocaleString("pt-BR")} minutos com notificações`;
})();
