// Sparklines as inline SVG, drawn from the samples the page keeps while it is open.

const SVG_NS = "http://www.w3.org/2000/svg";
const HEIGHT = 60;
const PAD = 4;

function el(name, attrs) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

function formatMax(value) {
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

// points: [{t: ms, v: number}], oldest first; windowMs: the most the x axis shows.
export function drawSparkline(svg, points, windowMs) {
  // The drawing follows the element's real width, so text and dots are never stretched.
  const WIDTH = Math.max(100, Math.round(svg.clientWidth || 300));
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  svg.replaceChildren();
  svg.dataset.points = String(points.length);
  svg.appendChild(el("line", { x1: 0, y1: HEIGHT - PAD, x2: WIDTH, y2: HEIGHT - PAD, class: "axis" }));
  if (points.length === 0) return;
  // The x axis spans what the page has seen, up to the window: a fresh page fills it too.
  const end = points[points.length - 1].t;
  const start = Math.max(end - windowMs, points[0].t);
  const span = Math.max(1, end - start);
  const max = Math.max(1e-9, ...points.map((p) => p.v));
  const x = (t) => ((t - start) / span) * (WIDTH - PAD);
  const y = (v) => HEIGHT - PAD - (v / max) * (HEIGHT - 2 * PAD);
  const coords = points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`);
  if (points.length > 1) {
    const area = `${x(points[0].t).toFixed(1)},${HEIGHT - PAD} ${coords.join(" ")} ` +
      `${x(end).toFixed(1)},${HEIGHT - PAD}`;
    svg.appendChild(el("polygon", { points: area, class: "area" }));
    svg.appendChild(el("polyline", { points: coords.join(" "), class: "line" }));
  }
  const last = points[points.length - 1];
  svg.appendChild(el("circle", { cx: x(last.t), cy: y(last.v), r: 2.5, class: "dot" }));
  const label = el("text", { x: 3, y: 11, class: "label" });
  label.textContent = `now ${formatMax(last.v)} · max ${formatMax(max)}`;
  svg.appendChild(label);
}
