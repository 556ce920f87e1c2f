// Modal dialogs: a prompt, a confirmation, and the host that shows them.
// They are real dialogs (focus trapped by <dialog>, Escape cancels), so
// everything works from the keyboard and on touch screens.

import { useEffect, useRef, useState } from 'react';

export type DialogSpec =
  | { kind: 'prompt'; title: string; label: string; value: string; confirm: string; resolve: (v: string | null) => void }
  | { kind: 'confirm'; title: string; message: string; confirm: string; resolve: (ok: boolean) => void };

export function DialogHost({ spec, onDone }: { spec: DialogSpec | null; onDone: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const input = useRef<HTMLInputElement>(null);
  const [value, setValue] = useState('');

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (spec) {
      setValue(spec.kind === 'prompt' ? spec.value : '');
      if (!dialog.open) dialog.showModal();
      setTimeout(() => {
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
          {spec.kind === 'prompt' ? (
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
          ✕
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
export function ConflictDialog({
  conflict,
  onReload,
  onKeep,
}: {
  conflict: { path: string | null; currentVersion: number; action: string };
  onReload: () => void;
  onKeep: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  const what =
    conflict.path === null
      ? "The project's settings (name, entry, language) were changed"
      : conflict.currentVersion === 0
        ? `${conflict.path} was deleted`
        : `${conflict.path} was changed`;
  return (
    <dialog ref={ref} className="dialog conflict-dialog" aria-labelledby="conflict-title" onCancel={(e) => e.preventDefault()}>
      <h2 id="conflict-title">Changed somewhere else</h2>
      <p>
        {what} in another tab or browser since this one loaded it. Your changes here are not saved yet.
      </p>
      <div className="dialog-buttons">
        <button type="button" onClick={onReload}>
          Reload from server
        </button>
        <button type="button" className="danger" onClick={onKeep}>
          Keep mine (overwrite)
        </button>
      </div>
    </dialog>
  );
}
