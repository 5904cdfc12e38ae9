import { describe, expect, it, vi } from 'vitest';
import { SubscriptionRegistry, type IncomingFrame, type SubscriptionTransport } from '../src';

function fakeTransport() {
  const log: string[] = [];
  const transport: SubscriptionTransport = {
    subscribe(destination, headers) {
      log.push(`SUBSCRIBE ${destination}${headers['since-seq'] ? ` since-seq=${headers['since-seq']}` : ''}`);
      return { confirmed: Promise.resolve(), unsubscribe: () => log.push(`UNSUBSCRIBE ${destination}`) };
    },
  };
  return { log, transport };
}

const frame = (destination: string): IncomingFrame => ({ destination, headers: {}, body: '{}' });
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('SubscriptionRegistry', () => {
  it('shares one SUBSCRIBE between subscribers; the last to leave unsubscribes', async () => {
    const registry = new SubscriptionRegistry(() => {});
    const { log, transport } = fakeTransport();
    void registry.attach(transport);
    const a = vi.fn();
    const b = vi.fn();
    const releaseA = registry.add('/topic/rooms/1', a);
    const releaseB = registry.add('/topic/rooms/1', b);
    expect(log).toEqual(['SUBSCRIBE /topic/rooms/1']);
    registry.dispatch(frame('/topic/rooms/1'));
    expect(a).toHaveBeenCalledTimes(1);
    expect(b).toHaveBeenCalledTimes(1);
    releaseA();
    releaseA();
    await tick();
    expect(log).toEqual(['SUBSCRIBE /topic/rooms/1']);
    releaseB();
    await tick();
    expect(log).toEqual(['SUBSCRIBE /topic/rooms/1', 'UNSUBSCRIBE /topic/rooms/1']);
    expect(registry.destinations()).toEqual([]);
  });

  it('keeps intents across a detach and replays them with fresh headers', () => {
    const registry = new SubscriptionRegistry(() => {});
    let since = 3;
    registry.add('/topic/rooms/1', () => {}, { headers: () => ({ 'since-seq': String(since) }) });
    registry.add('/user/queue/notifications', () => {});
    const first = fakeTransport();
    void registry.attach(first.transport);
    expect(first.log).toEqual(['SUBSCRIBE /topic/rooms/1 since-seq=3', 'SUBSCRIBE /user/queue/notifications']);
    registry.detach();
    since = 7;
    const second = fakeTransport();
    void registry.attach(second.transport);
    expect(second.log).toEqual(['SUBSCRIBE /topic/rooms/1 since-seq=7', 'SUBSCRIBE /user/queue/notifications']);
  });

  it('does not churn on release-then-add in one tick (StrictMode)', async () => {
    const registry = new SubscriptionRegistry(() => {});
    const { log, transport } = fakeTransport();
    void registry.attach(transport);
    const release = registry.add('/topic/rooms/1', () => {});
    release();
    registry.add('/topic/rooms/1', () => {});
    await tick();
    expect(log).toEqual(['SUBSCRIBE /topic/rooms/1']);
  });

  it('hands frames nobody listens to any more to the orphan handler', () => {
    const orphan = vi.fn();
    const registry = new SubscriptionRegistry(orphan);
    const release = registry.add('/topic/rooms/1', () => {});
    release();
    registry.dispatch(frame('/topic/rooms/1'));
    registry.dispatch(frame('/topic/rooms/2'));
    expect(orphan).toHaveBeenCalledTimes(2);
  });
});
