//! The HTTP API of the contract, the `/ws` upgrade, health, metrics and the web app.
//!
//! `/api` answers cross-origin requests from the origins in `--allowed-origins` (CORS): the
//! same allow-list that guards `/ws`. Tokens travel in the `Authorization` header, never in
//! cookies, so no credentials mode is needed and `Access-Control-Allow-Credentials` is never
//! sent: another site can only act with a token it already holds.
//!
//! Handlers are thin: they authenticate, parse, call the services of [`App`]
//! ([`Chat`](crate::rooms::Chat), [`Auth`](crate::auth::Auth), [`Users`](crate::users::Users)),
//! and let [`Error`]'s `IntoResponse` speak for failures. This module is an edge: it reaches
//! the services, never the store or the broker.

use crate::app::App;
use crate::auth::{bearer, Identity};
use crate::client_addr::ClientAddr;
use crate::error::Error;
use crate::limits::{ConnectionSlot, UntilAnswered};
use crate::model::{
    AttachmentId, Message, ReadMark, Room, RoomId, SearchResults, Seq, User, UserId,
};
use crate::rooms::{Draft, ReplyTarget, RoomCursor, SearchRequest};
use crate::session;
use crate::web_assets::WebApp;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_SECURITY_POLICY,
    CONTENT_TYPE, HOST, LINK, ORIGIN, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{request::Parts, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// The OpenAPI 3.1 description of the HTTP API, served at `/api/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The Content-Security-Policy of the web app: scripts and styles only from this origin (no
/// inline `<style>` or `style` attributes; React's `style` props set the CSSOM, which CSP does
/// not govern), connections only back to it (CSP Level 3 lets `'self'` match the same host's
/// `ws:`/`wss:`, as Chromium, Firefox and Safari do), no plugins, no framing. Images may be
/// `blob:` URLs: the app fetches attachments with the bearer token and shows them through
/// object URLs of its own, so that no token ever sits in an image's URL.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; \
     object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'";

/// How long a browser may cache a CORS preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// Builds the router over `app`.
pub fn router(app: Arc<App>) -> Router {
    let mut api = Router::new()
        .route("/api/register", post(register))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/logout/all", post(logout_everywhere))
        .route("/api/me", get(me).patch(update_me))
        .route("/api/me/password", post(change_password))
        .route("/api/users", get(search_users))
        .route("/api/search", get(search_messages))
        .route("/api/rooms", get(list_rooms).post(create_group))
        .route("/api/rooms/direct", post(open_direct))
        .route("/api/rooms/{id}", get(get_room).patch(rename_room))
        .route("/api/rooms/{id}/members", post(add_members))
        .route("/api/rooms/{id}/members/me", delete(leave_room))
        .route("/api/rooms/{id}/messages", get(history).post(post_message))
        .route(
            "/api/rooms/{id}/messages/{seq}",
            patch(edit_message).delete(delete_message),
        )
        .route(
            "/api/rooms/{id}/messages/{seq}/reactions/{emoji}",
            put(add_reaction).delete(remove_reaction),
        )
        .route("/api/rooms/{id}/changes", get(changes))
        .route("/api/rooms/{id}/read", post(mark_read))
        .route("/api/rooms/{id}/reads", get(read_marks))
        .route("/api/rooms/{id}/mute", put(mute_room).delete(unmute_room))
        .route("/api/push/key", get(push_key))
        .route(
            "/api/push/subscriptions",
            post(push_subscribe).delete(push_unsubscribe),
        )
        .route("/api/rooms/{id}/attachments", post(upload_attachment))
        .route("/api/attachments/{id}", get(download_attachment))
        .route("/api/attachments/{id}/thumbnail", get(download_thumbnail))
        .route("/api/openapi.json", get(openapi))
        .route("/api/{*rest}", axum::routing::any(api_not_found));
    if let Some(cors) = cors_layer(&app.config().allowed_origins) {
        api = api.layer(cors);
    }
    let web = Arc::new(WebApp::choose(app.config().web_dir.as_deref()));
    Router::new()
        .merge(api)
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/ws", get(ws_upgrade))
        .fallback(
            move |method: Method, uri: axum::http::Uri, headers: HeaderMap| {
                let web = web.clone();
                async move { web.respond(&method, uri.path(), &headers).await }
            },
        )
        .layer(RequestBodyTimeoutLayer::new(Duration::from_millis(
            app.config().limits.request_body_timeout_ms,
        )))
        .layer(SetResponseHeaderLayer::if_not_present(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .with_state(app)
}

/// CORS for `/api` from the `--allowed-origins` list (none: no cross-origin access at all;
/// `*`: any origin). Preflights are answered for the methods and headers the API uses.
fn cors_layer(allowed: &[String]) -> Option<CorsLayer> {
    if allowed.is_empty() {
        return None;
    }
    let origins = if allowed.iter().any(|a| a == "*") {
        AllowOrigin::any()
    } else {
        let allowed = allowed.to_vec();
        AllowOrigin::predicate(move |origin: &HeaderValue, _: &Parts| {
            origin
                .to_str()
                .is_ok_and(|origin| origin_listed(origin, &allowed))
        })
    };
    Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([AUTHORIZATION, CONTENT_TYPE])
            .max_age(PREFLIGHT_MAX_AGE),
    )
}

/// Whether `origin` is in the allow-list (`*` allows any); the comparison ignores case and a
/// trailing slash.
fn origin_listed(origin: &str, allowed: &[String]) -> bool {
    let origin = origin.trim_end_matches('/');
    allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

async fn api_not_found() -> Error {
    Error::NotFound("no such API endpoint".into())
}

/// A JSON body whose rejection is a contract-shaped `400 invalid`.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T, S> FromRequest<S> for Body<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(Error::TooLarge(rejection.body_text()))
            }
            Err(rejection) => Err(Error::Invalid(rejection.body_text())),
        }
    }
}

