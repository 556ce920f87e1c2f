// How the IDE looks: the theme and the tab width.

import type { SettingsStore, Theme } from '../../store/settings';
import { useStore } from '../../hooks';

export function ViewOptions({ settings }: { settings: SettingsStore }) {
  const { theme, tabWidth } = useStore(settings);
  return (
    <>
      <label className="compact">
        <span className="label-text">Theme</span>
        <select aria-label="Theme" value={theme} onChange={(e) => settings.update({ theme: e.target.value as Theme })}>
          <option value="system">System</option>
          <option value="light">Light</option>
          <option value="dark">Dark</option>
        </select>
      </label>
      <label className="compact">
        <span className="label-text">Tab</span>
        <select aria-label="Tab width" value={tabWidth} onChange={(e) => settings.update({ tabWidth: Number(e.target.value) })}>
          <option value={2}>2</option>
          <option value={4}>4</option>
          <option value={8}>8</option>
        </select>
      </label>
    </>
  );
}
