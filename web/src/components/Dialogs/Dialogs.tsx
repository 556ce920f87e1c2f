// Modal dialogs: a prompt (typed or picked from a list), a confirmation,
// and the host that shows them.
// They are real dialogs (focus trapped by <dialog>, Escape cancels), so
// everything works from the keyboard and on touch screens.

import { useEffect, useRef, useState } from 'react';
import { Icon } from '../Icons/Icon';

export type DialogSpec =
  | {
      kind: 'prompt';
      title: string;
      label: string;
      value: string;
      confirm: string;
      /** When given, the answer is picked from these (a list, not a text field). */
      choices?: { value: string; label: string }[];
      resolve: (v: string | null) => void;
    }
  | { kind: 'confirm'; title: string; message: string; confirm: string; resolve: (ok: boolean) => void };

export function DialogHost({ spec, onDone }: { spec: DialogSpec | null; onDone: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const input = useRef<HTMLInputElement>(null);
  const select = useRef<HTMLSelectElement>(null);
  const [value, setValue] = useState('');

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (spec) {
      setValue(spec.kind === 'prompt' ? spec.value : '');
      if (!dialog.open) dialog.showModal();
      setTimeout(() => {
        select.current?.focus();
        if (input.current) {
          input.current.focus();
          const dot = input.current.value.lastIndexOf('.');
          input.current.setSelectionRange(0, dot > 0 ? dot : input.current.value.length);
        }
      }, 0);
    } else if (dialog.open) {
      dialog.close();
    }
  }, [spec]);

  const finish = (ok: boolean) => {
    if (!spec) return;
    // Closed before the answer goes out: closing a modal dialog gives the
    // focus back to what had it before, and what the answer does next
    // (open a new file in the editor, focused) must come after that, not
    // be undone by it when the close waits for the next render.
    ref.current?.close();
    if (spec.kind === 'prompt') spec.resolve(ok ? value : null);
    else spec.resolve(ok);
    onDone();
  };

  return (
    <dialog
      ref={ref}
      className="dialog"
      aria-labelledby="dialog-title"
      onCancel={(e) => {
        e.preventDefault();
        finish(false);
      }}
    >
      {spec && (
        <form
          method="dialog"
          onSubmit={(e) => {
            e.preventDefault();
            finish(true);
          }}
        >
          <h2 id="dialog-title">{spec.title}</h2>
          {spec.kind === 'prompt' && spec.choices ? (
            <label className="field">
              <span>{spec.label}</span>
              <select ref={select} value={value} onChange={(e) => setValue(e.target.value)}>
                {spec.choices.map((c) => (
                  <option key={c.value} value={c.value}>
                    {c.label}
                  </option>
                ))}
              </select>
            </label>
          ) : spec.kind === 'prompt' ? (
            <label className="field">
              <span>{spec.label}</span>
              <input ref={input} value={value} onChange={(e) => setValue(e.target.value)} spellCheck={false} autoCapitalize="off" />
            </label>
          ) : (
            <p>{spec.message}</p>
          )}
          <div className="dialog-buttons">
            <button type="button" onClick={() => finish(false)}>
              Cancel
            </button>
            <button type="submit" className={spec.kind === 'confirm' ? 'danger' : 'primary'} autoFocus={spec.kind === 'confirm'}>
              {spec.confirm}
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}

export function Modal({
  title,
  onClose,
  children,
  className,
}: {
  title: string;
  onClose: () => void;
  children: React.ReactNode;
  className?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  return (
    <dialog
      ref={ref}
      className={`dialog ${className ?? ''}`}
      aria-label={title}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <div className="modal-head">
        <h2>{title}</h2>
        <button type="button" className="icon" aria-label="Close" onClick={onClose}>
          <Icon name="close" />
        </button>
      </div>
      {children}
    </dialog>
  );
}

/**
 * A write refused because the server's copy changed (another tab, another
 * browser): the user decides; nothing is overwritten silently. It cannot
 * be dismissed without a choice (saving waits for it).
 */
type Conflict = { path: string | null; currentVersion: number; action: string };

/** What happened, and what each choice will do, in words. */
export function conflictText({ path, currentVersion, action }: Conflict): { what: string; reload: string; keep: string } {
  const elsewhere = 'in another tab or browser since this one loaded it';
  if (path === null) {
    return {
      what: `The project's settings (name, entry, language) were changed ${elsewhere}, and this tab changed them too.`,
      reload: "Take the server's settings; the change made here is dropped.",
      keep: 'Save the settings made here over the server\'s; the other change is lost.',
    };
  }
  if (currentVersion === 0) {
    return {
      what: `${path} was deleted ${elsewhere}, and this tab has changes to it that are not saved.`,
      reload: 'Remove the file here too; the changes made here are lost.',
      keep: 'Create the file again on the server with the content shown here.',
    };
  }
  if (action === 'delete') {
    return {
      what: `${path} was changed ${elsewhere}, and this tab deleted it.`,
      reload: "Bring the file back with the server's content.",
      keep: 'Delete the file on the server too; the other change is lost.',
    };
  }
  return {
    what: `${path} was changed ${elsewhere} (the server has version ${currentVersion}), and this tab has changes to it that are not saved.`,
    reload: "Show the server's version; the changes made here are lost.",
    keep: "Save the content shown here over the server's; the other change is lost.",
  };
}

export function ConflictDialog({
  conflict,
  onReload,
  onKeep,
}: {
  conflict: Conflict;
  onReload: () => void;
  onKeep: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  const text = conflictText(conflict);
  return (
    <dialog ref={ref} className="dialog conflict-dialog" aria-labelledby="conflict-title" onCancel={(e) => e.preventDefault()}>
      <h2 id="conflict-title">Changed somewhere else</h2>
      <p>{text.what} Nothing more is saved until you choose.</p>
      <dl className="conflict-choices">
        <dt>Reload from server</dt>
        <dd>{text.reload}</dd>
        <dt>Keep mine (overwrite)</dt>
        <dd>{text.keep}</dd>
      </dl>
      <div className="dialog-buttons">
        <button type="button" onClick={onReload} title={text.reload}>
          Reload from server
        </button>
        <button type="button" className="danger" onClick={onKeep} title={text.keep}>
          Keep mine (overwrite)
        </button>
      </div>
    </dialog>
  );
}
