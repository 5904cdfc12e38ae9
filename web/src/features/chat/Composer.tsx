//! The composer: Enter sends, Shift+Enter breaks the line, and Enter that ends an IME
//! composition (Korean, Japanese, Chinese input) only ends the composition.
import { useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { SendIcon } from '../../ui/icons';

/** Props of `Composer`. */
export interface ComposerProps {
  onSend(text: string): void;
  onTyping?(): void;
}

/** Longest message the composer accepts (the server bounds frames too). */
export const MAX_LENGTH = 4000;

/** The composer. */
export function Composer({ onSend, onTyping }: ComposerProps) {
  const [text, setText] = useState('');
  const composing = useRef(false);
  const input = useRef<HTMLTextAreaElement>(null);

  const submit = () => {
    const value = text.trim();
    if (!value) return;
    onSend(value);
    setText('');
    input.current?.focus();
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key !== 'Enter' || e.shiftKey) return;
    // keyCode 229: the keydown that Safari and some IMEs send while a composition is open.
    if (e.nativeEvent.isComposing || composing.current || e.keyCode === 229) return;
    e.preventDefault();
    submit();
  };

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    submit();
  };

  return (
    <form className="composer" onSubmit={onSubmit}>
      <textarea
        ref={input}
        aria-label="Message"
        placeholder="Write a message…"
        rows={1}
        maxLength={MAX_LENGTH}
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          if (e.target.value) onTyping?.();
        }}
        onKeyDown={onKeyDown}
        onCompositionStart={() => {
          composing.current = true;
        }}
        onCompositionEnd={() => {
          composing.current = false;
        }}
        autoFocus
      />
      <button type="submit" className="send" aria-label="Send" title="Send" disabled={!text.trim()}>
        <SendIcon />
      </button>
    </form>
  );
}
