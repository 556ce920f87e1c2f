// The line at the bottom: what Run runs, and in which language.

import { entryFile, type Project } from '../../store/project';
import { languageName, languageOfPath } from '../../languages';
import type { Runtime } from '../../api/client';

export function StatusBar({ project, languages }: { project: Project; languages: Runtime[] }) {
  const entry = entryFile(project);
  const inferred = entry ? languageOfPath(languages, entry) : null;
  return (
    <footer className="statusbar">
      <span>{entry ? `Runs ${entry}` : 'No entry file'}</span>
      <span>{project.language ? languageName(languages, project.language) : inferred ? inferred.name : ''}</span>
      <span className="muted">Press ? for shortcuts</span>
    </footer>
  );
}
