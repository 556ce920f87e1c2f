// The code editor: one CodeMirror view, one editor state per open file (so
// each file keeps its own undo history and cursor), language modes loaded
// on first use.

import { useEffect, useRef } from 'react';
import { EditorState, Compartment, type Extension } from '@codemirror/state';
import {
  EditorView,
  keymap,
  lineNumbers,
  highlightActiveLine,
  highlightActiveLineGutter,
  drawSelection,
  highlightSpecialChars,
  dropCursor,
  rectangularSelection,
} from '@codemirror/view';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import {
  bracketMatching,
  defaultHighlightStyle,
  foldGutter,
  foldKeymap,
  indentOnInput,
  indentUnit,
  syntaxHighlighting,
} from '@codemirror/language';
import { closeBrackets, closeBracketsKeymap } from '@codemirror/autocomplete';
import { highlightSelectionMatches, search, searchKeymap } from '@codemirror/search';
import { oneDark } from '@codemirror/theme-one-dark';
import { lintGutter } from '@codemirror/lint';
import { loadMode } from '../../editor/modes';
import { diagnosticsOf, replaceDiagnostics } from '../../editor/diagnostics';
import { LSP_LANGUAGES, type LanguageServersLoader } from '../../editor/lspLoader';
import type { Problem } from '../../problems/parse';
import type { SourceLocation } from '../Problems/Problems';
import { FORMAT_EVENT, type FormatRequest } from './formatRequest';

/** A request to show a place in a file; `seq` tells one request from the next. */
export interface Reveal extends SourceLocation {
  seq: number;
}

interface Props {
  path: string | null;
  /** Its catalog id for editor/modes.ts, or null for plain text. */
  mode: string | null;
  text: string;
  binary: boolean;
  theme: 'light' | 'dark';
  tabWidth: number;
  onChange: (path: string, text: string) => void;
  /** The last run's problems in this file. */
  problems: Problem[];
  reveal: Reveal | null;
  /** Completion, diagnostics, hover, … from the language servers in the box. */
  languageServers?: LanguageServersLoader;
}

const language = new Compartment();
const themeSlot = new Compartment();
const tabs = new Compartment();
/** A file's language server plugin (editor/lsp.ts), once its server's code is loaded. */
const languageServer = new Compartment();

function themeExtension(theme: 'light' | 'dark'): Extension {
  return theme === 'dark' ? oneDark : [syntaxHighlighting(defaultHighlightStyle, { fallback: true })];
}

function tabExtension(width: number): Extension {
  return [EditorState.tabSize.of(width), indentUnit.of(' '.repeat(width))];
}

