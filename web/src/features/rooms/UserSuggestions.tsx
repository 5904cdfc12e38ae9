//! People matching a typed prefix (`GET /api/users?q=PREFIX`), shown under the username
//! field of the room dialogs: each suggestion shows the display name and the unique
//! `@username` (display names can be copied), and a prefix that matches no one says so
//! instead of showing nothing.
import { useEffect, useState } from 'react';
import type { User } from '../../api/types';
import { useApi } from '../../app/ApiContext';
import { Avatar } from '../../ui/Avatar';
import { useT } from '../../i18n';
import { UserName } from '../../ui/UserName';

/** Wait after the last keystroke before searching. */
const SEARCH_DELAY_MS = 150;

/** The answer to the latest finished search. */
interface SearchAnswer {
  prefix: string;
  users: readonly User[];
}

/** Props of `UserSuggestions`. */
export interface UserSuggestionsProps {
  /** The prefix typed (already trimmed and lower-cased); empty shows nothing. */
  prefix: string;
  /** People not to suggest: the user (by id), members already listed (by username). */
  exclude: { ids?: readonly number[]; usernames?: readonly string[] };
  onPick(user: User): void;
}

/** The suggestion list, or "no match" once the server answered with nobody. */
export function UserSuggestions({ prefix, exclude, onPick }: UserSuggestionsProps) {
  const api = useApi();
  const [answer, setAnswer] = useState<SearchAnswer | null>(null);
  const { t } = useT();

  useEffect(() => {
    if (!prefix) return;
    let live = true;
    const timer = setTimeout(() => {
      api.searchUsers(prefix).then(
        (users) => live && setAnswer({ prefix, users }),
        // A failed search suggests nobody; it is not a "no match".
        () => live && setAnswer(null),
      );
    }, SEARCH_DELAY_MS);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [api, prefix]);

  if (!prefix || answer?.prefix !== prefix) return null;
  const shown = answer.users.filter((user) => !exclude.ids?.includes(user.id) && !exclude.usernames?.includes(user.username));
  if (shown.length === 0) {
    return (
      <p className="no-match" role="status">
        {t('users.noMatch', { prefix })}
      </p>
    );
  }
  return (
    <ul className="user-results" aria-label={t('users.matching')}>
      {shown.map((user) => (
        <li key={user.id}>
          <button type="button" className="user-result" onClick={() => onPick(user)}>
            <Avatar name={user.displayName} size={32} />
            <span className="user-result-label">
              <UserName user={user} className="user-result-name" />
            </span>
          </button>
        </li>
      ))}
    </ul>
  );
}
