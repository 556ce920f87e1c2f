// The signed-in user in the toolbar, with a menu: settings, admin and the
// Dashboard (for admins),
// importing the browser's projects, signing out.

import { useRef, useState } from 'react';
import { Icon } from '../Icons/Icon';
import { useCloseOnOutsidePointer } from '../../hooks';

export function UserMenu({
  username,
  admin,
  onSettings,
  onAdmin,
  onDashboard,
  onImport,
  onSignOut,
}: {
  username: string;
  admin: boolean;
  onSettings: () => void;
  onAdmin: () => void;
  onDashboard: () => void;
  onImport: () => void;
  onSignOut: () => void;
}) {
  const [open, setOpen] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  useCloseOnOutsidePointer(open, box, () => setOpen(false));
  const item = (label: string, action: () => void) => (
    <button
      type="button"
      role="menuitem"
      onClick={() => {
        setOpen(false);
        action();
      }}
    >
      {label}
    </button>
  );
  return (
    <div
      className="user-menu"
      ref={box}
      onKeyDown={(e) => {
        if (e.key === 'Escape') setOpen(false);
      }}
    >
      <button
        type="button"
        className="user-button"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-label={`Account: ${username}`}
        data-testid="user-button"
        onClick={() => setOpen((v) => !v)}
      >
        <Icon name="dot" /> <span className="user-name">{username}</span> <Icon name="chevronDown" />
      </button>
      {open && (
        <div className="menu" role="menu" aria-label="Account">
          {item('Settings', onSettings)}
          {admin && item('Admin', onAdmin)}
          {admin && item('Dashboard', onDashboard)}
          {item('Import browser projects…', onImport)}
          {item('Sign out', onSignOut)}
        </div>
      )}
    </div>
  );
}
