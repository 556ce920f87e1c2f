// Language intelligence from language servers in the session's box
// (docs/language-servers.md): one server per catalog language, started on
// demand over the session's WebSocket (`lsp_start`), spoken to by
// CodeMirror's own LSP client (@codemirror/lsp-client) through a transport
// of `lsp_message` frames. Completion, hover, signature help and go to
// definition (F12, across files) come from the package. Ours: diagnostics
// (lspDiagnostics below), so that they sit beside a run's problems instead
// of replacing them; format document (Shift+Alt+F, lspFormat.ts), which a
// save can wait for; rename (F2, lspRename.ts), which must reach files
// with no open editor.

import type { Extension } from '@codemirror/state';
import { ViewPlugin, keymap, type EditorView } from '@codemirror/view';
import {
  LSPClient,
  LSPPlugin,
  Workspace,
  findReferencesKeymap,
  hoverTooltips,
  jumpToDefinitionKeymap,
  serverCompletion,
  signatureHelp,
  type LSPClientConfig,
  type LSPClientExtension,
  type Transport,
  type WorkspaceFile,
} from '@codemirror/lsp-client';
import type { ChangeSet, Text } from '@codemirror/state';
import { autocompletion } from '@codemirror/autocomplete';
import type { Diagnostic } from '@codemirror/lint';
import type { BytesboxClient } from '../protocol/client';
import type { LspMessage } from '../protocol/types';
import { replaceDiagnostics } from './diagnostics';
import { LSP_LANGUAGES } from './lspLoader';
import { formatCommand, formatView } from './lspFormat';
import { renameCommand, type RenameHost } from './lspRename';
import { sanitizeDocumentation } from './sanitize';

/** The box's workspace, as the server's `lsp_ready` names it. */
export const DEFAULT_ROOT = 'file:///workspace';

/** How long after the last keystroke the document goes to the server. */
const SYNC_DELAY_MS = 120;

/** A file of the project, as sent to the box before a server starts. */
export interface ProjectFile {
  path: string;
  content: string;
}

/** What the IDE gives the servers: the project's files, a way to open one and to edit one. */
export interface LspHost {
  files(): ProjectFile[];
  /** Opens `path` in the editor (go to definition in another file). */
  open(path: string): void;
  /** Replaces a file's text as an unsaved edit (a rename in a file with no open editor). */
  edit(path: string, text: string): void;
}

