//! Wire types of the sotong contract (HTTP JSON and STOMP event bodies), shared by the HTTP
//! client and the UI. They live in `@sotong/react`, whose engine parses them; the app
//! re-exports them so its own modules need not know where.
export type { Attachment, ErrorEvent, Message, NotificationEvent, Reaction, ReplyPreview, Room, RoomEvent, User } from '@sotong/react';

/** A room as a search hit names it (`GET /api/search`). */
export interface RoomSummary {
  id: number;
  kind: 'direct' | 'group';
  name: string;
}

/** One run of a search hit's snippet: text, marked when it matches the query. */
export interface SnippetPart {
  text: string;
  match: boolean;
}

/** One message found. */
export interface SearchHit {
  room: RoomSummary;
  message: import('@sotong/react').Message;
  snippet: SnippetPart[];
}

/** A page of search results, newest first; `next` is the opaque cursor of the next page. */
export interface SearchResults {
  results: SearchHit[];
  next: string | null;
}
