//! The pure parts of the new-room dialogs and the sign-up form.
import { describe, expect, it } from 'vitest';
import { signUpProblem } from '../src/features/auth/LoginScreen';
import { completeMember, memberBeingTyped, parseMembers } from '../src/features/rooms/UsernameField';

describe('group members typed by hand', () => {
  it('parses comma- or space-separated usernames, @ optional, without duplicates', () => {
    expect(parseMembers(' Alice, @bob  carol,alice, ')).toEqual(['alice', 'bob', 'carol']);
  });

  it('finds the username being typed, empty right after a separator', () => {
    expect(memberBeingTyped('alice, Bo')).toBe('bo');
    expect(memberBeingTyped('alice, ')).toBe('');
    expect(memberBeingTyped('@car')).toBe('car');
  });

  it('completes the username being typed and leaves the earlier ones alone', () => {
    expect(completeMember('alice, bo', 'bob')).toBe('alice, bob, ');
    expect(completeMember('', 'bob')).toBe('bob, ');
    expect(completeMember('alice, ', 'bob')).toBe('alice, bob, ');
  });
});

describe('sign-up checks', () => {
  it('names the first rule broken, and passes a good form', () => {
    expect(signUpProblem('al', 'long enough', '')).toMatch(/^A username has 3–32/);
    expect(signUpProblem('alice', 'short', '')).toBe('Use a password of at least 8 characters.');
    expect(signUpProblem('alice', 'long enough', 'x'.repeat(65))).toBe('A display name has at most 64 characters.');
    expect(signUpProblem('alice', 'long enough', 'Alice')).toBeNull();
  });
});
