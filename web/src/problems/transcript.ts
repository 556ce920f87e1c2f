// What one run printed, kept as plain text per stage, so that the problems
// in it can be read when a stage ends. Bounded: a flood keeps its end,
// where a crash's traceback is.

import type { Problem } from './parse';
import { parseProblems } from './parse';

const MAX_CHARS = 256 * 1024;

export class Transcript {
  private decoder = new TextDecoder();
  private text = '';

  constructor(private files: ReadonlySet<string>) {}

  add(data: string | Uint8Array) {
    this.text += typeof data === 'string' ? data : this.decoder.decode(data, { stream: true });
    if (this.text.length > 2 * MAX_CHARS) this.text = this.text.slice(-MAX_CHARS);
  }

  /** The problems in the stage that just ended; the next stage starts afresh. */
  endStage(): Problem[] {
    const text = this.text + this.decoder.decode();
    this.text = '';
    return parseProblems(text.slice(-MAX_CHARS), this.files);
  }
}
