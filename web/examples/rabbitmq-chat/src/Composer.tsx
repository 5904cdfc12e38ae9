//! A one-line composer: Enter (or the button) sends; typing tells the room (throttled by the package).
import { useState, type FormEvent } from 'react';

/** Props of `Composer`. */
export interface ComposerProps {
  onSend(text: string): void;
  onTyping(): void;
}

/** The composer, a textbox named `Message`. */
export function Composer({ onSend, onTyping }: ComposerProps) {
  const [text, setText] = useState('');
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const value = text.trim();
    if (!value) return;
    onSend(value);
    setText('');
  };
  return (
    <form className="composer" onSubmit={submit}>
      <input
        aria-label="Message"
        placeholder="Write a message…"
        autoComplete="off"
        value={text}
        onChange={(event) => {
          setText(event.target.value);
          if (event.target.value) onTyping();
        }}
      />
      <button type="submit">Send</button>
    </form>
  );
}
