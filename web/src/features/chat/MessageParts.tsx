//! The parts of a message around its text: the quote of the message it answers (a button that
//! jumps to the original), reaction chips (pressed when the viewer's, naming who reacted), the
//! reaction picker, and attachments (image thumbnails opening a full-size view, download cards
//! for other files). Files are fetched with the session's token into blob URLs, revoked when
//! the part goes away: no token ever sits in a URL.
import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import type { Attachment, Reaction, ReplyPreview, User } from '../../api/types';
import { useApi } from '../../app/ApiContext';
import { Dialog } from '../../ui/Dialog';
import { FileIcon } from '../../ui/icons';
import { t, useT } from '../../i18n';
import { COMMON_REACTIONS, EMOJI, emojiLabel, noteRecentEmoji, recentEmoji } from './emoji';
import { formatSize } from './useUploads';

/** What the quote shows of the original: the local copy when held (kept current), else the server's preview. */
export interface QuotedMessage {
  seq: number;
  sender: User;
  text: string;
  edited: boolean;
  deleted: boolean;
  attachments: number;
}

/** The quote from a reply's `replyTo`, or from the local copy of the original when held. */
export function quoteOf(preview: ReplyPreview, held?: { text: string; editedAt: string | null; deleted: boolean; attachments: readonly Attachment[] }): QuotedMessage {
  if (held) return { seq: preview.seq, sender: preview.sender, text: held.text, edited: !!held.editedAt, deleted: held.deleted, attachments: held.attachments.length };
  return { seq: preview.seq, sender: preview.sender, text: preview.text, edited: !!preview.editedAt, deleted: !!preview.deletedAt, attachments: preview.attachments ?? 0 };
}

/** The first line of a text, shortened. */
export function oneLine(text: string, max = 120): string {
  const line = text.split('\n').find((l) => l.trim() !== '') ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** The quote inside a reply: a button whose name starts with "In reply to Bob". */
export function ReplyQuote({ quote, onJump }: { quote: QuotedMessage; onJump(seq: number): void }) {
  const { t, tn, tParts } = useT();
  const body = quote.deleted ? t('log.deleted') : oneLine(quote.text) || (quote.attachments > 0 ? tn('parts.quoteFiles', quote.attachments) : '');
  const [before, after] = tParts('parts.inReplyTo', 'name');
  return (
    <button type="button" className={quote.deleted ? 'reply-quote deleted' : 'reply-quote'} onClick={() => onJump(quote.seq)} title={t('parts.showOriginal')}>
      <span className="reply-quote-sender">
        {before && <span className="sr-only">{before}</span>}
        {quote.sender.displayName}
        {after && <span className="sr-only">{after}</span>}
      </span>
      <span className="reply-quote-text">
        {body}
        {quote.edited && !quote.deleted && <span className="edited"> {t('log.edited')}</span>}
      </span>
    </button>
  );
}

/** Who reacted, by display name from the room's members. */
export function reactorNames(reaction: Reaction, names: ReadonlyMap<number, string>, meId: number): string {
  return reaction.userIds.map((id) => (id === meId ? t('parts.you') : (names.get(id) ?? t('parts.someone')))).join(', ');
}

/** Props of `ReactionChips`. */
export interface ReactionChipsProps {
  reactions: readonly Reaction[];
  names: ReadonlyMap<number, string>;
  meId: number;
  onToggle(emoji: string, add: boolean): void;
}

/** `👍 2` chips under a message; a click adds or takes back the viewer's reaction. */
export function ReactionChips({ reactions, names, meId, onToggle }: ReactionChipsProps) {
  if (reactions.length === 0) return null;
  return (
    <div className="reactions">
      {reactions.map((r) => {
        const mine = r.userIds.includes(meId);
        const who = reactorNames(r, names, meId);
        return (
          <button
            key={r.emoji}
            type="button"
            className={mine ? 'reaction mine' : 'reaction'}
            aria-pressed={mine}
            aria-label={`${r.emoji} ${String(r.count)}: ${who}`}
            title={who}
            onClick={() => onToggle(r.emoji, !mine)}
          >
            <span className="reaction-emoji">{r.emoji}</span>
            <span className="reaction-count">{r.count}</span>
          </button>
        );
      })}
    </div>
  );
}

/** Props of `ReactionPicker`. */
export interface ReactionPickerProps {
  /** Open above the message (no room below it in the log). */
  upwards?: boolean;
  onPick(emoji: string): void;
  onClose(): void;
}

const nameOfEmoji = new Map(EMOJI.map(([name, emoji]) => [emoji, name]));

/**
 * A small popover (`dialog` named `Add reaction`): recent and common emoji, then the rest of
 * the table. Arrow keys move, Escape or a click outside closes.
 */
export function ReactionPicker({ upwards = false, onPick, onClose }: ReactionPickerProps) {
  const ref = useRef<HTMLDivElement>(null);
  const close = useRef(onClose);
  useEffect(() => {
    close.current = onClose;
  });
  const [recent] = useState(recentEmoji);
  const { t, locale } = useT();
  const quick = [...new Set([...recent, ...COMMON_REACTIONS])].slice(0, 8);
  const more = EMOJI.map(([, emoji]) => emoji).filter((e) => !quick.includes(e));

  useEffect(() => {
    ref.current?.querySelector<HTMLElement>('button')?.focus();
    const onPointer = (e: PointerEvent) => {
      if (!ref.current?.contains(e.target as Node)) close.current();
    };
    document.addEventListener('pointerdown', onPointer);
    return () => document.removeEventListener('pointerdown', onPointer);
  }, []);

  const onKey = (e: KeyboardEvent<HTMLDivElement>) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      onClose();
      return;
    }
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: 8, ArrowUp: -8 }[e.key];
    if (step === undefined) return;
    e.preventDefault();
    const buttons = [...(ref.current?.querySelectorAll<HTMLElement>('button') ?? [])];
    const at = buttons.indexOf(document.activeElement as HTMLElement);
    buttons[Math.max(0, Math.min(buttons.length - 1, at + step))]?.focus();
  };

  const choose = (emoji: string) => {
    noteRecentEmoji(emoji);
    onPick(emoji);
    onClose();
  };
  const button = (emoji: string) => {
    const name = nameOfEmoji.get(emoji);
    const label = name === undefined ? emoji : emojiLabel(name, locale);
    return (
      <button key={emoji} type="button" className="picker-emoji" aria-label={label} title={label} onClick={() => choose(emoji)}>
        {emoji}
      </button>
    );
  };
  return (
    <div ref={ref} role="dialog" aria-label={t('parts.addReaction')} className={upwards ? 'reaction-picker upwards' : 'reaction-picker'} onKeyDown={onKey}>
      <div className="picker-row">{quick.map(button)}</div>
      <div className="picker-more">{more.map(button)}</div>
    </div>
  );
}