/** A file's URI in the box. */
export function uriOf(root: string, path: string): string {
  return `${root}/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/** The project path of a URI in the box, or null for one outside it. */
export function pathOf(root: string, uri: string): string | null {
  if (!uri.startsWith(`${root}/`)) return null;
  return uri.slice(root.length + 1).split('/').map(decodeURIComponent).join('/');
}

type Phase = 'starting' | 'ready' | 'ended';

/**
 * When a server that ended may be started again (on the next edit of one
 * of its files): after an end that was not its fault (culled when idle,
 * its box reset, the session lost) or a life of a minute or more, yes;
 * after three quick failures in a row (a server that cannot start), no
 * more: each start costs a rate-limit token that runs need too.
 */
export class RestartPolicy {
  private failures = 0;

  /** A server ended after `livedMs` (null: it never started) with `status`. */
  ended(livedMs: number | null, status: string) {
    const notItsFault = status === 'culled' || status === 'killed' || status === 'stopped';
    if (notItsFault || (livedMs !== null && livedMs >= 60000)) this.failures = 0;
    else this.failures += 1;
  }

  mayStart(): boolean {
    return this.failures < 3;
  }
}

/** The open files of one server: one editor view each (the IDE has one). */
class IdeWorkspace extends Workspace {
  files: (WorkspaceFile & { view: EditorView })[] = [];
  private versions = new Map<string, number>();
  private waiting = new Map<string, (view: EditorView) => void>();

  constructor(client: LSPClient, readonly server: LanguageServer) {
    super(client);
  }

  private nextVersion(uri: string): number {
    const next = (this.versions.get(uri) ?? -1) + 1;
    this.versions.set(uri, next);
    return next;
  }

  syncFiles(): ReturnType<Workspace['syncFiles']> {
    const updates: { changes: ChangeSet; file: WorkspaceFile; prevDoc: Text }[] = [];
    for (const file of this.files) {
      const plugin = LSPPlugin.get(file.view);
      if (!plugin || plugin.unsyncedChanges.empty) continue;
      updates.push({ changes: plugin.unsyncedChanges, file, prevDoc: file.doc });
      file.doc = file.view.state.doc;
      file.version = this.nextVersion(file.uri);
      plugin.clear();
    }
    return updates;
  }

  openFile(uri: string, languageId: string, view: EditorView): void {
    this.closeFile(uri);
    const file = { uri, languageId, version: this.nextVersion(uri), doc: view.state.doc as Text, view, getView: () => view };
    this.files.push(file);
    this.client.didOpen(file);
    this.waiting.get(uri)?.(view);
    this.waiting.delete(uri);
  }

  closeFile(uri: string): void {
    if (!this.getFile(uri)) return;
    this.files = this.files.filter((f) => f.uri !== uri);
    this.client.didClose(uri);
  }

  /** Another file of the project: the IDE opens its tab, whose editor then opens it here. */
  displayFile(uri: string): Promise<EditorView | null> {
    const open = this.getFile(uri);
    if (open) return Promise.resolve(open.getView());
    const path = pathOf(this.server.root, uri);
    if (path === null) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiting.set(uri, resolve);
      this.server.host.open(path);
      setTimeout(() => {
        if (this.waiting.get(uri) === resolve) {
          this.waiting.delete(uri);
          resolve(null);
        }
      }, 3000);
    });
  }
}

/** An LSP severity as CodeMirror's. */
function severityOf(severity: number | undefined): Diagnostic['severity'] {
  return severity === 2 ? 'warning' : severity === 3 || severity === 4 ? 'info' : 'error';
}

interface LspDiagnostic {
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  severity?: number;
  message: string;
  source?: string;
}

/** Shows a server's diagnostics in the file's editor, beside the run's problems. */
function lspDiagnostics(): LSPClientExtension {
  return {
    clientCapabilities: { textDocument: { publishDiagnostics: { versionSupport: true } } },
    notificationHandlers: {
      'textDocument/publishDiagnostics': (client, params: { uri: string; version?: number; diagnostics: LspDiagnostic[] }) => {
        const file = client.workspace.getFile(params.uri);
        if (!file || (params.version != null && params.version !== file.version)) return false;
        const view = file.getView();
        const plugin = view && LSPPlugin.get(view);
        if (!view || !plugin) return false;
        const length = view.state.doc.length;
        const at = (position: LspDiagnostic['range']['start']) =>
          Math.min(plugin.unsyncedChanges.mapPos(plugin.fromPosition(position, plugin.syncedDoc)), length);
        replaceDiagnostics(
          view,
          'lsp',
          params.diagnostics.map((d) => ({
            from: at(d.range.start),
            to: at(d.range.end),
            severity: severityOf(d.severity),
            message: d.message,
            source: d.source,
          })),
        );
        window.dispatchEvent(new CustomEvent('bytesbox:lsp-diagnostics', { detail: { uri: params.uri, count: params.diagnostics.length } }));
        return true;
      },
    },
    // The document goes to the server shortly after typing stops (the
    // package's own sync waits 500 ms; diagnostics should come sooner).
    editorExtension: ViewPlugin.fromClass(
      class {
        private pending: ReturnType<typeof setTimeout> | null = null;
        constructor(private readonly view: EditorView) {}
        update(update: { docChanged: boolean }) {
          if (!update.docChanged) return;
          // A server that ended (culled when idle, its box reset) comes
          // back when its files are edited again.
          const workspace = LSPPlugin.get(this.view)?.client.workspace;
          if (workspace instanceof IdeWorkspace) workspace.server.start();
          if (this.pending) clearTimeout(this.pending);
          this.pending = setTimeout(() => {
            this.pending = null;
            LSPPlugin.get(this.view)?.client.sync();
          }, SYNC_DELAY_MS);
        }
        destroy() {
          if (this.pending) clearTimeout(this.pending);
        }
      },
    ),
  };
}

/** One language's server: the LSP client and its transport over the session. */
class LanguageServer {
  readonly id: string;
  readonly client: LSPClient;
  root = DEFAULT_ROOT;
  phase: Phase = 'ended';
  private readyAt: number | null = null;
  private readonly restarts = new RestartPolicy();
  private handlers = new Set<(message: string) => void>();
  /** The client's config, kept by reference: `lsp_ready` fills in the root and options before it connects. */
  private readonly config: LSPClientConfig;
  private settings: unknown = null;

  constructor(
    readonly language: string,
    private readonly session: BytesboxClient,
    readonly host: LspHost,
  ) {
    this.id = `lsp-${language}`;
    this.config = {
      rootUri: DEFAULT_ROOT,
      initializationOptions: {},
      // A server in the box may be parsing a language's headers; the
      // package's 3 s are short on a busy machine.
      timeout: 10000,
      workspace: (client) => new IdeWorkspace(client, this),
      sanitizeHTML: sanitizeDocumentation,
      extensions: [
        serverCompletion(),
        // Ask the server 30 ms after a keystroke, not CodeMirror's default
        // 100: the list should follow typing within 150 ms, and the server
        // answers in 50-100 ms (later keystrokes of a word filter the
        // list without asking again).
        autocompletion({ activateOnTypingDelay: 30 }),
        hoverTooltips(),
        signatureHelp(),
        keymap.of([
          { key: 'F2', run: renameCommand(this.renameHost()), preventDefault: true },
          { key: 'Shift-Alt-f', run: formatCommand, preventDefault: true },
          ...jumpToDefinitionKeymap,
          ...findReferencesKeymap,
        ]),
        lspDiagnostics(),
      ],
    };
    this.client = new LSPClient(this.config);
  }

  /** What a rename needs: the project's text, sent to the box first, and edits of files with no editor. */
  private renameHost(): RenameHost {
    return {
      pathOf: (uri) => pathOf(this.root, uri),
      syncFiles: () => this.session.send({ type: 'lsp_files', id: this.id, files: this.host.files() }),
      text: (path) => this.host.files().find((file) => file.path === path)?.content ?? null,
      edit: (path, text) => this.host.edit(path, text),
    };
  }

  /** The transport: `lsp_message` frames of this server's id. */
  private transport(): Transport {
    return {
      send: (message) => this.session.send({ type: 'lsp_message', id: this.id, message: JSON.parse(message) }),
      subscribe: (handler) => void this.handlers.add(handler),
      unsubscribe: (handler) => void this.handlers.delete(handler),
    };
  }

  /** Starts the server unless it is starting or running. */
  start() {
    if (this.phase !== 'ended' || !this.restarts.mayStart()) return;
    this.phase = 'starting';
    const files = this.host.files().map((f) => ({ path: f.path, content: f.content }));
    this.session.send({ type: 'lsp_start', id: this.id, language: this.language, files });
  }

  /** A frame about this server. */
  receive(message: LspMessage) {
    switch (message.type) {
      case 'lsp_ready': {
        this.root = message.root_uri;
        this.config.rootUri = message.root_uri;
        this.config.initializationOptions = message.initialization_options;
        this.settings = message.settings;
        this.phase = 'ready';
        this.readyAt = Date.now();
        this.client.connect(this.transport());
        void this.client.initializing.then(() => {
          this.client.notification('workspace/didChangeConfiguration', { settings: this.settings });
        });
        break;
      }
      case 'lsp_message': {
        const text = JSON.stringify(message.message);
        for (const handler of this.handlers) handler(text);
        break;
      }
      case 'lsp_exited':
      case 'lsp_error': {
        if (this.phase === 'ready') this.client.disconnect();
        const lived = this.readyAt === null ? null : Date.now() - this.readyAt;
        this.restarts.ended(lived, message.type === 'lsp_exited' ? message.status : message.code);
        this.phase = 'ended';
        this.readyAt = null;
        break;
      }
    }
  }
}

/** The session's language servers, by catalog language. */
export class LanguageServers {
  private servers = new Map<string, LanguageServer>();
  private host: LspHost = { files: () => [], open: () => undefined, edit: () => undefined };

  constructor(private readonly session: BytesboxClient) {
    session.on('message', (message) => {
      if (!message.type.startsWith('lsp_')) return;
      const lsp = message as LspMessage;
      for (const server of this.servers.values()) if (server.id === lsp.id) server.receive(lsp);
    });
    // A new session has none of the old one's servers.
    session.on('sessionLost', () => {
      for (const server of this.servers.values()) server.receive({ type: 'lsp_exited', id: server.id, status: 'killed', exit_code: null, signal: null, memory_bytes: 0, message: '' });
    });
  }

  /** What the IDE offers the servers (set by the IDE once it has a project). */
  attach(host: LspHost) {
    this.host = host;
  }

  /** The editor extension of a file of `language`, starting its server; null when the language has none. */
  extensionFor(language: string | null, path: string): Extension | null {
    if (!language || !LSP_LANGUAGES.includes(language)) return null;
    // JSON is edited in JavaScript's mode, but it is not a script: the
    // server would call every file of it a syntax error.
    if (/\.json$/i.test(path)) return null;
    let server = this.servers.get(language);
    if (!server) {
      server = new LanguageServer(language, this.session, {
        files: () => this.host.files(),
        open: (p) => this.host.open(p),
        edit: (p, text) => this.host.edit(p, text),
      });
      this.servers.set(language, server);
    }
    server.start();
    return server.client.plugin(uriOf(server.root, path), language);
  }

  /**
   * Writes a file's text into the box (`lsp_files`), so that the servers
   * read it from disk when another document imports or includes it: the
   * IDE does so when the file's editor is left for another file.
   */
  writeFile(path: string, content: string) {
    const running = [...this.servers.values()].find((server) => server.phase === 'ready');
    if (running) this.session.send({ type: 'lsp_files', id: running.id, files: [{ path, content }] });
  }

  /** Format document, for the button and a save (Shift+Alt+F in the editor); resolves once done. */
  format(view: EditorView): Promise<boolean> {
    return formatView(view);
  }
}
