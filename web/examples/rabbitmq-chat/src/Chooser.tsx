//! Shown when the URL names nobody: one link per person, all in one fresh run, so opening two
//! of them in two windows gives a conversation.
import { useState } from 'react';
import { PEOPLE } from './people';

/** Links to open the chat as each person. */
export function Chooser() {
  const [run] = useState(() => Math.random().toString(36).slice(2, 8));
  return (
    <main className="chooser">
      <h1>Chat on RabbitMQ</h1>
      <p>Open each person in a window of their own:</p>
      <ul>
        {Object.entries(PEOPLE).map(([key, user]) => (
          <li key={key}>
            <a href={`?user=${key}&run=${run}`} target="_blank" rel="noreferrer">
              {user.displayName}
            </a>
          </li>
        ))}
      </ul>
    </main>
  );
}
