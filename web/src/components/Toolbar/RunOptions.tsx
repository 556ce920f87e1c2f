// What runs and how: the entry file and the language (inline on a
// desktop, in the ⋯ panel on a phone).

import { baseName, entryFile, type Project } from '../../store/project';
import type { ChangeProject } from '../../app/useProjectChange';
import { extensionOf, isSourceFile, languageChoice, languageOfPath } from '../../languages';
import type { Runtime } from '../../api/client';
import { sqlDialects } from '../../sql/results';

export function RunOptions({ project, change, languages }: { project: Project; change: ChangeProject; languages: Runtime[] }) {
  const entry = entryFile(project, (path) => isSourceFile(languages, path));
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
          <option value="">{project.entry === null && entry ? `Current file (${baseName(entry)})` : 'Current file, else the main file'}</option>
          {sourceFiles.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </label>
      {entry && extensionOf(entry) === 'sql' ? (
        <DialectPicker project={project} change={change} languages={languages} inferred={inferred} />
      ) : (
      <label className="compact">
        <span className="label-text">Language</span>
        <select
          aria-label="Language"
          className="language-picker"
          value={project.language ?? ''}
          onChange={(e) => change((p) => ({ ...p, language: e.target.value || null }))}
        >
          <option value="">Auto{inferred ? ` (${inferred.name})` : ''}</option>
          {languages.map((l) => {
            const choice = languageChoice(l);
            return (
              <option key={l.id} value={l.id} disabled={choice.disabled} title={choice.title}>
                {choice.label}
              </option>
            );
          })}
        </select>
      </label>
      )}
    </>
  );
}

/**
 * For a `.sql` entry, the Language picker offers the dialects a `.sql` file
 * can run on here (the catalog's, installed on this server), stored as the
 * project's language like any other (docs/web.md, "SQL").
 */
function DialectPicker({
  project,
  change,
  languages,
  inferred,
}: {
  project: Project;
  change: ChangeProject;
  languages: Runtime[];
  inferred: Runtime | null;
}) {
  const dialects = sqlDialects(languages);
  const value = project.language ?? inferred?.id ?? '';
  return (
    <label className="compact">
      <span className="label-text">Dialect</span>
      <select
        aria-label="SQL dialect"
        className="language-picker"
        value={value}
        onChange={(e) => change((p) => ({ ...p, language: e.target.value === inferred?.id ? null : e.target.value || null }))}
      >
        {!dialects.some((d) => d.id === value) && <option value={value}>{value || 'Auto'}</option>}
        {dialects.map((d) => (
          <option key={d.id} value={d.id}>
            {d.name}
          </option>
        ))}
      </select>
    </label>
  );
}
