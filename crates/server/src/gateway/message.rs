//! Jupyter's own JSON message format on the `channels` WebSocket, as the
//! Kernel Gateway and jupyter-server speak it: a client's request read
//! (every field checked: it comes from anywhere), and a kernel's message
//! written back with the header the kernel gave it and, as parent, the
//! header of the client's request.

use bytesbox_kernels::RequestChannel;
use serde_json::{json, Map, Value};

use crate::protocol::KernelMessageFrame;

/// Longest `msg_id` taken from a client (a UUID is 36; jupyter_client's
/// ids add a session prefix and a counter).
const MAX_MSG_ID_CHARS: usize = 256;

/// A client's request.
#[derive(Debug, PartialEq)]
pub(crate) struct ClientRequest {
    pub channel: RequestChannel,
    pub msg_id: String,
    pub msg_type: String,
    /// Its header as it came, the parent header of every answer.
    pub header: Value,
    pub content: Value,
    pub metadata: Value,
}

/// Reads a client's message; the error says what is wrong with it.
pub(crate) fn parse_request(text: &str) -> Result<ClientRequest, String> {
    let message: Map<String, Value> = match serde_json::from_str(text) {
        Ok(Value::Object(message)) => message,
        Ok(_) => return Err("a message is a JSON object".into()),
        Err(e) => return Err(format!("a message is JSON: {e}")),
    };
    let Some(Value::Object(header)) = message.get("header") else {
        return Err("a message has a header object".into());
    };
    let msg_id = match header.get("msg_id") {
        Some(Value::String(id))
            if !id.is_empty() && id.chars().count() <= MAX_MSG_ID_CHARS && !id.chars().any(char::is_control) =>
        {
            id.clone()
        }
        _ => return Err(format!("header.msg_id is a string of 1 to {MAX_MSG_ID_CHARS} printable characters")),
    };
    let msg_type = match header.get("msg_type") {
        Some(Value::String(kind))
            if !kind.is_empty() && kind.len() <= 64 && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') =>
        {
            kind.clone()
        }
        _ => return Err("header.msg_type is a message type such as execute_request".into()),
    };
    let channel = match message.get("channel").and_then(Value::as_str) {
        Some("shell") => RequestChannel::Shell,
        Some("stdin") => RequestChannel::Stdin,
        Some("control") => RequestChannel::Control,
        Some(other) => return Err(format!("a client sends on shell, stdin or control, not {other:?}")),
        None => return Err("a message names its channel".into()),
    };
    let object = |field: &str| match message.get(field) {
        None | Some(Value::Null) => Ok(Value::Object(Map::new())),
        Some(value @ Value::Object(_)) => Ok(value.clone()),
        Some(_) => Err(format!("{field} is an object")),
    };
    let content = object("content")?;
    let metadata = object("metadata")?;
    match message.get("buffers") {
        None | Some(Value::Null) => {}
        Some(Value::Array(buffers)) if buffers.is_empty() => {}
        Some(_) => return Err("binary buffers are not supported".into()),
    }
    let content = with_defaults(&msg_type, content);
    Ok(ClientRequest { channel, msg_id, msg_type, header: Value::Object(header.clone()), content, metadata })
}

/// The fields the messaging spec lets a client leave out, filled in with
/// the spec's defaults (the kernel's side reads them as required).
fn with_defaults(msg_type: &str, mut content: Value) -> Value {
    if msg_type == "execute_request" {
        if let Value::Object(fields) = &mut content {
            let silent = fields.get("silent").and_then(Value::as_bool).unwrap_or(false);
            fields.entry("silent").or_insert(json!(false));
            fields.entry("store_history").or_insert(json!(!silent));
            fields.entry("user_expressions").or_insert(json!({}));
            fields.entry("allow_stdin").or_insert(json!(true));
            fields.entry("stop_on_error").or_insert(json!(true));
        }
    }
    content
}

/// A kernel's message in Jupyter's JSON form; `client_parent` is the
/// header of the client's request it answers, when it is still known.
pub(crate) fn from_kernel(frame: &KernelMessageFrame, client_parent: Option<&Value>) -> Value {
    let header = if frame.header.is_object() { frame.header.clone() } else { own_header(&frame.msg_type) };
    let parent_header = match (client_parent, &frame.parent_header) {
        (Some(parent), _) => parent.clone(),
        (None, parent @ Value::Object(_)) => parent.clone(),
        (None, _) => json!({}),
    };
    json!({
        "msg_id": header.get("msg_id").cloned().unwrap_or(Value::Null),
        "msg_type": frame.msg_type,
        "header": header,
        "parent_header": parent_header,
        "metadata": frame.metadata,
        "content": frame.content,
        "channel": frame.channel,
        "buffers": [],
    })
}

