// What runs and how: the entry file and the language (inline on a
// desktop, in the ⋯ panel on a phone).

import { baseName, entryFile, type Project } from '../../store/project';
import type { ChangeProject } from '../../app/useProjectChange';
import { languageOfPath } from '../../languages';
import type { Runtime } from '../../api/client';

export function RunOptions({ project, change, languages }: { project: Project; change: ChangeProject; languages: Runtime[] }) {
  const entry = entryFile(project);
  const inferred = entry ? languageOfPath(languages, entry) : null;
  const sourceFiles = Object.keys(project.files)
    .filter((p) => languageOfPath(languages, p))
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
          {languages.map((l) => (
            <option key={l.id} value={l.id} disabled={!l.available}>
              {l.name}
              {l.available ? '' : ' (not installed)'}
            </option>
          ))}
        </select>
      </label>
    </>
  );
}
