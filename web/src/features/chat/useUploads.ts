//! Files waiting to go with the next message: each starts uploading as soon as it is picked,
//! dropped or pasted (so sending is quick), shows its progress, and can be removed (which
//! cancels its upload). A refused upload keeps the server's own text in English, which the
//! composer shows in an alert ("the file is over 25 MB"): it names the limit. The server speaks
//! only English, so in another language the refusal is worded by its code instead.
import { useCallback, useEffect, useRef, useState } from 'react';
import { httpStatus } from '@sotong/react';
import type { Attachment } from '../../api/types';
import { useApi } from '../../app/ApiContext';
import { describeError } from '../../api/errors';
import { getLocale, t } from '../../i18n';

/** One file on its way. */
export interface PendingUpload {
  key: string;
  name: string;
  size: number;
  /** 0 to 1. */
  progress: number;
  /** Set once the server stored it. */
  attachment?: Attachment;
  /** What went wrong (the server's text when it refused). */
  error?: string;
}

/** What `useUploads` gives the composer. */
export interface Uploads {
  uploads: readonly PendingUpload[];
  add(files: Iterable<File>): void;
  remove(key: string): void;
  /** Forgets every file (after a send); uploads still running are cancelled. */
  clear(): void;
  /** Attachments ready to send, in the order the files were added. */
  ready: Attachment[];
  /** Some upload is still running. */
  busy: boolean;
}

let counter = 0;

/** A file pasted from the clipboard often has a generic name: give it a readable one. */
function nameOf(file: File): string {
  if (file.name && file.name !== 'image.png') return file.name;
  const ext = file.type.split('/')[1] ?? 'png';
  return `pasted-image-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}.${ext}`;
}

/** Uploads of the room's composer; everything is cancelled when the room closes. */
export function useUploads(roomId: number): Uploads {
  const api = useApi();
  const [uploads, setUploads] = useState<PendingUpload[]>([]);
  const controllers = useRef(new Map<string, AbortController>());

  useEffect(() => {
    const running = controllers.current;
    return () => {
      for (const controller of running.values()) controller.abort();
      running.clear();
    };
  }, [roomId]);

  const update = (key: string, change: Partial<PendingUpload>) => setUploads((list) => list.map((u) => (u.key === key ? { ...u, ...change } : u)));

  const add = useCallback(
    (files: Iterable<File>) => {
      for (const file of files) {
        const key = `u${++counter}`;
        const name = nameOf(file);
        const controller = new AbortController();
        controllers.current.set(key, controller);
        setUploads((list) => [...list, { key, name, size: file.size, progress: 0 }]);
        api
          .uploadAttachment(roomId, file, name, { signal: controller.signal, onProgress: (sent, total) => update(key, { progress: total > 0 ? sent / total : 0 }) })
          .then(
            (attachment) => update(key, { attachment, progress: 1 }),
            (error: unknown) => {
              if ((error as { name?: string } | null)?.name === 'AbortError') return;
              const status = httpStatus(error);
              const message = status === undefined ? t('uploads.offline') : getLocale() === 'en' && error instanceof Error ? error.message : describeError(error, 'upload');
              update(key, { error: `${name}: ${message}` });
            },
          )
          .finally(() => controllers.current.delete(key));
      }
    },
    [api, roomId],
  );

  const remove = useCallback((key: string) => {
    controllers.current.get(key)?.abort();
    controllers.current.delete(key);
    setUploads((list) => list.filter((u) => u.key !== key));
  }, []);

  const clear = useCallback(() => {
    for (const controller of controllers.current.values()) controller.abort();
    controllers.current.clear();
    setUploads([]);
  }, []);

  const ready = uploads.flatMap((u) => (u.attachment ? [u.attachment] : []));
  const busy = uploads.some((u) => !u.attachment && !u.error);
  return { uploads, add, remove, clear, ready, busy };
}

/** `12 KB`, `3.4 MB`: a file size as a person reads it. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${String(bytes)} B`;
  if (bytes < 1024 * 1024) return `${String(Math.round(bytes / 1024))} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
