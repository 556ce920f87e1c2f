// The server's catalog (crates/runtimes/catalog.toml) as `GET /api/v1/runtimes`
// serves it, for tests of what the IDE derives from that list. Read from the
// file itself, so a language added to the catalog is checked here too.

import type { Runtime } from '../src/api/client';
import catalog from '../../crates/runtimes/catalog.toml?raw';

export function catalogRuntimes(): Runtime[] {
  return catalog
    .split(/^\[\[runtime\]\]$/m)
    .slice(1)
    .map((block) => {
      // The runtime's own keys come before its first sub-table.
      const head = block.split(/^\[/m)[0];
      const string = (key: string) => head.match(new RegExp(`^${key} = "([^"]*)"`, 'm'))?.[1] ?? '';
      const list = (key: string) => [...(head.match(new RegExp(`^${key} = \\[([^\\]]*)\\]`, 'm'))?.[1] ?? '').matchAll(/"([^"]*)"/g)].map((m) => m[1]);
      const named_only = /^named_only = true$/m.test(head);
      const sql_results = /^sql_results = true$/m.test(head);
      return { id: string('id'), name: string('name'), aliases: list('aliases'), extensions: list('extensions'), available: true, named_only, sql_results };
    });
}
