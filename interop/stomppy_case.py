"""One interop case driven by stomp.py 9 over its WebSocket transport (websocket-client), with
the fixture (see lib.mjs) as JSON in INTEROP_FIXTURE:

    python stomppy_case.py VERSION text|binary   the whole flow of README.md on that version
    python stomppy_case.py VERSION acks          two subscriptions to the room, client acks, ACK/NACK
    python stomppy_case.py defaults              stock options (1.2, heart-beats 0,0, ack auto), idle
    python stomppy_case.py unsupported           asks for STOMP 2.0 only: ERROR names the versions

Prints ``step: ...`` on stderr as it goes, one ``FAIL: ...`` line on stdout per failed check, and
exits 1 when any check failed. stompjs-case.mjs does the same with @stomp/stompjs.

stomp.py 9 ships a WebSocket connection for STOMP 1.2 only (``stomp.WSConnection``); for 1.0
and 1.1 this composes its own parts the way that class does: the ``WSTransport`` under
``Protocol10`` / ``Protocol11``. Binary frames are the transport's ``binary_mode``. Everything
else is stock: heart-beats ``(0, 0)``, ``ack="auto"``, the token as ``passcode`` (the contract
accepts it for clients that only send login/passcode).
"""

import contextlib
import json
import os
import sys
import threading
import time
from urllib.parse import urlparse

import stomp
from stomp.adapter.ws import WSTransport
from stomp.connect import BaseConnection
from stomp.protocol import Protocol10, Protocol11

ERRORS = "/user/queue/errors"
NOTIFICATIONS = "/user/queue/notifications"
WAIT_SECONDS = float(os.environ.get("INTEROP_WAIT_MS", "10000")) / 1000
failures = []


def step(name):
    print(f"step: {name}", file=sys.stderr, flush=True)


def check(ok, what):
    if not ok:
        failures.append(what)
        print(f"FAIL: {what}", flush=True)


def ws_connection_class(protocol):
    """STOMP 1.0 or 1.1 over stomp.py's WebSocket transport, put together as its 1.2 class is."""

    class WSConnection(BaseConnection, protocol):
        def __init__(self, host_and_ports, ws_path, binary_mode):
            transport = WSTransport(host_and_ports, ws_path=ws_path, binary_mode=binary_mode)
            BaseConnection.__init__(self, transport)
            protocol.__init__(self, transport)

        def connect(self, *args, **kwargs):
            self.transport.start()
            protocol.connect(self, *args, **kwargs)

        def disconnect(self, receipt=None, headers=None, **keyword_headers):
            protocol.disconnect(self, receipt, headers, **keyword_headers)

    return WSConnection


WSConnection10 = ws_connection_class(Protocol10)
WSConnection11 = ws_connection_class(Protocol11)


