// The open files above the editor, with the unsaved marker and a close
// button; files of the same name show their folder.

import { closeTab, isUnsaved, openTab, tabLabels, type Project } from '../../store/project';
import type { ChangeProject } from '../../app/useProjectChange';
import { Icon } from '../Icons/Icon';

export function FileTabs({ project, change }: { project: Project; change: ChangeProject }) {
  // Two open files of one name (`util.h` here and in `lib`) show their folders.
  const labels = tabLabels(project.openTabs);
  return (
    <div className="file-tabs" role="tablist" aria-label="Open files">
      {project.openTabs.map((path) => (
        <div key={path} className={`file-tab ${path === project.activeTab ? 'active' : ''}`}>
          <button
            type="button"
            role="tab"
            aria-selected={path === project.activeTab}
            title={path}
            onClick={() => change((p) => openTab(p, path), false)}
          >
            {labels[path].name}
            {labels[path].folder !== null && <span className="tab-folder">{labels[path].folder}</span>}
            {isUnsaved(project, path) && (
              <span className="unsaved-dot" aria-label="unsaved changes" title="Unsaved changes (Ctrl+S saves)">
                <Icon name="dot" />
              </span>
            )}
          </button>
          <button type="button" className="icon" aria-label={`Close ${path}`} onClick={() => change((p) => closeTab(p, path), false)}>
            <Icon name="close" />
          </button>
        </div>
      ))}
    </div>
  );
}
