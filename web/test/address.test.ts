import { describe, expect, it } from 'vitest';
import { pathOfProject, projectIdOfPath } from '../src/store/address';

describe('project addresses', () => {
  it('name a project by its id, server or local, and round-trip', () => {
    for (const id of ['4f2c9a', 'p-m3x1-ab12cd', 'a b/c?#%']) {
      expect(projectIdOfPath(pathOfProject(id))).toBe(id);
    }
    expect(pathOfProject('p-1-ab')).toBe('/p/p-1-ab');
    expect(projectIdOfPath('/p/p-1-ab/')).toBe('p-1-ab');
  });

  it('name nothing for other paths or unreadable ids', () => {
    for (const path of ['/', '/p/', '/p', '/projects/x', '/p/a/b', '/p/%E0%A4%A', '/p/%0a', '/x/p/a']) {
      expect(projectIdOfPath(path), path).toBeNull();
    }
  });
});