/// The authenticated caller of an `/api/*` request.
#[derive(Debug)]
pub struct Caller(pub Identity);

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
            .ok_or(Error::Unauthorized)?;
        Ok(Caller(app.auth().authenticate(token).await?))
    }
}

impl FromRequestParts<Arc<App>> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Infallible> {
        // Every connection is served with its peer address; a request without one (a test
        // calling the router directly) counts as coming from an unspecified address.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |info| info.0);
        let ip = app
            .admission()
            .trusted_proxies()
            .client_ip(peer.ip(), &parts.headers);
        Ok(ClientAddr(SocketAddr::new(ip, peer.port())))
    }
}

fn room_id(raw: &str) -> Result<RoomId, Error> {
    raw.parse()
        .map_err(|_| Error::NotFound(format!("no room {raw}")))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterRequest {
    username: String,
    password: String,
    display_name: Option<String>,
}

/// Takes `count` tokens of one of a user's budgets, before the work they pay for.
fn spend(
    budget: &crate::throttle::KeyedBuckets<UserId>,
    user: UserId,
    count: u32,
    what: &str,
) -> Result<(), Error> {
    if count > budget.capacity() {
        return Err(Error::TooLarge(format!(
            "at most {} {what} at a time",
            budget.capacity()
        )));
    }
    budget
        .try_take(&user, count)
        .map_err(|wait| Error::throttled(format!("too many {what}; slow down"), wait))
}

/// How many distinct users other than `me` a request names: what adding them costs.
fn others_named(members: &[String], me: &User) -> u32 {
    let mut names: Vec<String> = members
        .iter()
        .map(|m| m.trim().to_lowercase())
        .filter(|m| *m != me.username)
        .collect();
    names.sort();
    names.dedup();
    u32::try_from(names.len()).unwrap_or(u32::MAX)
}

async fn register(
    State(app): State<Arc<App>>,
    client: ClientAddr,
    Body(req): Body<RegisterRequest>,
) -> Result<(StatusCode, Json<User>), Error> {
    let user = app
        .auth()
        .register(
            &req.username,
            &req.password,
            req.display_name.as_deref(),
            client.0.ip(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Debug, Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Debug, Serialize)]
struct LoginResponse {
    token: String,
    user: User,
}

async fn login(
    State(app): State<Arc<App>>,
    client: ClientAddr,
    Body(req): Body<LoginRequest>,
) -> Result<Json<LoginResponse>, Error> {
    let (token, user) = app
        .auth()
        .login(&req.username, &req.password, client.0.ip())
        .await?;
    Ok(Json(LoginResponse { token, user }))
}

async fn logout(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
) -> Result<StatusCode, Error> {
    app.auth().logout(&identity).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller as a user, with its own settings beside (`presenceVisible`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Me {
    #[serde(flatten)]
    user: User,
    presence_visible: bool,
}

async fn me(State(app): State<Arc<App>>, Caller(identity): Caller) -> Result<Json<Me>, Error> {
    let presence_visible = app.presence().is_visible(identity.user.id).await?;
    Ok(Json(Me {
        user: identity.user,
        presence_visible,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateMe {
    display_name: Option<String>,
    presence_visible: Option<bool>,
}

/// `PATCH /api/me {displayName?, presenceVisible?}`: the caller's profile and settings. A new
/// display name reaches the people who share a room with the caller; hiding presence shows the
/// caller offline to them.
async fn update_me(
    State(app): State<Arc<App>>,
    Caller(mut identity): Caller,
    Body(req): Body<UpdateMe>,
) -> Result<Json<Me>, Error> {
    if req.display_name.is_none() && req.presence_visible.is_none() {
        return Err(Error::Invalid(
            "nothing to change: give displayName or presenceVisible".into(),
        ));
    }
    if let Some(name) = &req.display_name {
        // A rename reaches every contact: it costs one send, like a message.
        spend(&app.budgets().sends, identity.user.id, 1, "messages")?;
        identity.user = app.auth().set_display_name(&identity, name).await?;
    }
    let presence_visible = match req.presence_visible {
        Some(visible) => {
            app.presence()
                .set_visible(identity.user.id, visible)
                .await?;
            visible
        }
        None => app.presence().is_visible(identity.user.id).await?,
    };
    Ok(Json(Me {
        user: identity.user,
        presence_visible,
    }))
}

/// `POST /api/logout/all`: every token of the caller stops working, every socket closes.
async fn logout_everywhere(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
) -> Result<StatusCode, Error> {
    app.auth().logout_everywhere(&identity).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PasswordRequest {
    current_password: String,
    new_password: String,
}

/// `POST /api/me/password`: the caller's session stays; every other one ends.
async fn change_password(
    State(app): State<Arc<App>>,
    client: ClientAddr,
    Caller(identity): Caller,
    Body(req): Body<PasswordRequest>,
) -> Result<StatusCode, Error> {
    app.auth()
        .change_password(
            &identity,
            &req.current_password,
            &req.new_password,
            client.0.ip(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn search_users(
    State(app): State<Arc<App>>,
    Caller(_): Caller,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<Vec<User>>, Error> {
    let Query(query) = query.map_err(|r| Error::Invalid(r.body_text()))?;
    Ok(Json(app.users().search(&query.q).await?))
}

#[derive(Debug, Deserialize)]
struct MessageSearchQuery {
    #[serde(default)]
    q: String,
    room: Option<String>,
    sender: Option<String>,
    before: Option<String>,
    limit: Option<u32>,
}

async fn search_messages(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    query: Result<Query<MessageSearchQuery>, QueryRejection>,
) -> Result<Json<SearchResults>, Error> {
    let Query(q) = query.map_err(|r| Error::Invalid(r.body_text()))?;
    let room = match q.room.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(
            raw.parse::<RoomId>()
                .map_err(|_| Error::Invalid("room is a room id".into()))?,
        ),
    };
    let request = SearchRequest {
        q: q.q,
        room,
        sender: q.sender,
        before: q.before.filter(|b| !b.is_empty()),
        limit: q.limit,
    };
    Ok(Json(app.chat().search(identity.user.id, request).await?))
}

#[derive(Debug, Deserialize)]
struct DirectRequest {
    username: String,
}

async fn open_direct(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Body(req): Body<DirectRequest>,
) -> Result<(StatusCode, Json<Room>), Error> {
    let me = identity.user.id;
    if let Err(wait) = app.budgets().rooms.try_take(&me, 1) {
        // Out of new rooms, a user may still reopen one it has.
        return match app
            .chat()
            .existing_direct(&identity.user, &req.username)
            .await?
        {
            Some(room) => Ok((StatusCode::OK, Json(room))),
            None => Err(Error::throttled("too many new rooms; slow down", wait)),
        };
    }
    let opened = app.chat().open_direct(&identity.user, &req.username).await;
    if !matches!(opened, Ok((_, true))) {
        // Only a room that was created now costs one.
        app.budgets().rooms.give_back(&me);
    }
    let (room, created) = opened?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(room)))
}

#[derive(Debug, Deserialize)]
struct GroupRequest {
    name: String,
    #[serde(default)]
    members: Vec<String>,
}

async fn create_group(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Body(req): Body<GroupRequest>,
) -> Result<(StatusCode, Json<Room>), Error> {
    let me = identity.user.id;
    spend(&app.budgets().rooms, me, 1, "new rooms")?;
    let others = others_named(&req.members, &identity.user);
    if let Err(err) = spend(&app.budgets().members_added, me, others, "members added") {
        app.budgets().rooms.give_back(&me);
        return Err(err);
    }
    let room = app
        .chat()
        .create_group(&identity.user, &req.name, &req.members)
        .await?;
    Ok((StatusCode::CREATED, Json(room)))
}

#[derive(Debug, Deserialize)]
struct RoomsQuery {
    before: Option<String>,
    limit: Option<u32>,
}

/// A page of the caller's rooms (at most 200); when there are more, a `Link: <…>; rel="next"`
/// header gives the next page's URL, whose opaque `before` cursor continues the list.
async fn list_rooms(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    query: Result<Query<RoomsQuery>, QueryRejection>,
) -> Result<Response, Error> {
    let Query(q) = query.map_err(|r| Error::Invalid(r.body_text()))?;
    let after = match q.before.as_deref() {
        Some(raw) => Some(
            raw.parse::<RoomCursor>()
                .map_err(|()| Error::Invalid("before is a cursor from a Link header".into()))?,
        ),
        None => None,
    };
    let page = app.chat().rooms(identity.user.id, after, q.limit).await?;
    let mut response = Json(page.rooms).into_response();
    if let Some(next) = page.next {
        let limit = q.limit.map(|l| format!("&limit={l}")).unwrap_or_default();
        let link = format!("</api/rooms?before={next}{limit}>; rel=\"next\"");
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(LINK, value);
        }
    }
    Ok(response)
}

async fn get_room(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
) -> Result<Json<Room>, Error> {
    Ok(Json(
        app.chat().room(identity.user.id, room_id(&id)?).await?,
    ))
}

#[derive(Debug, Deserialize)]
struct MembersRequest {
    members: Vec<String>,
}

async fn add_members(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
    Body(req): Body<MembersRequest>,
) -> Result<Json<Room>, Error> {
    let others = others_named(&req.members, &identity.user);
    spend(
        &app.budgets().members_added,
        identity.user.id,
        others,
        "members added",
    )?;
    let room = app
        .chat()
        .add_members(&identity.user, room_id(&id)?, &req.members)
        .await?;
    Ok(Json(room))
}

#[derive(Debug, Deserialize)]
struct RenameRequest {
    name: String,
}

/// `PATCH /api/rooms/{id} {name}`: renames a group; every member hears of it.
async fn rename_room(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
    Body(req): Body<RenameRequest>,
) -> Result<Json<Room>, Error> {
    // A rename reaches every member like an added one: it shares the members-added budget.
    spend(
        &app.budgets().members_added,
        identity.user.id,
        1,
        "room changes",
    )?;
    let room = app
        .chat()
        .rename_group(&identity.user, room_id(&id)?, &req.name)
        .await?;
    Ok(Json(room))
}

async fn leave_room(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    app.chat().leave(&identity.user, room_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn mute_room(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
) -> Result<Json<Room>, Error> {
    let room = room_id(&id)?;
    Ok(Json(
        app.chat().set_muted(identity.user.id, room, true).await?,
    ))
}

async fn unmute_room(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
) -> Result<Json<Room>, Error> {
    let room = room_id(&id)?;
    Ok(Json(
        app.chat().set_muted(identity.user.id, room, false).await?,
    ))
}

/// `GET /api/push/key`: the VAPID public key a browser subscribes with.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PushKey {
    public_key: String,
}

async fn push_key(State(app): State<Arc<App>>, Caller(_): Caller) -> Result<Json<PushKey>, Error> {
    let push = app.push().ok_or(Error::PushDisabled)?;
    Ok(Json(PushKey {
        public_key: push.public_key().to_string(),
    }))
}

async fn push_subscribe(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Body(subscription): Body<crate::push::SubscriptionJson>,
) -> Result<StatusCode, Error> {
    let push = app.push().ok_or(Error::PushDisabled)?;
    push.subscribe(identity.user.id, subscription).await?;
    Ok(StatusCode::CREATED)
}

#[derive(Debug, Deserialize)]
struct PushUnsubscribe {
    endpoint: String,
}

async fn push_unsubscribe(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Body(req): Body<PushUnsubscribe>,
) -> Result<StatusCode, Error> {
    let push = app.push().ok_or(Error::PushDisabled)?;
    if push.unsubscribe(identity.user.id, &req.endpoint).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NotFound("no such push subscription".into()))
    }
}

#[derive(Debug, Deserialize)]
struct HistoryQuery {
    before: Option<Seq>,
    after: Option<Seq>,
    limit: Option<u32>,
}

async fn history(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<Vec<Message>>, Error> {
    let Query(q) = query.map_err(|r| Error::Invalid(r.body_text()))?;
    let messages = app
        .chat()
        .history(identity.user.id, room_id(&id)?, q.before, q.after, q.limit)
        .await?;
    Ok(Json(messages))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostMessageRequest {
    /// May be left out (or empty) when the message carries attachments.
    #[serde(default)]
    text: String,
    client_msg_id: Option<String>,
    /// Read by [`ReplyTarget::from_json`], so that every bad form is `invalid` alike.
    #[serde(default)]
    reply_to: Option<serde_json::Value>,
    #[serde(default)]
    attachments: Vec<AttachmentId>,
}

async fn post_message(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
    Body(req): Body<PostMessageRequest>,
) -> Result<(StatusCode, Json<Message>), Error> {
    // The same per-user budget as STOMP SENDs: switching to HTTP buys no more messages.
    spend(&app.budgets().sends, identity.user.id, 1, "messages")?;
    let draft = Draft {
        text: req.text,
        client_msg_id: req.client_msg_id,
        reply_to: req
            .reply_to
            .as_ref()
            .map(ReplyTarget::from_json)
            .transpose()?,
        attachments: req.attachments,
    };
    let message = app
        .chat()
        .post(&identity.user, room_id(&id)?, draft)
        .await?;
    Ok((StatusCode::CREATED, Json(message)))
}

/// A message's `seq` from a path; one that is not a number names no message.
fn message_seq(raw: &str) -> Result<Seq, Error> {
    raw.parse()
        .map_err(|_| Error::NotFound(format!("no message {raw}")))
}

#[derive(Debug, Deserialize)]
struct EditMessageRequest {
    text: String,
}

async fn edit_message(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Path((id, seq)): Path<(String, String)>,
    Body(req): Body<EditMessageRequest>,
) -> Result<Json<Message>, Error> {
    // Edits and deletes share the user's send budget with messages.
    spend(&app.budgets().sends, identity.user.id, 1, "messages")?;
    let message = app
        .chat()
        .edit_message(&identity.user, room_id(&id)?, message_seq(&seq)?, &req.text)
        .await?;
    Ok(Json(message))
}

async fn delete_message(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Path((id, seq)): Path<(String, String)>,
) -> Result<Json<Message>, Error> {
    spend(&app.budgets().sends, identity.user.id, 1, "messages")?;
    let message = app
        .chat()
        .delete_message(&identity.user, room_id(&id)?, message_seq(&seq)?)
        .await?;
    Ok(Json(message))
}

async fn add_reaction(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Path((id, seq, emoji)): Path<(String, String, String)>,
) -> Result<Json<Message>, Error> {
    react(&app, &identity.user, &id, &seq, &emoji, true).await
}

async fn remove_reaction(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Path((id, seq, emoji)): Path<(String, String, String)>,
) -> Result<Json<Message>, Error> {
    react(&app, &identity.user, &id, &seq, &emoji, false).await
}

/// Adds or takes back a reaction; `emoji` arrives percent-decoded from the path.
async fn react(
    app: &App,
    user: &User,
    room: &str,
    seq: &str,
    emoji: &str,
    add: bool,
) -> Result<Json<Message>, Error> {
    // Reactions share the user's send budget with messages.
    spend(&app.budgets().sends, user.id, 1, "messages")?;
    let message = app
        .chat()
        .react(user, room_id(room)?, message_seq(seq)?, emoji, add)
        .await?;
    Ok(Json(message))
}

#[derive(Debug, Deserialize)]
struct ChangesQuery {
    after: Option<u64>,
    limit: Option<u32>,
}

async fn changes(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
    query: Result<Query<ChangesQuery>, QueryRejection>,
) -> Result<Json<Vec<Message>>, Error> {
    let Query(q) = query.map_err(|r| Error::Invalid(r.body_text()))?;
    let messages = app
        .chat()
        .changes(
            identity.user.id,
            room_id(&id)?,
            q.after.unwrap_or(0),
            q.limit,
        )
        .await?;
    Ok(Json(messages))
}

#[derive(Debug, Deserialize)]
struct ReadRequest {
    seq: Seq,
}

async fn mark_read(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
    Body(req): Body<ReadRequest>,
) -> Result<StatusCode, Error> {
    spend(&app.budgets().sends, identity.user.id, 1, "messages")?;
    app.chat()
        .mark_read(identity.user.id, room_id(&id)?, req.seq, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/rooms/{id}/reads`: every member's read mark, for a member only.
async fn read_marks(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<ReadMark>>, Error> {
    let marks = app
        .chat()
        .read_marks(identity.user.id, room_id(&id)?)
        .await?;
    Ok(Json(marks))
}

#[derive(Debug, Deserialize)]
struct UploadQuery {
    name: Option<String>,
}

/// `POST /api/rooms/{id}/attachments?name=FILE`: the body is streamed to storage (never held
/// whole), refused before it is read when its `Content-Length` is over the limit.
async fn upload_attachment(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
    query: Result<Query<UploadQuery>, QueryRejection>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<crate::model::Attachment>), Error> {
    let Query(q) = query.map_err(|r| Error::Invalid(r.body_text()))?;
    let content_length = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let claimed_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    spend(&app.budgets().sends, identity.user.id, 1, "messages")?;
    let attachment = app
        .attachments()
        .upload(
            &identity.user,
            room_id(&id)?,
            q.name.as_deref().unwrap_or(""),
            claimed_type,
            content_length,
            body.into_data_stream(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(attachment)))
}

fn attachment_id(raw: &str) -> Result<AttachmentId, Error> {
    raw.parse()
        .map_err(|_| Error::NotFound(format!("no attachment {raw}")))
}

async fn download_attachment(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    let download = app
        .attachments()
        .open(identity.user.id, attachment_id(&id)?, false)
        .await?;
    Ok(download_response(download))
}

async fn download_thumbnail(
    State(app): State<Arc<App>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    let download = app
        .attachments()
        .open(identity.user.id, attachment_id(&id)?, true)
        .await?;
    Ok(download_response(download))
}

/// What every served file is sent with: no sniffing, no scripts or plugins even if a browser
/// were to render it, a download (images: shown inline) with its name, private caching.
const ATTACHMENT_CSP: &str = "sandbox; default-src 'none'";

fn download_response(download: crate::attachments::Download) -> Response {
    let disposition = if download.inline {
        "inline"
    } else {
        "attachment"
    };
    let disposition = format!(
        "{disposition}; filename*=UTF-8''{}",
        percent_encode_attr(&download.name)
    );
    let content_type = if download.content_type == "text/plain" {
        "text/plain; charset=utf-8".to_string()
    } else {
        download.content_type
    };
    let mut response = axum::body::Body::from_stream(download.body).into_response();
    let headers = response.headers_mut();
    let mut set = |name, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(CONTENT_TYPE, &content_type);
    set(CONTENT_LENGTH, &download.size.to_string());
    set(X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(CONTENT_SECURITY_POLICY, ATTACHMENT_CSP);
    set(CONTENT_DISPOSITION, &disposition);
    set(CACHE_CONTROL, "private");
    response
}

/// A file name as an RFC 8187 `filename*` value: UTF-8, every byte but the unreserved
/// `attr-char`s percent-encoded.
fn percent_encode_attr(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

async fn openapi() -> Response {
    ([(CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// `/healthz`: the store and the broker. The store is needed for everything, so without it
/// the node is unavailable (503). Without the broker (Redis down) the node still serves its own
/// connections and only misses the other nodes' publications (its clients catch up from the
/// store), so it stays in service as `degraded` (200) rather than being taken out of a load
/// balancer along with every other node that shares the same Redis.
async fn healthz(State(app): State<Arc<App>>) -> Response {
    let broker_reachable = app.broker_reachable();
    let broker = if broker_reachable {
        "ok"
    } else {
        "unreachable"
    };
    match app.check_store().await {
        Ok(()) => {
            let status = if broker_reachable {
                "ok"
            } else {
                tracing::warn!(
                    "health check: broker unreachable; serving this node's connections only"
                );
                "degraded"
            };
            (
                StatusCode::OK,
                Json(serde_json::json!({
                    "status": status,
                    "store": "ok",
                    "broker": broker,
                })),
            )
                .into_response()
        }
        Err(err) => {
            tracing::error!(error = %err, "health check: store unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({
                    "status": "unavailable",
                    "store": "unreachable",
                    "broker": broker,
                })),
            )
                .into_response()
        }
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics().render(),
    )
        .into_response()
}

/// Whether a browser on `Origin` may open `/ws`: no `Origin` (not a browser), the server's
/// own origin, or one listed in `--allowed-origins` (`*` allows any).
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if origin_listed(origin, allowed) {
        return true;
    }
    let origin = origin.trim_end_matches('/');
    let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    ["http://", "https://"]
        .iter()
        .any(|scheme| origin.eq_ignore_ascii_case(&format!("{scheme}{host}")))
}

/// The WebSocket subprotocols of STOMP over WebSocket, in order of preference.
const STOMP_SUBPROTOCOLS: [&str; 3] = ["v12.stomp", "v11.stomp", "v10.stomp"];

async fn ws_upgrade(
    State(app): State<Arc<App>>,
    ClientAddr(peer): ClientAddr,
    total_slot: Option<axum::Extension<ConnectionSlot>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if app.shutdown().is_cancelled() {
        return Error::ShuttingDown.into_response();
    }
    if !origin_allowed(&headers, &app.config().allowed_origins) {
        tracing::info!(%peer, origin = ?headers.get(ORIGIN), "refused a WebSocket from another origin");
        return Error::Forbidden("this origin may not open a WebSocket here".into())
            .into_response();
    }
    // RFC 6455 4.2.2: the server answers only a subprotocol the client offered. A client that
    // offers some, none of them STOMP, would get a 101 without one and abort; it gets a 400
    // that says why instead. A client that offers none is accepted (plain STOMP over WebSocket).
    let ws = ws.protocols(STOMP_SUBPROTOCOLS);
    let offered: Vec<String> = ws
        .requested_protocols()
        .filter_map(|p| p.to_str().ok())
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    if !offered.is_empty() && ws.selected_protocol().is_none() {
        tracing::info!(%peer, ?offered, "refused a WebSocket without a STOMP subprotocol");
        return Error::Invalid(format!(
            "none of the offered subprotocols ({}) is supported; offer one of {}",
            offered.join(", "),
            STOMP_SUBPROTOCOLS.join(", ")
        ))
        .into_response();
    }
    let (slot, pending) = match app.admission().admit_websocket(peer.ip()) {
        Ok(slots) => slots,
        Err(err) => return err.into_response(),
    };
    // The WebSocket layer's own cap sits well above the STOMP frame limit, so an oversized frame
    // reaches the decoder and is answered with `ERROR too_large` instead of a bare close; only a
    // message several times too big is cut off by the WebSocket layer itself.
    let ws_max = app.config().limits.max_frame_bytes.saturating_mul(4) + 4096;
    let tasks = app.sessions().clone();
    // tungstenite's defaults (a 128 KiB read buffer, allocated and zero-filled per socket, and a
    // 128 KiB write buffer) cost more than everything else a connection holds. STOMP frames here
    // are a few hundred bytes: a 4 KiB read buffer grows when a bigger message arrives, and a
    // 4 KiB write threshold still lets a batch of queued frames leave in one write (the session
    // flushes once per batch) without keeping a large buffer per idle connection.
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_message_size(ws_max)
        .max_frame_size(ws_max)
        .on_upgrade(move |socket| {
            tasks.track_future(async move {
                session::run(UntilAnswered::new(socket, pending), app, peer).await;
                drop(slot);
                drop(total_slot);
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(o) = origin {
            h.insert(ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h.insert(HOST, HeaderValue::from_str(host).unwrap());
        h
    }

    #[test]
    fn origins_are_checked_against_the_host_and_the_allow_list() {
        let none: Vec<String> = vec![];
        assert!(origin_allowed(&headers(None, "chat.example:8080"), &none));
        assert!(origin_allowed(
            &headers(Some("http://chat.example:8080"), "chat.example:8080"),
            &none
        ));
        assert!(origin_allowed(
            &headers(Some("https://chat.example"), "chat.example"),
            &none
        ));
        assert!(!origin_allowed(
            &headers(Some("http://evil.example"), "chat.example"),
            &none
        ));
        let dev = vec!["http://localhost:5173".to_string()];
        assert!(origin_allowed(
            &headers(Some("http://localhost:5173"), "127.0.0.1:8080"),
            &dev
        ));
        assert!(!origin_allowed(
            &headers(Some("http://localhost:5174"), "127.0.0.1:8080"),
            &dev
        ));
    }
}