/// Bytesbox's answer to a request it could not pass on: the request's
/// reply type with an error, on the request's channel, so a client that
/// waits for the reply gets one. `None` for a message that wants none.
pub(crate) fn error_reply(request: &ClientRequest, why: &str) -> Option<Value> {
    let reply_type = format!("{}_reply", request.msg_type.strip_suffix("_request")?);
    let channel = match request.channel {
        RequestChannel::Shell => "shell",
        RequestChannel::Stdin => "stdin",
        RequestChannel::Control => "control",
    };
    let header = own_header(&reply_type);
    Some(json!({
        "msg_id": header["msg_id"],
        "msg_type": reply_type,
        "header": header,
        "parent_header": request.header,
        "metadata": {},
        "content": {"status": "error", "ename": "BytesboxError", "evalue": why, "traceback": [why]},
        "channel": channel,
        "buffers": [],
    }))
}

/// An iopub `status` message from Bytesbox itself (`dead` when the
/// kernel's process ended, `restarting` and `starting` around a restart).
pub(crate) fn status(execution_state: &str) -> Value {
    iopub("status", json!({ "execution_state": execution_state }))
}

/// An iopub `stream` message from Bytesbox itself (why a kernel died).
pub(crate) fn stderr_text(text: &str) -> Value {
    iopub("stream", json!({ "name": "stderr", "text": text }))
}

fn iopub(msg_type: &str, content: Value) -> Value {
    let header = own_header(msg_type);
    json!({
        "msg_id": header["msg_id"],
        "msg_type": msg_type,
        "header": header,
        "parent_header": {},
        "metadata": {},
        "content": content,
        "channel": "iopub",
        "buffers": [],
    })
}

fn own_header(msg_type: &str) -> Value {
    json!({
        "msg_id": uuid::Uuid::new_v4().to_string(),
        "msg_type": msg_type,
        "session": "bytesbox",
        "username": "bytesbox",
        "date": now(),
        "version": "5.3",
    })
}

/// Now, as Jupyter writes dates (ISO 8601 in UTC).
pub(crate) fn now() -> String {
    iso8601(std::time::SystemTime::now())
}

