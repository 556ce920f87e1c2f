// The history in the Source Control panel: one row per commit, with its
// graph drawn from parent-based lanes (web/src/git/log.ts).

import { useMemo } from 'react';
import type { Commit } from '../../git/log';
import { branchesOf, graphRows, type GraphRow } from '../../git/log';

const LANE = 10;
const ROW = 22;
const COLOURS = ['#3b82f6', '#10b981', '#f59e0b', '#ef4444', '#8b5cf6', '#06b6d4'];

function colour(lane: number): string {
  return COLOURS[lane % COLOURS.length];
}

function x(lane: number): number {
  return lane * LANE + LANE / 2;
}

/** The graph cell of one row: lines passing through, the commit's dot, lines to its parents. */
function GraphCell({ row, width }: { row: GraphRow; width: number }) {
  const mid = ROW / 2;
  return (
    <svg className="git-graph" width={width} height={ROW} aria-hidden="true">
      {row.through.map((lane) => (
        <line key={`t${lane}`} x1={x(lane)} y1={0} x2={x(lane)} y2={ROW} stroke={colour(lane)} />
      ))}
      {row.lane < row.before && <line x1={x(row.lane)} y1={0} x2={x(row.lane)} y2={mid} stroke={colour(row.lane)} />}
      {row.edges.map((edge) => (
        <path key={`e${edge.to}`} d={`M${x(edge.from)} ${mid} C${x(edge.from)} ${ROW} ${x(edge.to)} ${mid} ${x(edge.to)} ${ROW}`} stroke={colour(edge.to)} fill="none" />
      ))}
      <circle cx={x(row.lane)} cy={mid} r={3.5} fill={colour(row.lane)} />
    </svg>
  );
}

export function GitLog({ log }: { log: Commit[] }) {
  const rows = useMemo(() => graphRows(log), [log]);
  const lanes = rows.reduce((most, row) => Math.max(most, row.before, row.after, row.lane + 1), 1);
  if (!rows.length) return <p className="git-muted git-pad">No commits yet.</p>;
  return (
    <ol className="git-log" aria-label="Commits">
      {rows.map((row) => (
        <li key={row.commit.hash} title={`${row.commit.hash}\n${row.commit.author}, ${new Date(row.commit.time * 1000).toLocaleString()}`}>
          <GraphCell row={row} width={lanes * LANE} />
          {branchesOf(row.commit.refs).map((branch) => (
            <span key={branch} className="git-ref">
              {branch}
            </span>
          ))}
          <span className="git-subject">{row.commit.subject}</span>
        </li>
      ))}
    </ol>
  );
}
