// The line at the bottom: what Run runs, and in which language.

import { entryFile, type Project } from '../../store/project';
import { languageName, languageOfPath } from '../../languages';

export function StatusBar({ project }: { project: Project }) {
  const entry = entryFile(project);
  const inferred = entry ? languageOfPath(entry) : null;
  return (
    <footer className="statusbar">
      <span>{entry ? `Runs ${entry}` : 'No entry file'}</span>
      <span>{project.language ? languageName(project.language) : inferred ? inferred.name : ''}</span>
      <span className="muted">Press ? for shortcuts</span>
    </footer>
  );
}
