//! A person's name as shown wherever it could be mistaken for someone else's: the display
//! name (anyone can pick `Alice`, or a lookalike) followed by the `@username`, which is unique.
import type { User } from '../api/types';

/** Props of `UserName`. */
export interface UserNameProps {
  user: Pick<User, 'displayName' | 'username'>;
  /** Class of the display name part (the handle is always `handle`). */
  className?: string;
}

/** `Alice @alice`: the display name, then the unique username in a quieter style. */
export function UserName({ user, className }: UserNameProps) {
  return (
    <>
      <span className={className}>{user.displayName}</span> <span className="handle">@{user.username}</span>
    </>
  );
}

/** `Alice (@alice)` as plain text, for titles and lists joined into one string. */
export function nameWithHandle(user: Pick<User, 'displayName' | 'username'>): string {
  return `${user.displayName} (@${user.username})`;
}
