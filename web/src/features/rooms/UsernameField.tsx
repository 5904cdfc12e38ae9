//! The username field of the room dialogs, with suggestions for the name being typed: a list of
//! usernames separated by commas or spaces (a new group's members, members to add), or one
//! username (a new direct message). Typing a name in full and picking it from the suggestions
//! both work; a leading `@` is allowed and case does not matter.
import { useId, useRef } from 'react';
import type { User } from '../../api/types';
import { UserSuggestions } from './UserSuggestions';

/** Usernames from a comma (or space) separated list, lower-cased, without duplicates. */
export function parseMembers(text: string): string[] {
  return [...new Set(text.split(/[,\s]+/).map((s) => s.trim().replace(/^@/, '').toLowerCase()).filter(Boolean))];
}

/** The username being typed: what follows the last separator (empty right after one). */
export function memberBeingTyped(text: string): string {
  const parts = text.split(/[,\s]+/);
  return (parts.at(-1) ?? '').replace(/^@/, '').toLowerCase();
}

/** The text with the username being typed replaced by `username`, ready for the next one. */
export function completeMember(text: string, username: string): string {
  const typed = /[^,\s]*$/.exec(text)?.[0] ?? '';
  return `${text.slice(0, text.length - typed.length)}${username}, `;
}

/** The one username in a single-name field: trimmed, without a leading `@`, lower-cased. */
export function typedUsername(text: string): string {
  return text.trim().replace(/^@/, '').toLowerCase();
}

/** What every use of `UsernameField` gives. */
interface UsernameFieldCommonProps {
  /** The field's label, already translated. */
  label: string;
  /** The text typed so far (the field is controlled by its dialog, which submits it). */
  value: string;
  onChange(value: string): void;
  /** The field's placeholder (an example list, or an invitation to search). */
  placeholder: string;
  /** Users never suggested, by id: the viewer, and the room's members when adding to it. */
  excludeIds: readonly number[];
}

/**
 * Props of `UsernameField`. A list field (`mode: 'list'`) explains its format in a hint and
 * completes the name being typed when a suggestion is picked, so that several can be entered;
 * a single-name field (`mode: 'single'`) hands the picked user to its dialog, which acts on it
 * at once.
 */
export type UsernameFieldProps = UsernameFieldCommonProps &
  ({ mode: 'list'; /** The line under the field, already translated. */ hint: string } | { mode: 'single'; onPick(user: User): void });

/** The labelled input and its suggestions: one component, so that the room dialogs type names alike. */
export function UsernameField(props: UsernameFieldProps) {
  const { label, value, onChange, placeholder, excludeIds } = props;
  const input = useRef<HTMLInputElement>(null);
  const hintId = useId();
  const list = props.mode === 'list';
  const typing = list ? memberBeingTyped(value) : typedUsername(value);
  const listed = list ? parseMembers(value) : [];
  return (
    <>
      <label className="field">
        <span>{label}</span>
        <input
          ref={input}
          value={value}
          onChange={(e) => onChange(e.target.value)}
          placeholder={placeholder}
          autoComplete="off"
          autoCapitalize="none"
          spellCheck={false}
          aria-describedby={list ? hintId : undefined}
        />
      </label>
      {list && (
        <p id={hintId} className="field-hint">
          {props.hint}
        </p>
      )}
      <UserSuggestions
        prefix={typing}
        exclude={{ ids: excludeIds, usernames: listed.filter((username) => username !== typing) }}
        onPick={(user) => {
          if (props.mode === 'single') {
            props.onPick(user);
            return;
          }
          onChange(completeMember(value, user.username));
          input.current?.focus();
        }}
      />
    </>
  );
}
