//! The GraphQL WebSocket protocols, `graphql-transport-ws` and the legacy
//! `graphql-ws` (subscriptions-transport-ws), on one connection.
//!
//! Written here rather than taken from async-graphql-axum, whose protocol
//! serialises every answer for every socket: an answer shared by many
//! subscriptions (see `graphql::shared`) arrives serialised once, and a
//! socket only wraps it in its envelope (`{"type":"next","id":…,"payload":…}`).
//! The messages, close codes and order are those of async-graphql's
//! implementation, which clients of this server already know, but for one
//! the `graphql-transport-ws` protocol asks for: a `subscribe` whose id is
//! in use closes the socket with 4409 (async-graphql replaced the running
//! operation).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;

use async_graphql::http::{ClientMessage, WebSocketProtocols};
use async_graphql::{Data, Response};
use axum::extract::ws::{CloseFrame, Message};
use futures_util::stream::BoxStream;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde::Serialize;

use crate::graphql::shared::Answer;
use crate::graphql::Api;

/// Why `connection_init` was refused: the close code and reason.
pub struct Refusal {
    pub code: u16,
    pub reason: String,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerMessage<'a> {
    ConnectionAck,
    /// The legacy protocol's refusal.
    ConnectionError {
        payload: ErrorPayload<'a>,
    },
    /// The legacy protocol's answer.
    Data {
        id: &'a str,
        payload: &'a Response,
    },
    /// `graphql-transport-ws`'s answer.
    Next {
        id: &'a str,
        payload: &'a Response,
    },
    Complete {
        id: &'a str,
    },
    Pong,
}

#[derive(Serialize)]
struct ErrorPayload<'a> {
    message: &'a str,
}

fn text(m: &ServerMessage<'_>) -> String {
    serde_json::to_string(m).unwrap_or_default()
}

/// One operation of the connection: its answers and the start of each
/// answer's message, up to its payload.
struct Operation {
    answers: BoxStream<'static, Answer>,
    envelope: String,
}

/// What happened next on the connection.
enum Step {
    Client(Option<Result<Message, axum::Error>>),
    Frame(String),
    Done(String),
}

/// Serves the connection until the client leaves or the protocol ends it;
/// returns the close frame to send, if any. `init` answers the client's
/// `connection_init` with the connection's data.
pub async fn serve<Tx, Rx, Init, InitFut>(
    sink: &mut Tx,
    stream: &mut Rx,
    api: &Api,
    protocol: WebSocketProtocols,
    init: Init,
) -> Option<CloseFrame>
where
    Tx: Sink<Message> + Unpin,
    Rx: Stream<Item = Result<Message, axum::Error>> + Unpin,
    Init: FnOnce(serde_json::Value) -> InitFut,
    InitFut: Future<Output = Result<Data, Refusal>>,
{
    let legacy = protocol == WebSocketProtocols::SubscriptionsTransportWS;
    let close = |code: u16, reason: String| Some(CloseFrame { code, reason: reason.into() });
    let mut init = Some(init);
    let mut session: Option<Arc<Data>> = None;
    let mut operations: HashMap<String, Operation> = HashMap::new();
    loop {
        // Client messages first: an operation stopped is not answered again.
        let step = tokio::select! {
            biased;
            message = stream.next() => Step::Client(message),
            step = next_answer(&mut operations, legacy) => step,
        };
        let out = match step {
            Step::Frame(frame) => frame,
            Step::Done(id) => {
                operations.remove(&id);
                text(&ServerMessage::Complete { id: &id })
            }
            Step::Client(None | Some(Err(_))) => return None,
            // The socket answers a close and pings itself; after a close
            // the stream ends once the answer is out.
            Step::Client(Some(Ok(Message::Close(_) | Message::Ping(_) | Message::Pong(_)))) => continue,
            Step::Client(Some(Ok(message))) => {
                let parsed = match &message {
                    Message::Text(t) => ClientMessage::from_bytes(t.as_bytes()),
                    Message::Binary(b) => ClientMessage::from_bytes(b),
                    _ => continue,
                };
                let message = match parsed {
                    Ok(m) => m,
                    Err(e) => return close(1002, e.to_string()),
                };
                match message {
                    ClientMessage::ConnectionInit { payload } => {
                        let refused = match init.take() {
                            // Boxed: a future held inline would make every
                            // connection's task as large as it is, for its life.
                            Some(init) => match Box::pin(init(payload.unwrap_or_default())).await {
                                Ok(data) => {
                                    session = Some(Arc::new(data));
                                    None
                                }
                                Err(refusal) => Some(refusal),
                            },
                            None => Some(Refusal { code: 4429, reason: "Too many initialisation requests.".into() }),
                        };
                        match refused {
                            None => text(&ServerMessage::ConnectionAck),
                            // The legacy protocol says why in a message, then the socket ends.
                            Some(refusal) if legacy => {
                                let payload = ErrorPayload { message: &refusal.reason };
                                let _ = sink
                                    .send(Message::Text(text(&ServerMessage::ConnectionError { payload }).into()))
                                    .await;
                                return None;
                            }
                            Some(refusal) => return close(refusal.code, refusal.reason),
                        }
                    }
                    ClientMessage::Start { id, payload } => {
                        let Some(session) = &session else {
                            return close(1011, "The handshake is not completed.".into());
                        };
                        if !legacy && operations.contains_key(&id) {
                            return close(4409, format!("Subscriber for {id} already exists"));
                        }
                        let envelope = envelope(&id, legacy);
                        operations.insert(id, Operation { answers: api.subscribe(payload, session.clone()), envelope });
                        continue;
                    }
                    ClientMessage::Stop { id } => match operations.remove(&id) {
                        Some(_) => text(&ServerMessage::Complete { id: &id }),
                        None => continue,
                    },
                    ClientMessage::ConnectionTerminate => return None,
                    ClientMessage::Ping { .. } => text(&ServerMessage::Pong),
                    ClientMessage::Pong { .. } => continue,
                }
            }
        };
        if sink.send(Message::Text(out.into())).await.is_err() {
            return None;
        }
    }
}

