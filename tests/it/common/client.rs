//! A JSON client of the API on loopback: a session (cookie and CSRF
//! token) or an API token.
#![allow(dead_code)] // each test crate uses a different part

use super::Server;
use serde_json::{Value, json};

pub struct Client {
    pub agent: ureq::Agent,
    pub url: String,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub token: Option<String>,
}

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
}

impl Client {
    pub fn new(server: &Server) -> Client {
        Client::at(&server.url)
    }

    /// A client of the server at `url` (for a thread of its own).
    pub fn at(url: &str) -> Client {
        Client {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into(),
            url: url.to_owned(),
            cookie: None,
            csrf: None,
            token: None,
        }
    }

    pub fn send(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let url = format!("{}{path}", self.url);
        let mut response = if method == "GET" || method == "DELETE" {
            let mut r = if method == "GET" {
                self.agent.get(&url)
            } else {
                self.agent.delete(&url)
            };
            if let Some(c) = &self.cookie {
                r = r.header("Cookie", c);
            }
            if let Some(x) = self.csrf.as_ref().filter(|_| method == "DELETE") {
                r = r.header("X-CSRF-Token", x);
            }
            if let Some(t) = &self.token {
                r = r.header("Authorization", format!("Bearer {t}"));
            }
            r.call().unwrap()
        } else {
            let r = if method == "PUT" {
                self.agent.put(&url)
            } else {
                self.agent.post(&url)
            };
            let mut r = r.header("Content-Type", "application/json");
            if let Some(c) = &self.cookie {
                r = r.header("Cookie", c);
            }
            if let Some(x) = &self.csrf {
                r = r.header("X-CSRF-Token", x);
            }
            if let Some(t) = &self.token {
                r = r.header("Authorization", format!("Bearer {t}"));
            }
            r.send(body.unwrap_or(json!({})).to_string()).unwrap()
        };
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let cookie = response
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.body_mut().read_to_string().unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if let Some(c) = cookie.filter(|c| c.starts_with("niji_session")) {
            assert!(
                c.contains("HttpOnly") && c.contains("SameSite=Strict"),
                "{c}"
            );
        }
        Reply {
            status: response.status().as_u16(),
            content_type,
            body,
        }
    }

    /// A GET's status, content type and body as bytes (a download).
    pub fn raw(&self, method: &str, path: &str) -> (u16, String, Vec<u8>) {
        assert_eq!(method, "GET", "downloads are GETs");
        let mut r = self.agent.get(format!("{}{path}", self.url));
        if let Some(c) = &self.cookie {
            r = r.header("Cookie", c);
        }
        if let Some(t) = &self.token {
            r = r.header("Authorization", format!("Bearer {t}"));
        }
        let mut response = r.call().unwrap();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.body_mut().read_to_vec().unwrap();
        (response.status().as_u16(), content_type, body)
    }

    /// The body of a page or a plain-text route, as text (JSON re-encoded).
    pub fn text(&self, method: &str, path: &str) -> String {
        match self.send(method, path, None).body {
            Value::String(text) => text,
            other => other.to_string(),
        }
    }

    /// The status of a GET, without following a redirect.
    pub fn status(&self, method: &str, path: &str) -> u16 {
        assert_eq!(method, "GET", "only GETs are probed unfollowed");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let mut r = agent.get(format!("{}{path}", self.url));
        if let Some(c) = &self.cookie {
            r = r.header("Cookie", c);
        }
        r.call().unwrap().status().as_u16()
    }

    /// The answer of an analysis request, following it when it became a
    /// job (202 with a `job`): polled until it ends, then fetched.
    pub fn settle(&self, reply: Reply) -> Reply {
        let Some(job) = reply.body.get("job").and_then(Value::as_str) else {
            return reply;
        };
        loop {
            let status = self.send("GET", &format!("/api/v1/jobs/{job}"), None);
            assert_eq!(status.status, 200, "{}", status.body);
            if status.body["status"] != "running" {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        self.send("GET", &format!("/api/v1/jobs/{job}/result"), None)
    }

    pub fn login(server: &Server, name: &str, password: &str) -> Client {
        Client::new(server).logged_in(name, password)
    }

    /// This client with the session `name` logs in to.
    pub fn logged_in(self, name: &str, password: &str) -> Client {
        let mut c = self;
        let agent = c.agent.clone();
        let mut response = agent
            .post(format!("{}/api/v1/auth/login", c.url))
            .header("Content-Type", "application/json")
            .send(json!({"name": name, "password": password}).to_string())
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "login {name}");
        let cookie = response
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        c.cookie = Some(cookie.split(';').next().unwrap().to_owned());
        let body: Value =
            serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        c.csrf = Some(body["csrf"].as_str().unwrap().to_owned());
        c
    }
}

/// The names of the releases a citizen's `/api/v1/me/accesses` view lists.
pub fn release_names(view: &Value) -> Vec<&str> {
    view["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect()
}

/// `client` files `application` and submits it for review; returns its id.
pub fn apply(client: &Client, application: Value) -> i64 {
    let app = client.send("POST", "/api/v1/applications", Some(application));
    assert_eq!(app.status, 201, "{}", app.body);
    let id = app.body["id"].as_i64().unwrap();
    let submitted = client.send("POST", &format!("/api/v1/applications/{id}/submit"), None);
    assert_eq!(submitted.status, 200, "{}", submitted.body);
    id
}

/// Each of `reviewers` approves application `id` with `conditions`;
/// returns the project the approval that completed the quorum made.
pub fn approve(
    server: &Server,
    id: i64,
    reviewers: &[&str],
    password: &str,
    conditions: Value,
) -> i64 {
    let mut project = None;
    for reviewer in reviewers {
        let r = Client::login(server, reviewer, password).send(
            "POST",
            &format!("/api/v1/applications/{id}/reviews"),
            Some(json!({"decision": "approve", "conditions": conditions})),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        project = r.body["project"]["id"].as_i64().or(project);
    }
    project.expect("the quorum was met")
}

/// Enrols the next of `people` whose card finds records, with `password`; the account and
/// the identity used.
pub fn enrol_next(
    admin: &Client,
    anonymous: &Client,
    people: &mut Vec<Value>,
    password: &str,
) -> (String, Value) {
    while let Some(person) = people.pop() {
        let code = admin.send(
            "POST",
            "/api/v1/admin/enrolment-codes",
            Some(person.clone()),
        );
        assert_eq!(code.status, 201, "{}", code.body);
        let mut form = person.clone();
        form["code"] = code.body["code"].clone();
        form["password"] = json!(password);
        let enrolled = anonymous.send("POST", "/api/v1/enrol", Some(form));
        match enrolled.status {
            201 => {
                let account = enrolled.body["account"].as_str().unwrap().to_owned();
                return (account, person);
            }
            // A card whose period saw no claim: no records carry it.
            422 => continue,
            other => panic!("enrolment answered {other}: {}", enrolled.body),
        }
    }
    panic!("no insured person of the population has records");
}
