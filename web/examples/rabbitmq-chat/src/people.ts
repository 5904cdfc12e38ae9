//! Who is who in the example, and where on the broker their rooms live. A real app gets the
//! user from its login and the rooms from its backend; here they are fixed so the example
//! needs nothing but RabbitMQ.
import type { StompDestinations, StompRoom, User } from '@sotong/react';

/** The three people of the example, by the `user` URL parameter. */
export const PEOPLE: Readonly<Record<string, User>> = {
  alice: { id: 1, username: 'alice', displayName: 'Alice' },
  bob: { id: 2, username: 'bob', displayName: 'Bob' },
  carol: { id: 3, username: 'carol', displayName: 'Carol' },
};

const { alice, bob, carol } = PEOPLE as Record<'alice' | 'bob' | 'carol', User>;

/** A room with everyone in it, before it is seen by one of them. */
interface RoomOfEveryone {
  id: number;
  kind: 'direct' | 'group';
  /** The group's name (a direct room is named after the other member instead). */
  name?: string;
  members: User[];
}

/** Room 1: Alice and Bob in private. Room 2: the three of them planning a weekend. */
const ROOMS: readonly RoomOfEveryone[] = [
  { id: 1, kind: 'direct', members: [alice, bob] },
  { id: 2, kind: 'group', name: 'Weekend trip', members: [alice, bob, carol] },
];

/** The rooms `me` is in, as `StompProvider` takes them: a direct room is named after the other member. */
export function roomsOf(me: User): StompRoom[] {
  return ROOMS.filter((room) => room.members.some((member) => member.id === me.id)).map((room) => ({
    id: room.id,
    kind: room.kind,
    name: room.name ?? room.members.find((member) => member.id !== me.id)?.displayName ?? 'Direct',
    members: room.members,
  }));
}

/**
 * Where a room's messages go on RabbitMQ: one topic per room, sent to and subscribed from.
 * The `run` prefix keeps separate runs (and test runs) apart on one broker. RabbitMQ maps
 * `/topic/a.b.c` to the `amq.topic` exchange with routing key `a.b.c`: dots separate words,
 * `*` and `#` as whole words are wildcards, and a `/` after `/topic/` is refused.
 */
export function destinationsFor(run: string): StompDestinations {
  const topic = (roomId: number) => `/topic/${run}.rooms.${String(roomId)}`;
  return { topic, send: topic };
}

/** What the URL asks for: `?user=alice&run=demo` (and optionally `&broker=ws://...`). */
export interface Session {
  me: User;
  run: string;
  /** The broker's Web-STOMP endpoint. */
  broker: string;
}

/** Letters, digits, `-` and `_`: safe as one word of a routing key. */
const RUN_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The session the URL asks for, or null when it names nobody known (the chooser is shown). */
export function sessionFromUrl(search: string): Session | null {
  const params = new URLSearchParams(search);
  const me = PEOPLE[params.get('user') ?? ''];
  const run = params.get('run') ?? 'demo';
  if (!me || !RUN_PATTERN.test(run)) return null;
  return { me, run, broker: params.get('broker') ?? 'ws://127.0.0.1:15674/ws' };
}
