//! Web Push: telling a user's devices of a message when none of the user's connections shows
//! its room, even with no tab open.
//!
//! It owns:
//! - **the VAPID key** ([`VapidKey`]): made by the first node and kept in the store (or given
//!   by `--vapid-private-key`), so every node signs with the key the browsers subscribed with;
//! - **subscriptions**: a browser's `PushSubscription`, checked (the endpoint against the
//!   allow-list, the keys' sizes) and stored per device; removed when the push service says
//!   `404`/`410`;
//! - **when to push**: after the commit, for each member but the sender who has not muted the
//!   room (or is mentioned) and whom no connection on any node shows the room to (the broker
//!   knows: [`Broker::showing`]); the messages committed within 50 ms are looked at
//!   together, with one store read of their members' devices;
//! - **collapsing**: at most one push per device and room per `collapse_ms`; the messages in
//!   between are counted into one trailing push (`"count"`), with the `Topic` header set to
//!   the room so a push service replaces an undelivered one. The throttle is in memory, per
//!   node: two nodes may each push once per window.
//! - **sending**: payloads encrypted as RFC 8291 says (`aes128gcm`, by `web-push-native`),
//!   signed with a VAPID JWT (RFC 8292, ES256, by `jsonwebtoken`), sent by one HTTP client with
//!   bounded timeouts and concurrency that never follows redirects and never connects to a
//!   private, loopback or link-local address ([`PublicResolver`]; loopback and `http://` only
//!   with `allow_insecure_endpoints`, for tests).
//!
//! Nothing here ever delays a message: the commit pipeline hands each committed message over
//! with a non-blocking send into a bounded queue; a full queue drops the push (counted in
//! `sotong_push_failed_total`).
//!
//! It reaches the store, the broker and the metrics; never sessions, STOMP or the edges.

use crate::broker::Broker;
use crate::config::PushConfig;
use crate::metrics::Metrics;
use crate::model::{now_millis, Message, RoomId, User, UserId};
use crate::store::{
    NewPushSubscription, PushSubscriptionId, Store, StoreError, StoredPushSubscription,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

/// Committed messages waiting for the push task before new ones are dropped.
const QUEUE_CAPACITY: usize = 4096;

/// Longest message text a push carries, in characters: a push payload holds at most about
/// 4 KB, and a notification shows a line or two anyway.
const MAX_TEXT_CHARS: usize = 300;

/// How long a push service keeps an undelivered push (seconds, the `TTL` header).
const PUSH_TTL_SECS: u64 = 24 * 60 * 60;

/// How long a VAPID JWT is valid (RFC 8292 allows at most 24 hours).
const JWT_VALIDITY_SECS: i64 = 12 * 60 * 60;

/// Throttle entries kept before old ones are swept.
const MAX_THROTTLE_ENTRIES: usize = 50_000;

/// Why a push setting or subscription is refused.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The subscription (or the configured key) is not acceptable; says why.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The VAPID key pair this node signs with.
pub struct VapidKey {
    /// PKCS#8 DER of the private key, for `jsonwebtoken`.
    signing: jsonwebtoken::EncodingKey,
    /// The public key, uncompressed SEC1, base64url: what browsers pass to
    /// `pushManager.subscribe` as `applicationServerKey`, and the `k=` of the header.
    public: String,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl VapidKey {
    /// A new random private key, base64url (the form it is stored and configured in).
    pub fn generate() -> String {
        let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        URL_SAFE_NO_PAD.encode(secret.to_bytes())
    }

    /// The key pair of a base64url private key (the 32-byte P-256 scalar).
    ///
    /// # Errors
    /// [`PushError::Invalid`] when it is not one.
    pub fn from_private(private: &str) -> Result<Self, PushError> {
        let invalid = |why: &str| PushError::Invalid(format!("VAPID private key: {why}"));
        let bytes = URL_SAFE_NO_PAD
            .decode(private.trim().trim_end_matches('='))
            .map_err(|_| invalid("not base64url"))?;
        let secret = p256::SecretKey::from_slice(&bytes).map_err(|_| invalid("not a P-256 key"))?;
        let der = secret
            .to_pkcs8_der()
            .map_err(|_| invalid("cannot be encoded"))?;
        let public = secret.public_key().to_encoded_point(false);
        Ok(VapidKey {
            signing: jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes()),
            public: URL_SAFE_NO_PAD.encode(public.as_bytes()),
        })
    }

    /// The public key, base64url (65 bytes uncompressed).
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The `Authorization` header for a push to `endpoint`: `vapid t=<JWT>, k=<public key>`,
    /// the JWT's `aud` being the endpoint's origin (RFC 8292).
    fn authorization(&self, endpoint: &reqwest::Url, contact: &str) -> Result<String, PushError> {
        #[derive(Serialize)]
        struct Claims<'a> {
            aud: String,
            exp: i64,
            sub: &'a str,
        }
        let claims = Claims {
            aud: endpoint.origin().ascii_serialization(),
            exp: now_millis() / 1000 + JWT_VALIDITY_SECS,
            sub: contact,
        };
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        let token = jsonwebtoken::encode(&header, &claims, &self.signing)
            .map_err(|err| PushError::Invalid(format!("signing the VAPID JWT: {err}")))?;
        Ok(format!("vapid t={token}, k={}", self.public))
    }
}

