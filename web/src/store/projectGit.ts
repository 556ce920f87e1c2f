// The signed-in user's open project, told to the session (docs/git.md,
// "Saved with the project"): with it the server saves the box's `.git`
// with the project and brings it back in the next session's box. The
// `project` frame goes again after every `hello` (a new session knows
// nothing) and whenever another project opens. What became of the last
// save (`project_git`) is kept for the Source Control panel, which shows
// a save that failed (over the quota, storage down).

import type { BytesboxClient } from '../protocol/client';
import type { ProjectGitMessage, ServerMessage } from '../protocol/types';
import { Store } from './store';
import type { Workspace } from './workspace';

export interface ProjectGitSnapshot {
  /** The project the session holds, once the server said so. */
  attached: string | null;
  /** Why the session could not take the project (`project_error`), or why the last save failed. */
  problem: string | null;
  /** The size of the last saved or restored repository. */
  savedBytes: number | null;
}

const EMPTY: ProjectGitSnapshot = { attached: null, problem: null, savedBytes: null };

/** How long after a rate-limited `project` frame it is sent again. */
export const PROJECT_RETRY_MS = 2000;

/** A failed save or restore in words, with the server's error id when it was the server's fault. */
export function problemText(frame: ProjectGitMessage): string | null {
  if (frame.event === 'saved' || frame.event === 'restored') return null;
  const what = frame.event === 'not_saved' ? 'The repository was not saved with the project' : 'The saved repository was not brought back';
  const why = frame.message ? `: ${frame.message}` : '';
  const id = frame.error_id ? ` (error ${frame.error_id})` : '';
  return `${what}${why}${id}`;
}

export class ProjectGitStore extends Store<ProjectGitSnapshot> {
  /** The project last told to the server. */
  private told: string | null = null;

  constructor(
    private client: BytesboxClient,
    private workspace: Pick<Workspace, 'get' | 'subscribe'>,
  ) {
    super(EMPTY);
    client.on('message', (message) => this.receive(message));
    client.on('state', (state) => {
      // Each `hello` may be a new session: tell it again.
      if (state === 'open') this.tell(true);
    });
    workspace.subscribe(() => this.tell(false));
    if (client.state === 'open') this.tell(true);
  }

  private tell(again: boolean) {
    const id = this.workspace.get().project?.id ?? null;
    if (id === this.told && !again) return;
    if (id !== this.told) this.set(EMPTY);
    this.told = id;
    if (id !== null || again) this.client.send({ type: 'project', id });
  }

  private receive(message: ServerMessage) {
    if (message.type === 'project_attached') {
      if (message.id === this.told) this.set({ ...this.get(), attached: message.id, problem: null });
    } else if (message.type === 'project_error') {
      if (message.id !== this.told) return;
      this.set({ ...this.get(), attached: null, problem: message.message });
      // The frame costs a rate-limit token: asked again once one is back.
      if (message.code === 'rate_limited') setTimeout(() => this.tell(true), PROJECT_RETRY_MS);
    } else if (message.type === 'project_git' && message.project === this.told) {
      const problem = problemText(message);
      this.set({ ...this.get(), problem, savedBytes: problem ? this.get().savedBytes : (message.bytes ?? null) });
    }
  }
}