class Connection(stomp.ConnectionListener):
    """One user's stomp.py connection with everything it received, by route."""

    def __init__(self, fixture, user, version, frames):
        self.user = user
        self.version = version
        self.changed = threading.Condition()
        self.connected = None
        self.fatal = None
        self.disconnecting = False
        self.receipts = {}
        self.inboxes = {}
        self.subscription_ids = {}
        self.unrouted = []
        self.messages = []
        url = urlparse(fixture["wsUrl"])
        hosts = [(url.hostname, url.port)]
        binary = frames == "binary"
        if frames == "defaults":
            self.conn = stomp.WSConnection(hosts, ws_path=url.path)
        elif version == "1.2":
            self.conn = stomp.WSConnection(hosts, ws_path=url.path, binary_mode=binary)
        elif version == "1.1":
            self.conn = WSConnection11(hosts, url.path, binary)
        else:
            self.conn = WSConnection10(hosts, url.path, binary)
        self.conn.set_listener("interop", self)

    # Listener callbacks run on stomp.py's receiver thread.

    def _record(self, update):
        with self.changed:
            update()
            self.changed.notify_all()

    def on_connected(self, frame):
        self._record(lambda: setattr(self, "connected", frame))

    def on_error(self, frame):
        message = frame.headers.get("message")
        self._record(lambda: setattr(self, "fatal", self.fatal or f"ERROR frame: {message} {frame.body}"))

    def on_disconnected(self):
        def update():
            # stomp.py closes the socket on the DISCONNECT receipt before it hands the receipt on.
            if not self.disconnecting:
                self.fatal = self.fatal or "socket closed before the DISCONNECT receipt"

        self._record(update)

    def on_receipt(self, frame):
        # What had arrived by the RECEIPT: the sender's own copy must be there (contract rule 1).
        def update():
            frame.seen_before = self.snapshot()
            self.receipts[frame.headers.get("receipt-id")] = frame

        self._record(update)

    def snapshot(self):
        """The seqs received so far, by destination (a receipt keeps the one taken when it came)."""
        return {destination: seqs_of(inbox) for destination, inbox in self.inboxes.items()}

    def on_message(self, frame):
        destination = frame.headers.get("destination")

        def update():
            self.messages.append(frame)
            inbox = self.inboxes.get(destination)
            entry = {"headers": frame.headers, "body": json.loads(frame.body)}
            (inbox if inbox is not None else self.unrouted).append(entry)

        self._record(update)

    def watch(self, what, predicate, seconds):
        """True once predicate() holds, False after ``seconds``; raises on a fatal event."""
        deadline = time.monotonic() + seconds
        with self.changed:
            while True:
                if self.fatal:
                    raise RuntimeError(f"{what}: {self.fatal}")
                if predicate():
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)

    def wait_for(self, what, predicate):
        """Returns once predicate() holds; raises after WAIT_SECONDS or on a fatal event."""
        if not self.watch(what, predicate, WAIT_SECONDS):
            raise RuntimeError(f"timed out after {WAIT_SECONDS:g} s waiting for {what}")

    def connect(self):
        self.conn.connect(self.user["username"], self.user["token"], wait=False)
        self.wait_for(f"{self.user['username']}: CONNECTED", lambda: self.connected is not None)
        negotiated = self.connected.headers.get("version")
        check(
            negotiated == self.version or (self.version == "1.0" and negotiated is None),
            f"{self.user['username']}: CONNECTED version is {negotiated}, asked for {self.version}",
        )

    def wait_receipt(self, receipt, note=None):
        """Waits for the RECEIPT; an error event for the frame (same receipt-id) fails at once."""

        def refused():
            errors = self.inboxes.get(ERRORS, [])
            return next((m["body"] for m in errors if m["headers"].get("receipt-id") == receipt), None)

        what = f"{self.user['username']}: RECEIPT {receipt}" + (f" ({note})" if note else "")
        self.wait_for(what, lambda: receipt in self.receipts or refused())
        if receipt not in self.receipts:
            raise RuntimeError(f"{self.user['username']}: {receipt} refused with error event {refused()}")
        return self.receipts[receipt]

    def subscribe(self, destination, headers=None):
        """SUBSCRIBE with a receipt (1.0: without an id, as 1.0 allows); returns the inbox."""
        self.inboxes[destination] = []
        receipt = f"sub-{destination}"
        extra = dict(headers or {}, receipt=receipt)
        if self.version == "1.0":
            self.conn.subscribe(destination, headers=extra)
            self.wait_receipt(receipt, "the SUBSCRIBE has no id, as 1.0 allows")
        else:
            self.subscription_ids[destination] = f"sub-{len(self.subscription_ids)}"
            self.conn.subscribe(destination, self.subscription_ids[destination], headers=extra)
            self.wait_receipt(receipt)
        return self.inboxes[destination]

    def unsubscribe(self, destination):
        """UNSUBSCRIBE with a receipt (1.0: by destination, as 1.0 allows)."""
        receipt = f"unsub-{destination}"
        if self.version == "1.0":
            self.conn.unsubscribe(destination=destination, headers={"receipt": receipt})
            self.wait_receipt(receipt, "the UNSUBSCRIBE names the destination, as 1.0 allows")
        else:
            self.conn.unsubscribe(self.subscription_ids[destination], headers={"receipt": receipt})
            self.wait_receipt(receipt)

    def send(self, room_id, text, client_msg_id):
        receipt = f"send-{client_msg_id}"
        self.conn.send(
            f"/app/rooms/{room_id}",
            json.dumps({"text": text}),
            content_type="application/json",
            headers={"client-msg-id": client_msg_id, "receipt": receipt},
        )
        return self.wait_receipt(receipt)

    def disconnect(self):
        self.disconnecting = True
        self.conn.disconnect(receipt="bye")
        receipt = self.wait_receipt("bye")
        check(
            receipt.headers.get("receipt-id") == "bye",
            f"{self.user['username']}: DISCONNECT RECEIPT has receipt-id {receipt.headers.get('receipt-id')}",
        )

    def close(self):
        try:
            self.conn.transport.disconnect_socket()
        except Exception:  # noqa: BLE001 - best effort after the checks are done
            pass


