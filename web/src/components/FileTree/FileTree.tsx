// The project's files as a tree. Every action is a visible button or a
// key (no hover-only controls), so it works on touch screens too.

import type { BoxFilesSnapshot } from '../../store/boxFiles';
import { leftOutText } from '../../store/boxFiles';
import { formatBytes } from '../account/format';
import { useEffect, useMemo, useRef, useState } from 'react';
import type { Project } from '../../store/project';
import { allFolders, baseName, isUnsaved, parentOf } from '../../store/project';
import { Icon } from '../Icons/Icon';

export interface TreeActions {
  /** Opens a file; `focusEditor` moves the keyboard there (Enter does, a click keeps it on the tree, so F2 and Delete still apply). */
  open(path: string, focusEditor: boolean): void;
  newFile(folder: string): void;
  newFolder(folder: string): void;
  rename(path: string): void;
  move(path: string, toFolder?: string): void;
  remove(path: string): void;
  markEntry(path: string | null): void;
  download(path: string, isFolder: boolean): void;
  uploadFiles(folder: string): void;
  uploadFolder(folder: string): void;
  downloadProject(): void;
  /** Opens project-wide search and replace in place of the tree. */
  search(): void;
  /** Opens the Source Control panel in place of the tree, when the IDE has one. */
  sourceControl?: () => void;
}

interface Node {
  path: string;
  name: string;
  folder: boolean;
  depth: number;
}

function visibleNodes(project: Project, collapsed: Set<string>): Node[] {
  const folders = allFolders(project);
  const children = new Map<string, Node[]>();
  const add = (node: Node) => {
    const parent = parentOf(node.path);
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent)!.push(node);
  };
  for (const f of folders) add({ path: f, name: baseName(f), folder: true, depth: f.split('/').length - 1 });
  for (const p of Object.keys(project.files))
    add({ path: p, name: baseName(p), folder: false, depth: p.split('/').length - 1 });
  const out: Node[] = [];
  const walk = (dir: string) => {
    const list = (children.get(dir) ?? []).sort((a, b) =>
      a.folder !== b.folder ? (a.folder ? -1 : 1) : a.name.localeCompare(b.name),
    );
    for (const node of list) {
      out.push(node);
      if (node.folder && !collapsed.has(node.path)) walk(node.path);
    }
  };
  walk('');
  return out;
}

