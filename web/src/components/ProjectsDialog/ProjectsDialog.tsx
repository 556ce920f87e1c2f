// The project list: open, create from a template, rename, duplicate, delete.

import { useState } from 'react';
import { Modal } from '../Dialogs/Dialogs';
import type { ProjectSummary } from '../../store/db';
import type { Runtime } from '../../api/client';
import { languageChoice, languageName } from '../../languages';
import { TEMPLATES, TEMPLATE_KINDS, type TemplateKind } from '../../templates';
import { Icon } from '../Icons/Icon';

export function ProjectsDialog({
  projects,
  languages,
  currentId,
  onOpen,
  onCreate,
  onRename,
  onDelete,
  onDuplicate,
  onClose,
  saved = false,
}: {
  projects: ProjectSummary[];
  /** The server's languages; those with templates are offered. */
  languages: Runtime[];
  currentId: string | null;
  onOpen: (id: string) => void;
  onCreate: (name: string, language: string, kind: TemplateKind) => void;
  onRename: (id: string) => void;
  onDelete: (id: string) => void;
  /** Only for saved (server) projects. */
  onDuplicate?: (id: string) => void;
  onClose: () => void;
  /** The list is the account's (on the server), not this browser's. */
  saved?: boolean;
}) {
  const [name, setName] = useState('');
  const [language, setLanguage] = useState('python');
  const [kind, setKind] = useState<TemplateKind>('hello');
  return (
    <Modal title="Projects" onClose={onClose} className="projects-dialog">
      <form
        className="new-project"
        onSubmit={(e) => {
          e.preventDefault();
          onCreate(name.trim() || `${languageName(languages, language)} project`, language, kind);
        }}
      >
        <h3>New project</h3>
        <label className="field">
          <span>Name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="Untitled" aria-label="Project name" />
        </label>
        <label className="field">
          <span>Language</span>
          <select value={language} onChange={(e) => setLanguage(e.target.value)} aria-label="Template language">
            {languages
              .filter((l) => l.id in TEMPLATES)
              .map((l) => {
                const choice = languageChoice(l);
                return (
                  <option key={l.id} value={l.id} disabled={choice.disabled} title={choice.title}>
                    {choice.label}
                  </option>
                );
              })}
          </select>
        </label>
        <label className="field">
          <span>Start from</span>
          <select value={kind} onChange={(e) => setKind(e.target.value as TemplateKind)} aria-label="Template">
            {TEMPLATE_KINDS.map((t) => (
              <option key={t.kind} value={t.kind}>
                {t.name}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" className="primary">
          Create
        </button>
      </form>
      <h3>{saved ? 'Your projects (saved in your account)' : 'Your projects (in this browser)'}</h3>
      <ul className="project-list">
        {projects.map((p) => (
          <li key={p.id} className={p.id === currentId ? 'current' : ''}>
            <button type="button" className="project-open" onClick={() => onOpen(p.id)} aria-label={`Open project ${p.name}`}>
              <strong>{p.name}</strong>
              <span className="muted">
                {p.files === null ? '' : `${p.files} file${p.files === 1 ? '' : 's'} · `}
                {new Date(p.updatedAt).toLocaleString()}
              </span>
            </button>
            <button type="button" className="icon" aria-label={`Rename project ${p.name}`} onClick={() => onRename(p.id)}>
              <Icon name="edit" />
            </button>
            {onDuplicate && (
              <button type="button" className="icon" aria-label={`Duplicate project ${p.name}`} onClick={() => onDuplicate(p.id)}>
                <Icon name="duplicate" />
              </button>
            )}
            <button type="button" className="icon danger" aria-label={`Delete project ${p.name}`} onClick={() => onDelete(p.id)}>
              <Icon name="trash" />
            </button>
          </li>
        ))}
      </ul>
    </Modal>
  );
}
