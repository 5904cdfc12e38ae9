//! The chat's state and its one transition function: [`App::update`] takes an [`Event`] (a
//! key, or something the server said) and returns the [`Effect`]s to carry out (subscribe,
//! send, mark read, …). No I/O and no clock here, so every rule is a plain unit test.
//!
//! Routing follows visibility, as in the web app: a message of the open room is appended to
//! its timeline (and the room is marked read); a message of any other room bumps that room's
//! unread count and shows in the status line. Never both, whichever stream brought it: the SDK
//! delivers the open room's messages on its topic and the others as notifications, but during
//! a room switch either may briefly carry the other's, and the rule here still holds.
//!
//! A message typed here shows at once as pending. The SDK tells its `client-msg-id` before
//! sending ([`Event::Sending`]); the stored copy carries the same id, so whichever comes first,
//! the copy (on the room stream, in a history page, or as a notification) or the receipt
//! ([`Event::Sent`]), replaces the pending line, and the other finds nothing left to do: the
//! message is never on screen twice.
//!
//! Commands act on a message of the open room by its number (its `seq`, shown before it):
//! `/reply N text`, `/edit N text`, `/delete N`, `/react N 👍` (again to take it back), and
//! `/help`. A line starting with `//` is sent as text with one `/` less. They are parsed by
//! [`parse_command`], a pure function.

use sotong_client::{
    Message, Notification, ReplyPreview, Room, RoomId, RoomKind, Sent, Seq, State, User,
};
use std::collections::BTreeMap;

/// Messages per history page (the server's default page).
pub const PAGE_SIZE: u32 = 50;
/// How many messages PageUp / PageDown scroll by.
pub const SCROLL_STEP: usize = 10;

/// A key press, reduced to what the chat tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A printable character.
    Char(char),
    /// A letter with Ctrl held (`Ctrl('n')`).
    Ctrl(char),
    /// Enter / Return.
    Enter,
    /// Backspace.
    Backspace,
    /// Escape.
    Esc,
    /// Tab.
    Tab,
    /// Shift-Tab.
    BackTab,
    /// Arrow up.
    Up,
    /// Arrow down.
    Down,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// End.
    End,
}

/// Something that happened: input from the person or news from the server.
#[derive(Debug, Clone)]
pub enum Event {
    /// A key press.
    Key(Key),
    /// The connection state changed.
    Connection(State),
    /// The room list (`GET /api/rooms`): latest activity first, with unread counts.
    Rooms(Vec<Room>),
    /// A page of a room's history, ascending by `seq`.
    History {
        /// The room.
        room: RoomId,
        /// The messages.
        messages: Vec<Message>,
        /// `true` when the server has nothing older than this page.
        complete: bool,
    },
    /// A message on the open room's subscription.
    RoomMessage(Message),
    /// An edit or delete of a message of the open room: the message's whole current state (a
    /// tombstone when deleted).
    RoomChanged(Message),
    /// An event of a room this client does not subscribe to.
    Notification(Notification),
    /// [`Effect::Send`] is on its way under this `client-msg-id`: the stored copy will carry
    /// it. Comes before anything the send can cause.
    Sending {
        /// The send's local id.
        local: u64,
        /// The idempotency key the SDK sends it with (also on retries).
        client_msg_id: String,
    },
    /// The answer to [`Effect::Send`].
    Sent {
        /// The send's local id.
        local: u64,
        /// The stored message's `seq` and id, or why it was refused.
        result: Result<Sent, String>,
        /// The local time of the receipt (RFC 3339), shown until the server's copy arrives.
        at: String,
    },
    /// The answer to [`Effect::DirectRoom`].
    DirectRoom(Result<Room, String>),
    /// A request failed or a stream ended; shown in the status line.
    Failed(String),
}

/// Something for the [`Session`](crate::session::Session) to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Load the room list.
    LoadRooms,
    /// Make `room` the open room: subscribe to it (dropping the previous room's subscription)
    /// and load its newest page.
    Open(RoomId),
    /// Load the page of `room` just before `before`.
    LoadOlder {
        /// The room.
        room: RoomId,
        /// The oldest `seq` held.
        before: Seq,
    },
    /// Post `text` to `room`; answer with [`Event::Sent`] carrying `local`.
    Send {
        /// The room.
        room: RoomId,
        /// The local id of this send.
        local: u64,
        /// The text.
        text: String,
    },
    /// Post `text` to `room` as a reply to message `reply_to`; answer with [`Event::Sent`]
    /// carrying `local`, as for [`Effect::Send`].
    Reply {
        /// The room.
        room: RoomId,
        /// The local id of this send.
        local: u64,
        /// The answered message's `seq`.
        reply_to: Seq,
        /// The text.
        text: String,
    },
    /// Replace the text of this user's message `seq` of `room`; answer with
    /// [`Event::RoomChanged`] (or [`Event::Failed`]).
    Edit {
        /// The room.
        room: RoomId,
        /// The message.
        seq: Seq,
        /// The new text.
        text: String,
    },
    /// Delete this user's message `seq` of `room`; answer as [`Effect::Edit`].
    Delete {
        /// The room.
        room: RoomId,
        /// The message.
        seq: Seq,
    },
    /// Add (`add`) or take back this user's reaction `emoji` to message `seq` of `room`;
    /// answer as [`Effect::Edit`].
    React {
        /// The room.
        room: RoomId,
        /// The message.
        seq: Seq,
        /// The emoji.
        emoji: String,
        /// `true` adds it, `false` takes it back.
        add: bool,
    },
    /// Mark `room` read up to `seq`.
    MarkRead {
        /// The room.
        room: RoomId,
        /// The read mark.
        seq: Seq,
    },
    /// Find or create the direct room with `username`; answer with [`Event::DirectRoom`].
    DirectRoom {
        /// The other user.
        username: String,
    },
    /// Leave the chat.
    Quit,
}

/// One line of the room list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomEntry {
    /// The room.
    pub id: RoomId,
    /// Direct or group.
    pub kind: RoomKind,
    /// The group's name, or the other member's display name.
    pub name: String,
    /// Messages from others not read yet (always 0 for the open room).
    pub unread: u64,
    /// The newest `seq` known.
    pub last_seq: Seq,
    /// The read mark known to the server.
    pub last_read: Seq,
    /// Unread messages that mention this user: the list shows `@` beside the count.
    pub unread_mentions: u64,
}

impl RoomEntry {
    fn from_room(room: &Room) -> Self {
        RoomEntry {
            id: room.id,
            kind: room.kind,
            name: room.name.clone(),
            unread: room.unread,
            last_seq: room.last_message.as_ref().map_or(Seq(0), |m| m.seq),
            last_read: room.last_read_seq,
            unread_mentions: room.unread_mentions,
        }
    }
}

/// The commands of the composer, `/name arguments`, acting on the open room's message number
/// `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/reply N text`: answer message N.
    Reply {
        /// The answered message.
        seq: Seq,
        /// The reply's text.
        text: String,
    },
    /// `/edit N text`: replace the text of one's own message N.
    Edit {
        /// The message.
        seq: Seq,
        /// The new text.
        text: String,
    },
    /// `/delete N`: delete one's own message N for everyone.
    Delete {
        /// The message.
        seq: Seq,
    },
    /// `/react N emoji`: add the reaction, or take it back when it is there.
    React {
        /// The message.
        seq: Seq,
        /// The emoji.
        emoji: String,
    },
    /// `/help`: list the commands.
    Help,
}

/// What `/help` shows in the status line.
pub const COMMANDS_HELP: &str =
    "/reply N text  /edit N text  /delete N  /react N 👍  (N: the number before a message)";