@contextlib.contextmanager
def case(*connections):
    """One case's steps: a RuntimeError is a failed check; the connections close at the end."""
    try:
        yield
    except RuntimeError as error:
        check(False, str(error))
    finally:
        for connection in connections:
            connection.close()


def seqs_of(inbox):
    return [m["body"]["message"]["seq"] for m in inbox if m["body"].get("type") == "message"]


def check_receipt(receipt, seq, who, *routes):
    """The RECEIPT of a SEND: the stored seq, a message-id, and the own copy on each route before it."""
    check(receipt.headers.get("seq") == str(seq), f"{who}: RECEIPT seq is {receipt.headers.get('seq')}, expected {seq}")
    check(bool(receipt.headers.get("message-id")), f"{who}: RECEIPT has no message-id")
    for route in routes:
        check(
            seq in receipt.seen_before.get(route, []),
            f"{who}: the RECEIPT for seq {seq} came before the own copy on {route} (contract rule 1: the copy comes first)",
        )


def run(fixture, version, frames):
    room_id = fixture["roomId"]
    topic = f"/topic/rooms/{room_id}"
    alice, bob = fixture["alice"], fixture["bob"]
    a = Connection(fixture, alice, version, frames)
    b = Connection(fixture, bob, version, frames)
    with case(a, b):
        step("both users connect and subscribe to their notifications, alice also to her errors")
        a.connect()
        b.connect()
        errors = a.subscribe(ERRORS)
        notifications = a.subscribe(NOTIFICATIONS)
        bob_notifications = b.subscribe(NOTIFICATIONS)

        first_from_bob = fixture["storedBefore"] + 1
        step("bob's message reaches alice as a notification while she does not view the room")
        check_receipt(b.send(room_id, "bob one 소통", f"{bob['username']}-1"), first_from_bob, "bob", NOTIFICATIONS)
        a.wait_for(f"notification of seq {first_from_bob}", lambda: first_from_bob in seqs_of(notifications))
        notified = next(m["body"] for m in notifications if m["body"].get("message", {}).get("seq") == first_from_bob)
        check(notified.get("roomId") == room_id, f"notification roomId is {notified.get('roomId')}, expected {room_id}")
        check(notified["message"]["text"] == "bob one 소통", f"notification text is {notified['message']['text']!r}")
        check(
            notified["message"]["sender"]["username"] == bob["username"],
            f"notification sender is {notified['message']['sender']['username']}",
        )

        step("alice subscribes to the room with since-seq: 1 and gets the stored messages after 1, in order")
        room = a.subscribe(topic, {"since-seq": "1"})
        replayed = list(range(2, first_from_bob + 1))
        a.wait_for(f"replay of seq {replayed}", lambda: len(seqs_of(room)) >= len(replayed))
        check(seqs_of(room) == replayed, f"since-seq 1 replayed seq {seqs_of(room)}, expected {replayed}")

        own = first_from_bob + 1
        step("alice sends with a receipt: the RECEIPT carries seq, her message comes back once on the topic")
        check_receipt(a.send(room_id, "alice live 소통", f"{alice['username']}-1"), own, "alice", topic)
        a.wait_for(f"own message seq {own} on the topic", lambda: own in seqs_of(room))
        echoed = next(m["body"]["message"] for m in room if m["body"].get("message", {}).get("seq") == own)
        check(echoed["text"] == "alice live 소통", f"own message text is {echoed['text']!r}")
        check(echoed.get("clientMsgId") == f"{alice['username']}-1", f"own message clientMsgId is {echoed.get('clientMsgId')}")

        second_from_bob = own + 1
        step("bob's second message reaches alice on the room topic, which she now views")
        check_receipt(b.send(room_id, "bob two", f"{bob['username']}-2"), second_from_bob, "bob", NOTIFICATIONS)
        a.wait_for(f"topic message seq {second_from_bob}", lambda: second_from_bob in seqs_of(room))

        third_from_bob = second_from_bob + 1
        step("alice unsubscribes from the room; bob's third message comes as a notification again")
        a.unsubscribe(topic)
        check_receipt(b.send(room_id, "bob three", f"{bob['username']}-3"), third_from_bob, "bob", NOTIFICATIONS)
        a.wait_for(f"notification of seq {third_from_bob}", lambda: third_from_bob in seqs_of(notifications))

        step("both disconnect with a receipt")
        a.disconnect()
        b.disconnect()

        step("every message reached alice exactly once, on the route it should")
        expected_topic = replayed + [own, second_from_bob]
        check(seqs_of(room) == expected_topic, f"room topic got seq {seqs_of(room)}, expected {expected_topic}")
        expected_notified = [first_from_bob, third_from_bob]
        check(
            seqs_of(notifications) == expected_notified,
            f"notifications got seq {seqs_of(notifications)}, expected {expected_notified}",
        )
        # bob never views the room: every live message, his own included, is a notification to him.
        expected_for_bob = [first_from_bob, own, second_from_bob, third_from_bob]
        check(
            seqs_of(bob_notifications) == expected_for_bob,
            f"bob's notifications got seq {seqs_of(bob_notifications)}, expected {expected_for_bob}",
        )
        for message in room:
            headers = message["headers"]
            check(
                headers.get("seq") == str(message["body"]["message"]["seq"]),
                f"room MESSAGE header seq {headers.get('seq')} differs from the body's {message['body']['message']['seq']}",
            )
            if version != "1.0":
                check(
                    headers.get("subscription") == a.subscription_ids[topic],
                    f"room MESSAGE subscription is {headers.get('subscription')}, expected {a.subscription_ids[topic]}",
                )
        check(not errors, f"error events: {[m['body'] for m in errors]}")
        check(not a.unrouted, f"MESSAGE frames for unknown destinations: {[m['headers'] for m in a.unrouted]}")


