//! Message search (`Search messages`, opened by Ctrl-K / Cmd-K or the sidebar's button): a
//! searchbox queried as the user types (debounced), over every chat or only the open one,
//! results newest first with the chat's name, the sender, the time and the text around the
//! match with the matched words marked. The server's snippet is data (runs of text, some
//! marked), rendered as React text nodes and `<mark>` elements: a message's markup shows as
//! the characters it is. Choosing a result opens its chat at that message.
import { useEffect, useRef, useState } from 'react';
import type { SearchHit, SearchResults } from '../../api/types';
import { useApi } from '../../app/ApiContext';
import { fullWhen, timeOf } from '../../format';
import { useT } from '../../i18n';
import { Dialog } from '../../ui/Dialog';

/** How long typing must pause before a query is sent, in ms. */
export const SEARCH_DEBOUNCE_MS = 250;
/** Hits per request. */
const PAGE = 20;
/**
 * Requests one "more" may make: a query of only short words (`안녕`) is answered from windows
 * of recent messages, some of which may hold no match; the dialog goes on to the next window
 * by itself, this many times at most, before it shows the button again.
 */
const WINDOWS_PER_LOAD = 8;

/** Props of `SearchDialog`. */
export interface SearchDialogProps {
  /** The chat open behind the dialog, which the search can be narrowed to. */
  currentRoom: { id: number; name: string } | null;
  onClose(): void;
  /** Opens the chat of a hit at its message. */
  onPick(roomId: number, seq: number): void;
}

/** The dialog. */
export function SearchDialog({ currentRoom, onClose, onPick }: SearchDialogProps) {
  const api = useApi();
  const { t } = useT();
  const [query, setQuery] = useState('');
  const [scope, setScope] = useState<'all' | 'room'>('all');
  const [hits, setHits] = useState<readonly SearchHit[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState(false);
  const [searched, setSearched] = useState('');
  // Each search (and each "more") gets a number: answers of an older one are dropped.
  const generation = useRef(0);
  const room = scope === 'room' && currentRoom ? currentRoom.id : undefined;
  const q = query.trim();

  /** Loads pages from `before` until one more page of hits is held or the search ends. */
  async function load(before: string | undefined, fresh: boolean) {
    const mine = ++generation.current;
    setBusy(true);
    setFailed(false);
    let found: SearchHit[] = [];
    let cursor = before;
    let after: string | null = null;
    try {
      for (let i = 0; i < WINDOWS_PER_LOAD; i++) {
        const page: SearchResults = await api.searchMessages({ q, room, before: cursor, limit: PAGE });
        if (mine !== generation.current) return;
        found = [...found, ...page.results];
        after = page.next;
        if (found.length >= PAGE || after === null) break;
        cursor = after;
      }
      setHits((held) => (fresh ? found : [...held, ...found]));
      setNext(after);
      setSearched(q);
    } catch {
      if (mine === generation.current) setFailed(true);
    } finally {
      if (mine === generation.current) setBusy(false);
    }
  }

  useEffect(() => {
    if (!q) {
      generation.current++;
      setHits([]);
      setNext(null);
      setSearched('');
      setBusy(false);
      return;
    }
    const timer = setTimeout(() => void load(undefined, true), SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(timer);
    // `load` reads the query and scope of this render; they are the effect's dependencies.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [q, room]);

  return (
    <Dialog title={t('search.title')} onClose={onClose} className="search-dialog">
      <div className="search-form">
        <input
          type="search"
          className="search-input"
          aria-label={t('search.input')}
          placeholder={t('search.placeholder')}
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && hits[0]?.message.seq != null) onPick(hits[0].room.id, hits[0].message.seq);
          }}
          autoComplete="off"
          spellCheck={false}
        />
        {currentRoom && (
          <label className="search-scope">
            <span>{t('search.scope')}</span>
            <select value={scope} onChange={(e) => setScope(e.target.value === 'room' ? 'room' : 'all')}>
              <option value="all">{t('search.scope.all')}</option>
              <option value="room">{t('search.scope.room', { name: currentRoom.name })}</option>
            </select>
          </label>
        )}
      </div>
      <div className="search-status" role="status">
        {failed ? t('search.failed') : busy && hits.length === 0 ? t('search.searching') : searched && !busy && hits.length === 0 ? t(next === null ? 'search.none' : 'search.noneRecent') : ''}
      </div>
      {hits.length > 0 && (
        <ul className="search-results" aria-label={t('search.results')}>
          {hits.map((hit) => (
            <li key={hit.message.id}>
              <button type="button" className="search-hit" onClick={() => onPick(hit.room.id, hit.message.seq)}>
                <span className="search-hit-head">
                  <span className="search-hit-room">{hit.room.name}</span>
                  <span className="search-hit-sender">{hit.message.sender.displayName}</span>
                  <time dateTime={hit.message.sentAt} title={fullWhen(hit.message.sentAt)}>
                    {timeOf(hit.message.sentAt)}
                  </time>
                </span>
                <span className="search-hit-text">
                  {hit.snippet.map((part, i) => (part.match ? <mark key={i}>{part.text}</mark> : <span key={i}>{part.text}</span>))}
                </span>
              </button>
            </li>
          ))}
        </ul>
      )}
      {next !== null && (
        <button type="button" className="button ghost search-more" disabled={busy} onClick={() => void load(next, false)}>
          {busy ? t('search.searching') : t('search.more')}
        </button>
      )}
    </Dialog>
  );
}