/// Reads a composer line as a command: `None` when it is text to send (it does not start
/// with `/`, or starts with `//`), `Some(Err(why))` for a command that does not parse.
pub fn parse_command(line: &str) -> Option<Result<Command, String>> {
    let rest = line.trim().strip_prefix('/')?;
    if rest.starts_with('/') {
        return None;
    }
    let (name, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let args = args.trim();
    let number = |args: &str| -> Result<(Seq, String), String> {
        let (n, text) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
        match n.trim_start_matches('#').parse::<u64>() {
            Ok(seq) if seq > 0 => Ok((Seq(seq), text.trim().to_string())),
            _ => Err(format!("/{name} needs a message number: {COMMANDS_HELP}")),
        }
    };
    let needs = |what: &str| Err(format!("/{name} needs {what}"));
    Some(match name {
        "help" => Ok(Command::Help),
        "reply" | "edit" => number(args).and_then(|(seq, text)| match (name, text) {
            (_, text) if text.is_empty() => needs("a number and a text"),
            ("reply", text) => Ok(Command::Reply { seq, text }),
            (_, text) => Ok(Command::Edit { seq, text }),
        }),
        "delete" => number(args).and_then(|(seq, rest)| {
            if rest.is_empty() {
                Ok(Command::Delete { seq })
            } else {
                needs("just a number")
            }
        }),
        "react" => number(args).and_then(|(seq, emoji)| {
            if emoji.is_empty() {
                needs("a number and an emoji")
            } else {
                Ok(Command::React { seq, emoji })
            }
        }),
        _ => Err(format!("unknown command /{name}: {COMMANDS_HELP}")),
    })
}

/// The open room's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRoom {
    /// The room.
    pub id: RoomId,
    /// Stored messages by `seq`: ordered, one per `seq`.
    pub messages: BTreeMap<Seq, Message>,
    /// How many timeline items are scrolled out of view below (0: the newest is visible).
    pub scroll: usize,
    /// An older page has been asked for and not arrived yet.
    pub loading: bool,
    /// The first history page has arrived.
    pub loaded: bool,
    /// The oldest message is held: there is nothing more to load.
    pub complete: bool,
}

impl OpenRoom {
    fn new(id: RoomId) -> Self {
        OpenRoom {
            id,
            messages: BTreeMap::new(),
            scroll: 0,
            loading: true,
            loaded: false,
            complete: false,
        }
    }

    /// Adds a message unless its `seq` is held already; says whether it was new. A copy of a
    /// held message with a higher `rev` (a history page read after an edit) replaces it.
    fn insert(&mut self, message: Message) -> bool {
        if let Some(held) = self.messages.get_mut(&message.seq) {
            if message.rev > held.rev {
                *held = message;
            }
            return false;
        }
        self.messages.insert(message.seq, message);
        true
    }

    /// An edit or delete: replaces the held message when the change is newer than it (changes
    /// may come twice, or out of order, around a reconnect). A change to a message not held is
    /// left for the history page that brings the message in its current state.
    fn apply_change(&mut self, message: Message) {
        if let Some(held) = self.messages.get_mut(&message.seq) {
            if message.rev > held.rev {
                *held = message;
            }
        }
    }
}

/// Where a send stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendState {
    /// Waiting for the server's receipt.
    Sending,
    /// Refused; the reason.
    Failed(String),
}

/// A message typed here that has no `seq` yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSend {
    /// Local id, for matching the receipt.
    pub local: u64,
    /// The `client-msg-id` it is sent with, once the SDK has said ([`Event::Sending`]): the
    /// stored copy carries it, which is how the copy replaces this line.
    pub client_msg_id: Option<String>,
    /// The room.
    pub room: RoomId,
    /// The text.
    pub text: String,
    /// The message it answers, for a reply.
    pub reply_to: Option<Seq>,
    /// Sending or failed.
    pub state: SendState,
}

/// One line of the open room's timeline, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimelineItem<'a> {
    /// A stored message.
    Message(&'a Message),
    /// A message typed here, not stored (yet).
    Pending(&'a PendingSend),
}

/// What the status line shows besides the connection state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The latest message of another room, as "alice in Team: hi"; it goes when that room
    /// is opened.
    Message {
        /// The room it came from.
        room: RoomId,
        /// What the status line says.
        text: String,
    },
    /// Something went wrong.
    Error(String),
    /// Neutral information.
    Info(String),
}

/// What the bottom input line is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Typing a message for the open room.
    Compose,
    /// Typing the username of a new direct conversation.
    Direct,
}

/// The whole chat state.
#[derive(Debug, Clone)]
pub struct App {
    me: User,
    rooms: Vec<RoomEntry>,
    open: Option<OpenRoom>,
    pending: Vec<PendingSend>,
    next_local: u64,
    connection: State,
    notice: Option<Notice>,
    input: String,
    mode: Mode,
}

impl App {
    /// A fresh state for the signed-in user `me`, connected, with no rooms loaded yet.
    pub fn new(me: User) -> Self {
        App {
            me,
            rooms: Vec::new(),
            open: None,
            pending: Vec::new(),
            next_local: 0,
            connection: State::Connected,
            notice: None,
            input: String::new(),
            mode: Mode::Compose,
        }
    }

    /// The effects to start with: load the room list.
    pub fn start(&self) -> Vec<Effect> {
        vec![Effect::LoadRooms]
    }

    /// The signed-in user.
    pub fn me(&self) -> &User {
        &self.me
    }

    /// The room list, latest activity first.
    pub fn rooms(&self) -> &[RoomEntry] {
        &self.rooms
    }

    /// A room of the list.
    pub fn room(&self, id: RoomId) -> Option<&RoomEntry> {
        self.rooms.iter().find(|r| r.id == id)
    }

    /// The open room, if any.
    pub fn open_room(&self) -> Option<&OpenRoom> {
        self.open.as_ref()
    }

    /// The connection state.
    pub fn connection(&self) -> State {
        self.connection
    }

    /// The latest notification or error.
    pub fn notice(&self) -> Option<&Notice> {
        self.notice.as_ref()
    }

    /// The text being typed.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What the text being typed is for.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// Sends of every room still waiting for a receipt, or refused.
    pub fn pending(&self) -> &[PendingSend] {
        &self.pending
    }

