// One cell's CodeMirror editor: Python (the kernel's language) for code
// cells, plain text for Markdown and raw ones. Shift+Enter runs and moves
// on, Ctrl/⌘+Enter runs in place; the notebook owns the text.

import { useEffect, useRef } from 'react';
import { Compartment, EditorState, type Extension } from '@codemirror/state';
import { EditorView, drawSelection, highlightSpecialChars, hoverTooltip, keymap, placeholder } from '@codemirror/view';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { bracketMatching, defaultHighlightStyle, indentOnInput, indentUnit, syntaxHighlighting } from '@codemirror/language';
import { autocompletion, closeBrackets, closeBracketsKeymap, startCompletion, type CompletionContext } from '@codemirror/autocomplete';
import { oneDark } from '@codemirror/theme-one-dark';
import { loadMode } from '../../editor/modes';
import type { Completions } from '../../store/kernels';
import { cssOf, paletteOf, parseAnsi } from '../../notebook/ansi';
import { DARK, LIGHT } from '../Consoles/themes';

interface Props {
  source: string;
  /** A catalog id for editor/modes.ts, or null for plain text. */
  mode: string | null;
  theme: 'light' | 'dark';
  tabWidth: number;
  label: string;
  autoFocus?: boolean;
  onChange: (source: string) => void;
  /** Shift+Enter. */
  onRunAndAdvance: () => void;
  /** Ctrl/⌘+Enter. */
  onRun: () => void;
  onFocus: () => void;
  /** Esc (a Markdown cell goes back to its rendering). */
  onEscape?: () => void;
  /** The kernel's completions (code cells): Tab after a name, or Ctrl+Space. */
  complete?: (code: string, cursor: number) => Promise<Completions | null>;
  /** The kernel's help on the name under the pointer (code cells). */
  inspect?: (code: string, cursor: number) => Promise<string | null>;
  /** The view, for the notebook to focus (null when it goes). */
  onView?: (view: EditorView | null) => void;
}

const themeExtension = (theme: 'light' | 'dark'): Extension =>
  theme === 'dark' ? oneDark : syntaxHighlighting(defaultHighlightStyle, { fallback: true });

const tabExtension = (width: number): Extension => [EditorState.tabSize.of(width), indentUnit.of(' '.repeat(width))];

export function CellEditor(props: Props) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const latest = useRef(props);
  latest.current = props;
  const slots = useRef({ language: new Compartment(), theme: new Compartment(), tabs: new Compartment() });

  useEffect(() => {
    const { language, theme, tabs } = slots.current;
    const run = (advance: boolean) => () => {
      if (advance) latest.current.onRunAndAdvance();
      else latest.current.onRun();
      return true;
    };
    const completeFromKernel = async (context: CompletionContext) => {
      const complete = latest.current.complete;
      if (!complete) return null;
      const reply = await complete(context.state.doc.toString(), context.pos);
      if (!reply || !reply.matches.length || context.aborted) return null;
      return { from: reply.from, to: Math.max(reply.to, context.pos), options: reply.matches.map((label) => ({ label })) };
    };
    // Tab after a name or a dot asks the kernel (as in Jupyter); elsewhere it indents.
    const tabCompletes = (view: EditorView) => {
      const { main } = view.state.selection;
      if (!latest.current.complete || !main.empty) return false;
      return /[\w.]/.test(view.state.sliceDoc(Math.max(0, main.head - 1), main.head)) && startCompletion(view);
    };
    const helpFromKernel = hoverTooltip(
      async (view, pos) => {
        const inspect = latest.current.inspect;
        const word = view.state.wordAt(pos);
        if (!inspect || !word) return null;
        const help = await inspect(view.state.doc.toString(), word.to);
        if (!help) return null;
        return {
          pos: word.from,
          end: word.to,
          above: true,
          create: () => ({ dom: helpElement(help, latest.current.theme) }),
        };
      },
      { hoverTime: 450 },
    );
    const v = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: props.source,
        extensions: [
          highlightSpecialChars(),
          history(),
          drawSelection(),
          indentOnInput(),
          bracketMatching(),
          closeBrackets(),
          autocompletion({ override: [completeFromKernel], activateOnTyping: false }),
          helpFromKernel,
          keymap.of([
            { key: 'Tab', run: tabCompletes },
            { key: 'Shift-Enter', run: run(true) },
            { key: 'Mod-Enter', run: run(false) },
            { key: 'Escape', run: () => (latest.current.onEscape ? (latest.current.onEscape(), true) : false) },
            ...closeBracketsKeymap,
            ...defaultKeymap,
            ...historyKeymap,
            indentWithTab,
          ]),
          language.of([]),
          theme.of(themeExtension(props.theme)),
          tabs.of(tabExtension(props.tabWidth)),
          placeholder(props.mode ? 'Code' : 'Markdown'),
          EditorView.lineWrapping,
          EditorView.contentAttributes.of({ 'aria-label': props.label }),
          EditorView.updateListener.of((update) => {
            if (update.docChanged) latest.current.onChange(update.state.doc.toString());
            if (update.focusChanged && update.view.hasFocus) latest.current.onFocus();
          }),
        ],
      }),
    });
    view.current = v;
    latest.current.onView?.(v);
    if (props.autoFocus) v.focus();
    return () => {
      latest.current.onView?.(null);
      v.destroy();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  // Text changed elsewhere (a reload, another tab's version): take it.
  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== props.source) {
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: props.source } });
    }
  }, [props.source]);

  useEffect(() => {
    let cancelled = false;
    loadMode(props.mode)
      .then((mode) => {
        if (!cancelled) view.current?.dispatch({ effects: slots.current.language.reconfigure(mode) });
      })
      .catch(() => {
        /* plain text */
      });
    return () => {
      cancelled = true;
    };
  }, [props.mode]);

  useEffect(() => {
    view.current?.dispatch({
      effects: [slots.current.theme.reconfigure(themeExtension(props.theme)), slots.current.tabs.reconfigure(tabExtension(props.tabWidth))],
    });
  }, [props.theme, props.tabWidth]);

  return <div ref={host} className="nb-editor" />;
}

/** The kernel's help as a tooltip: text with its ANSI colours (never HTML). */
function helpElement(help: string, theme: 'light' | 'dark'): HTMLElement {
  const palette = paletteOf((theme === 'dark' ? DARK : LIGHT) as Record<string, unknown>);
  const pre = document.createElement('pre');
  pre.className = 'nb-help';
  for (const run of parseAnsi(help)) {
    const span = document.createElement('span');
    span.textContent = run.text;
    Object.assign(span.style, cssOf(run.style, palette));
    pre.append(span);
  }
  return pre;
}
