// The search dialog: a query is sent once typing pauses, results render the server's snippet
// as text with `mark` elements (markup in a message stays characters), a query of short words
// goes on through windows that hold no match, and choosing a result hands its room and seq on.
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import type { Api } from '../src/api/http';
import type { SearchResults } from '../src/api/types';
import { ApiContext } from '../src/app/ApiContext';
import { SearchDialog } from '../src/features/search/SearchDialog';

const hit = (id: number, text: string, marked: string) => ({
  room: { id: 3, kind: 'group' as const, name: 'Seoul trip' },
  message: {
    id,
    roomId: 3,
    seq: id,
    sender: { id: 1, username: 'alice', displayName: 'Alice' },
    text,
    sentAt: '2024-05-01T12:34:56.789Z',
    clientMsgId: null,
    editedAt: null,
    deletedAt: null,
    rev: 0,
  },
  snippet: [
    { text: marked, match: true },
    { text: text.slice(marked.length), match: false },
  ],
});

function renderWith(searchMessages: Api['searchMessages'], onPick = vi.fn()) {
  const api = { searchMessages } as unknown as Api;
  render(
    <ApiContext.Provider value={api}>
      <SearchDialog currentRoom={{ id: 3, name: 'Seoul trip' }} onClose={vi.fn()} onPick={onPick} />
    </ApiContext.Provider>,
  );
  return onPick;
}

describe('SearchDialog', () => {
  it('sends the query once typing pauses and marks the matches as text', async () => {
    const searchMessages = vi.fn((): Promise<SearchResults> => Promise.resolve({ results: [hit(7, '<b>안녕</b>하세요', '<b>안녕</b>')], next: null }));
    const onPick = renderWith(searchMessages);
    const box = screen.getByRole('searchbox', { name: 'Search' });
    fireEvent.change(box, { target: { value: '안' } });
    fireEvent.change(box, { target: { value: '안녕' } });
    const results = await screen.findByRole('list', { name: 'Search results' });
    expect(searchMessages).toHaveBeenCalledTimes(1);
    expect(searchMessages).toHaveBeenCalledWith({ q: '안녕', room: undefined, before: undefined, limit: 20 });
    const button = within(results).getByRole('button');
    expect(button.querySelector('mark')?.textContent).toBe('<b>안녕</b>');
    expect(button.querySelector('b')).toBeNull();
    fireEvent.click(button);
    expect(onPick).toHaveBeenCalledWith(3, 7);
  });

  it('goes on through windows without a match, and narrows to the open chat', async () => {
    const pages: SearchResults[] = [
      { results: [], next: '900' },
      { results: [hit(5, 'ok then', 'ok')], next: null },
    ];
    const searchMessages = vi.fn((): Promise<SearchResults> => Promise.resolve(pages.shift() ?? { results: [], next: null }));
    renderWith(searchMessages);
    fireEvent.change(screen.getByRole('combobox', { name: 'Search in' }), { target: { value: 'room' } });
    fireEvent.change(screen.getByRole('searchbox', { name: 'Search' }), { target: { value: 'ok' } });
    await waitFor(() => expect(screen.getAllByRole('button', { name: /ok then/ })).toHaveLength(1));
    expect(searchMessages.mock.calls.map((c) => c)).toEqual([
      [{ q: 'ok', room: 3, before: undefined, limit: 20 }],
      [{ q: 'ok', room: 3, before: '900', limit: 20 }],
    ]);
    expect(screen.queryByRole('button', { name: 'More results' })).toBeNull();
  });
});