export function Editor({ path, mode, text, binary, theme, tabWidth, onChange, problems, reveal, languageServers }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const states = useRef(new Map<string, EditorState>());
  const current = useRef<{ path: string | null; onChange: Props['onChange'] }>({ path, onChange });
  current.current = { path, onChange };
  const settings = useRef({ theme, tabWidth });
  settings.current = { theme, tabWidth };
  /** Each file's language server plugin: made once, so that its server keeps the document open. */
  const serverPlugins = useRef(new Map<string, Extension>());

  const makeState = (doc: string, file: string | null = null) =>
    EditorState.create({
      doc,
      extensions: [
        lineNumbers(),
        lintGutter(),
        highlightActiveLineGutter(),
        highlightSpecialChars(),
        history(),
        foldGutter(),
        drawSelection(),
        dropCursor(),
        EditorState.allowMultipleSelections.of(true),
        indentOnInput(),
        bracketMatching(),
        closeBrackets(),
        rectangularSelection(),
        highlightActiveLine(),
        highlightSelectionMatches(),
        search({ top: true }),
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...searchKeymap, ...historyKeymap, ...foldKeymap, indentWithTab]),
        language.of([]),
        themeSlot.of(themeExtension(settings.current.theme)),
        tabs.of(tabExtension(settings.current.tabWidth)),
        languageServer.of((file && serverPlugins.current.get(file)) || []),
        EditorView.contentAttributes.of({ 'aria-label': 'Code editor' }),
        EditorView.updateListener.of((update) => {
          const { path: open, onChange: changed } = current.current;
          if (!open) return;
          states.current.set(open, update.state);
          if (update.docChanged) changed(open, update.state.doc.toString());
        }),
      ],
    });

  useEffect(() => {
    const v = new EditorView({ parent: host.current!, state: makeState('') });
    view.current = v;
    return () => v.destroy();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  // The file whose editor was shown last: when another is shown, its
  // text goes to the box for the language servers (editor/lsp.ts).
  const shown = useRef<string | null>(null);

  // Switch files; also take outside changes (rename, a template, a reload).
  useEffect(() => {
    const v = view.current;
    if (!v) return;
    const left = shown.current;
    shown.current = path;
    if (left && left !== path && languageServers && serverPlugins.current.has(left)) {
      const content = states.current.get(left)?.doc.toString();
      if (content !== undefined) void languageServers.load().then((servers) => servers.writeFile(left, content));
    }
    if (!path) {
      v.setState(makeState(''));
      return;
    }
    let state = states.current.get(path);
    if (!state || state.doc.toString() !== text) {
      state = makeState(text, path);
      states.current.set(path, state);
    }
    if (v.state !== state) {
      v.setState(state);
      v.dispatch({
        effects: [themeSlot.reconfigure(themeExtension(theme)), tabs.reconfigure(tabExtension(tabWidth))],
      });
    }
    let cancelled = false;
    loadMode(mode)
      .then((mode) => {
        if (!cancelled && current.current.path === path) v.dispatch({ effects: language.reconfigure(mode) });
      })
      .catch(() => {
        /* the file stays plain text */
      });
    if (languageServers && mode && LSP_LANGUAGES.includes(mode) && !serverPlugins.current.has(path)) {
      languageServers
        .load()
        .then((servers) => {
          if (serverPlugins.current.has(path)) return;
          const plugin = servers.extensionFor(mode, path);
          if (!plugin) return;
          serverPlugins.current.set(path, plugin);
          if (current.current.path === path) v.dispatch({ effects: languageServer.reconfigure(plugin) });
        })
        .catch(() => {
          /* no language intelligence; the editor works as before */
        });
    }
    return () => {
      cancelled = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [path, text, mode]);

  // The run's problems, marked once per run (the marks then move with
  // edits), beside what the language server says.
  useEffect(() => {
    const v = view.current;
    if (!v || !path) return;
    replaceDiagnostics(v, 'run', diagnosticsOf(v.state.doc, problems));
  }, [path, problems]);

  // Show a place asked for (a problem, a location clicked in a console).
  const revealed = useRef(0);
  useEffect(() => {
    const v = view.current;
    // Once the file is open (the request may come a render before it is).
    if (!v || !reveal || reveal.file !== path || revealed.current === reveal.seq) return;
    revealed.current = reveal.seq;
    const doc = v.state.doc;
    const line = doc.line(Math.min(Math.max(reveal.line, 1), doc.lines));
    const at = Math.min(line.from + (reveal.column ?? 1) - 1, line.to);
    v.dispatch({ selection: { anchor: at }, effects: EditorView.scrollIntoView(at, { y: 'center' }) });
    v.focus();
  }, [reveal, path]);

  useEffect(() => {
    view.current?.dispatch({
      effects: [themeSlot.reconfigure(themeExtension(theme)), tabs.reconfigure(tabExtension(tabWidth))],
    });
  }, [theme, tabWidth]);

  // Format document on request (the status bar's button; Shift+Alt+F in
  // the editor is the language server keymap's).
  useEffect(() => {
    const format = (event: Event) => {
      const { done } = (event as CustomEvent<FormatRequest>).detail;
      const v = view.current;
      if (!v || !languageServers) return;
      event.preventDefault();
      void languageServers
        .load()
        .then((servers) => servers.format(v))
        .finally(done);
    };
    window.addEventListener(FORMAT_EVENT, format);
    return () => window.removeEventListener(FORMAT_EVENT, format);
  }, [languageServers]);

  // Focus the editor on request (Alt+2).
  useEffect(() => {
    const focus = () => view.current?.focus();
    window.addEventListener('bytesbox:focus-editor', focus);
    return () => window.removeEventListener('bytesbox:focus-editor', focus);
  }, []);

  return (
    <div className="editor-host">
      <div ref={host} className="editor" hidden={!path || binary} />
      {binary && <p className="placeholder">This is a binary file; it is sent with the project as it is.</p>}
      {!path && <p className="placeholder">Open a file from the tree, or make one with + File.</p>}
    </div>
  );
}
