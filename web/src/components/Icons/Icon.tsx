// The IDE's icons, drawn as inline SVG in the text's colour and size: no
// icon depends on a font having a glyph (the page ships no font, and
// symbols such as 🗑 or ⧉ fall back to empty boxes on many systems).
// Icons are decoration: the control that holds one has its own label.

/** Each icon: the SVG content of a 16×16 box, stroked in the text's colour. */
const ICONS = {
  logo: <><rect x="2" y="2" width="12" height="12" rx="2" /><rect x="5.5" y="5.5" width="5" height="5" fill="currentColor" stroke="none" /></>,
  chevronDown: <path d="M4 6l4 4 4-4" />,
  chevronRight: <path d="M6 4l4 4-4 4" />,
  chevronUp: <path d="M4 10l4-4 4 4" />,
  play: <path d="M4.5 2.5v11l9-5.5z" fill="currentColor" />,
  stop: <rect x="3.5" y="3.5" width="9" height="9" rx="1" fill="currentColor" />,
  more: <g fill="currentColor" stroke="none"><circle cx="3" cy="8" r="1.4" /><circle cx="8" cy="8" r="1.4" /><circle cx="13" cy="8" r="1.4" /></g>,
  dot: <circle cx="8" cy="8" r="4" fill="currentColor" stroke="none" />,
  close: <path d="M4 4l8 8M12 4l-8 8" />,
  plus: <path d="M8 3v10M3 8h10" />,
  upload: <path d="M8 11V2.5M4.5 6L8 2.5 11.5 6M3 13.5h10" />,
  filePlus: <path d="M9.5 1.5H4v13h8.5V4.5zM9.5 1.5v3h3M8.25 7.5v4.5M6 9.75h4.5" />,
  folderPlus: <path d="M1.5 3.5h4.5l1.5 1.5h7v8.5h-13zM8 7.25v4.5M5.75 9.5h4.5" />,
  folderUpload: <path d="M1.5 3.5h4.5l1.5 1.5h7v8.5h-13zM8 12V7.5M5.75 9.5L8 7.25l2.25 2.25" />,
  download: <path d="M8 2.5V11M4.5 7.5L8 11l3.5-3.5M3 13.5h10" />,
  search: <><circle cx="7" cy="7" r="4.5" /><path d="M10.3 10.3L14 14" /></>,
  replace: <path d="M2.5 5.5h10M10 3l2.5 2.5L10 8M13.5 10.5h-10M6 8l-2.5 2.5L6 13" />,
  refresh: <path d="M13 8a5 5 0 1 1-1.5-3.5M13 2.5v3h-3" />,
  edit: <path d="M10.5 2.5l3 3-8 8H2.5v-3z" />,
  duplicate: <><rect x="5.5" y="5.5" width="8" height="8" rx="1" /><path d="M10.5 3.5v-1h-8v8h1" /></>,
  branch: <><circle cx="4.5" cy="3.5" r="1.5" /><circle cx="4.5" cy="12.5" r="1.5" /><circle cx="11.5" cy="5.5" r="1.5" /><path d="M4.5 5v6M11.5 7c0 3-7 2-7 4" /></>,
  minus: <path d="M3 8h10" />,
  trash: <path d="M2.5 4.5h11M6 4.5V2.5h4v2M4 4.5l.8 9h6.4l.8-9M6.7 7v4M9.3 7v4" />,
} as const;

export type IconName = keyof typeof ICONS;

/** The names of every icon (for the tests). */
export const ICON_NAMES = Object.keys(ICONS) as IconName[];

export function Icon({ name, className }: { name: IconName; className?: string }) {
  return (
    <svg
      className={className ? `svg-icon ${className}` : 'svg-icon'}
      viewBox="0 0 16 16"
      width="1em"
      height="1em"
      fill="none"
      stroke="currentColor"
      strokeWidth="1.6"
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
      focusable="false"
      data-icon={name}
    >
      {ICONS[name]}
    </svg>
  );
}
