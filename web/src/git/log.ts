// Reading `git log` for the panel's history, and drawing its graph as
// lanes from each commit's parents (docs/git.md): no `--graph` ASCII to
// reparse, and the same lanes whatever the terminal width.

const FIELD = '\x1f';
const RECORD = '\x1e';

/** Most commits the panel lists. */
export const LOG_LIMIT = 200;

/** The arguments the panel's log comes from: every branch, newest first, parents before children never. */
export const LOG_ARGS = [
  'log',
  '--all',
  '--topo-order',
  `--max-count=${LOG_LIMIT}`,
  '--format=%H%x1f%P%x1f%an%x1f%at%x1f%D%x1f%s%x1e',
];

export interface Commit {
  hash: string;
  parents: string[];
  author: string;
  /** Unix seconds. */
  time: number;
  /** Branch and tag names pointing here (`HEAD -> main`, `feature`). */
  refs: string[];
  subject: string;
}

/** Parses the output of [`LOG_ARGS`]. */
export function parseLog(output: string): Commit[] {
  const commits: Commit[] = [];
  for (const raw of output.split(RECORD)) {
    const record = raw.replace(/^\n/, '');
    if (!record) continue;
    const [hash, parents, author, time, refs, ...subject] = record.split(FIELD);
    if (!hash || !/^[0-9a-f]{7,64}$/.test(hash)) continue;
    commits.push({
      hash,
      parents: parents ? parents.split(' ').filter(Boolean) : [],
      author: author ?? '',
      time: Number(time) || 0,
      refs: refs ? refs.split(', ').filter(Boolean) : [],
      subject: subject.join(FIELD),
    });
  }
  return commits;
}

/** One row of the graph: the commit's lane and the lines through the row. */
export interface GraphRow {
  commit: Commit;
  /** The commit's lane. */
  lane: number;
  /** Lanes in use above the row (each: the commit it is waiting for). */
  before: number;
  /** Lines from the commit's lane down to its parents' lanes. */
  edges: { from: number; to: number }[];
  /** Lanes that pass through the row untouched. */
  through: number[];
  /** Lanes in use below the row. */
  after: number;
}

/**
 * Assigns lanes: each lane waits for one commit (a child's parent); a
 * commit takes the first lane waiting for it (others waiting for it
 * close), its first parent keeps its lane and further parents open lanes
 * of their own, or join one already waiting for them.
 */
export function graphRows(commits: Commit[]): GraphRow[] {
  const lanes: (string | null)[] = [];
  const rows: GraphRow[] = [];
  for (const commit of commits) {
    const before = lanes.length;
    let lane = lanes.indexOf(commit.hash);
    if (lane < 0) {
      lane = lanes.indexOf(null);
      if (lane < 0) lane = lanes.push(null) - 1;
    }
    // Other lanes that waited for this commit merge into it.
    for (let i = 0; i < lanes.length; i++) if (i !== lane && lanes[i] === commit.hash) lanes[i] = null;
    const through = lanes.map((waiting, i) => (waiting !== null && i !== lane ? i : -1)).filter((i) => i >= 0);
    const edges: { from: number; to: number }[] = [];
    lanes[lane] = commit.parents[0] ?? null;
    if (commit.parents[0]) edges.push({ from: lane, to: lane });
    for (const parent of commit.parents.slice(1)) {
      let to = lanes.indexOf(parent);
      if (to < 0) {
        to = lanes.indexOf(null);
        if (to < 0) to = lanes.length;
        lanes[to] = parent;
      }
      edges.push({ from: lane, to });
    }
    while (lanes.length && lanes[lanes.length - 1] === null) lanes.pop();
    rows.push({ commit, lane, before, edges, through, after: lanes.length });
  }
  return rows;
}

/** The short name of each branch a commit's refs name (`HEAD -> main` is `main`; tags and remotes left out). */
export function branchesOf(refs: string[]): string[] {
  return refs
    .map((ref) => ref.replace(/^HEAD -> /, ''))
    .filter((ref) => ref !== 'HEAD' && !ref.startsWith('tag: '));
}
