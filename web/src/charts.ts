/** Time-series charts (uPlot: small and fast, made for this) and sparklines (a few SVG points). */
import uPlot from 'uplot';
import { h } from './dom';

export const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

/** Colours of the wait event types (the same in every chart: CPU green, Lock red, IO blue …). */
const WAIT_COLOURS: Record<string, string> = {
  CPU: '#59a14f',
  Lock: '#e15759',
  LWLock: '#f28e2b',
  IO: '#4e79a7',
  IPC: '#b07aa1',
  BufferPin: '#ff9da7',
  Timeout: '#bab0ac',
  Client: '#76b7b2',
  Extension: '#9c755f',
  Activity: '#edc948',
};

export function colourOf(key: string, i: number): string {
  return WAIT_COLOURS[key] ?? PALETTE[i % PALETTE.length];
}

export interface Series {
  label: string;
  values: (number | null)[];
  colour?: string;
  /** A reference line (max_connections, CPUs): dashed, not stacked. */
  line?: boolean;
}

export interface ChartOptions {
  title: string;
  /** Formats a value with its unit. */
  format: (v: number | null) => string;
  /** Seconds since the epoch, one per point. */
  xs: number[];
  series: Series[];
  stacked?: boolean;
  height?: number;
  /** A click on the chart: the point's index and the series under the cursor (stacked charts), if any. */
  onPick?: (index: number, series: string | null) => void;
  /** Says what the chart shows, for screen readers (and above it when there is nothing to draw). */
  summary: string;
}

const css = (name: string) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';

/** A chart in a figure; nulls are drawn as gaps, never as zero. */
export function chart(o: ChartOptions): HTMLElement {
  const figure = h('figure', { class: 'chart', role: 'img', 'aria-label': `${o.title}: ${o.summary}` });
  figure.appendChild(h('figcaption', null, o.title));
  const plot = h('div', { class: 'plot' });
  figure.appendChild(plot);
  const stackable = o.series.filter((s) => !s.line);
  const lines = o.series.filter((s) => s.line);
  // Stacked: each band is drawn from the sum below it to the sum including it; the largest sum is drawn first.
  let data: (number | null)[][];
  let drawn: Series[];
  if (o.stacked) {
    const sums: (number | null)[][] = [];
    stackable.forEach((s, i) => {
      sums.push(
        s.values.map((v, j) => {
          const below = i === 0 ? 0 : sums[i - 1][j];
          return v === null || below === null ? null : below + v;
        }),
      );
    });
    drawn = [...stackable].reverse();
    data = [o.xs, ...[...sums].reverse(), ...lines.map((l) => l.values)];
    drawn = [...drawn, ...lines];
  } else {
    drawn = o.series;
    data = [o.xs, ...o.series.map((s) => s.values)];
  }
  const fg = css('--muted');
  const grid = css('--grid');
  const opts: uPlot.Options = {
    width: 600,
    height: o.height ?? 180,
    legend: { show: true },
    cursor: { drag: { x: false, y: false }, points: { show: false } },
    scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
    axes: [
      { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
      {
        stroke: fg,
        grid: { stroke: grid, width: 1 },
        ticks: { stroke: grid },
        size: 60,
        values: (_u, vals) => vals.map((v) => o.format(v)),
      },
    ],
    series: [
      { label: 'time' },
      ...drawn.map((s, i) => {
        const colour = s.colour ?? colourOf(s.label, i);
        return {
          label: s.label,
          stroke: colour,
          width: s.line ? 1.5 : 1,
          dash: s.line ? [6, 4] : undefined,
          fill: o.stacked && !s.line ? `${colour}cc` : undefined,
          spanGaps: false,
          // Sparse series (history just started, or gaps around a point) show their points: a lone point draws no line.
          points: { show: s.values.filter((v) => v !== null).length < 40 && !s.line, size: 5, fill: colour },
          value: (_u: uPlot, v: number | null) => o.format(v),
        } satisfies uPlot.Series;
      }),
    ],
  };
  const u = new uPlot(opts, data as uPlot.AlignedData, plot);
  if (o.onPick) {
    u.over.addEventListener('click', () => {
      const idx = u.cursor.idx;
      if (idx === null || idx === undefined) return;
      let picked: string | null = null;
      if (o.stacked && u.cursor.top !== undefined) {
        // The band under the cursor: the first (from the bottom) whose sum reaches the cursor's value.
        const value = u.posToVal(u.cursor.top, 'y');
        let below = 0;
        for (const s of stackable) {
          const v = s.values[idx];
          if (v === null) break;
          if (value <= below + v) {
            picked = s.label;
            break;
          }
          below += v;
        }
      }
      o.onPick!(idx, picked);
    });
  }
  const fit = () => u.setSize({ width: Math.max(240, plot.clientWidth), height: o.height ?? 180 });
  new ResizeObserver(fit).observe(plot);
  requestAnimationFrame(fit);
  return figure;
}

/** A sparkline of a series (gaps left as gaps). */
export function sparkline(values: (number | null)[], label: string): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 100 20');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  const known = values.filter((v): v is number => v !== null);
  const max = Math.max(1e-9, ...known);
  let d = '';
  let pen = false;
  values.forEach((v, i) => {
    if (v === null) {
      pen = false;
      return;
    }
    const x = values.length > 1 ? (i / (values.length - 1)) * 100 : 50;
    const y = 19 - (v / max) * 18;
    const alone = !pen && (values[i + 1] === null || values[i + 1] === undefined);
    // A point without a neighbour is a dot (a line needs two).
    d += `${pen ? 'L' : 'M'}${x.toFixed(1)} ${y.toFixed(1)}${alone ? 'h0.5' : ''}`;
    pen = true;
  });
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', d);
  svg.appendChild(path);
  return svg;
}