/// A time as Jupyter writes it.
pub(crate) fn iso8601(time: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(channel: &str, msg_type: &str) -> Value {
        json!({
            "header": {"msg_id": "abc-1", "msg_type": msg_type, "session": "s1", "username": "u", "date": "2026-01-01T00:00:00Z", "version": "5.3"},
            "parent_header": {},
            "metadata": {},
            "content": {"code": "1+1", "silent": false},
            "channel": channel,
            "buffers": []
        })
    }

    #[test]
    fn a_jupyter_request_is_read_with_its_header_kept() {
        let parsed = parse_request(&request("shell", "execute_request").to_string()).unwrap();
        assert_eq!(parsed.channel, RequestChannel::Shell);
        assert_eq!(parsed.msg_id, "abc-1");
        assert_eq!(parsed.msg_type, "execute_request");
        assert_eq!(parsed.header["session"], "s1");
        assert_eq!(parsed.content["code"], "1+1");
        // What the spec lets a client leave out is filled in.
        assert_eq!(parsed.content["store_history"], true);
        assert_eq!(parsed.content["allow_stdin"], true);
        assert_eq!(parsed.content["user_expressions"], json!({}));
        assert_eq!(parse_request(&request("stdin", "input_reply").to_string()).unwrap().channel, RequestChannel::Stdin);
        let control = parse_request(&request("control", "interrupt_request").to_string()).unwrap();
        assert_eq!(control.channel, RequestChannel::Control);
    }

    #[test]
    fn hostile_requests_are_refused_with_the_reason() {
        let cases: Vec<(Value, &str)> = vec![
            (json!([1, 2]), "JSON object"),
            (json!({"channel": "shell"}), "header object"),
            (
                {
                    let mut m = request("iopub", "status");
                    m["channel"] = json!("iopub");
                    m
                },
                "not \"iopub\"",
            ),
            (
                {
                    let mut m = request("shell", "x");
                    m.as_object_mut().unwrap().remove("channel");
                    m
                },
                "names its channel",
            ),
            (
                {
                    let mut m = request("shell", "execute_request");
                    m["header"]["msg_id"] = json!("");
                    m
                },
                "msg_id",
            ),
            (
                {
                    let mut m = request("shell", "execute_request");
                    m["header"]["msg_id"] = json!("x".repeat(257));
                    m
                },
                "msg_id",
            ),
            (
                {
                    let mut m = request("shell", "execute_request");
                    m["header"]["msg_id"] = json!("a\nb");
                    m
                },
                "msg_id",
            ),
            (
                {
                    let mut m = request("shell", "execute_request");
                    m["header"]["msg_id"] = json!(7);
                    m
                },
                "msg_id",
            ),
            (
                {
                    let mut m = request("shell", "Execute-Request");
                    m["header"]["msg_type"] = json!("Execute-Request");
                    m
                },
                "msg_type",
            ),
            (
                {
                    let mut m = request("shell", "execute_request");
                    m["content"] = json!("code");
                    m
                },
                "content is an object",
            ),
            (
                {
                    let mut m = request("shell", "execute_request");
                    m["metadata"] = json!([1]);
                    m
                },
                "metadata is an object",
            ),
            (
                {
                    let mut m = request("shell", "comm_msg");
                    m["buffers"] = json!(["AAAA"]);
                    m
                },
                "buffers",
            ),
        ];
        for (message, expected) in cases {
            let error = parse_request(&message.to_string()).expect_err(&message.to_string());
            assert!(error.contains(expected), "{message}: {error:?} lacks {expected:?}");
        }
        assert!(parse_request("{not json").unwrap_err().contains("JSON"));
    }

    #[test]
    fn a_kernel_message_keeps_its_header_and_answers_the_clients_own_header() {
        let frame = KernelMessageFrame {
            id: "gateway".into(),
            channel: "iopub".into(),
            msg_type: "stream".into(),
            parent: Some("abc-1".into()),
            content: json!({"name": "stdout", "text": "hi\n"}),
            metadata: json!({}),
            header: json!({"msg_id": "k-9", "msg_type": "stream", "session": "ks", "username": "kernel", "date": "2026-12-06T00:00:00Z", "version": "5.3"}),
            parent_header: json!({"msg_id": "abc-1", "session": "ours"}),
        };
        let client = json!({"msg_id": "abc-1", "session": "s1", "msg_type": "execute_request"});
        let message = from_kernel(&frame, Some(&client));
        assert_eq!(message["msg_id"], "k-9");
        assert_eq!(message["msg_type"], "stream");
        assert_eq!(message["header"]["session"], "ks");
        assert_eq!(message["parent_header"], client);
        assert_eq!(message["channel"], "iopub");
        assert_eq!(message["content"]["text"], "hi\n");
        // Without the client's header, the kernel's parent header.
        assert_eq!(from_kernel(&frame, None)["parent_header"]["session"], "ours");
    }

    #[test]
    fn a_request_that_cannot_be_passed_on_gets_an_error_reply_to_itself() {
        let execute = parse_request(&request("shell", "execute_request").to_string()).unwrap();
        let reply = error_reply(&execute, "too many runs").unwrap();
        assert_eq!(reply["msg_type"], "execute_reply");
        assert_eq!(reply["channel"], "shell");
        assert_eq!(reply["parent_header"]["msg_id"], "abc-1");
        assert_eq!(reply["content"]["status"], "error");
        assert_eq!(reply["content"]["evalue"], "too many runs");
        let input = parse_request(&request("stdin", "input_reply").to_string()).unwrap();
        assert!(error_reply(&input, "x").is_none(), "a reply wants no reply");
    }

    #[test]
    fn bytesboxs_own_status_messages_are_well_formed() {
        let dead = status("dead");
        assert_eq!(dead["channel"], "iopub");
        assert_eq!(dead["header"]["msg_type"], "status");
        assert_eq!(dead["content"]["execution_state"], "dead");
        assert_eq!(dead["msg_id"], dead["header"]["msg_id"]);
        let date = dead["header"]["date"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(date).is_ok(), "{date}");
        assert_eq!(stderr_text("why")["content"]["name"], "stderr");
    }
}