def run_defaults(fixture):
    """``stomp.WSConnection`` with stock options (heart-beats 0,0, ack auto) stays idle, then sends."""
    room_id = fixture["roomId"]
    topic = f"/topic/rooms/{room_id}"
    alice = fixture["alice"]
    idle_seconds = float(os.environ.get("INTEROP_IDLE_MS", "25000")) / 1000
    a = Connection(fixture, alice, "1.2", "defaults")
    with case(a):
        step("alice connects with stock options and subscribes to her errors and the room")
        a.connect()
        errors = a.subscribe(ERRORS)
        room = a.subscribe(topic)
        first = fixture["storedBefore"] + 1
        check_receipt(a.send(room_id, "before the pause", f"{alice['username']}-1"), first, "alice", topic)
        a.wait_for(f"own message seq {first} on the topic", lambda: first in seqs_of(room))

        step(f"alice stays idle for {idle_seconds:g} s, longer than the server waits for a silent client")
        a.watch("idle", lambda: False, idle_seconds)

        step("alice is still connected: a send gets its receipt and comes back on the topic")
        second = first + 1
        check_receipt(a.send(room_id, "after the pause", f"{alice['username']}-2"), second, "alice", topic)
        a.wait_for(f"own message seq {second} on the topic", lambda: second in seqs_of(room))
        a.disconnect()
        check(seqs_of(room) == [first, second], f"room topic got seq {seqs_of(room)}, expected {[first, second]}")
        check(not errors, f"error events: {[m['body'] for m in errors]}")


