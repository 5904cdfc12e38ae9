//! The message formatter: each rule of the contract's subset, and the hostile cases (HTML,
//! other schemes, punctuation around URLs, underscores inside words, unknown mentions).
import { render } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { formatText, safeHref, trimUrl, type MentionStyle } from '../src/features/chat/formatText';

function html(text: string, mentions?: MentionStyle): string {
  return render(<div data-testid="out">{formatText(text, mentions)}</div>).container.firstElementChild!.innerHTML;
}

describe('formatText', () => {
  it('bold, italic and code', () => {
    expect(html('a **bold** word')).toBe('a <strong>bold</strong> word');
    expect(html('an _italic_ one')).toBe('an <em>italic</em> one');
    expect(html('run `npm test` now')).toBe('run <code>npm test</code> now');
    expect(html('**bold with _italic_ inside**')).toBe('<strong>bold with <em>italic</em> inside</strong>');
  });

  it('leaves markers that do not pair, or sit inside words, as they are', () => {
    expect(html('snake_case_name and 2*3*4')).toBe('snake_case_name and 2*3*4');
    expect(html('** not bold **')).toBe('** not bold **');
    expect(html('a lone ` tick')).toBe('a lone ` tick');
  });

  it('formats nothing inside code', () => {
    expect(html('`**x** <b>`')).toBe('<code>**x** &lt;b&gt;</code>');
  });

  it('fenced blocks keep their text verbatim, an unclosed bare fence runs to the end', () => {
    expect(html('before\n```js\nconst a = **1**;\n<i>x</i>\n```\nafter')).toBe('before<pre><code>const a = **1**;\n&lt;i&gt;x&lt;/i&gt;</code></pre>after');
    expect(html('```\nopen\nblock')).toBe('<pre><code>open\nblock</code></pre>');
    expect(html('one ```inline fence``` span')).toBe('one <code>inline fence</code> span');
  });

  it('quote lines become one blockquote per run', () => {
    expect(html('> first\n> **second**\nreply')).toBe('<blockquote>first\n<strong>second</strong></blockquote>reply');
    expect(html('not > a quote')).toBe('not &gt; a quote');
  });

  it('http and https URLs become links that open apart, without the trailing punctuation', () => {
    const out = html('see https://example.org/a?b=1&c=2, and (http://x.org/y).');
    expect(out).toBe(
      'see <a href="https://example.org/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">https://example.org/a?b=1&amp;c=2</a>, and (<a href="http://x.org/y" target="_blank" rel="noopener noreferrer">http://x.org/y</a>).',
    );
    expect(trimUrl('https://en.wikipedia.org/wiki/Foo_(bar)')).toBe('https://en.wikipedia.org/wiki/Foo_(bar)');
    expect(trimUrl('https://x.org/done.')).toBe('https://x.org/done');
  });

  it('never makes a link of another scheme or a bare www.', () => {
    for (const text of ['javascript:alert(1)', 'data:text/html,<script>alert(1)</script>', 'www.example.org', 'JaVaScRiPt:alert(1)', 'ftp://x.org/file']) {
      expect(html(text)).not.toContain('<a');
    }
    expect(safeHref('javascript:alert(1)')).toBeNull();
    expect(safeHref('https://x.org')).toBe('https://x.org/');
  });

  it('shows HTML as the characters it is', () => {
    const { container } = render(<div>{formatText('<b>x</b> <img src=x onerror=alert(1)> <script>alert(1)</script>')}</div>);
    expect(container.querySelector('b, img, script')).toBeNull();
    expect(container.textContent).toBe('<b>x</b> <img src=x onerror=alert(1)> <script>alert(1)</script>');
  });

  it('highlights mentions the server found, the own one stronger; other @names and e-mail addresses stay text', () => {
    const mentions: MentionStyle = { usernames: new Set(['bob', 'alice']), me: 'alice' };
    expect(html('hi @bob and @Alice, mail bob@x.org, @carol', mentions)).toBe(
      'hi <span class="mention">@bob</span> and <span class="mention mention-me">@Alice</span>, mail bob@x.org, @carol',
    );
    expect(html('hi @bob')).toBe('hi @bob');
  });
});
