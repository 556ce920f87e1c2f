// Moving the keyboard focus between the IDE's three areas. The editor and
// the consoles listen for these events; the tree's rows are focused directly.
// Deferred a task, so a view just switched to (on a phone) is shown first.

export type View = 'files' | 'code' | 'console';

export function focusView(view: View) {
  setTimeout(() => {
    if (view === 'files') document.querySelector<HTMLElement>('[role="treeitem"]')?.focus();
    else window.dispatchEvent(new Event(view === 'code' ? 'bytesbox:focus-editor' : 'bytesbox:focus-console'));
  }, 0);
}
