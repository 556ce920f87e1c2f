import { describe, expect, it } from 'vitest';
import { conflictText } from '../src/components/Dialogs/Dialogs';

describe('the conflict dialog', () => {
  it('says what happened and what each choice does, for each kind of conflict', () => {
    const changed = conflictText({ path: 'main.py', currentVersion: 4, action: 'write' });
    expect(changed.what).toBe(
      'main.py was changed in another tab or browser since this one loaded it (the server has version 4), and this tab has changes to it that are not saved.',
    );
    expect(changed.reload).toBe("Show the server's version; the changes made here are lost.");
    expect(changed.keep).toBe("Save the content shown here over the server's; the other change is lost.");
    expect(conflictText({ path: 'main.py', currentVersion: 0, action: 'write' }).keep).toBe(
      'Create the file again on the server with the content shown here.',
    );
    expect(conflictText({ path: 'main.py', currentVersion: 3, action: 'delete' }).what).toBe(
      'main.py was changed in another tab or browser since this one loaded it, and this tab deleted it.',
    );
    expect(conflictText({ path: null, currentVersion: 2, action: 'settings' }).what).toMatch(/^The project's settings/);
  });
});
