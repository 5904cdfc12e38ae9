//! The small markdown subset a message's text is shown with (contract: "Formatting and
//! links"): `**bold**`, `_italic_`, `` `code` ``, fenced ``` blocks, `> ` quote lines,
//! `http(s)://` URLs as links that open in a new tab without the opener, and `@username`
//! highlighted where the server found a mention. Everything is built as React elements from
//! text: nothing is ever parsed as HTML, so `<b>x</b>` in a message shows as those characters,
//! and no other scheme (`javascript:`, `data:`, a bare `www.`) becomes a link.
import { Fragment, type ReactNode } from 'react';

/** How `@username` in a text is shown. */
export interface MentionStyle {
  /** Lower-cased usernames the server found mentioned in this message. */
  usernames: ReadonlySet<string>;
  /** The viewer's own username, lower-cased: its mention stands out more. */
  me?: string;
}

const FENCE = /^\s*```/;
/**
 * Inline tokens, first match wins at each position: a one-line fenced span, code, a URL,
 * bold, italic (underscores at word edges, so snake_case stays as it is), a mention.
 */
const INLINE =
  /```([^\n]+?)```|`([^`\n]+)`|(?<![\w+.-])(https?:\/\/[^\s<>"'`]+)|\*\*(?=\S)([^\n]*?\S)\*\*|(?<![\p{L}\p{N}_])_(?=\S)([^\n]*?\S)_(?![\p{L}\p{N}_])|(?<![\p{L}\p{N}_.@-])@([\p{L}\p{N}_.-]*[\p{L}\p{N}_])/giu;

/**
 * A URL as matched, without the punctuation that ends the sentence around it: trailing
 * `. , ; : ! ?` and a `)` that closes nothing inside the URL (`(see https://x.org/a)`).
 */
export function trimUrl(url: string): string {
  let end = url.length;
  for (;;) {
    const last = url[end - 1];
    if (last && '.,;:!?'.includes(last)) end--;
    else if (last === ')' && count(url.slice(0, end), '(') < count(url.slice(0, end), ')')) end--;
    else break;
  }
  return url.slice(0, end);
}

function count(text: string, char: string): number {
  return text.split(char).length - 1;
}

/** A safe `http:` or `https:` URL, or null (then the text stays text). */
export function safeHref(url: string): string | null {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null;
  } catch {
    return null;
  }
}

/** One line's inline formatting. */
export function formatInline(text: string, mentions?: MentionStyle): ReactNode[] {
  const out: ReactNode[] = [];
  let at = 0;
  let key = 0;
  const plain = (s: string) => {
    if (s) out.push(s);
  };
  for (const match of text.matchAll(INLINE)) {
    const index = match.index;
    if (index < at) continue;
    const [whole, fencedSpan, code, url, bold, italic, mention] = match;
    let element: ReactNode = null;
    let length = whole.length;
    if (fencedSpan !== undefined || code !== undefined) {
      element = <code key={key++}>{fencedSpan ?? code}</code>;
    } else if (url !== undefined) {
      const trimmed = trimUrl(url);
      const href = safeHref(trimmed);
      length = trimmed.length;
      if (href)
        element = (
          <a key={key++} href={href} target="_blank" rel="noopener noreferrer">
            {trimmed}
          </a>
        );
    } else if (bold !== undefined) {
      element = <strong key={key++}>{formatInline(bold, mentions)}</strong>;
    } else if (italic !== undefined) {
      element = <em key={key++}>{formatInline(italic, mentions)}</em>;
    } else if (mention !== undefined) {
      const name = mention.toLowerCase();
      if (mentions?.usernames.has(name))
        element = (
          <span key={key++} className={name === mentions.me ? 'mention mention-me' : 'mention'}>
            @{mention}
          </span>
        );
    }
    if (element === null) continue;
    plain(text.slice(at, index));
    out.push(element);
    at = index + length;
  }
  plain(text.slice(at));
  return out;
}

/**
 * A message's text as React elements: fenced blocks (```` ``` ```` lines; one left open runs
 * to the end), runs of `> ` lines as quotes, and the rest line by line with inline formatting
 * (the bubble keeps line breaks with `white-space: pre-wrap`).
 */
export function formatText(text: string, mentions?: MentionStyle): ReactNode[] {
  const lines = text.split('\n');
  const out: ReactNode[] = [];
  let key = 0;
  let paragraph: string[] = [];
  const flush = () => {
    if (paragraph.length === 0) return;
    const block = paragraph;
    paragraph = [];
    out.push(
      <Fragment key={key++}>
        {block.map((line, i) => (
          <Fragment key={i}>
            {i > 0 && '\n'}
            {formatInline(line, mentions)}
          </Fragment>
        ))}
      </Fragment>,
    );
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (FENCE.test(line)) {
      const body: string[] = [];
      let j = i + 1;
      while (j < lines.length && !FENCE.test(lines[j] ?? '')) body.push(lines[j++] ?? '');
      // A fence line with text after the backticks and no closing fence is not a block.
      if (j === lines.length && line.trim() !== '```') {
        paragraph.push(line);
        continue;
      }
      flush();
      out.push(
        <pre key={key++}>
          <code>{body.join('\n')}</code>
        </pre>,
      );
      i = j;
      continue;
    }
    if (line.startsWith('> ') || line === '>') {
      flush();
      const quoted: string[] = [];
      let j = i;
      while (j < lines.length && ((lines[j] ?? '').startsWith('> ') || lines[j] === '>')) quoted.push((lines[j++] ?? '').slice(2));
      out.push(
        <blockquote key={key++}>
          {quoted.map((q, n) => (
            <Fragment key={n}>
              {n > 0 && '\n'}
              {formatInline(q, mentions)}
            </Fragment>
          ))}
        </blockquote>,
      );
      i = j - 1;
      continue;
    }
    paragraph.push(line);
  }
  flush();
  return out;
}
