//! The composer: Enter sends, Shift+Enter breaks the line, and Enter that ends an IME
//! composition (Korean, Japanese, Chinese input) only ends the composition.
//!
//! Around the text box: the reply bar ("Replying to Bob: …", Cancel), the files waiting to
//! go (a progress bar each, a remove button, the server's text when it refused one), an
//! `Attach file` button (pasting an image works too), and suggestions while typing: `@` and
//! letters lists the room's members, `:` and letters lists emoji (arrow keys move, Enter or
//! Tab inserts, Escape closes).
import { useEffect, useId, useRef, useState, type ClipboardEvent, type FormEvent, type KeyboardEvent } from 'react';
import type { User } from '../../api/types';
import { CloseIcon, PaperclipIcon, SendIcon } from '../../ui/icons';
import { useT } from '../../i18n';
import { loadDraft, saveDraft } from './drafts';
import { searchEmoji } from './emoji';
import { formatSize, type PendingUpload } from './useUploads';

/** What the reply bar shows of the message answered. */
export interface ReplyTarget {
  seq: number;
  sender: User;
  text: string;
  deleted: boolean;
}

/** Props of `Composer`. */
export interface ComposerProps {
  /** Sends the text (maybe empty when files go with it). */
  onSend(text: string): void;
  onTyping?(): void;
  /** Members of the room, for `@` suggestions (the viewer is left out). */
  members?: readonly User[];
  me?: User;
  replyTo?: ReplyTarget | null;
  onCancelReply?(): void;
  uploads?: readonly PendingUpload[];
  /** Some upload is still running: Send waits. */
  uploading?: boolean;
  onAddFiles?(files: File[]): void;
  onRemoveUpload?(key: string): void;
  /** Where the unsent text is kept across room switches and reloads (`draftKey`); none: not kept. */
  draftKey?: string;
}

/** Longest message the composer accepts (the server bounds frames too). */
export const MAX_LENGTH = 4000;

/** Suggestions shown at most. */
const MAX_SUGGESTIONS = 8;

interface Suggestion {
  key: string;
  label: string;
  detail?: string;
  insert: string;
}

/** The `@name` or `:name` being typed just before the caret, if any. */
function tokenBefore(text: string, caret: number): { kind: 'mention' | 'emoji'; query: string; start: number } | null {
  const head = text.slice(0, caret);
  const mention = /(?:^|[^\p{L}\p{N}_.@-])@([\p{L}\p{N}_.-]*)$/u.exec(head);
  if (mention?.[1] !== undefined) return { kind: 'mention', query: mention[1], start: caret - mention[1].length - 1 };
  const emoji = /(?:^|\s):([a-z0-9_+-]+)$/i.exec(head);
  if (emoji?.[1] !== undefined) return { kind: 'emoji', query: emoji[1], start: caret - emoji[1].length - 1 };
  return null;
}