    /// The open room's timeline, oldest first: stored messages by `seq`, then this client's
    /// pending and failed sends in the order they were typed.
    pub fn timeline(&self) -> Vec<TimelineItem<'_>> {
        let Some(open) = &self.open else {
            return Vec::new();
        };
        open.messages
            .values()
            .map(TimelineItem::Message)
            .chain(
                self.pending
                    .iter()
                    .filter(|p| p.room == open.id)
                    .map(TimelineItem::Pending),
            )
            .collect()
    }

    /// Whether `message` was posted by the signed-in user.
    pub fn is_mine(&self, message: &Message) -> bool {
        message.sender.id == self.me.id
    }

    /// Applies `event` and returns what to do about it.
    pub fn update(&mut self, event: Event) -> Vec<Effect> {
        let mut effects = Vec::new();
        match event {
            Event::Key(key) => self.on_key(key, &mut effects),
            Event::Connection(state) => {
                // Rule 7 of the contract: after a reconnect the room list is the snapshot of
                // unread counts (notifications are not replayed); the open room resumes on its
                // own, through the SDK's since-seq.
                if state == State::Connected && self.connection == State::Reconnecting {
                    effects.push(Effect::LoadRooms);
                }
                self.connection = state;
            }
            Event::Rooms(rooms) => self.on_rooms(&rooms, &mut effects),
            Event::History {
                room,
                messages,
                complete,
            } => self.on_history(room, messages, complete, &mut effects),
            Event::RoomMessage(message) => self.on_message(message, None, &mut effects),
            Event::RoomChanged(message) => self.on_changed(message),
            Event::Notification(notification) => match notification {
                // `unread` is `None` for a message the SDK passed on as its room was closed:
                // then this message counts one, as on the room stream.
                Notification::Message {
                    message, unread, ..
                } => self.on_message(message, unread, &mut effects),
                Notification::Room(room) => {
                    self.upsert_room(&room);
                }
                Notification::Read { room_id, seq } => {
                    if let Some(entry) = self.rooms.iter_mut().find(|r| r.id == room_id) {
                        entry.last_read = entry.last_read.max(seq);
                        if seq >= entry.last_seq {
                            entry.unread = 0;
                            entry.unread_mentions = 0;
                        }
                    }
                }
                // Events may have been lost: reload the rooms (counts, last messages).
                Notification::Resync { .. } => effects.push(Effect::LoadRooms),
                // A change in a room that is not open: nothing on screen shows that message.
                Notification::Changed { message, .. } => self.on_changed(message),
                Notification::User(user) => self.on_user(user, &mut effects),
                _ => {}
            },
            Event::Sending {
                local,
                client_msg_id,
            } => {
                if let Some(pending) = self.pending.iter_mut().find(|p| p.local == local) {
                    pending.client_msg_id = Some(client_msg_id);
                }
            }
            Event::Sent { local, result, at } => self.on_sent(local, result, at),
            Event::DirectRoom(Ok(room)) => {
                if matches!(self.notice, Some(Notice::Info(_))) {
                    self.notice = None;
                }
                self.upsert_room(&room);
                self.open_room_id(room.id, &mut effects);
            }
            Event::DirectRoom(Err(why)) => self.notice = Some(Notice::Error(why)),
            Event::Failed(why) => {
                if let Some(open) = &mut self.open {
                    open.loading = false;
                }
                self.notice = Some(Notice::Error(why));
            }
        }
        effects
    }

    fn on_key(&mut self, key: Key, effects: &mut Vec<Effect>) {
        if key == Key::Ctrl('c') {
            effects.push(Effect::Quit);
            return;
        }
        if self.mode == Mode::Direct {
            match key {
                Key::Esc => {
                    self.mode = Mode::Compose;
                    self.input.clear();
                }
                Key::Enter => {
                    let username = self.input.trim().to_lowercase();
                    self.mode = Mode::Compose;
                    self.input.clear();
                    if !username.is_empty() {
                        self.notice =
                            Some(Notice::Info(format!("Opening a chat with {username}…")));
                        effects.push(Effect::DirectRoom { username });
                    }
                }
                Key::Char(c) => self.input.push(c),
                Key::Backspace => {
                    self.input.pop();
                }
                Key::Ctrl('u') => self.input.clear(),
                _ => {}
            }
            return;
        }
        match key {
            Key::Esc => effects.push(Effect::Quit),
            Key::Char(c) => self.input.push(c),
            Key::Backspace => {
                self.input.pop();
            }
            Key::Ctrl('u') => self.input.clear(),
            Key::Enter => self.send_input(effects),
            Key::Tab | Key::Down | Key::Ctrl('n') => self.step_room(1, effects),
            Key::BackTab | Key::Up | Key::Ctrl('p') => self.step_room(-1, effects),
            Key::Ctrl('d') => {
                self.mode = Mode::Direct;
                self.input.clear();
            }
            Key::PageUp => self.scroll_up(effects),
            Key::PageDown => {
                if let Some(open) = &mut self.open {
                    open.scroll = open.scroll.saturating_sub(SCROLL_STEP);
                }
            }
            Key::End => {
                if let Some(open) = &mut self.open {
                    open.scroll = 0;
                }
            }
            _ => {}
        }
    }

    fn send_input(&mut self, effects: &mut Vec<Effect>) {
        let mut text = self.input.trim().to_string();
        if text.is_empty() {
            return;
        }
        let Some(open) = &mut self.open else {
            self.notice = Some(Notice::Info(
                "No room is open: Ctrl-D starts a direct chat".into(),
            ));
            return;
        };
        let room = open.id;
        let mut reply_to = None;
        match parse_command(&text) {
            None => {
                if text.starts_with("//") {
                    text.remove(0);
                }
            }
            Some(Err(why)) => {
                self.notice = Some(Notice::Error(why));
                return;
            }
            Some(Ok(Command::Reply { seq, text: reply })) => {
                if !open.messages.contains_key(&seq) {
                    self.notice = Some(Notice::Error(format!("No message {seq} here")));
                    return;
                }
                reply_to = Some(seq);
                text = reply;
            }
            Some(Ok(command)) => {
                self.run_command(command, effects);
                return;
            }
        }
        if let Some(open) = &mut self.open {
            open.scroll = 0;
        }
        self.input.clear();
        self.next_local += 1;
        let local = self.next_local;
        self.pending.push(PendingSend {
            local,
            client_msg_id: None,
            room,
            text: text.clone(),
            reply_to,
            state: SendState::Sending,
        });
        effects.push(match reply_to {
            Some(reply_to) => Effect::Reply {
                room,
                local,
                reply_to,
                text,
            },
            None => Effect::Send { room, local, text },
        });
    }

    /// Carries out a command other than a reply on the open room's message it names: the
    /// input is cleared when it goes out, and kept (with a notice) when it cannot.
    fn run_command(&mut self, command: Command, effects: &mut Vec<Effect>) {
        let Some(open) = &self.open else { return };
        let room = open.id;
        let held = |seq: Seq| open.messages.get(&seq);
        let refuse = |why: String| Some(Notice::Error(why));
        let (effect, problem) = match command {
            Command::Help => (None, Some(Notice::Info(COMMANDS_HELP.into()))),
            Command::Reply { .. } => (None, None),
            Command::Edit { seq, text } => match held(seq) {
                None => (None, refuse(format!("No message {seq} here"))),
                Some(m) if m.sender.id != self.me.id => {
                    (None, refuse(format!("Message {seq} is not yours to edit")))
                }
                Some(_) => (Some(Effect::Edit { room, seq, text }), None),
            },
            Command::Delete { seq } => match held(seq) {
                None => (None, refuse(format!("No message {seq} here"))),
                Some(m) if m.sender.id != self.me.id => (
                    None,
                    refuse(format!("Message {seq} is not yours to delete")),
                ),
                Some(_) => (Some(Effect::Delete { room, seq }), None),
            },
            Command::React { seq, emoji } => match held(seq) {
                None => (None, refuse(format!("No message {seq} here"))),
                Some(m) => {
                    let mine = m
                        .reactions
                        .iter()
                        .any(|r| r.emoji == emoji && r.user_ids.contains(&self.me.id));
                    let add = !mine;
                    (
                        Some(Effect::React {
                            room,
                            seq,
                            emoji,
                            add,
                        }),
                        None,
                    )
                }
            },
        };
        if let Some(notice) = problem {
            let is_error = matches!(notice, Notice::Error(_));
            self.notice = Some(notice);
            if is_error {
                return;
            }
        }
        self.input.clear();
        effects.extend(effect);
    }

    fn step_room(&mut self, step: isize, effects: &mut Vec<Effect>) {
        if self.rooms.is_empty() {
            return;
        }
        let len = self.rooms.len() as isize;
        let next = match self.open_index() {
            Some(index) => (index as isize + step).rem_euclid(len),
            None => 0,
        };
        let id = self.rooms[next as usize].id;
        self.open_room_id(id, effects);
    }

    fn scroll_up(&mut self, effects: &mut Vec<Effect>) {
        let items = self.timeline().len();
        let Some(open) = &mut self.open else { return };
        open.scroll = (open.scroll + SCROLL_STEP).min(items.saturating_sub(1));
        // Near the oldest message held: fetch the page before it.
        if open.scroll + SCROLL_STEP >= items && open.loaded && !open.complete && !open.loading {
            if let Some(&before) = open.messages.keys().next() {
                open.loading = true;
                effects.push(Effect::LoadOlder {
                    room: open.id,
                    before,
                });
            }
        }
    }

    fn open_index(&self) -> Option<usize> {
        let open = self.open.as_ref()?;
        self.rooms.iter().position(|r| r.id == open.id)
    }

    /// Opens `id`: its unread count goes, and the server hears it was read.
    fn open_room_id(&mut self, id: RoomId, effects: &mut Vec<Effect>) {
        if self.open.as_ref().is_some_and(|o| o.id == id) {
            return;
        }
        self.open = Some(OpenRoom::new(id));
        effects.push(Effect::Open(id));
        if matches!(&self.notice, Some(Notice::Message { room, .. }) if *room == id) {
            self.notice = None;
        }
        if let Some(entry) = self.rooms.iter_mut().find(|r| r.id == id) {
            entry.unread = 0;
            entry.unread_mentions = 0;
            if entry.last_seq > entry.last_read {
                entry.last_read = entry.last_seq;
                effects.push(Effect::MarkRead {
                    room: id,
                    seq: entry.last_seq,
                });
            }
        }
    }

    /// The open room was read up to `seq`: tell the server if that is news.
    fn read_up_to(&mut self, seq: Seq, effects: &mut Vec<Effect>) {
        let Some(open) = &self.open else { return };
        let id = open.id;
        if let Some(entry) = self.rooms.iter_mut().find(|r| r.id == id) {
            entry.unread = 0;
            entry.unread_mentions = 0;
            if seq > entry.last_read {
                entry.last_read = seq;
                effects.push(Effect::MarkRead { room: id, seq });
            }
        }
    }

    fn on_rooms(&mut self, rooms: &[Room], effects: &mut Vec<Effect>) {
        let mut entries: Vec<RoomEntry> = rooms.iter().map(RoomEntry::from_room).collect();
        for entry in &mut entries {
            // A notification handled after the list was read is newer than the list.
            if let Some(known) = self.room(entry.id).filter(|k| k.last_seq > entry.last_seq) {
                entry.last_seq = known.last_seq;
                entry.unread = known.unread;
                entry.unread_mentions = entry.unread_mentions.max(known.unread_mentions);
                entry.last_read = entry.last_read.max(known.last_read);
            }
        }
        self.rooms = entries;
        match self.open.as_ref().map(|o| o.id) {
            Some(open) => {
                if let Some(seq) = self.room(open).map(|r| r.last_seq) {
                    self.read_up_to(seq, effects);
                }
            }
            None => {
                if let Some(first) = self.rooms.first().map(|r| r.id) {
                    self.open_room_id(first, effects);
                }
            }
        }
    }

    fn on_history(
        &mut self,
        room: RoomId,
        messages: Vec<Message>,
        complete: bool,
        effects: &mut Vec<Effect>,
    ) {
        let Some(open) = self.open.as_mut().filter(|o| o.id == room) else {
            // A page for a room left since: nothing shows it.
            return;
        };
        open.loading = false;
        open.loaded = true;
        open.complete |= complete;
        let newest = messages.iter().map(|m| m.seq).max();
        for message in messages {
            self.settle_pending(&message);
            self.note_activity(room, message.seq);
            if let Some(open) = &mut self.open {
                open.insert(message);
            }
        }
        if let Some(seq) = newest {
            self.read_up_to(seq, effects);
        }
    }

    /// An edit or delete: shown if its room is open; no notice and no unread count.
    fn on_changed(&mut self, message: Message) {
        if let Some(open) = self.open.as_mut().filter(|o| o.id == message.room_id) {
            open.apply_change(message);
        }
    }

    fn on_message(&mut self, message: Message, unread: Option<u64>, effects: &mut Vec<Effect>) {
        self.settle_pending(&message);
        let room = message.room_id;
        let seq = message.seq;
        let mine = self.is_mine(&message);
        let Some(entry) = self.rooms.iter().find(|r| r.id == room) else {
            // A room this list does not know yet (just added to it): reload the list, which
            // brings its unread count.
            effects.push(Effect::LoadRooms);
            return;
        };
        let fresh = seq > entry.last_seq;
        let kind = entry.kind;
        let room_name = entry.name.clone();
        self.note_activity(room, seq);
        if let Some(open) = self.open.as_mut().filter(|o| o.id == room) {
            let at_end = open
                .messages
                .keys()
                .next_back()
                .is_none_or(|&last| seq > last);
            if open.insert(message) {
                if open.scroll > 0 && at_end {
                    // Keep the lines the reader is looking at in place.
                    open.scroll += 1;
                }
                if !mine {
                    self.read_up_to(seq, effects);
                }
            }
            return;
        }
        if !fresh {
            // Counted already (a duplicate, or older than the list's snapshot).
            return;
        }
        let mentions_me = message.mentions.contains(&self.me.id);
        if let Some(entry) = self.rooms.iter_mut().find(|r| r.id == room) {
            match unread {
                Some(count) => entry.unread = count,
                None if !mine => entry.unread += 1,
                None => {}
            }
            if mentions_me && !mine {
                entry.unread_mentions += 1;
            }
        }
        if !mine {
            let sender = display_name(&message.sender);
            let text = one_line(&message.text);
            let text = match kind {
                RoomKind::Direct => format!("{sender}: {text}"),
                _ => format!("{sender} in {room_name}: {text}"),
            };
            self.notice = Some(Notice::Message { room, text });
        }
    }

    /// The stored copy of a send made here has arrived: its pending line goes (the copy takes
    /// its place, and the receipt, if it comes later, finds nothing to do).
    fn settle_pending(&mut self, message: &Message) {
        let Some(key) = message.client_msg_id.as_deref() else {
            return;
        };
        if !self.is_mine(message) {
            return;
        }
        self.pending
            .retain(|p| p.client_msg_id.as_deref() != Some(key) || p.room != message.room_id);
    }

    fn on_sent(&mut self, local: u64, result: Result<Sent, String>, at: String) {
        let Some(index) = self.pending.iter().position(|p| p.local == local) else {
            // Settled by the stored copy already.
            return;
        };
        match result {
            Ok(sent) => {
                let pending = self.pending.remove(index);
                self.note_activity(pending.room, sent.seq);
                let me = self.me.clone();
                if let Some(open) = self.open.as_mut().filter(|o| o.id == pending.room) {
                    // The preview of the answered message, as the server makes it.
                    let reply_to = pending
                        .reply_to
                        .and_then(|seq| open.messages.get(&seq))
                        .map(|original| ReplyPreview {
                            seq: original.seq,
                            sender: original.sender.clone(),
                            text: original.text.chars().take(200).collect(),
                            edited_at: original.edited_at.clone(),
                            deleted_at: original.deleted_at.clone(),
                            attachments: 0,
                        });
                    // The server's copy on the room topic may come before or after the
                    // receipt; whichever comes second finds the seq taken and is dropped.
                    open.insert(Message {
                        id: sent.message_id,
                        room_id: pending.room,
                        seq: sent.seq,
                        sender: me,
                        text: pending.text,
                        sent_at: at,
                        client_msg_id: Some(sent.client_msg_id),
                        edited_at: None,
                        deleted_at: None,
                        rev: 0,
                        reply_to,
                        reactions: Vec::new(),
                        mentions: Vec::new(),
                        attachments: Vec::new(),
                    });
                }
            }
            Err(why) => {
                self.notice = Some(Notice::Error(format!("Not sent: {why}")));
                self.pending[index].state = SendState::Failed(why);
            }
        }
    }

    /// A message `seq` exists in `room`: the room moves to the top of the list.
    fn note_activity(&mut self, room: RoomId, seq: Seq) {
        let Some(index) = self.rooms.iter().position(|r| r.id == room) else {
            return;
        };
        if seq <= self.rooms[index].last_seq {
            return;
        }
        let mut entry = self.rooms.remove(index);
        entry.last_seq = seq;
        self.rooms.insert(0, entry);
    }

    /// Someone who shares a room with this user (or this user, on another device) changed
    /// its display name: the open room shows the new name on its messages at once, and the
    /// room list, where a direct room is named after its other member, is loaded again.
    fn on_user(&mut self, user: User, effects: &mut Vec<Effect>) {
        if let Some(open) = &mut self.open {
            for message in open.messages.values_mut() {
                if message.sender.id == user.id {
                    message.sender = user.clone();
                }
            }
        }
        if user.id == self.me.id {
            self.me = user;
        } else if self.rooms.iter().any(|r| r.kind == RoomKind::Direct) {
            effects.push(Effect::LoadRooms);
        }
    }

    fn upsert_room(&mut self, room: &Room) {
        let mut entry = RoomEntry::from_room(room);
        match self.rooms.iter().position(|r| r.id == room.id) {
            Some(index) => {
                // Keep what this client knows better than the snapshot in the event.
                let old = &self.rooms[index];
                entry.last_seq = entry.last_seq.max(old.last_seq);
                entry.last_read = entry.last_read.max(old.last_read);
                if self.open.as_ref().is_some_and(|o| o.id == room.id) {
                    entry.unread = 0;
                    entry.unread_mentions = 0;
                }
                self.rooms[index] = entry;
            }
            None => self.rooms.insert(0, entry),
        }
    }
}