/// The start of an answer's message for operation `id`: everything up to
/// its payload.
fn envelope(id: &str, legacy: bool) -> String {
    let kind = if legacy { "data" } else { "next" };
    let id = serde_json::to_string(id).unwrap_or_default();
    format!(r#"{{"type":"{kind}","id":{id},"payload":"#)
}

/// The next answer of any operation, as the message to send, or the id of
/// an operation that ended. Pending while there is none (and forever
/// without operations: a new one comes with a client message).
fn next_answer(operations: &mut HashMap<String, Operation>, legacy: bool) -> impl Future<Output = Step> + '_ {
    std::future::poll_fn(move |cx| {
        for (id, op) in operations.iter_mut() {
            match op.answers.poll_next_unpin(cx) {
                Poll::Ready(Some(Answer::Shared(delivery))) => {
                    let mut frame = String::with_capacity(op.envelope.len() + delivery.payload.len() + 1);
                    frame.push_str(&op.envelope);
                    frame.push_str(&delivery.payload);
                    frame.push('}');
                    return Poll::Ready(Step::Frame(frame));
                }
                Poll::Ready(Some(Answer::Own(answer))) => {
                    let m = if legacy {
                        ServerMessage::Data { id, payload: &answer }
                    } else {
                        ServerMessage::Next { id, payload: &answer }
                    };
                    return Poll::Ready(Step::Frame(text(&m)));
                }
                Poll::Ready(None) => return Poll::Ready(Step::Done(id.clone())),
                Poll::Pending => {}
            }
        }
        Poll::Pending
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_answer_is_wrapped_as_the_protocol_wants() {
        let payload = r#"{"data":{"x":1}}"#;
        let mine = format!("{}{payload}}}", envelope("a\"b", false));
        let theirs =
            text(&ServerMessage::Next { id: "a\"b", payload: &Response::new(async_graphql::value!({ "x": 1 })) });
        let (mine, theirs): (serde_json::Value, serde_json::Value) =
            (serde_json::from_str(&mine).unwrap(), serde_json::from_str(&theirs).unwrap());
        assert_eq!(mine, theirs);
        assert_eq!(mine["id"], "a\"b");
        let legacy: serde_json::Value = serde_json::from_str(&format!("{}{payload}}}", envelope("1", true))).unwrap();
        assert_eq!(legacy, serde_json::json!({ "type": "data", "id": "1", "payload": { "data": { "x": 1 } } }));
    }
}
