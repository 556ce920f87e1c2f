// Reading `git status --porcelain=v2 -z --branch --untracked-files=all`
// (docs/git.md): the Source Control panel's lists come from git's own
// machine-readable output, so the panel and a terminal always agree.

/** The arguments the panel's status comes from. */
export const STATUS_ARGS = ['status', '--porcelain=v2', '-z', '--branch', '--untracked-files=all'];

export type StatusKind = 'changed' | 'renamed' | 'unmerged' | 'untracked';

export interface StatusEntry {
  path: string;
  /** A rename's or copy's source. */
  from?: string;
  kind: StatusKind;
  /** The index's letter (`M`, `A`, `D`, `R`, `C`, `T`, `U`, or `.` for none). */
  index: string;
  /** The working tree's letter, as `index`. */
  worktree: string;
}

export interface GitStatus {
  /** The branch checked out, or null when HEAD is detached. */
  branch: string | null;
  /** The commit checked out, or null before the first commit. */
  head: string | null;
  /** The branch's upstream (`origin/main`), or null when it has none. */
  upstream: string | null;
  /** Commits the branch has that its upstream has not, and the other way round (0 without an upstream). */
  ahead: number;
  behind: number;
  /** Changes in the index: what the next commit records. */
  staged: StatusEntry[];
  /** Tracked files changed in the working tree but not staged. */
  changes: StatusEntry[];
  untracked: StatusEntry[];
  /** Files with a merge conflict. */
  conflicted: StatusEntry[];
}

/** Parses porcelain v2 with `-z`: records end in NUL, and a rename's source is the record after it. */
export function parseStatus(output: string): GitStatus {
  const status: GitStatus = { branch: null, head: null, upstream: null, ahead: 0, behind: 0, staged: [], changes: [], untracked: [], conflicted: [] };
  const records = output.split('\0');
  for (let i = 0; i < records.length; i++) {
    const record = records[i];
    if (!record) continue;
    if (record.startsWith('# branch.head ')) {
      const head = record.slice('# branch.head '.length);
      status.branch = head === '(detached)' ? null : head;
    } else if (record.startsWith('# branch.oid ')) {
      const oid = record.slice('# branch.oid '.length);
      status.head = oid === '(initial)' ? null : oid;
    } else if (record.startsWith('# branch.upstream ')) {
      status.upstream = record.slice('# branch.upstream '.length);
    } else if (record.startsWith('# branch.ab ')) {
      // `# branch.ab +A -B`
      const [ahead, behind] = record.slice('# branch.ab '.length).split(' ');
      status.ahead = Math.abs(Number.parseInt(ahead, 10)) || 0;
      status.behind = Math.abs(Number.parseInt(behind, 10)) || 0;
    } else if (record.startsWith('? ')) {
      status.untracked.push({ path: record.slice(2), kind: 'untracked', index: '?', worktree: '?' });
    } else if (record.startsWith('1 ') || record.startsWith('2 ')) {
      // `1 XY sub mH mI mW hH hI path`; `2 XY sub mH mI mW hH hI Xscore path`, then the source.
      const renamed = record[0] === '2';
      const fields = splitFields(record, renamed ? 9 : 8);
      const xy = fields[1];
      const entry = (index: string, worktree: string): StatusEntry => ({
        path: fields[fields.length - 1],
        kind: renamed ? 'renamed' : 'changed',
        index,
        worktree,
        ...(renamed ? { from: records[i + 1] } : {}),
      });
      if (xy[0] !== '.') status.staged.push(entry(xy[0], '.'));
      if (xy[1] !== '.') status.changes.push({ ...entry('.', xy[1]), kind: 'changed', from: undefined });
      if (renamed) i += 1;
    } else if (record.startsWith('u ')) {
      const fields = splitFields(record, 10);
      status.conflicted.push({ path: fields[10], kind: 'unmerged', index: fields[1][0], worktree: fields[1][1] });
    }
  }
  return status;
}

/** Splits off `count` space-separated fields; the rest (a path, spaces and all) is the last. */
function splitFields(record: string, count: number): string[] {
  const fields: string[] = [];
  let at = 0;
  for (let n = 0; n < count; n++) {
    const space = record.indexOf(' ', at);
    if (space < 0) break;
    fields.push(record.slice(at, space));
    at = space + 1;
  }
  fields.push(record.slice(at));
  return fields;
}

/** Words for a status letter. */
export function describeLetter(letter: string): string {
  switch (letter) {
    case 'M':
      return 'modified';
    case 'A':
      return 'added';
    case 'D':
      return 'deleted';
    case 'R':
      return 'renamed';
    case 'C':
      return 'copied';
    case 'T':
      return 'type changed';
    case 'U':
      return 'conflict';
    case '?':
      return 'untracked';
    default:
      return letter;
  }
}
