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
import { loadMode } from '../../editor/modes';

interface Props {
  path: string | null;
  /** Its catalog id for editor/modes.ts, or null for plain text. */
  mode: string | null;
  text: string;
  binary: boolean;
  theme: 'light' | 'dark';
  tabWidth: number;
  onChange: (path: string, text: string) => void;
}

const language = new Compartment();
const themeSlot = new Compartment();
const tabs = new Compartment();

function themeExtension(theme: 'light' | 'dark'): Extension {
  return theme === 'dark' ? oneDark : [syntaxHighlighting(defaultHighlightStyle, { fallback: true })];
}

function tabExtension(width: number): Extension {
  return [EditorState.tabSize.of(width), indentUnit.of(' '.repeat(width))];
}

export function Editor({ path, mode, text, binary, theme, tabWidth, onChange }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const states = useRef(new Map<string, EditorState>());
  const current = useRef<{ path: string | null; onChange: Props['onChange'] }>({ path, onChange });
  current.current = { path, onChange };
  const settings = useRef({ theme, tabWidth });
  settings.current = { theme, tabWidth };

  const makeState = (doc: string) =>
    EditorState.create({
      doc,
      extensions: [
        lineNumbers(),
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

  // Switch files; also take outside changes (rename, a template, a reload).
  useEffect(() => {
    const v = view.current;
    if (!v) return;
    if (!path) {
      v.setState(makeState(''));
      return;
    }
    let state = states.current.get(path);
    if (!state || state.doc.toString() !== text) {
      state = makeState(text);
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
    return () => {
      cancelled = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [path, text, mode]);

  useEffect(() => {
    view.current?.dispatch({
      effects: [themeSlot.reconfigure(themeExtension(theme)), tabs.reconfigure(tabExtension(tabWidth))],
    });
  }, [theme, tabWidth]);

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
      {!path && <p className="placeholder">Open a file from the tree, or make one with ＋ File.</p>}
    </div>
  );
}
