//! Inline SVG icons (no icon font, no network). Decorative: `aria-hidden`.

const base = { width: 20, height: 20, viewBox: '0 0 24 24', fill: 'none', stroke: 'currentColor', strokeWidth: 2, strokeLinecap: 'round', strokeLinejoin: 'round', 'aria-hidden': true } as const;

/** A paper plane. */
export const SendIcon = () => (
  <svg {...base}>
    <path d="M22 2 11 13" />
    <path d="M22 2 15 22l-4-9-9-4z" />
  </svg>
);
/** A speech bubble with a plus. */
export const NewChatIcon = () => (
  <svg {...base} width={18} height={18}>
    <path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z" />
    <path d="M12 7v6M9 10h6" />
  </svg>
);
/** Two people. */
export const GroupIcon = () => (
  <svg {...base} width={18} height={18}>
    <path d="M17 21v-2a4 4 0 0 0-4-4H5a4 4 0 0 0-4 4v2" />
    <circle cx="9" cy="7" r="4" />
    <path d="M23 21v-2a4 4 0 0 0-3-3.9M16 3.1a4 4 0 0 1 0 7.8" />
  </svg>
);
/** Three dots in a row: "more actions". */
export const MoreIcon = () => (
  <svg {...base} width={18} height={18}>
    <circle cx="5" cy="12" r="1.4" fill="currentColor" />
    <circle cx="12" cy="12" r="1.4" fill="currentColor" />
    <circle cx="19" cy="12" r="1.4" fill="currentColor" />
  </svg>
);
/** A left chevron. */
export const BackIcon = () => (
  <svg {...base}>
    <path d="m15 18-6-6 6-6" />
  </svg>
);
/** A cross. */
export const CloseIcon = () => (
  <svg {...base} width={16} height={16}>
    <path d="M18 6 6 18M6 6l12 12" />
  </svg>
);
/** A door with an arrow. */
export const LogoutIcon = () => (
  <svg {...base} width={18} height={18}>
    <path d="M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4M16 17l5-5-5-5M21 12H9" />
  </svg>
);
/** A clock (pending). */
export const ClockIcon = () => (
  <svg {...base} width={13} height={13}>
    <circle cx="12" cy="12" r="9" />
    <path d="M12 7v5l3 2" />
  </svg>
);
/** A check mark (sent). */
export const CheckIcon = () => (
  <svg {...base} width={14} height={14} strokeWidth={2.5}>
    <path d="M20 6 9 17l-5-5" />
  </svg>
);
/** The logo mark. */
export const Logo = ({ size = 32 }: { size?: number }) => (
  <svg width={size} height={size} viewBox="0 0 64 64" aria-hidden="true">
    <defs>
      <linearGradient id="logo-g" x1="0" y1="0" x2="1" y2="1">
        <stop offset="0" stopColor="#6366f1" />
        <stop offset="1" stopColor="#8b5cf6" />
      </linearGradient>
    </defs>
    <rect width="64" height="64" rx="16" fill="url(#logo-g)" />
    <path d="M18 22c0-4 3-7 7-7h14c4 0 7 3 7 7v12c0 4-3 7-7 7H30l-8 7v-7c-2-1-4-3-4-6z" fill="#fff" />
    <circle cx="27" cy="28" r="2.6" fill="#6366f1" />
    <circle cx="37" cy="28" r="2.6" fill="#6366f1" />
  </svg>
);
/** A paper clip: attach a file. */
export const PaperclipIcon = () => (
  <svg {...base}>
    <path d="m21.44 11.05-9.19 9.19a6 6 0 0 1-8.49-8.49l8.57-8.57A4 4 0 1 1 18 8.84l-8.59 8.57a2 2 0 0 1-2.83-2.83l8.49-8.48" />
  </svg>
);
/** A curved arrow back: reply. */
export const ReplyIcon = () => (
  <svg {...base} width={16} height={16}>
    <path d="M9 17 4 12l5-5" />
    <path d="M20 18v-2a4 4 0 0 0-4-4H4" />
  </svg>
);
/** A file with a folded corner. */
export const FileIcon = () => (
  <svg {...base} width={28} height={28}>
    <path d="M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z" />
    <path d="M14 2v6h6" />
  </svg>
);

/** A magnifying glass. */
export const SearchIcon = () => (
  <svg {...base}>
    <circle cx="11" cy="11" r="7" />
    <path d="m20 20-3.5-3.5" />
  </svg>
);
/** A bell: notifications on. */
export const BellIcon = () => (
  <svg {...base} width={18} height={18}>
    <path d="M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9" />
    <path d="M13.7 21a2 2 0 0 1-3.4 0" />
  </svg>
);
/** A struck-through bell: a muted room. */
export const BellOffIcon = ({ size = 18 }: { size?: number }) => (
  <svg {...base} width={size} height={size}>
    <path d="M13.7 21a2 2 0 0 1-3.4 0" />
    <path d="M18.6 13A17.9 17.9 0 0 1 18 8M6.3 6.3A6 6 0 0 0 6 8c0 7-3 9-3 9h14M18 8a6 6 0 0 0-9.3-5" />
    <path d="m1 1 22 22" />
  </svg>
);