/// A browser's `PushSubscription` as `JSON.stringify` gives it (`expirationTime` ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionJson {
    /// The push service's URL for this device.
    pub endpoint: String,
    /// The browser's keys.
    pub keys: SubscriptionKeys,
}

/// The keys of a [`SubscriptionJson`].
#[derive(Debug, Clone, Deserialize)]
pub struct SubscriptionKeys {
    /// P-256 public key, base64url.
    pub p256dh: String,
    /// Authentication secret, base64url.
    pub auth: String,
}

/// Longest endpoint URL accepted.
const MAX_ENDPOINT_CHARS: usize = 2048;

/// Checks an endpoint against the allow-list: `https://` (or, with `allow_insecure`,
/// `http://`), a host, no credentials, and when the host is an address, a public one (or
/// loopback with `allow_insecure`). Names are checked again when resolved
/// ([`PublicResolver`]), so a name that points at a private address is refused too.
///
/// # Errors
/// [`PushError::Invalid`] saying why.
pub fn check_endpoint(endpoint: &str, allow_insecure: bool) -> Result<reqwest::Url, PushError> {
    let invalid = |why: &str| PushError::Invalid(format!("endpoint: {why}"));
    if endpoint.len() > MAX_ENDPOINT_CHARS {
        return Err(invalid("too long"));
    }
    let url = reqwest::Url::parse(endpoint).map_err(|_| invalid("not a URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        _ => return Err(invalid("must be an https:// URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not carry credentials"));
    }
    let address = match url.host() {
        None => return Err(invalid("has no host")),
        Some(url::Host::Domain(name)) => name.parse::<IpAddr>().ok(),
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
    };
    if let Some(ip) = address {
        if !reachable(ip, allow_insecure) {
            return Err(invalid(
                "must not be a private, loopback or link-local address",
            ));
        }
    }
    Ok(url)
}

/// Whether the server may send to `ip`: a public unicast address, or loopback when
/// `allow_loopback`.
fn reachable(ip: IpAddr, allow_loopback: bool) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                return allow_loopback;
            }
            !(v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 192 && b == 0) // IETF protocol assignments
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return reachable(IpAddr::V4(v4), allow_loopback);
            }
            if v6.is_loopback() {
                return allow_loopback;
            }
            let first = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || first == 0x2001 && v6.segments()[1] == 0xdb8 // documentation
                || first == 0x64 && v6.segments()[1] == 0xff9b) // NAT64 may reach private v4
        }
    }
}

/// Resolves push service names and keeps only addresses the server may send to (see
/// [`reachable`]): a name that resolves to a private or loopback address is refused at
/// connection time, so DNS cannot turn an endpoint into a request inside the network.
#[derive(Debug, Clone, Copy)]
pub struct PublicResolver {
    allow_loopback: bool,
}

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found
                .filter(|addr| reachable(addr.ip(), allow_loopback))
                .collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// What a push carries once decrypted: `{"type":"message",…}` (see the contract).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PushPayload {
    /// Always `"message"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The room.
    pub room_id: RoomId,
    /// The newest message's `seq`.
    pub seq: crate::model::Seq,
    /// Who sent the newest message.
    pub sender: User,
    /// Its text, cut to a few hundred characters.
    pub text: String,
    /// When it was sent.
    pub sent_at: String,
    /// How many messages this push stands for (1, or more when collapsed).
    pub count: u32,
    /// Whether one of them mentions the receiver.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mention: bool,
}

