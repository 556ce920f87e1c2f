// The open files above the editor, with the unsaved marker and a close button.

import { baseName, closeTab, isUnsaved, openTab, type Project } from '../../store/project';
import type { ChangeProject } from '../../app/useProjectChange';

export function FileTabs({ project, change }: { project: Project; change: ChangeProject }) {
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
            {baseName(path)}
            {isUnsaved(project, path) && (
              <span className="unsaved-dot" aria-label="unsaved changes" title="Unsaved changes (Ctrl+S saves)">
                ●
              </span>
            )}
          </button>
          <button type="button" className="icon" aria-label={`Close ${path}`} onClick={() => change((p) => closeTab(p, path), false)}>
            ✕
          </button>
        </div>
      ))}
    </div>
  );
}
