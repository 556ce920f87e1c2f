// The line at the bottom: what Run runs, in which language, the limits a
// run gets, and Format document (and whether a save formats) for a file
// whose language has a server.

import { entryFile, type Project } from '../../store/project';
import { isSourceFile, languageName, languageOfPath } from '../../languages';
import type { Runtime } from '../../api/client';
import type { SettingsStore } from '../../store/settings';
import { useStore } from '../../hooks';
import { requestFormat } from '../Editor/formatRequest';
import type { ConsolesStore } from '../../store/consoles';
import { RunLimits } from '../RunLimits/RunLimits';

export function StatusBar({
  project,
  languages,
  settings,
  consoles,
  canFormat = false,
}: {
  project: Project;
  languages: Runtime[];
  settings: SettingsStore;
  consoles: ConsolesStore;
  canFormat?: boolean;
}) {
  const { formatOnSave } = useStore(settings);
  const entry = entryFile(project, (path) => isSourceFile(languages, path));
  const inferred = entry ? languageOfPath(languages, entry) : null;
  return (
    <footer className="statusbar">
      <span>{entry ? `Runs ${entry}` : 'Runs the main file (the server picks it)'}</span>
      <span>{project.language ? languageName(languages, project.language) : inferred ? inferred.name : ''}</span>
      <RunLimits consoles={consoles} />
      {canFormat && (
        <>
          <button type="button" className="link" title="Format document (Shift+Alt+F)" onClick={() => void requestFormat()}>
            Format
          </button>
          <label className="statusbar-toggle" title="Format the file through its language server before each save">
            <input type="checkbox" checked={formatOnSave} onChange={(e) => settings.update({ formatOnSave: e.target.checked })} />
            on save
          </label>
        </>
      )}
      <span className="muted">Press ? for shortcuts</span>
    </footer>
  );
}