/// A committed message, as the push task needs it.
#[derive(Debug)]
struct Committed {
    message: Message,
    /// Every member but the sender.
    others: Vec<UserId>,
    muted: Vec<UserId>,
}

/// The push service's handle; cheap to clone.
#[derive(Clone)]
pub struct Push {
    inner: Arc<Inner>,
    queue: mpsc::Sender<Committed>,
}

impl std::fmt::Debug for Push {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Push")
            .field("key", &self.inner.key)
            .finish_non_exhaustive()
    }
}

struct Inner {
    key: VapidKey,
    config: PushConfig,
    store: Arc<dyn Store>,
    broker: Arc<dyn Broker>,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
}

impl Push {
    /// Loads (or makes and stores) the VAPID key and starts the push task. Must be called
    /// inside a Tokio runtime.
    ///
    /// # Errors
    /// A configured key that is not one, the store failing, or the HTTP client refusing its
    /// settings.
    pub async fn start(
        config: PushConfig,
        store: Arc<dyn Store>,
        broker: Arc<dyn Broker>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, PushError> {
        let private = match &config.vapid_private_key {
            Some(key) => key.clone(),
            None => store.vapid_private_key(&VapidKey::generate()).await?,
        };
        let key = VapidKey::from_private(&private)?;
        let timeout = Duration::from_millis(config.timeout_ms.max(1));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(timeout)
            .timeout(timeout)
            .dns_resolver(Arc::new(PublicResolver {
                allow_loopback: config.allow_insecure_endpoints,
            }))
            .build()
            .map_err(|err| PushError::Invalid(format!("push HTTP client: {err}")))?;
        tracing::info!(public_key = %key.public, "Web Push on");
        let (queue, waiting) = mpsc::channel(QUEUE_CAPACITY);
        let inner = Arc::new(Inner {
            key,
            config,
            store,
            broker,
            metrics,
            client,
        });
        tokio::spawn(run(inner.clone(), waiting));
        Ok(Push { inner, queue })
    }

    /// The VAPID public key, base64url: `GET /api/push/key`.
    pub fn public_key(&self) -> &str {
        self.inner.key.public_key()
    }

    /// Stores `subscription` as a device of `user`.
    ///
    /// # Errors
    /// [`PushError::Invalid`] for an endpoint off the allow-list or keys of the wrong size.
    pub async fn subscribe(
        &self,
        user: UserId,
        subscription: SubscriptionJson,
    ) -> Result<(), PushError> {
        check_endpoint(
            &subscription.endpoint,
            self.inner.config.allow_insecure_endpoints,
        )?;
        let decoded = |value: &str, what: &str, len: usize| {
            URL_SAFE_NO_PAD
                .decode(value.trim_end_matches('='))
                .ok()
                .filter(|bytes| bytes.len() == len)
                .ok_or_else(|| {
                    PushError::Invalid(format!("keys.{what}: not {len} bytes of base64url"))
                })
        };
        let p256dh = decoded(&subscription.keys.p256dh, "p256dh", 65)?;
        p256::PublicKey::from_sec1_bytes(&p256dh)
            .map_err(|_| PushError::Invalid("keys.p256dh: not a P-256 public key".into()))?;
        decoded(&subscription.keys.auth, "auth", 16)?;
        self.inner
            .store
            .upsert_push_subscription(NewPushSubscription {
                user,
                endpoint: subscription.endpoint,
                p256dh: subscription.keys.p256dh.trim_end_matches('=').to_string(),
                auth: subscription.keys.auth.trim_end_matches('=').to_string(),
            })
            .await?;
        Ok(())
    }

    /// Forgets `user`'s device with this endpoint; `true` if there was one.
    ///
    /// # Errors
    /// The store failing.
    pub async fn unsubscribe(&self, user: UserId, endpoint: &str) -> Result<bool, PushError> {
        Ok(self
            .inner
            .store
            .delete_push_subscription(user, endpoint)
            .await?)
    }

    /// A message was committed: push it to whoever needs it, later, on the push task. Never
    /// waits; a full queue drops it (counted).
    pub(crate) fn committed(&self, message: &Message, members: &[UserId], muted: &[UserId]) {
        let others: Vec<UserId> = members
            .iter()
            .copied()
            .filter(|user| *user != message.sender.id)
            .collect();
        if others.is_empty() {
            return;
        }
        let muted = muted
            .iter()
            .copied()
            .filter(|user| others.contains(user))
            .collect();
        let committed = Committed {
            message: message.clone(),
            others,
            muted,
        };
        if self.queue.try_send(committed).is_err() {
            self.inner.metrics.push_failed.inc();
            tracing::warn!("the push queue is full: a push is dropped");
        }
    }
}

/// The throttle of one (device, room).
struct Slot {
    last_sent: Instant,
    /// Messages since the last push, not pushed yet.
    pending: u32,
    /// The newest of them, and whether any mentioned the receiver.
    latest: Option<(PushPayload, bool)>,
    flush_scheduled: bool,
}

/// One subscription and the room a push is about.
type SlotKey = (PushSubscriptionId, RoomId);

/// How long the push task gathers committed messages before it looks for their devices, with
/// one store read for all of them. A push service takes far longer than this to deliver, and
/// under load one read serves many messages instead of one each.
const GATHER: Duration = Duration::from_millis(50);

/// Most committed messages in one gather.
const GATHER_MAX: usize = 512;

/// What the push task waits for: committed messages, and the ends of collapse windows.
enum Work {
    Committed(Box<Committed>),
    Flush(SlotKey, StoredPushSubscription),
}

/// The push task: decides who gets a push, collapses per (device, room), sends.
async fn run(inner: Arc<Inner>, mut waiting: mpsc::Receiver<Committed>) {
    let window = Duration::from_millis(inner.config.collapse_ms);
    let (flushes_tx, mut flushes) = mpsc::unbounded_channel::<(SlotKey, StoredPushSubscription)>();
    let sending = Arc::new(Semaphore::new(inner.config.concurrency.max(1)));
    let mut slots: HashMap<SlotKey, Slot> = HashMap::new();
    loop {
        let work = tokio::select! {
            committed = waiting.recv() => match committed {
                Some(committed) => Work::Committed(Box::new(committed)),
                None => return,
            },
            Some((key, sub)) = flushes.recv() => Work::Flush(key, sub),
        };
        match work {
            Work::Committed(first) => {
                // Whatever else is committed within the gather joins it (see `GATHER`).
                let mut gathered = vec![*first];
                let until = Instant::now() + GATHER;
                while gathered.len() < GATHER_MAX {
                    match tokio::time::timeout_at(until, waiting.recv()).await {
                        Ok(Some(committed)) => gathered.push(committed),
                        // Closed (the next `recv` ends the task) or the time is up.
                        Ok(None) | Err(_) => break,
                    }
                }
                for (sub, payload) in targets(&inner, gathered).await {
                    let key = (sub.id, payload.room_id);
                    let mention = payload.mention;
                    let now = Instant::now();
                    match slots.get_mut(&key) {
                        Some(slot) if now.duration_since(slot.last_sent) < window => {
                            slot.pending += 1;
                            let was_mention = slot.latest.as_ref().is_some_and(|(_, m)| *m);
                            slot.latest = Some((payload, was_mention || mention));
                            if !slot.flush_scheduled {
                                slot.flush_scheduled = true;
                                let at = slot.last_sent + window;
                                let flushes = flushes_tx.clone();
                                tokio::spawn(async move {
                                    tokio::time::sleep_until(at).await;
                                    let _ = flushes.send((key, sub));
                                });
                            }
                        }
                        _ => {
                            slots.insert(
                                key,
                                Slot {
                                    last_sent: now,
                                    pending: 0,
                                    latest: None,
                                    flush_scheduled: false,
                                },
                            );
                            send(&inner, &sending, sub, payload).await;
                        }
                    }
                }
                if slots.len() > MAX_THROTTLE_ENTRIES {
                    let now = Instant::now();
                    slots.retain(|_, slot| {
                        slot.flush_scheduled || now.duration_since(slot.last_sent) < window
                    });
                }
            }
            Work::Flush(key, sub) => {
                let Some(slot) = slots.get_mut(&key) else {
                    continue;
                };
                slot.flush_scheduled = false;
                let pending = std::mem::take(&mut slot.pending);
                let Some((mut payload, mention)) = slot.latest.take() else {
                    continue;
                };
                // The user may have opened the room meanwhile: then there is nothing to say.
                let showing = inner.broker.showing(key.1, &[sub.user]).await;
                if showing.contains(&sub.user) {
                    continue;
                }
                slot.last_sent = Instant::now();
                payload.count = pending;
                payload.mention = mention;
                send(&inner, &sending, sub, payload).await;
            }
        }
    }
}

/// The devices the committed messages of one gather are pushed to, in commit order, each with
/// its payload: members but the sender, not muted (unless mentioned), with no connection
/// showing the room on any node. One store read for the whole gather: most members have no
/// device, and a read per message cost more than the message's own delivery.
async fn targets(
    inner: &Inner,
    gathered: Vec<Committed>,
) -> Vec<(StoredPushSubscription, PushPayload)> {
    let candidates: Vec<(Message, Vec<UserId>)> = gathered
        .into_iter()
        .map(|committed| {
            let Committed {
                message,
                others,
                muted,
            } = committed;
            let candidates = others
                .into_iter()
                .filter(|user| !muted.contains(user) || message.mentions.contains(user))
                .collect();
            (message, candidates)
        })
        .collect();
    let mut everyone: Vec<UserId> = candidates
        .iter()
        .flat_map(|(_, users)| users.iter().copied())
        .collect();
    everyone.sort_unstable();
    everyone.dedup();
    if everyone.is_empty() {
        return Vec::new();
    }
    let subscriptions = match inner.store.push_subscriptions_of(&everyone).await {
        Ok(subscriptions) => subscriptions,
        Err(err) => {
            tracing::warn!(error = %err, messages = candidates.len(), "push subscriptions not read; no push");
            inner.metrics.push_failed.inc();
            return Vec::new();
        }
    };
    if subscriptions.is_empty() {
        return Vec::new();
    }
    let mut devices: HashMap<UserId, Vec<StoredPushSubscription>> = HashMap::new();
    for sub in subscriptions {
        devices.entry(sub.user).or_default().push(sub);
    }
    let mut targets = Vec::new();
    for (message, candidates) in candidates {
        let users: Vec<UserId> = candidates
            .into_iter()
            .filter(|user| devices.contains_key(user))
            .collect();
        if users.is_empty() {
            continue;
        }
        let showing = inner.broker.showing(message.room_id, &users).await;
        let text: String = message.text.chars().take(MAX_TEXT_CHARS).collect();
        for user in users.iter().filter(|user| !showing.contains(user)) {
            for sub in devices.get(user).into_iter().flatten() {
                let payload = PushPayload {
                    kind: "message".into(),
                    room_id: message.room_id,
                    seq: message.seq,
                    sender: message.sender.clone(),
                    text: text.clone(),
                    sent_at: message.sent_at.clone(),
                    count: 1,
                    mention: message.mentions.contains(user),
                };
                targets.push((sub.clone(), payload));
            }
        }
    }
    targets
}

/// Sends one push on a task of its own once a sending permit is free (at most `concurrency`
/// in flight; the push task waits for a permit, and the bounded queue before it drops
/// what does not fit).
async fn send(
    inner: &Arc<Inner>,
    sending: &Arc<Semaphore>,
    sub: StoredPushSubscription,
    payload: PushPayload,
) {
    let Ok(permit) = sending.clone().acquire_owned().await else {
        return;
    };
    let inner = inner.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let outcome = deliver(&inner, &sub, &payload).await;
        let store = &inner.store;
        // Counted once the store has it: a count seen means the row says so too.
        let (recorded, counter) = match outcome {
            Delivery::Sent => (
                store.record_push_outcome(sub.id, true, now_millis()).await,
                &inner.metrics.push_sent,
            ),
            Delivery::Gone(status) => {
                tracing::info!(user = %sub.user, status, "push subscription gone; removed");
                (
                    store.delete_push_subscription_by_id(sub.id).await,
                    &inner.metrics.push_gone,
                )
            }
            Delivery::Failed(reason) => {
                tracing::warn!(user = %sub.user, reason = %reason, "push failed");
                (
                    store.record_push_outcome(sub.id, false, now_millis()).await,
                    &inner.metrics.push_failed,
                )
            }
        };
        counter.inc();
        if let Err(err) = recorded {
            tracing::warn!(error = %err, "push outcome not recorded");
        }
    });
}

