// A code cell's outputs, each by its MIME type (notebook/render.ts says
// which and sanitises), streams and tracebacks with their ANSI colours,
// long ones collapsed behind "Show all", and an `input()` prompt as a
// field at the end.

import { useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { CellOutput } from '../../notebook/model';
import { joinText } from '../../notebook/model';
import { cssOf, parseAnsi, paletteOf, type Palette } from '../../notebook/ansi';
import { COLLAPSED_HEIGHT, imageUrl, markdownHtml, preferredMime, sanitizeHtml } from '../../notebook/render';
import type { InputPrompt } from '../../store/kernels';
import { DARK, LIGHT } from '../Consoles/themes';

interface Props {
  outputs: CellOutput[];
  theme: 'light' | 'dark';
  prompt: InputPrompt | null;
  onAnswer: (value: string) => void;
}

export function Outputs({ outputs, theme, prompt, onAnswer }: Props) {
  const palette = useMemo(() => paletteOf((theme === 'dark' ? DARK : LIGHT) as Record<string, unknown>), [theme]);
  const box = useRef<HTMLDivElement>(null);
  const [tall, setTall] = useState(false);
  const [expanded, setExpanded] = useState(false);

  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    const measure = () => setTall(el.scrollHeight > COLLAPSED_HEIGHT + 40);
    measure();
    // Images load after the first layout.
    const observer = new ResizeObserver(measure);
    for (const child of Array.from(el.children)) observer.observe(child);
    return () => observer.disconnect();
  }, [outputs]);

  if (!outputs.length && !prompt) return null;
  const collapsed = tall && !expanded;
  return (
    <div className="nb-outputs-wrap">
      <div ref={box} className={`nb-outputs${collapsed ? ' collapsed' : ''}`} style={collapsed ? { maxHeight: COLLAPSED_HEIGHT } : undefined}>
        {outputs.map((output, i) => (
          <Output key={i} output={output} palette={palette} />
        ))}
      </div>
      {tall && (
        <button type="button" className="nb-toggle" onClick={() => setExpanded(!expanded)}>
          {expanded ? 'Collapse output' : 'Show all output'}
        </button>
      )}
      {prompt && <InputField prompt={prompt} onAnswer={onAnswer} />}
    </div>
  );
}

function Output({ output, palette }: { output: CellOutput; palette: Palette }) {
  const json = output.json;
  switch (json.output_type) {
    case 'stream':
      return (
        <pre className={`nb-output nb-stream${json.name === 'stderr' ? ' stderr' : ''}`}>
          <AnsiText text={joinText(json.text)} palette={palette} />
        </pre>
      );
    case 'error':
      return (
        <pre className="nb-output nb-error" data-ename={String(json.ename)}>
          <AnsiText
            text={Array.isArray(json.traceback) && json.traceback.length ? json.traceback.join('\n') : `${json.ename}: ${json.evalue}`}
            palette={palette}
          />
        </pre>
      );
    case 'execute_result':
    case 'display_data':
      return <Bundle data={(json.data ?? {}) as Record<string, unknown>} metadata={(json.metadata ?? {}) as Record<string, unknown>} />;
    default:
      return <p className="nb-output nb-unknown">An output of type “{json.output_type}” (kept in the file, not shown here).</p>;
  }
}

function Bundle({ data, metadata }: { data: Record<string, unknown>; metadata: Record<string, unknown> }) {
  const mime = preferredMime(data);
  const html = useMemo(() => {
    if (mime === 'text/html') return sanitizeHtml(joinText(data[mime]));
    if (mime === 'text/markdown') return markdownHtml(joinText(data[mime]));
    return null;
  }, [mime, data]);
  if (html !== null) {
    return <div className={`nb-output nb-html${mime === 'text/markdown' ? ' nb-markdown' : ''}`} dangerouslySetInnerHTML={{ __html: html }} />;
  }
  switch (mime) {
    case 'image/png':
    case 'image/jpeg':
    case 'image/svg+xml': {
      const size = (metadata[mime] ?? {}) as { width?: unknown; height?: unknown };
      return (
        <div className="nb-output nb-image">
          <img
            src={imageUrl(mime, data[mime])}
            alt={joinText(data['text/plain']) || 'output image'}
            width={typeof size.width === 'number' ? size.width : undefined}
            height={typeof size.height === 'number' ? size.height : undefined}
          />
        </div>
      );
    }
    case 'application/json':
      return <pre className="nb-output nb-json">{JSON.stringify(data[mime], null, 2)}</pre>;
    case 'text/plain':
      return <pre className="nb-output nb-text">{joinText(data[mime])}</pre>;
    default:
      return (
        <p className="nb-output nb-unknown">
          An output of type {Object.keys(data).join(', ') || 'nothing'} (kept in the file, not shown here).
        </p>
      );
  }
}

export function AnsiText({ text, palette }: { text: string; palette: Palette }) {
  const runs = useMemo(() => parseAnsi(text), [text]);
  return (
    <>
      {runs.map((run, i) => {
        const style = cssOf(run.style, palette);
        return style ? (
          <span key={i} style={style}>
            {run.text}
          </span>
        ) : (
          run.text
        );
      })}
    </>
  );
}

function InputField({ prompt, onAnswer }: { prompt: InputPrompt; onAnswer: (value: string) => void }) {
  const [value, setValue] = useState('');
  return (
    <form
      className="nb-input"
      onSubmit={(e) => {
        e.preventDefault();
        onAnswer(value);
      }}
    >
      <label>
        <span className="nb-input-prompt">{prompt.prompt || 'Input:'}</span>
        <input
          type={prompt.password ? 'password' : 'text'}
          value={value}
          autoFocus
          aria-label="Input for the running cell"
          onChange={(e) => setValue(e.target.value)}
          onKeyDown={(e) => e.stopPropagation()}
        />
      </label>
    </form>
  );
}
