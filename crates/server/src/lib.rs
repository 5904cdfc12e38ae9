//! # sotong-server
//!
//! A real-time chat server: STOMP 1.2 over WebSocket, rooms with gap-free per-room `seq`,
//! history, unread counts, and delivery rules that make "my own message never showed up"
//! impossible. The wire contract lives in the project's `contract.md`; this crate is its
//! implementation.
//!
//! # Layout
//!
//! - [`app`]: [`App`], the node's shared parts behind private fields, reached
//!   through its services; [`server`]: [`run`] (accept, serve, then drain).
//! - [`http`]: the HTTP API, the `/ws` upgrade with its `Origin` check, health and metrics.
//! - [`session`]: one STOMP connection; the connection's only writer; the delivery decision.
//! - [`transport`]: an in-memory transport for driving a session without a socket.
//! - [`hub`]: which connections of which users live on this node. Module `heads`: the periodic
//!   check of watched rooms' last `seq` that brings a committed but unpublished message.
//! - [`broker`]: how a publication reaches every node's hub ([`broker::MemoryBroker`] for one node);
//!   [`publication`]: what it carries.
//! - [`rooms`]: the room rules ([`rooms::Chat`]), shared by HTTP and STOMP; [`users`]:
//!   finding users; [`search`]: what a message search query, cursor and snippet are. Under the rules, the commit pipeline (module `commit`): group commit,
//!   publication in commit order.
//! - [`store`]: durable state behind the [`store::Store`] trait ([`store::sqlite::SqliteStore`],
//!   embedded; [`store::postgres::PostgresStore`], shared by several nodes).
//! - [`limits`]: connection caps sized from the open-file limit, accept back-off;
//!   [`client_addr`]: the client's address behind trusted proxies.
//! - [`web_assets`]: the web app, built into the binary or from `--web-dir`.
//! - [`attachments`]: uploads, images and who may read them; [`files`]: where their bytes are
//!   (a folder or S3).
//! - [`auth`]: passwords, session tokens, JWTs; [`throttle`]: per-IP and per-user limits.
//! - [`push`]: Web Push (VAPID, RFC 8291 payloads, who gets a push, collapsing per room).
//! - [`model`], [`config`], [`error`], [`metrics`]: the wire objects (shared, from `sotong-model`) and
//!   the rules on names and times, settings, errors as data, Prometheus.
//!
//! A message's path: `session`/`http` → `rooms::Chat::post_message` → the commit pipeline →
//! `Store::insert_messages` (one commit per batch, `seq` assigned) → `Broker::publish` →
//! `Hub::deliver` → each connection's queue → its session decides topic or notification and
//! writes the frame.

pub mod app;
pub mod attachments;
pub mod auth;
pub mod broker;
pub mod client_addr;
mod commit;
pub mod config;
pub mod error;
pub mod files;
mod heads;
pub mod http;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod presence;
pub mod publication;
pub mod push;
pub mod rooms;
pub mod search;
pub mod server;
pub mod session;
pub mod store;
pub mod throttle;
pub mod transport;
pub mod users;

#[cfg(test)]
mod test_support;
pub mod web_assets;

pub use app::{App, ServerError};
pub use config::Config;
pub use error::Error;
pub use server::run;
