// One time-series chart, drawn by uPlot: made once, given new data as it
// comes, resized with its box, destroyed with the component.

import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Lines } from './series';

/** Line colours, in order; readable on the light and the dark theme. */
const COLOURS = ['#2563eb', '#e8590c', '#2f9e44', '#c2255c', '#7048e8', '#0c8599', '#f08c00', '#5c940d'];

const HEIGHT = 180;

function cssVar(name: string, fallback: string): string {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

function options(title: string, lines: Lines, unit: string, width: number): uPlot.Options {
  const text = cssVar('--muted', '#5b6470');
  const grid = cssVar('--border', '#d5d9e0');
  const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  return {
    title,
    width,
    height: HEIGHT,
    scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min ?? 0), Math.max(1, max ?? 1)] } },
    axes: [axis, { ...axis, label: unit, size: 56 }],
    series: [
      {},
      ...lines.names.map((name, i) => ({
        label: name,
        stroke: COLOURS[i % COLOURS.length],
        width: 2,
        spanGaps: false,
        points: { show: lines.x.length < 80 },
      })),
    ],
    legend: { live: false },
  };
}

export function Chart({ title, lines, unit }: { title: string; lines: Lines; unit: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  // The series' names decide the chart's make-up: a new name, a new chart.
  const shape = lines.names.join('\u0000');

  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const width = Math.max(240, element.clientWidth);
    const made = new uPlot(options(title, lines, unit, width), [lines.x, ...lines.columns] as uPlot.AlignedData, element);
    plot.current = made;
    const resize = new ResizeObserver(() => made.setSize({ width: Math.max(240, element.clientWidth), height: HEIGHT }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      made.destroy();
      plot.current = null;
    };
    // Remade only when its make-up changes; data changes go to setData.
  }, [title, unit, shape]);

  useEffect(() => {
    plot.current?.setData([lines.x, ...lines.columns] as uPlot.AlignedData);
  }, [lines]);

  return <div className="dashboard-chart" ref={box} data-chart={title} />;
}
