// The account pages, one lazy chunk (imported only with `import()`).

export { AuthDialog, SignInPage, StartError } from './SignIn';
export { SettingsPage } from './SettingsPage';
export { AdminPage } from './AdminPage';
export { ImportDialog } from './ImportDialog';