def run_acks(fixture, version):
    """Two subscriptions to the room on one connection, in the client ack modes, with ACK/NACK."""
    room_id = fixture["roomId"]
    topic = f"/topic/rooms/{room_id}"
    alice = fixture["alice"]
    # STOMP 1.0 knows ack modes auto and client only, and has no NACK.
    modes = ["client", "auto"] if version == "1.0" else ["client-individual", "client"]
    verdict = "ack" if version == "1.0" else "nack"
    ids = ["room-0", "room-1"]
    a = Connection(fixture, alice, version, "text")

    def seqs(index):
        return [int(m.headers["seq"]) for m in a.messages if m.headers.get("subscription") == ids[index]]

    a.snapshot = lambda: {0: seqs(0), 1: seqs(1)}

    def message(index, seq):
        return next(m for m in a.messages if m.headers.get("subscription") == ids[index] and int(m.headers["seq"]) == seq)

    def settle(index, seq, how):
        """ACKs or NACKs one MESSAGE as this version does, with a receipt."""
        frame = message(index, seq)
        receipt = f"{how}-{index}-{seq}"
        if version == "1.2":
            check(bool(frame.headers.get("ack")), f"ack: {modes[index]} MESSAGE has no ack header (STOMP 1.2)")
            getattr(a.conn, how)(frame.headers.get("ack"), receipt=receipt)
        elif version == "1.1":
            getattr(a.conn, how)(frame.headers["message-id"], ids[index], receipt=receipt)
        else:
            a.conn.ack(frame.headers["message-id"], receipt=receipt)
        a.wait_receipt(receipt)

    with case(a):
        step(f"alice connects and subscribes twice to the room, ack: {modes[0]} and ack: {modes[1]}")
        a.connect()
        errors = a.subscribe(ERRORS)
        a.inboxes[topic] = []
        for index, ack in enumerate(modes):
            a.conn.subscribe(topic, ids[index], ack=ack, headers={"receipt": f"sub-room-{index}"})
            a.wait_receipt(f"sub-room-{index}")

        first = fixture["storedBefore"] + 1
        step("alice sends: one MESSAGE per subscription, and each client-ack MESSAGE can be ACKed")
        check_receipt(a.send(room_id, "to both subscriptions", f"{alice['username']}-1"), first, "alice", 0, 1)
        for index in (0, 1):
            a.wait_for(f"seq {first} on subscription {ids[index]} (ack: {modes[index]})", lambda: first in seqs(index))
        for index, ack in enumerate(modes):
            if ack != "auto":
                settle(index, first, "ack")

        second = first + 1
        step(f"alice sends again: {verdict.upper()} on ack: {modes[0]}, ACK on ack: {modes[1]}")
        check_receipt(a.send(room_id, f"{verdict} me", f"{alice['username']}-2"), second, "alice", 0, 1)
        for index in (0, 1):
            a.wait_for(f"seq {second} on subscription {ids[index]}", lambda: second in seqs(index))
        settle(0, second, verdict)
        if modes[1] != "auto":
            settle(1, second, "ack")

        a.disconnect()
        check(seqs(1) == [first, second], f"subscription 1 (ack: {modes[1]}) got seq {seqs(1)}, expected {[first, second]}")
        # NACK does not redeliver (docs/contract.md, ack modes).
        check(seqs(0) == [first, second], f"subscription 0 (ack: {modes[0]}) got seq {seqs(0)}, expected {[first, second]}")
        check(not errors, f"error events: {[m['body'] for m in errors]}")


def run_unsupported(fixture):
    """A client that asks only for STOMP 2.0 gets an ERROR naming the versions, then a close."""
    alice = fixture["alice"]
    a = Connection(fixture, alice, "1.2", "text")
    # stomp.py writes its class's version into accept-version; this one asks for 2.0 only.
    a.conn.version = "2.0"
    errors = []
    a.on_error = lambda frame: a._record(lambda: errors.append(frame))
    a.disconnecting = True  # the server closes the socket after the ERROR
    with case(a):
        step("alice asks for STOMP 2.0 only: ERROR with a version header naming 1.0, 1.1 and 1.2, then close")
        a.conn.connect(alice["username"], alice["token"], wait=False)
        a.wait_for("an ERROR frame", lambda: errors or a.connected is not None)
        check(a.connected is None, "CONNECTED to a client that asked for STOMP 2.0 only")
        if errors:
            offered = [v.strip() for v in errors[0].headers.get("version", "").split(",")]
            check(
                all(v in offered for v in ("1.0", "1.1", "1.2")),
                f"ERROR version header is {errors[0].headers.get('version')!r}, expected the supported versions 1.0,1.1,1.2",
            )
        a.wait_for("the socket to close after the ERROR", lambda: not a.conn.transport.is_connected() and not a.conn.transport.running)


def main():
    args = sys.argv[1:]
    if args == ["unsupported"]:
        run_unsupported(json.loads(os.environ["INTEROP_FIXTURE"]))
        return 0 if not failures else 1
    if args == ["defaults"]:
        run_defaults(json.loads(os.environ["INTEROP_FIXTURE"]))
        return 0 if not failures else 1
    if len(args) != 2 or args[0] not in ("1.0", "1.1", "1.2") or args[1] not in ("text", "binary", "acks"):
        print("usage: INTEROP_FIXTURE=JSON python stomppy_case.py 1.0|1.1|1.2 text|binary|acks | defaults", file=sys.stderr)
        return 2
    fixture = json.loads(os.environ["INTEROP_FIXTURE"])
    if args[1] == "acks":
        run_acks(fixture, args[0])
    else:
        run(fixture, args[0], args[1])
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
