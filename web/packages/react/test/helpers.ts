//! Test helpers: a `SotongChatClient` wired to the fake broker with fast, deterministic backoff.
import { SotongChatClient, type SotongChatClientOptions } from '../src';
import type { FakeBroker } from './fakeBroker';
import type { User } from '../src/types';

/** Builds a client for `user` on `broker` (not started). */
export function clientFor(broker: FakeBroker, user: User, token: string, options: Partial<SotongChatClientOptions> = {}): SotongChatClient {
  return new SotongChatClient(optionsFor(broker, user, token, options));
}

/** `SotongChatClient` options for `user` on `broker`: fast backoff, no heart-beats, stable ids. */
export function optionsFor(broker: FakeBroker, user: User, token: string, options: Partial<SotongChatClientOptions> = {}): SotongChatClientOptions {
  let n = 0;
  return {
    me: user,
    token,
    api: broker.api(token),
    webSocketFactory: broker.factory(token),
    heartbeatMs: 0,
    backoff: { initialMs: 5, maxMs: 40, factor: 2, jitter: 0.5 },
    random: () => 0.5,
    toastMs: 0,
    newId: () => `cmid-${user.username}-${++n}`,
    ...options,
  };
}

/** Texts of the stored and pending messages of a room, in view order. */
export function texts(client: SotongChatClient, roomId: number): string[] {
  return client.messages.getSnapshot(roomId).messages.map((m) => m.text);
}