/// What the push service answered.
enum Delivery {
    Sent,
    /// `404` or `410`: the subscription is gone.
    Gone(u16),
    Failed(String),
}

/// Encrypts `payload` for `sub` (RFC 8291), signs (RFC 8292) and posts it (RFC 8030).
async fn deliver(inner: &Inner, sub: &StoredPushSubscription, payload: &PushPayload) -> Delivery {
    let endpoint = match check_endpoint(&sub.endpoint, inner.config.allow_insecure_endpoints) {
        Ok(endpoint) => endpoint,
        Err(err) => return Delivery::Failed(err.to_string()),
    };
    let keys = URL_SAFE_NO_PAD
        .decode(&sub.p256dh)
        .ok()
        .and_then(|bytes| p256::PublicKey::from_sec1_bytes(&bytes).ok())
        .zip(
            URL_SAFE_NO_PAD
                .decode(&sub.auth)
                .ok()
                .filter(|auth| auth.len() == 16),
        );
    let Some((public, auth)) = keys else {
        return Delivery::Failed("stored keys are damaged".into());
    };
    let body = match serde_json::to_vec(payload) {
        Ok(body) => body,
        Err(err) => return Delivery::Failed(err.to_string()),
    };
    let auth = web_push_native::Auth::clone_from_slice(&auth);
    let encrypted = match web_push_native::encrypt(body, &public, &auth) {
        Ok(encrypted) => encrypted,
        Err(err) => return Delivery::Failed(format!("encryption: {err}")),
    };
    let authorization = match inner.key.authorization(&endpoint, &inner.config.contact) {
        Ok(value) => value,
        Err(err) => return Delivery::Failed(err.to_string()),
    };
    let request = inner
        .client
        .post(endpoint)
        .header("TTL", PUSH_TTL_SECS)
        .header("Topic", format!("room-{}", payload.room_id))
        .header("Urgency", if payload.mention { "high" } else { "normal" })
        .header(reqwest::header::CONTENT_ENCODING, "aes128gcm")
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .header(reqwest::header::AUTHORIZATION, authorization)
        .body(encrypted);
    match request.send().await {
        Ok(response) if response.status().is_success() => Delivery::Sent,
        Ok(response) if matches!(response.status().as_u16(), 404 | 410) => {
            Delivery::Gone(response.status().as_u16())
        }
        Ok(response) => Delivery::Failed(format!("push service answered {}", response.status())),
        Err(err) => Delivery::Failed(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_https_and_public_unless_loopback_is_allowed() {
        assert!(check_endpoint("https://push.example.com/send/abc", false).is_ok());
        for refused in [
            "http://push.example.com/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://192.168.0.1/x",
            "https://169.254.169.254/latest",
            "https://[::1]/x",
            "https://[fd00::1]/x",
            "https://[::ffff:10.0.0.1]/x",
            "https://user:pw@push.example.com/x",
            "ftp://push.example.com/x",
            "not a url",
        ] {
            assert!(
                check_endpoint(refused, false).is_err(),
                "{refused} is refused"
            );
        }
        assert!(check_endpoint("http://127.0.0.1:9000/x", true).is_ok());
        assert!(
            check_endpoint("http://10.0.0.1/x", true).is_err(),
            "the insecure flag opens loopback only"
        );
    }

    #[test]
    fn a_vapid_key_round_trips_and_signs_for_the_endpoint_origin() {
        let private = VapidKey::generate();
        let key = VapidKey::from_private(&private).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(key.public_key()).unwrap().len(), 65);
        let endpoint = reqwest::Url::parse("http://127.0.0.1:8123/push/1").unwrap();
        let header = key
            .authorization(&endpoint, "mailto:ops@example.com")
            .unwrap();
        let token = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split(", k=").next())
            .unwrap();
        let claims = token.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
        assert_eq!(claims["aud"], "http://127.0.0.1:8123");
        assert_eq!(claims["sub"], "mailto:ops@example.com");
        assert!(header.ends_with(&format!(", k={}", key.public_key())));
        assert!(VapidKey::from_private("not a key").is_err());
    }
}