export function FileTree({ project, actions, box }: { project: Project; actions: TreeActions; box?: BoxFilesSnapshot }) {
  const [collapsed, setCollapsed] = useState<Set<string>>(new Set());
  const [menu, setMenu] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [dropTarget, setDropTarget] = useState<string | null>(null);
  const list = useRef<HTMLUListElement>(null);
  const nodes = useMemo(() => visibleNodes(project, collapsed), [project, collapsed]);
  const isFolder = (path: string) => !(path in project.files);
  const selectedFolder = selected ? (isFolder(selected) ? selected : parentOf(selected)) : '';

  // The open file's folders open to show it (a new file, a problem's file).
  const active = project.activeTab;
  useEffect(() => {
    if (!active) return;
    setCollapsed((now) => {
      const closed = [...now].filter((folder) => active.startsWith(folder + '/'));
      if (!closed.length) return now;
      const next = new Set(now);
      for (const folder of closed) next.delete(folder);
      return next;
    });
  }, [active]);

  const toggle = (path: string) => {
    const next = new Set(collapsed);
    if (next.has(path)) next.delete(path);
    else next.add(path);
    setCollapsed(next);
  };

  const activate = (node: Node, focusEditor: boolean) => {
    setSelected(node.path);
    if (node.folder) toggle(node.path);
    else actions.open(node.path, focusEditor);
  };

  const focusRow = (index: number) => {
    const rows = list.current?.querySelectorAll<HTMLElement>('[role="treeitem"]');
    rows?.[Math.max(0, Math.min(index, rows.length - 1))]?.focus();
  };

  const onKey = (e: React.KeyboardEvent, node: Node, index: number) => {
    switch (e.key) {
      case 'ArrowDown':
        focusRow(index + 1);
        break;
      case 'ArrowUp':
        focusRow(index - 1);
        break;
      case 'ArrowRight':
        if (node.folder && collapsed.has(node.path)) toggle(node.path);
        break;
      case 'ArrowLeft':
        if (node.folder && !collapsed.has(node.path)) toggle(node.path);
        break;
      case 'Enter':
      case ' ':
        activate(node, true);
        break;
      case 'F2':
        actions.rename(node.path);
        break;
      case 'Delete':
        actions.remove(node.path);
        break;
      default:
        return;
    }
    e.preventDefault();
  };

  const onDrop = (e: React.DragEvent, folder: string) => {
    e.preventDefault();
    setDropTarget(null);
    const from = e.dataTransfer.getData('application/x-bytesbox-path');
    if (from && parentOf(from) !== folder && from !== folder) actions.move(from, folder);
  };

  return (
    <nav className="files" aria-label="Files">
      <div className="files-toolbar" role="toolbar" aria-label="File actions">
        <button type="button" className="icon" aria-label="New file" title="New file (Alt+N)" onClick={() => actions.newFile(selectedFolder)}>
          <Icon name="filePlus" />
          <span className="icon-label">File</span>
        </button>
        <button type="button" className="icon" aria-label="New folder" title="New folder" onClick={() => actions.newFolder(selectedFolder)}>
          <Icon name="folderPlus" />
          <span className="icon-label">Folder</span>
        </button>
        <button type="button" className="icon" aria-label="Upload files" title="Upload files" onClick={() => actions.uploadFiles(selectedFolder)}>
          <Icon name="upload" />
          <span className="icon-label">Files</span>
        </button>
        <button type="button" className="icon" aria-label="Upload a folder" title="Upload a folder" onClick={() => actions.uploadFolder(selectedFolder)}>
          <Icon name="folderUpload" />
          <span className="icon-label">Folder</span>
        </button>
        <button type="button" className="icon" aria-label="Download project as zip" title="Download project as zip" onClick={actions.downloadProject}>
          <Icon name="download" />
          <span className="icon-label">Zip</span>
        </button>
        <button type="button" className="icon" aria-label="Search in project" title="Search and replace in the project (Ctrl/⌘+Shift+F)" onClick={actions.search}>
          <Icon name="search" />
          <span className="icon-label">Search</span>
        </button>
        {actions.sourceControl && (
          <button type="button" className="icon" aria-label="Source Control" title="Source Control: git status, diffs, commits and branches" onClick={actions.sourceControl}>
            <Icon name="branch" />
            <span className="icon-label">Git</span>
          </button>
        )}
      </div>
      <ul
        ref={list}
        role="tree"
        aria-label="Project files"
        className={`tree ${dropTarget === '' ? 'drop' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setDropTarget('');
        }}
        onDragLeave={() => setDropTarget(null)}
        onDrop={(e) => onDrop(e, '')}
      >
        {nodes.map((node, index) => {
          const active = project.activeTab === node.path;
          const entry = project.entry === node.path;
          return (
            <li
              key={node.path}
              className={`tree-row ${active ? 'active' : ''} ${selected === node.path ? 'selected' : ''} ${dropTarget === node.path ? 'drop' : ''}`}
              style={{ paddingLeft: `${0.5 + node.depth * 0.9}rem` }}
              draggable
              onDragStart={(e) => e.dataTransfer.setData('application/x-bytesbox-path', node.path)}
              onDragOver={
                node.folder
                  ? (e) => {
                      e.preventDefault();
                      e.stopPropagation();
                      setDropTarget(node.path);
                    }
                  : undefined
              }
              onDrop={node.folder ? (e) => { e.stopPropagation(); onDrop(e, node.path); } : undefined}
            >
              <span
                role="treeitem"
                tabIndex={index === 0 ? 0 : -1}
                aria-expanded={node.folder ? !collapsed.has(node.path) : undefined}
                aria-selected={active}
                aria-level={node.depth + 1}
                data-path={node.path}
                className="tree-item"
                onClick={() => activate(node, false)}
                onKeyDown={(e) => onKey(e, node, index)}
              >
                <span className="tree-icon" aria-hidden="true">
                  {node.folder ? <Icon name={collapsed.has(node.path) ? 'chevronRight' : 'chevronDown'} /> : '·'}
                </span>
                <span className="tree-name">{node.name}</span>
                {entry && <span className="badge" title="Entry file">entry</span>}
                {!node.folder && isUnsaved(project, node.path) && (
                  <span className="unsaved-dot" aria-label="unsaved changes">
                    <Icon name="dot" />
                  </span>
                )}
              </span>
              <button
                type="button"
                className="icon row-menu"
                aria-label={`Actions for ${node.path}`}
                aria-haspopup="menu"
                aria-expanded={menu === node.path}
                onClick={() => setMenu(menu === node.path ? null : node.path)}
              >
                <Icon name="more" />
              </button>
              {menu === node.path && (
                <RowMenu node={node} entry={entry} actions={actions} close={() => setMenu(null)} />
              )}
            </li>
          );
        })}
        {nodes.length === 0 && <li className="empty">No files yet: add one with + File.</li>}
      </ul>
      {box && <LeftOutNote box={box} />}
    </nav>
  );
}

function RowMenu({ node, entry, actions, close }: { node: Node; entry: boolean; actions: TreeActions; close: () => void }) {
  const item = (label: string, run: () => void, danger = false) => (
    <button
      type="button"
      role="menuitem"
      className={danger ? 'danger' : ''}
      onClick={() => {
        close();
        run();
      }}
    >
      {label}
    </button>
  );
  return (
    <div
      className="menu"
      role="menu"
      aria-label={`Actions for ${node.path}`}
      onKeyDown={(e) => {
        if (e.key === 'Escape') close();
      }}
      ref={(el) => el?.querySelector<HTMLElement>('button')?.focus()}
    >
      {node.folder && item('New file here', () => actions.newFile(node.path))}
      {node.folder && item('New folder here', () => actions.newFolder(node.path))}
      {!node.folder && item(entry ? 'Unmark entry' : 'Mark as entry', () => actions.markEntry(entry ? null : node.path))}
      {item('Rename', () => actions.rename(node.path))}
      {item('Move', () => actions.move(node.path))}
      {item(node.folder ? 'Download as zip' : 'Download', () => actions.download(node.path, node.folder))}
      {item('Delete', () => actions.remove(node.path), true)}
    </div>
  );
}

/** What of the box's workspace the tree does not show, and why. */
function LeftOutNote({ box }: { box: BoxFilesSnapshot }) {
  const text = leftOutText(box.leftOut, box.tooLarge);
  if (!text) return null;
  const large = Object.entries(box.tooLarge).sort(([a], [b]) => a.localeCompare(b));
  return (
    <div className="files-left-out" role="note" aria-label="Files in the box not shown">
      <p>{text}</p>
      {large.length > 0 && (
        <ul>
          {large.slice(0, 20).map(([path, size]) => (
            <li key={path} title={`${path} is in the box but too large to open here`}>
              {path} <span className="size">({formatBytes(size)})</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

