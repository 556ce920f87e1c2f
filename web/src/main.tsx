import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { BytesboxClient, defaultUrl } from './protocol/client';
import { ConsolesStore } from './store/consoles';
import { ProjectDb } from './store/db';
import { SettingsStore } from './store/settings';
import { WorkspaceStore } from './store/workspace';
import './styles.css';

const client = new BytesboxClient({ url: defaultUrl(window.location) });
const consoles = new ConsolesStore(client);
const workspace = new WorkspaceStore(new ProjectDb(), window.localStorage);
const settings = new SettingsStore(window.localStorage);

// For the browser tests and for debugging from the console.
Object.assign(window, { __bytesboxApp: { client, consoles, workspace, settings } });

client.connect();
workspace.load().catch((e: unknown) => {
  document.body.textContent = `Bytesbox could not open its storage in this browser: ${String(e)}`;
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App workspace={workspace} consoles={consoles} settings={settings} />
  </StrictMode>,
);
