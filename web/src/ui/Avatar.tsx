//! A round avatar with initials, its colour drawn from the name. Decorative: hidden from
//! assistive technology (the name is always next to it).

const PALETTE = ['#6366f1', '#0ea5e9', '#14b8a6', '#f59e0b', '#ef4444', '#ec4899', '#8b5cf6', '#22c55e'];

function hash(text: string): number {
  let h = 0;
  for (const ch of text) h = (h * 31 + ch.codePointAt(0)!) >>> 0;
  return h;
}

/** Initials of a display name (`Alice Kim` → `AK`, `민지` → `민`). */
export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const first = [...(parts[0] ?? '?')][0] ?? '?';
  const second = parts.length > 1 ? ([...(parts[parts.length - 1] ?? '')][0] ?? '') : '';
  return (first + second).toUpperCase();
}

/** Props of `Avatar`. */
export interface AvatarProps {
  name: string;
  size?: number;
  group?: boolean;
}

/** The avatar. */
export function Avatar({ name, size = 40, group = false }: AvatarProps) {
  return (
    <span
      className={group ? 'avatar avatar-group' : 'avatar'}
      aria-hidden="true"
      style={{ width: size, height: size, fontSize: size * 0.4, background: PALETTE[hash(name) % PALETTE.length] }}
    >
      {group ? <GroupIcon /> : initials(name)}
    </span>
  );
}

function GroupIcon() {
  return (
    <svg viewBox="0 0 24 24" width="55%" height="55%" fill="currentColor">
      <path d="M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm7.5 0a3.5 3.5 0 1 0-1.2-6.8A6 6 0 0 1 16 7a6 6 0 0 1-.7 3.8c.4.1.8.2 1.2.2zM9 13c-3.9 0-7 2-7 4.5V20h14v-2.5C16 15 12.9 13 9 13zm8.7.1A5.6 5.6 0 0 1 18 17.5V20h4v-2.5c0-2.2-2-3.9-4.3-4.4z" />
    </svg>
  );
}
