import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app/App';
import { ApiClient } from './api/client';
import { BytesboxClient, defaultUrl } from './protocol/client';
import { AccountStore } from './store/account';
import { ConsolesStore } from './store/consoles';
import { TerminalsStore } from './store/terminals';
import { BoxFilesStore } from './store/boxFiles';
import { GitStore } from './store/git';
import { ProjectGitStore } from './store/projectGit';
import { KernelsStore } from './store/kernels';
import { ProjectDb } from './store/db';
import { RuntimesStore } from './store/runtimes';
import { ServerWorkspaceStore } from './store/remote';
import { SettingsStore } from './store/settings';
import { SqlSessionStore } from './store/sqlSession';
import { WorkspaceStore, type Workspace } from './store/workspace';
import { projectIdOfPath } from './store/address';
import { languageServersLoader } from './editor/lspLoader';
import './styles.css';

const api = new ApiClient();
const account = new AccountStore(api);
const client = new BytesboxClient({ url: defaultUrl(window.location) });
const consoles = new ConsolesStore(client);
const sqlSession = new SqlSessionStore(client);
const terminals = new TerminalsStore(client);
const kernels = new KernelsStore(client);
const languageServers = languageServersLoader(client);
const settings = new SettingsStore(window.localStorage);
const runtimes = new RuntimesStore();
const root = createRoot(document.getElementById('root')!);

// The stores as a window global, for the latency benchmark
// (benchmarks/latency.mjs builds with `--mode benchmark`) and for debugging
// in `npm run dev`. Vite replaces the mode with a constant, so the production
// bundle has neither the global nor this code (scripts/measure.mjs checks).
const debug: Record<string, unknown> = { client, consoles, terminals, settings, account, api, languageServers };
if (import.meta.env.MODE !== 'production') Object.assign(window, { __bytesboxApp: debug });

const render = (node: React.ReactNode) => root.render(<StrictMode>{node}</StrictMode>);

async function start() {
  render(<div className="loading">Loading…</div>);
  // Who is calling decides where projects live; the WebSocket session
  // belongs to that caller, so it opens only now.
  void runtimes.load(api);
  const state = await account.load();
  let workspace: Workspace;
  // The project the address names (`/p/<id>`: a reload, a bookmark).
  const wanted = projectIdOfPath(window.location.pathname);
  if (state.status === 'sign-in' || state.status === 'error') {
    // The account pages are a chunk of their own, loaded when needed.
    const { SignInPage, StartError } = await import('./components/account');
    if (state.status === 'sign-in') render(<SignInPage api={api} reason={state.reason} />);
    else render(<StartError message={`Bytesbox could not reach its server: ${state.message}`} />);
    return;
  }
  if (state.status === 'user') {
    const remote = new ServerWorkspaceStore(api, window.localStorage);
    workspace = remote;
    remote.load(wanted).catch(async (e: unknown) => {
      const { StartError } = await import('./components/account');
      render(<StartError message={`Your projects could not be loaded: ${e instanceof Error ? e.message : String(e)}`} api={api} />);
    });
  } else {
    // A guest (or a server without accounts): projects stay in this browser.
    const local = new WorkspaceStore(new ProjectDb(), window.localStorage);
    workspace = local;
    local.load(wanted).catch((e: unknown) => {
      document.body.textContent = `Bytesbox could not open its storage in this browser: ${String(e)}`;
    });
  }
  debug.workspace = workspace;
  const boxFiles = new BoxFilesStore(client, workspace);
  debug.boxFiles = boxFiles;
  // A signed-in user's repository is saved with the open project.
  const projectGit = state.status === 'user' ? new ProjectGitStore(client, workspace) : null;
  const git = new GitStore(client, workspace, boxFiles, projectGit);
  client.connect();
  render(
    <App
      workspace={workspace}
      consoles={consoles}
      terminals={terminals}
      settings={settings}
      runtimes={runtimes}
      account={account}
      sqlSession={sqlSession}
      kernels={kernels}
      languageServers={languageServers}
      boxFiles={boxFiles}
      git={git}
    />,
  );
}

void start();
