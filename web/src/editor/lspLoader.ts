// The language servers' code (editor/lsp.ts, with @codemirror/lsp-client
// and its Markdown renderer) is a chunk of its own, loaded when the first
// file of a language with a server opens: the initial bundle stays small.

import type { BytesboxClient } from '../protocol/client';
import type { LanguageServers, LspHost } from './lsp';

/** The catalog languages with a language server (crates/runtimes/catalog.toml). */
export const LSP_LANGUAGES: readonly string[] = ['python', 'c', 'cpp', 'javascript', 'typescript'];

export interface LanguageServersLoader {
  /** The servers, loaded on first use. */
  load(): Promise<LanguageServers>;
  /** What the IDE offers them: the project's files, a way to open one. */
  attach(host: LspHost): void;
}

export function languageServersLoader(client: BytesboxClient): LanguageServersLoader {
  let loading: Promise<LanguageServers> | null = null;
  let host: LspHost | null = null;
  return {
    load() {
      loading ??= import('./lsp').then(({ LanguageServers }) => {
        const servers = new LanguageServers(client);
        if (host) servers.attach(host);
        return servers;
      });
      return loading;
    },
    attach(next) {
      host = next;
      void loading?.then((servers) => servers.attach(next));
    },
  };
}
