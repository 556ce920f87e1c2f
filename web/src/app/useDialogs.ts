// Prompts and confirmations as promises, shown by one <DialogHost>.

import { useCallback, useState } from 'react';
import type { DialogSpec } from '../components/Dialogs/Dialogs';

export interface Ask {
  prompt(title: string, label: string, value: string, confirm: string): Promise<string | null>;
  confirm(title: string, message: string, confirm: string): Promise<boolean>;
  /** Like `prompt`, with the answer picked from `choices`. */
  choose(title: string, label: string, choices: { value: string; label: string }[], value: string, confirm: string): Promise<string | null>;
}

export function useDialogs() {
  const [dialog, setDialog] = useState<DialogSpec | null>(null);
  const prompt = useCallback(
    (title: string, label: string, value: string, confirm: string) =>
      new Promise<string | null>((resolve) => setDialog({ kind: 'prompt', title, label, value, confirm, resolve })),
    [],
  );
  const confirm = useCallback(
    (title: string, message: string, confirm: string) =>
      new Promise<boolean>((resolve) => setDialog({ kind: 'confirm', title, message, confirm, resolve })),
    [],
  );
  const choose = useCallback(
    (title: string, label: string, choices: { value: string; label: string }[], value: string, confirm: string) =>
      new Promise<string | null>((resolve) => setDialog({ kind: 'prompt', title, label, value, confirm, choices, resolve })),
    [],
  );
  const ask: Ask = { prompt, confirm, choose };
  return { dialog, closeDialog: () => setDialog(null), ask };
}