/** A blob URL of an attachment (or its thumbnail) while mounted; revoked on unmount. */
function useAttachmentUrl(id: number, thumbnail: boolean): { url: string | null; failed: boolean } {
  const api = useApi();
  const [state, setState] = useState<{ url: string | null; failed: boolean }>({ url: null, failed: false });
  useEffect(() => {
    const controller = new AbortController();
    let url: string | null = null;
    api.fetchAttachment(id, { thumbnail, signal: controller.signal }).then(
      (blob) => {
        url = URL.createObjectURL(blob);
        setState({ url, failed: false });
      },
      (error: unknown) => {
        if ((error as { name?: string } | null)?.name !== 'AbortError') setState({ url: null, failed: true });
      },
    );
    return () => {
      controller.abort();
      if (url) URL.revokeObjectURL(url);
    };
  }, [api, id, thumbnail]);
  return state;
}

/** A thumbnail that opens the full-size view. */
function ImageAttachment({ attachment }: { attachment: Attachment }) {
  const [open, setOpen] = useState(false);
  const { url, failed } = useAttachmentUrl(attachment.id, true);
  const { t } = useT();
  const ratio = attachment.image ? attachment.image.width / Math.max(1, attachment.image.height) : 1;
  return (
    <>
      <button type="button" className="image-attachment" aria-label={t('parts.openImage', { name: attachment.name })} onClick={() => setOpen(true)} style={{ aspectRatio: String(ratio) }}>
        {url ? <img src={url} alt={attachment.name} /> : <span className="image-placeholder">{failed ? t('parts.imageUnavailable') : ''}</span>}
      </button>
      {open && <ImageViewer attachment={attachment} onClose={() => setOpen(false)} />}
    </>
  );
}

/** The full-size image in a dialog named after the file; Escape closes it. */
function ImageViewer({ attachment, onClose }: { attachment: Attachment; onClose(): void }) {
  const { url, failed } = useAttachmentUrl(attachment.id, false);
  const { t } = useT();
  return (
    <Dialog title={attachment.name} onClose={onClose} className="image-viewer">
      <div className="image-full">
        {url ? <img src={url} alt={attachment.name} /> : failed ? <p role="alert">{t('parts.imageFailed')}</p> : <span className="spinner" aria-label={t('parts.loadingImage')} />}
      </div>
      <div className="dialog-actions">
        <DownloadButton attachment={attachment} />
      </div>
    </Dialog>
  );
}

/** Fetches the file with the token and saves it under its name. */
function DownloadButton({ attachment }: { attachment: Attachment }) {
  const api = useApi();
  const [problem, setProblem] = useState<string | null>(null);
  const { t } = useT();
  const download = () => {
    setProblem(null);
    api.fetchAttachment(attachment.id).then(
      (blob) => {
        const url = URL.createObjectURL(blob);
        const a = document.createElement('a');
        a.href = url;
        a.download = attachment.name;
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10_000);
      },
      () => setProblem(t('parts.downloadFailed')),
    );
  };
  return (
    <>
      <button type="button" className="button secondary download" onClick={download} aria-label={t('parts.downloadName', { name: attachment.name })}>
        {t('parts.download')}
      </button>
      {problem && (
        <span role="alert" className="download-problem">
          {problem}
        </span>
      )}
    </>
  );
}

/** A card for a file that is not an image: name, type, size, Download. */
function FileAttachment({ attachment }: { attachment: Attachment }) {
  return (
    <div className="file-card" role="group" aria-label={attachment.name}>
      <FileIcon />
      <div className="file-info">
        <span className="file-name" title={attachment.name}>
          {attachment.name}
        </span>
        <span className="file-meta">
          {attachment.contentType} · {formatSize(attachment.size)}
        </span>
      </div>
      <DownloadButton attachment={attachment} />
    </div>
  );
}

/** Every attachment of a message: images first as thumbnails, then the other files. */
export function Attachments({ attachments }: { attachments: readonly Attachment[] }) {
  if (attachments.length === 0) return null;
  const images = attachments.filter((a) => a.image);
  const files = attachments.filter((a) => !a.image);
  return (
    <div className="attachments">
      {images.length > 0 && (
        <div className="images">
          {images.map((a) => (
            <ImageAttachment key={a.id} attachment={a} />
          ))}
        </div>
      )}
      {files.map((a) => (
        <FileAttachment key={a.id} attachment={a} />
      ))}
    </div>
  );
}
