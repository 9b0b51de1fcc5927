// A small hand-written SVG line chart: throughput (MB/s) against layer size (log scale), one panel per operation.

export interface Series {
  label: string;
  color: string;
  dashed: boolean;
  points: { x: number; y: number }[];
}

export interface Panel {
  title: string;
  series: Series[];
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function lineChart(panels: Panel[], opts: { xLabel: string; yLabel: string; title: string; xTickLabel: (x: number) => string }): string {
  const pw = 420;
  const ph = 300;
  const m = { l: 60, r: 16, t: 48, b: 48 };
  const legendH = 22 * Math.ceil(Math.max(...panels.map((p) => p.series.length)) / 2) + 8;
  const W = panels.length * (pw + m.l + m.r);
  const H = ph + m.t + m.b + legendH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(opts.title)}</text>`,
  ];
  panels.forEach((panel, i) => {
    const ox = i * (pw + m.l + m.r) + m.l;
    const oy = m.t;
    const xs = [...new Set(panel.series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
    const ys = panel.series.flatMap((s) => s.points.map((p) => p.y)).filter(Number.isFinite);
    const yMax = niceMax(Math.max(1, ...ys));
    const lx = (x: number) => Math.log2(x);
    const x0 = lx(xs[0] ?? 1);
    const x1 = lx(xs[xs.length - 1] ?? 2);
    const px = (x: number) => ox + (x1 === x0 ? pw / 2 : ((lx(x) - x0) / (x1 - x0)) * pw);
    const py = (y: number) => oy + ph - (y / yMax) * ph;
    out.push(`<text x="${ox + pw / 2}" y="${oy - 10}" text-anchor="middle" font-size="13" font-weight="bold">${esc(panel.title)}</text>`);
    for (let k = 0; k <= 5; k++) {
      const y = (yMax * k) / 5;
      out.push(`<line x1="${ox}" y1="${py(y)}" x2="${ox + pw}" y2="${py(y)}" stroke="#e5e5e5"/>`);
      out.push(`<text x="${ox - 6}" y="${py(y) + 4}" text-anchor="end" fill="#444">${Math.round(y)}</text>`);
    }
    for (const x of xs) {
      out.push(`<line x1="${px(x)}" y1="${oy}" x2="${px(x)}" y2="${oy + ph}" stroke="#f0f0f0"/>`);
      out.push(`<text x="${px(x)}" y="${oy + ph + 16}" text-anchor="middle" fill="#444">${esc(opts.xTickLabel(x))}</text>`);
    }
    out.push(`<rect x="${ox}" y="${oy}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
    out.push(`<text x="${ox + pw / 2}" y="${oy + ph + 34}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
    out.push(`<text transform="translate(${ox - 44},${oy + ph / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`);
    for (const s of panel.series) {
      const pts = s.points.filter((p) => Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
      if (!pts.length) continue;
      const dash = s.dashed ? ` stroke-dasharray="6 4"` : "";
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${pts.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(" ")}"/>`);
      for (const p of pts) out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    }
    panel.series.forEach((s, k) => {
      const lx0 = ox + (k % 2) * (pw / 2);
      const ly = oy + ph + m.b + 4 + Math.floor(k / 2) * 22;
      const dash = s.dashed ? ` stroke-dasharray="6 4"` : "";
      out.push(`<line x1="${lx0}" y1="${ly}" x2="${lx0 + 26}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`);
      out.push(`<text x="${lx0 + 32}" y="${ly + 4}">${esc(s.label)}</text>`);
    });
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
