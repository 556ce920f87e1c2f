// What runs and how: the entry file and the language (inline on a
// desktop, in the ⋯ panel on a phone).

import { baseName, entryFile, type Project } from '../../store/project';
import type { ChangeProject } from '../../app/useProjectChange';
import { LANGUAGES, languageOfPath } from '../../languages';
import type { Runtime } from '../../api/client';

export function RunOptions({ project, change, runtimes }: { project: Project; change: ChangeProject; runtimes: Runtime[] }) {
  const entry = entryFile(project);
  const inferred = entry ? languageOfPath(entry) : null;
  const available = (id: string) => {
    const r = runtimes.find((x) => x.id === id);
    return !r || r.available;
  };
  const sourceFiles = Object.keys(project.files)
    .filter((p) => languageOfPath(p))
    .sort();
  return (
    <>
      <label className="compact">
        <span className="label-text">Entry</span>
        <select
          aria-label="Entry file"
          value={project.entry ?? ''}
          onChange={(e) => change((p) => ({ ...p, entry: e.target.value || null }))}
        >
          <option value="">Current file{project.entry === null && entry ? ` (${baseName(entry)})` : ''}</option>
          {sourceFiles.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </label>
      <label className="compact">
        <span className="label-text">Language</span>
        <select
          aria-label="Language"
          value={project.language ?? ''}
          onChange={(e) => change((p) => ({ ...p, language: e.target.value || null }))}
        >
          <option value="">Auto{inferred ? ` (${inferred.name})` : ''}</option>
          {LANGUAGES.map((l) => (
            <option key={l.id} value={l.id} disabled={!available(l.id)}>
              {l.name}
              {available(l.id) ? '' : ' (not installed)'}
            </option>
          ))}
        </select>
      </label>
    </>
  );
}