/// The name to show for `user`.
pub fn display_name(user: &User) -> &str {
    if user.display_name.trim().is_empty() {
        &user.username
    } else {
        &user.display_name
    }
}

/// `text` on one line: line breaks and tabs become spaces.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use sotong_client::{MessageId, ResyncReason, UserId};

    pub(crate) fn user(id: i64, name: &str) -> User {
        User {
            id: UserId(id),
            username: name.to_lowercase(),
            display_name: name.to_string(),
        }
    }

    pub(crate) fn alice() -> User {
        user(1, "alice")
    }

    pub(crate) fn bob() -> User {
        user(2, "bob")
    }

    pub(crate) fn message(room: i64, seq: u64, sender: &User, text: &str) -> Message {
        Message {
            id: MessageId(room * 1000 + seq as i64),
            room_id: RoomId(room),
            seq: Seq(seq),
            sender: sender.clone(),
            text: text.to_string(),
            sent_at: "2024-05-01T09:30:00Z".to_string(),
            client_msg_id: None,
            edited_at: None,
            deleted_at: None,
            rev: 0,
            reply_to: None,
            reactions: Vec::new(),
            mentions: Vec::new(),
            attachments: Vec::new(),
        }
    }

    pub(crate) fn room(id: i64, kind: RoomKind, name: &str, last: u64, unread: u64) -> Room {
        Room {
            id: RoomId(id),
            kind,
            name: name.to_string(),
            members: vec![alice(), bob()],
            last_message: (last > 0).then(|| message(id, last, &bob(), "last")),
            unread,
            last_read_seq: Seq(last - unread.min(last)),
            last_rev: 0,
            unread_mentions: 0,
            muted: false,
        }
    }

    /// Alice with "Team" (room 1, open, 3 messages read) and "Bob" (room 2, 2 unread).
    pub(crate) fn app_with_rooms() -> App {
        let mut app = App::new(alice());
        let effects = app.update(Event::Rooms(vec![
            room(1, RoomKind::Group, "Team", 3, 0),
            room(2, RoomKind::Direct, "Bob", 5, 2),
        ]));
        assert_eq!(effects, vec![Effect::Open(RoomId(1))]);
        app.update(Event::History {
            room: RoomId(1),
            messages: (1..=3).map(|s| message(1, s, &bob(), "old")).collect(),
            complete: true,
        });
        app
    }

    fn texts(app: &App) -> Vec<String> {
        app.timeline()
            .iter()
            .map(|item| match item {
                TimelineItem::Message(m) => format!("{}:{}", m.seq, m.text),
                TimelineItem::Pending(p) => format!("pending:{}", p.text),
            })
            .collect()
    }

    fn type_text(app: &mut App, text: &str) {
        for c in text.chars() {
            assert!(app.update(Event::Key(Key::Char(c))).is_empty());
        }
    }

    #[test]
    fn starts_by_loading_rooms_and_opens_the_latest() {
        let mut app = App::new(alice());
        assert_eq!(app.start(), vec![Effect::LoadRooms]);
        let effects = app.update(Event::Rooms(vec![
            room(2, RoomKind::Direct, "Bob", 5, 2),
            room(1, RoomKind::Group, "Team", 3, 0),
        ]));
        assert_eq!(
            effects,
            vec![
                Effect::Open(RoomId(2)),
                Effect::MarkRead {
                    room: RoomId(2),
                    seq: Seq(5)
                }
            ]
        );
        assert_eq!(app.room(RoomId(2)).unwrap().unread, 0);
        assert_eq!(app.room(RoomId(1)).unwrap().unread, 0);
    }

    #[test]
    fn a_message_for_the_open_room_is_appended_not_counted() {
        let mut app = app_with_rooms();
        let effects = app.update(Event::RoomMessage(message(1, 4, &bob(), "hi")));
        assert_eq!(
            effects,
            vec![Effect::MarkRead {
                room: RoomId(1),
                seq: Seq(4)
            }]
        );
        assert_eq!(texts(&app).last().unwrap(), "4:hi");
        assert_eq!(app.room(RoomId(1)).unwrap().unread, 0);
        assert_eq!(app.notice(), None);
        // The same message as a notification (a race while switching) changes nothing.
        let effects = app.update(Event::Notification(Notification::Message {
            room_id: RoomId(1),
            message: message(1, 4, &bob(), "hi"),
            unread: Some(1),
            mention: false,
            muted: false,
        }));
        assert!(effects.is_empty());
        assert_eq!(texts(&app).len(), 4);
        assert_eq!(app.room(RoomId(1)).unwrap().unread, 0);
    }

    #[test]
    fn a_message_for_another_room_bumps_unread_and_the_status_line_only() {
        let mut app = app_with_rooms();
        let before = texts(&app);
        let effects = app.update(Event::Notification(Notification::Message {
            room_id: RoomId(2),
            message: message(2, 6, &bob(), "lunch?\nnow"),
            unread: Some(3),
            mention: false,
            muted: false,
        }));
        assert!(effects.is_empty());
        assert_eq!(texts(&app), before, "not in the open room's timeline");
        assert_eq!(app.room(RoomId(2)).unwrap().unread, 3);
        assert_eq!(
            app.notice(),
            Some(&Notice::Message {
                room: RoomId(2),
                text: "bob: lunch? now".into()
            })
        );
        // The room with the newest activity comes first.
        assert_eq!(app.rooms()[0].id, RoomId(2));

        // Opening the room clears its notice. A group's notice names the room; a
        // room-topic straggler counts itself.
        app.update(Event::Key(Key::Tab));
        assert_eq!(app.notice(), None);
        app.update(Event::RoomMessage(message(1, 4, &user(3, "carol"), "yo")));
        assert_eq!(app.room(RoomId(1)).unwrap().unread, 1);
        assert_eq!(
            app.notice(),
            Some(&Notice::Message {
                room: RoomId(1),
                text: "carol in Team: yo".into()
            })
        );
        // Counted once.
        app.update(Event::RoomMessage(message(1, 4, &user(3, "carol"), "yo")));
        assert_eq!(app.room(RoomId(1)).unwrap().unread, 1);
    }

    #[test]
    fn own_messages_elsewhere_are_not_unread() {
        let mut app = app_with_rooms();
        app.update(Event::Notification(Notification::Message {
            room_id: RoomId(2),
            message: message(2, 6, &alice(), "from my phone"),
            unread: Some(2),
            mention: false,
            muted: false,
        }));
        assert_eq!(app.notice(), None);
        assert_eq!(app.rooms()[0].id, RoomId(2));
    }

    #[test]
    fn switching_rooms_resets_unread_and_marks_read() {
        let mut app = app_with_rooms();
        assert_eq!(app.room(RoomId(2)).unwrap().unread, 2);
        let effects = app.update(Event::Key(Key::Tab));
        assert_eq!(
            effects,
            vec![
                Effect::Open(RoomId(2)),
                Effect::MarkRead {
                    room: RoomId(2),
                    seq: Seq(5)
                }
            ]
        );
        assert_eq!(app.open_room().unwrap().id, RoomId(2));
        assert_eq!(app.room(RoomId(2)).unwrap().unread, 0);
        assert!(app.timeline().is_empty(), "the new room starts empty");
        // History arriving for the room just left is dropped.
        app.update(Event::History {
            room: RoomId(1),
            messages: vec![message(1, 1, &bob(), "stale")],
            complete: true,
        });
        assert!(app.timeline().is_empty());
        // Its own history brings a newer message: marked read too.
        let effects = app.update(Event::History {
            room: RoomId(2),
            messages: (4..=6).map(|s| message(2, s, &bob(), "b")).collect(),
            complete: false,
        });
        assert_eq!(
            effects,
            vec![Effect::MarkRead {
                room: RoomId(2),
                seq: Seq(6)
            }]
        );
        // Up, Ctrl-P, Shift-Tab go back; Down, Ctrl-N go forward; both wrap around.
        assert_eq!(
            app.update(Event::Key(Key::Ctrl('n')))[0],
            Effect::Open(RoomId(1))
        );
        assert_eq!(app.update(Event::Key(Key::Up))[0], Effect::Open(RoomId(2)));
        assert_eq!(
            app.update(Event::Key(Key::BackTab))[0],
            Effect::Open(RoomId(1))
        );
        assert_eq!(
            app.update(Event::Key(Key::Ctrl('p')))[0],
            Effect::Open(RoomId(2))
        );
        assert_eq!(
            app.update(Event::Key(Key::Down))[0],
            Effect::Open(RoomId(1))
        );
    }

    #[test]
    fn a_send_is_pending_until_its_receipt_and_then_has_its_seq() {
        let mut app = app_with_rooms();
        type_text(&mut app, "hello");
        assert_eq!(app.input(), "hello");
        let effects = app.update(Event::Key(Key::Enter));
        assert_eq!(
            effects,
            vec![Effect::Send {
                room: RoomId(1),
                local: 1,
                text: "hello".into()
            }]
        );
        assert_eq!(app.input(), "");
        assert_eq!(texts(&app).last().unwrap(), "pending:hello");
        assert_eq!(app.pending()[0].state, SendState::Sending);

        // Receipt first: confirmed with the stored seq.
        app.update(Event::Sent {
            local: 1,
            result: Ok(sent(4)),
            at: "2024-05-01T09:31:00Z".into(),
        });
        assert!(app.pending().is_empty());
        assert_eq!(texts(&app).last().unwrap(), "4:hello");
        let TimelineItem::Message(mine) = app.timeline()[3] else {
            panic!("confirmed")
        };
        assert!(app.is_mine(mine));
        // Then the server's copy on the topic: the same seq, ignored; no mark-read for it.
        let effects = app.update(Event::RoomMessage(message(1, 4, &alice(), "hello")));
        assert!(effects.is_empty());
        assert_eq!(texts(&app), ["1:old", "2:old", "3:old", "4:hello"]);

        // The other order: the copy first, then the receipt.
        type_text(&mut app, "again");
        app.update(Event::Key(Key::Enter));
        app.update(Event::RoomMessage(message(1, 5, &alice(), "again")));
        app.update(Event::Sent {
            local: 2,
            result: Ok(sent(5)),
            at: "2024-05-01T09:32:00Z".into(),
        });
        assert_eq!(texts(&app)[3..], ["4:hello", "5:again"]);
        assert!(app.pending().is_empty());
    }

    #[test]
    fn the_stored_copy_replaces_the_pending_line_not_doubles_it() {
        let mut app = app_with_rooms();
        let stored = |seq: u64, text: &str, key: &str| Message {
            client_msg_id: Some(key.to_string()),
            edited_at: None,
            deleted_at: None,
            rev: 0,
            reply_to: None,
            reactions: Vec::new(),
            mentions: Vec::new(),
            attachments: Vec::new(),
            ..message(1, seq, &alice(), text)
        };
        type_text(&mut app, "hello");
        app.update(Event::Key(Key::Enter));
        assert_eq!(texts(&app).last().unwrap(), "pending:hello");
        assert!(app
            .update(Event::Sending {
                local: 1,
                client_msg_id: "k1".into(),
            })
            .is_empty());
        assert_eq!(app.pending()[0].client_msg_id.as_deref(), Some("k1"));

        // Someone else's message under the same key is not ours.
        app.update(Event::RoomMessage(Message {
            client_msg_id: Some("k1".into()),
            edited_at: None,
            deleted_at: None,
            rev: 0,
            reply_to: None,
            reactions: Vec::new(),
            mentions: Vec::new(),
            attachments: Vec::new(),
            ..message(1, 4, &bob(), "hello")
        }));
        assert_eq!(texts(&app)[3..], ["4:hello", "pending:hello"]);

        // The stored copy, before the receipt: it takes the pending line's place at once.
        let effects = app.update(Event::RoomMessage(stored(5, "hello", "k1")));
        assert!(effects.is_empty(), "no mark-read for our own message");
        assert_eq!(texts(&app)[3..], ["4:hello", "5:hello"]);
        assert!(app.pending().is_empty());
        // The receipt then finds nothing to do.
        app.update(Event::Sent {
            local: 1,
            result: Ok(Sent {
                client_msg_id: "k1".into(),
                ..sent(5)
            }),
            at: "2024-05-01T09:31:00Z".into(),
        });
        assert_eq!(texts(&app)[3..], ["4:hello", "5:hello"]);
        assert_eq!(app.room(RoomId(1)).unwrap().last_seq, Seq(5));

        // A send whose room was left: its copy comes in the page when the room is opened
        // again, and settles it there; the late receipt changes nothing.
        type_text(&mut app, "bye");
        app.update(Event::Key(Key::Enter));
        app.update(Event::Sending {
            local: 2,
            client_msg_id: "k2".into(),
        });
        app.update(Event::Key(Key::Tab));
        app.update(Event::Key(Key::Tab));
        assert_eq!(app.open_room().unwrap().id, RoomId(1));
        assert_eq!(texts(&app), ["pending:bye"]);
        app.update(Event::History {
            room: RoomId(1),
            messages: vec![stored(5, "hello", "k1"), stored(6, "bye", "k2")],
            complete: false,
        });
        assert_eq!(texts(&app), ["5:hello", "6:bye"]);
        app.update(Event::Sent {
            local: 2,
            result: Ok(sent(6)),
            at: String::new(),
        });
        assert_eq!(texts(&app), ["5:hello", "6:bye"]);
        assert!(app.pending().is_empty());
    }

    #[test]
    fn a_refused_send_stays_visible_as_failed() {
        let mut app = app_with_rooms();
        type_text(&mut app, "spam");
        app.update(Event::Key(Key::Enter));
        app.update(Event::Sent {
            local: 1,
            result: Err("rate_limited".into()),
            at: String::new(),
        });
        assert_eq!(
            app.pending()[0].state,
            SendState::Failed("rate_limited".into())
        );
        assert_eq!(
            app.notice(),
            Some(&Notice::Error("Not sent: rate_limited".into()))
        );
        // Blank input sends nothing.
        type_text(&mut app, "   ");
        assert!(app.update(Event::Key(Key::Enter)).is_empty());
    }

    #[test]
    fn duplicate_seqs_are_ignored_and_order_follows_seq() {
        let mut app = App::new(alice());
        app.update(Event::Rooms(vec![room(1, RoomKind::Group, "Team", 0, 0)]));
        // Live messages racing the first page, out of order, with duplicates.
        app.update(Event::RoomMessage(message(1, 7, &bob(), "g")));
        app.update(Event::RoomMessage(message(1, 6, &bob(), "f")));
        app.update(Event::History {
            room: RoomId(1),
            messages: (3..=7)
                .map(|s| message(1, s, &bob(), &((b'a' + s as u8 - 1) as char).to_string()))
                .collect(),
            complete: false,
        });
        app.update(Event::RoomMessage(message(1, 6, &bob(), "f again")));
        app.update(Event::History {
            room: RoomId(1),
            messages: (1..=3)
                .map(|s| message(1, s, &bob(), &((b'a' + s as u8 - 1) as char).to_string()))
                .collect(),
            complete: true,
        });
        assert_eq!(
            texts(&app),
            ["1:a", "2:b", "3:c", "4:d", "5:e", "6:f", "7:g"]
        );
        assert_eq!(app.room(RoomId(1)).unwrap().last_seq, Seq(7));
    }

    #[test]
    fn page_up_scrolls_and_loads_older_history_once() {
        let mut app = App::new(alice());
        app.update(Event::Rooms(vec![room(1, RoomKind::Group, "Team", 60, 0)]));
        app.update(Event::History {
            room: RoomId(1),
            messages: (31..=60).map(|s| message(1, s, &bob(), "m")).collect(),
            complete: false,
        });
        assert!(app.update(Event::Key(Key::PageUp)).is_empty());
        assert_eq!(app.open_room().unwrap().scroll, 10);
        assert_eq!(
            app.update(Event::Key(Key::PageUp)),
            vec![Effect::LoadOlder {
                room: RoomId(1),
                before: Seq(31)
            }]
        );
        // Still loading: no second request.
        assert!(app.update(Event::Key(Key::PageUp)).is_empty());
        app.update(Event::History {
            room: RoomId(1),
            messages: (1..=30).map(|s| message(1, s, &bob(), "m")).collect(),
            complete: true,
        });
        assert_eq!(app.timeline().len(), 60);
        assert!(app.open_room().unwrap().complete);
        // A new message while scrolled back keeps the view where it is.
        let scroll = app.open_room().unwrap().scroll;
        app.update(Event::RoomMessage(message(1, 61, &bob(), "new")));
        assert_eq!(app.open_room().unwrap().scroll, scroll + 1);
        app.update(Event::Key(Key::PageDown));
        assert_eq!(app.open_room().unwrap().scroll, scroll + 1 - SCROLL_STEP);
        app.update(Event::Key(Key::End));
        assert_eq!(app.open_room().unwrap().scroll, 0);
    }

    #[test]
    fn ctrl_d_asks_for_a_username_and_opens_the_direct_room() {
        let mut app = app_with_rooms();
        type_text(&mut app, "draft");
        assert!(app.update(Event::Key(Key::Ctrl('d'))).is_empty());
        assert_eq!(app.mode(), &Mode::Direct);
        type_text(&mut app, "Carol");
        assert_eq!(
            app.update(Event::Key(Key::Enter)),
            vec![Effect::DirectRoom {
                username: "carol".into()
            }]
        );
        assert_eq!(app.mode(), &Mode::Compose);
        let effects = app.update(Event::DirectRoom(Ok(room(
            9,
            RoomKind::Direct,
            "Carol",
            0,
            0,
        ))));
        assert_eq!(effects, vec![Effect::Open(RoomId(9))]);
        assert_eq!(app.rooms()[0].name, "Carol");
        assert_eq!(app.notice(), None, "the \"Opening…\" note goes");

        // Esc leaves the prompt, not the chat; an unknown user is reported.
        app.update(Event::Key(Key::Ctrl('d')));
        assert!(app.update(Event::Key(Key::Esc)).is_empty());
        assert_eq!(app.mode(), &Mode::Compose);
        app.update(Event::DirectRoom(Err("no such user".into())));
        assert_eq!(app.notice(), Some(&Notice::Error("no such user".into())));
    }

    #[test]
    fn esc_and_ctrl_c_quit() {
        let mut app = app_with_rooms();
        assert_eq!(app.update(Event::Key(Key::Esc)), vec![Effect::Quit]);
        assert_eq!(app.update(Event::Key(Key::Ctrl('c'))), vec![Effect::Quit]);
        app.update(Event::Key(Key::Ctrl('d')));
        assert_eq!(app.update(Event::Key(Key::Ctrl('c'))), vec![Effect::Quit]);
    }

    #[test]
    fn a_reconnect_reloads_the_room_list() {
        let mut app = app_with_rooms();
        assert!(app
            .update(Event::Connection(State::Reconnecting))
            .is_empty());
        assert_eq!(app.connection(), State::Reconnecting);
        assert_eq!(
            app.update(Event::Connection(State::Connected)),
            vec![Effect::LoadRooms]
        );
        // The snapshot keeps the open room read, and takes the others' counts.
        let effects = app.update(Event::Rooms(vec![
            room(2, RoomKind::Direct, "Bob", 8, 5),
            room(1, RoomKind::Group, "Team", 4, 1),
        ]));
        assert_eq!(
            effects,
            vec![Effect::MarkRead {
                room: RoomId(1),
                seq: Seq(4)
            }]
        );
        assert_eq!(app.room(RoomId(1)).unwrap().unread, 0);
        assert_eq!(app.room(RoomId(2)).unwrap().unread, 5);
        assert_eq!(app.open_room().unwrap().id, RoomId(1));
    }

    #[test]
    fn messages_of_unknown_rooms_reload_the_list_and_read_marks_clear_counts() {
        let mut app = app_with_rooms();
        let effects = app.update(Event::Notification(Notification::Message {
            room_id: RoomId(7),
            message: message(7, 1, &bob(), "new group"),
            unread: Some(1),
            mention: false,
            muted: false,
        }));
        assert_eq!(effects, vec![Effect::LoadRooms]);
        app.update(Event::Notification(Notification::Read {
            room_id: RoomId(2),
            seq: Seq(5),
        }));
        assert_eq!(app.room(RoomId(2)).unwrap().unread, 0);
        app.update(Event::Notification(Notification::Room(room(
            8,
            RoomKind::Group,
            "Ops",
            0,
            0,
        ))));
        assert_eq!(app.rooms()[0].name, "Ops");
    }

    #[test]
    fn a_resync_reloads_the_room_list() {
        let mut app = app_with_rooms();
        let effects = app.update(Event::Notification(Notification::Resync {
            reason: ResyncReason::Broker,
        }));
        assert_eq!(effects, vec![Effect::LoadRooms]);
    }

    /// `message(1, seq, bob, text)` as changed at `rev`: edited, or deleted (a tombstone).
    pub(crate) fn changed(seq: u64, text: &str, rev: u64, deleted: bool) -> Message {
        let mut changed = message(1, seq, &bob(), text);
        changed.rev = rev;
        changed.edited_at = Some("2024-05-01T09:31:00Z".to_string());
        if deleted {
            changed.text = String::new();
            changed.deleted_at = Some("2024-05-01T09:32:00Z".to_string());
        }
        changed
    }

    #[test]
    fn an_edit_or_delete_replaces_the_open_room_s_message_only_when_newer() {
        let mut app = app_with_rooms();
        assert!(app
            .update(Event::RoomChanged(changed(2, "fixed", 1, false)))
            .is_empty());
        assert_eq!(texts(&app), ["1:old", "2:fixed", "3:old"]);
        app.update(Event::RoomChanged(changed(2, "", 3, true)));
        // An older change (a live copy overtaken by a replay) does not bring the text back.
        app.update(Event::RoomChanged(changed(2, "fixed", 1, false)));
        assert_eq!(texts(&app), ["1:old", "2:", "3:old"]);
        // A history page read before the delete does not either.
        app.update(Event::History {
            room: RoomId(1),
            messages: vec![changed(2, "fixed", 1, false)],
            complete: true,
        });
        assert_eq!(texts(&app), ["1:old", "2:", "3:old"]);
        // A change to a message not held is left to the history page that brings it.
        app.update(Event::RoomChanged(changed(9, "later", 4, false)));
        assert_eq!(texts(&app).len(), 3);
    }

    #[test]
    fn a_change_in_a_room_that_is_not_open_raises_no_notice_and_no_count() {
        let mut app = app_with_rooms();
        let mut edit = message(2, 4, &bob(), "edited elsewhere");
        edit.rev = 1;
        edit.edited_at = Some("2024-05-01T09:31:00Z".to_string());
        let effects = app.update(Event::Notification(Notification::Changed {
            room_id: RoomId(2),
            change: sotong_client::ChangeKind::Edited,
            message: edit,
        }));
        assert!(effects.is_empty());
        assert_eq!(app.notice(), None);
        assert_eq!(app.room(RoomId(2)).map(|r| r.unread), Some(2));
        assert_eq!(texts(&app), ["1:old", "2:old", "3:old"]);
    }

    pub(crate) fn sent(seq: u64) -> Sent {
        Sent {
            message_id: MessageId(1000 + seq as i64),
            seq: Seq(seq),
            client_msg_id: format!("c{seq}"),
        }
    }

    #[test]
    fn commands_parse_with_a_message_number() {
        assert_eq!(parse_command("hello"), None);
        assert_eq!(parse_command("//not a command"), None);
        assert_eq!(parse_command("/help"), Some(Ok(Command::Help)));
        assert_eq!(
            parse_command("/reply 4 yes, see you"),
            Some(Ok(Command::Reply {
                seq: Seq(4),
                text: "yes, see you".into()
            }))
        );
        assert_eq!(
            parse_command("/edit #2 fixed"),
            Some(Ok(Command::Edit {
                seq: Seq(2),
                text: "fixed".into()
            }))
        );
        assert_eq!(
            parse_command(" /delete 3 "),
            Some(Ok(Command::Delete { seq: Seq(3) }))
        );
        assert_eq!(
            parse_command("/react 3 👍"),
            Some(Ok(Command::React {
                seq: Seq(3),
                emoji: "👍".into()
            }))
        );
        for bad in [
            "/reply 4",
            "/edit x text",
            "/delete",
            "/delete 3 4",
            "/react 3",
            "/react 0 👍",
            "/nope",
        ] {
            assert!(matches!(parse_command(bad), Some(Err(_))), "{bad}");
        }
    }

    #[test]
    fn commands_act_on_the_open_room_s_messages_by_number() {
        let mut app = app_with_rooms();
        app.update(Event::RoomMessage(message(1, 4, &alice(), "mine")));
        type_text(&mut app, "/reply 2 agreed");
        let effects = app.update(Event::Key(Key::Enter));
        assert_eq!(
            effects,
            [Effect::Reply {
                room: RoomId(1),
                local: 1,
                reply_to: Seq(2),
                text: "agreed".into()
            }]
        );
        assert_eq!(
            texts(&app).last().map(String::as_str),
            Some("pending:agreed")
        );
        // The receipt's stand-in copy previews the answered message.
        app.update(Event::Sent {
            local: 1,
            result: Ok(sent(5)),
            at: "2024-05-01T09:31:00Z".into(),
        });
        let open = app.open_room().expect("open");
        let preview = open.messages[&Seq(5)].reply_to.clone().expect("preview");
        assert_eq!((preview.seq, preview.text.as_str()), (Seq(2), "old"));

        type_text(&mut app, "/edit 4 mine, fixed");
        assert_eq!(
            app.update(Event::Key(Key::Enter)),
            [Effect::Edit {
                room: RoomId(1),
                seq: Seq(4),
                text: "mine, fixed".into()
            }]
        );
        assert_eq!(app.input(), "");
        type_text(&mut app, "/delete 4");
        assert_eq!(
            app.update(Event::Key(Key::Enter)),
            [Effect::Delete {
                room: RoomId(1),
                seq: Seq(4)
            }]
        );
        // Someone else's message: refused here, the line kept for fixing.
        type_text(&mut app, "/edit 2 hijack");
        assert!(app.update(Event::Key(Key::Enter)).is_empty());
        assert!(matches!(app.notice(), Some(Notice::Error(_))));
        assert_eq!(app.input(), "/edit 2 hijack");
        app.update(Event::Key(Key::Ctrl('u')));
        type_text(&mut app, "/reply 99 hm");
        assert!(app.update(Event::Key(Key::Enter)).is_empty());
        assert_eq!(
            app.notice(),
            Some(&Notice::Error("No message 99 here".into()))
        );
        app.update(Event::Key(Key::Ctrl('u')));

        // A reaction toggles: added, then taken back once it is ours.
        type_text(&mut app, "/react 2 👍");
        let react = |add| Effect::React {
            room: RoomId(1),
            seq: Seq(2),
            emoji: "👍".into(),
            add,
        };
        assert_eq!(app.update(Event::Key(Key::Enter)), [react(true)]);
        let mut reacted = message(1, 2, &bob(), "old");
        reacted.rev = 1;
        reacted.reactions = vec![sotong_client::Reaction {
            emoji: "👍".into(),
            count: 1,
            user_ids: vec![alice().id],
        }];
        app.update(Event::RoomChanged(reacted));
        type_text(&mut app, "/react 2 👍");
        assert_eq!(app.update(Event::Key(Key::Enter)), [react(false)]);

        type_text(&mut app, "/help");
        assert!(app.update(Event::Key(Key::Enter)).is_empty());
        assert_eq!(app.notice(), Some(&Notice::Info(COMMANDS_HELP.into())));
        type_text(&mut app, "//slash");
        assert!(matches!(
            app.update(Event::Key(Key::Enter)).as_slice(),
            [Effect::Send { text, .. }] if text == "/slash"
        ));
    }

    #[test]
    fn mentions_of_me_elsewhere_are_counted_until_the_room_is_opened() {
        let mut app = app_with_rooms();
        let mut mention = message(2, 6, &bob(), "@alice look");
        mention.mentions = vec![alice().id];
        app.update(Event::Notification(Notification::Message {
            room_id: RoomId(2),
            message: mention,
            unread: Some(3),
            mention: true,
            muted: false,
        }));
        assert_eq!(app.room(RoomId(2)).map(|r| r.unread_mentions), Some(1));
        app.update(Event::Notification(Notification::Message {
            room_id: RoomId(2),
            message: message(2, 7, &bob(), "no mention"),
            unread: Some(4),
            mention: false,
            muted: false,
        }));
        assert_eq!(app.room(RoomId(2)).map(|r| r.unread_mentions), Some(1));
        app.update(Event::Key(Key::Tab));
        assert_eq!(app.open_room().map(|o| o.id), Some(RoomId(2)));
        assert_eq!(app.room(RoomId(2)).map(|r| r.unread_mentions), Some(0));
    }

    #[test]
    fn a_renamed_contact_shows_its_new_name_and_the_rooms_are_loaded_again() {
        let mut app = app_with_rooms();
        let renamed = user(2, "Robert");
        let effects = app.update(Event::Notification(Notification::User(renamed.clone())));
        assert_eq!(
            effects,
            vec![Effect::LoadRooms],
            "the direct room is named after Bob"
        );
        let open = app.open_room().expect("open");
        assert!(open.messages.values().all(|m| m.sender == renamed));
    }
}
