// The username field the room dialogs share: a list field describes itself by its hint, a
// picked suggestion completes the name being typed (and the field keeps the focus for the
// next one), names already listed are not suggested again; a single-name field hands the
// picked user over as it is.
import { fireEvent, render, screen, within } from '@testing-library/react';
import { useState } from 'react';
import { describe, expect, it, vi } from 'vitest';
import type { Api } from '../src/api/http';
import type { User } from '../src/api/types';
import { ApiContext } from '../src/app/ApiContext';
import { UsernameField, type UsernameFieldProps } from '../src/features/rooms/UsernameField';

const alice: User = { id: 1, username: 'alice', displayName: 'Alice' };
const bob: User = { id: 2, username: 'bob', displayName: 'Bob' };
const bella: User = { id: 3, username: 'bella', displayName: 'Bella' };
const everyone = [alice, bob, bella];

/** The field's props but its text, which `Holder` keeps (each mode's own props kept). */
type FieldSettings = UsernameFieldProps extends infer Props ? (Props extends unknown ? Omit<Props, 'value' | 'onChange'> : never) : never;

/** The field as a dialog holds it: its text in the dialog's state. */
function Holder(settings: FieldSettings) {
  const [value, setValue] = useState('');
  return <UsernameField {...settings} value={value} onChange={setValue} />;
}

function renderField(settings: FieldSettings) {
  const searchUsers = vi.fn((prefix: string) => Promise.resolve(everyone.filter((user) => user.username.startsWith(prefix))));
  render(
    <ApiContext.Provider value={{ searchUsers } as unknown as Api}>
      <Holder {...settings} />
    </ApiContext.Provider>,
  );
  return searchUsers;
}

/** The suggestions shown, by their name labels (display name and @username). */
const suggested = async () =>
  within(await screen.findByRole('list', { name: 'Matching users' }))
    .getAllByRole('button')
    .map((button) => button.querySelector('.user-result-label')?.textContent);

describe('UsernameField', () => {
  it('as a list: described by its hint; a pick completes the name typed, keeps the focus and is not suggested again', async () => {
    const searchUsers = renderField({ mode: 'list', label: 'Members', hint: 'Separate usernames with commas.', placeholder: 'alice, bob', excludeIds: [alice.id] });
    const box = screen.getByRole('textbox', { name: 'Members' });
    expect(box).toHaveAccessibleDescription('Separate usernames with commas.');
    expect(box).toHaveAttribute('placeholder', 'alice, bob');

    fireEvent.change(box, { target: { value: 'B' } });
    // The viewer (excluded by id) is never offered.
    expect(await suggested()).toEqual(['Bob @bob', 'Bella @bella']);
    expect(searchUsers).toHaveBeenLastCalledWith('b');
    fireEvent.click(screen.getByRole('button', { name: /^Bob/ }));
    expect(box).toHaveValue('bob, ');
    expect(document.activeElement).toBe(box);

    fireEvent.change(box, { target: { value: 'bob, b' } });
    expect(await suggested()).toEqual(['Bella @bella']);
    fireEvent.click(screen.getByRole('button', { name: /^Bella/ }));
    expect(box).toHaveValue('bob, bella, ');
  });

  it('for one name: no hint, the whole text (without @) is the prefix, and a pick goes to the dialog', async () => {
    const onPick = vi.fn();
    const searchUsers = renderField({ mode: 'single', label: 'Username', placeholder: 'Search people', excludeIds: [alice.id], onPick });
    const box = screen.getByRole('textbox', { name: 'Username' });
    expect(box).not.toHaveAttribute('aria-describedby');

    fireEvent.change(box, { target: { value: ' @Bel ' } });
    expect(await suggested()).toEqual(['Bella @bella']);
    expect(searchUsers).toHaveBeenLastCalledWith('bel');
    fireEvent.click(screen.getByRole('button', { name: /^Bella/ }));
    expect(onPick).toHaveBeenCalledWith(bella);
    expect(box).toHaveValue(' @Bel ');
  });
});