/** The composer. */
export function Composer({ onSend, onTyping, members = [], me, replyTo, onCancelReply, uploads = [], uploading = false, onAddFiles, onRemoveUpload, draftKey }: ComposerProps) {
  const [text, setText] = useState(() => (draftKey ? loadDraft(draftKey) : ''));
  useEffect(() => {
    if (draftKey) saveDraft(draftKey, text);
  }, [draftKey, text]);
  const [caret, setCaret] = useState(0);
  const [active, setActive] = useState(0);
  const [dismissed, setDismissed] = useState<string | null>(null);
  const composing = useRef(false);
  const input = useRef<HTMLTextAreaElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const listId = useId();
  const { t, tParts } = useT();
  const replySeq = replyTo?.seq;
  useEffect(() => {
    if (replySeq !== undefined) input.current?.focus();
  }, [replySeq]);

  const token = tokenBefore(text, caret);
  const tokenKey = token ? `${token.kind}:${String(token.start)}:${token.query}` : null;
  let suggestions: Suggestion[] = [];
  if (token && tokenKey !== dismissed) {
    if (token.kind === 'mention') {
      const q = token.query.toLowerCase();
      suggestions = members
        .filter((m) => m.id !== me?.id && (m.username.toLowerCase().startsWith(q) || m.displayName.toLowerCase().split(/\s+/).some((w) => w.startsWith(q))))
        .slice(0, MAX_SUGGESTIONS)
        .map((m) => ({ key: `u${String(m.id)}`, label: m.displayName, detail: `@${m.username}`, insert: `@${m.username} ` }));
    } else {
      suggestions = searchEmoji(token.query, MAX_SUGGESTIONS).map(([name, emoji]) => ({ key: name, label: emoji, detail: `:${name}:`, insert: emoji }));
    }
  }
  const open = suggestions.length > 0;
  const activeIndex = Math.min(active, suggestions.length - 1);

  const ready = uploads.some((u) => u.attachment);
  const canSend = !uploading && (text.trim() !== '' || ready);

  const submit = () => {
    if (!canSend) return;
    onSend(text.trim());
    setText('');
    setCaret(0);
    input.current?.focus();
  };

  const pick = (suggestion: Suggestion) => {
    if (!token) return;
    const next = text.slice(0, token.start) + suggestion.insert + text.slice(caret);
    const at = token.start + suggestion.insert.length;
    setText(next);
    setCaret(at);
    setActive(0);
    requestAnimationFrame(() => {
      input.current?.focus();
      input.current?.setSelectionRange(at, at);
    });
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (open) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const step = e.key === 'ArrowDown' ? 1 : -1;
        setActive((activeIndex + step + suggestions.length) % suggestions.length);
        return;
      }
      if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') {
        const chosen = suggestions[activeIndex];
        if (chosen && !e.nativeEvent.isComposing && !composing.current) {
          e.preventDefault();
          pick(chosen);
          return;
        }
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        setDismissed(tokenKey);
        return;
      }
    } else if (e.key === 'Escape' && replyTo) {
      e.preventDefault();
      onCancelReply?.();
      return;
    }
    if (e.key !== 'Enter' || e.shiftKey) return;
    // keyCode 229: the keydown that Safari and some IMEs send while a composition is open.
    if (e.nativeEvent.isComposing || composing.current || e.keyCode === 229) return;
    e.preventDefault();
    submit();
  };

  const onPaste = (e: ClipboardEvent<HTMLTextAreaElement>) => {
    const files = [...e.clipboardData.files];
    if (files.length === 0 || !onAddFiles) return;
    e.preventDefault();
    onAddFiles(files);
  };

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    submit();
  };

  const replyingTo = tParts('composer.replyingTo', 'name');
  const activeId = open ? `${listId}-${String(activeIndex)}` : undefined;
  return (
    <div className="composer-area">
      {replyTo && (
        <div className="reply-bar">
          <div className="reply-bar-text">
            <span className="reply-bar-label">
              {replyingTo[0]}
              <strong>{replyTo.sender.displayName}</strong>
              {replyingTo[1]}
            </span>
            <span className="reply-bar-quote">{replyTo.deleted ? t('composer.deleted') : replyTo.text}</span>
          </div>
          <button type="button" className="icon-button" aria-label={t('composer.cancelReply')} title={t('composer.cancelReply')} onClick={onCancelReply}>
            <CloseIcon />
          </button>
        </div>
      )}
      {uploads.length > 0 && (
        <ul className="uploads" aria-label={t('composer.files')}>
          {uploads.map((u) => (
            <li key={u.key} className={u.error ? 'upload failed' : 'upload'}>
              <span className="upload-name" title={u.name}>
                {u.name}
              </span>
              <span className="upload-size">{formatSize(u.size)}</span>
              {!u.error && <progress aria-label={u.name} max={100} value={Math.round(u.progress * 100)} />}
              {u.error && (
                <span className="upload-error" role="alert">
                  {u.error}
                </span>
              )}
              <button type="button" className="icon-button" aria-label={t('composer.removeFile', { name: u.name })} title={t('composer.remove')} onClick={() => onRemoveUpload?.(u.key)}>
                <CloseIcon />
              </button>
            </li>
          ))}
        </ul>
      )}
      {open && (
        <ul className="suggestions" role="listbox" id={listId} aria-label={token?.kind === 'mention' ? t('composer.mentions') : t('composer.emoji')}>
          {suggestions.map((s, i) => (
            <li
              key={s.key}
              id={`${listId}-${String(i)}`}
              role="option"
              aria-selected={i === activeIndex}
              className={i === activeIndex ? 'suggestion active' : 'suggestion'}
              onMouseDown={(e) => {
                e.preventDefault();
                pick(s);
              }}
            >
              <span className="suggestion-label">{s.label}</span>
              {s.detail && <span className="suggestion-detail">{s.detail}</span>}
            </li>
          ))}
        </ul>
      )}
      <form className="composer" onSubmit={onSubmit}>
        {onAddFiles && (
          <>
            <button type="button" className="icon-button attach" aria-label={t('composer.attach')} title={t('composer.attach')} onClick={() => fileInput.current?.click()}>
              <PaperclipIcon />
            </button>
            <input
              ref={fileInput}
              type="file"
              multiple
              hidden
              data-testid="attach-input"
              onChange={(e) => {
                const files = [...(e.target.files ?? [])];
                e.target.value = '';
                if (files.length > 0) onAddFiles(files);
              }}
            />
          </>
        )}
        <textarea
          ref={input}
          aria-label={t('composer.message')}
          placeholder={replyTo ? t('composer.replyPlaceholder') : t('composer.placeholder')}
          rows={1}
          maxLength={MAX_LENGTH}
          value={text}
          aria-autocomplete="list"
          aria-controls={open ? listId : undefined}
          aria-activedescendant={activeId}
          onChange={(e) => {
            setText(e.target.value);
            setCaret(e.target.selectionStart);
            setActive(0);
            if (e.target.value) onTyping?.();
          }}
          onSelect={(e) => setCaret(e.currentTarget.selectionStart)}
          onKeyDown={onKeyDown}
          onPaste={onPaste}
          onCompositionStart={() => {
            composing.current = true;
          }}
          onCompositionEnd={() => {
            composing.current = false;
          }}
          autoFocus
        />
        <button type="submit" className="send" aria-label={t('composer.send')} title={t('composer.send')} disabled={!canSend}>
          <SendIcon />
        </button>
      </form>
    </div>
  );
}
