//! An OpenID provider on loopback, for the tests of the My Number Card
//! sign-in: idpyoidc's server (`tests/oidc/provider.py`) in the virtual
//! environment `.ci/run` makes (`NIJI_OIDC_PYTHON`, else
//! `~/.cache/niji/venvs/oidc/bin/python`), with a signing key it makes at
//! start, niji as its one client, and test users whose claims are
//! synthetic persons. Stopped (and its directory removed) when dropped.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A test user of the provider: the card's basic items as its claims.
#[derive(Clone, Copy)]
pub struct CardHolder<'a> {
    /// The name typed on the provider's login page.
    pub login: &'a str,
    /// The password typed there.
    pub password: &'a str,
    /// The name in kanji (`name`).
    pub name: &'a str,
    /// `YYYY-MM-DD` (`birthdate`).
    pub birthdate: &'a str,
    /// `male` or `female` (`gender`).
    pub gender: &'a str,
    /// The address (`address.formatted`).
    pub address: &'a str,
}

/// A running provider.
pub struct Provider {
    child: Child,
    home: PathBuf,
    /// Its issuer, `http://127.0.0.1:PORT`.
    pub issuer: String,
}

/// A JSON string.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn python() -> PathBuf {
    std::env::var_os("NIJI_OIDC_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/niji/venvs/oidc/bin/python")
        })
}

impl Provider {
    /// Starts the provider with niji registered as `client_id` (secret
    /// `secret`, callback `redirect`) and `users`.
    pub fn start(
        client_id: &str,
        secret: &str,
        redirect: &str,
        users: &[CardHolder<'_>],
    ) -> io::Result<Provider> {
        let python = python();
        if !python.exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{}: missing; `bash .ci/run` makes the idpyoidc environment (or set NIJI_OIDC_PYTHON)",
                    python.display()
                ),
            ));
        }
        let home = std::env::temp_dir().join(format!(
            "niji-oidc-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&home)?;
        let users: Vec<String> = users
            .iter()
            .map(|u| {
                format!(
                    "{}: {{\"password\": {}, \"claims\": {{\"sub\": {}, \"name\": {}, \"birthdate\": {}, \"gender\": {}, \"address\": {{\"formatted\": {}}}}}}}",
                    quoted(u.login),
                    quoted(u.password),
                    quoted(u.login),
                    quoted(u.name),
                    quoted(u.birthdate),
                    quoted(u.gender),
                    quoted(u.address),
                )
            })
            .collect();
        let config = format!(
            "{{\"client_id\": {}, \"client_secret\": {}, \"redirect_uri\": {}, \"users\": {{{}}}}}",
            quoted(client_id),
            quoted(secret),
            quoted(redirect),
            users.join(", ")
        );
        std::fs::write(home.join("config.json"), config)?;
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc/provider.py");
        let mut child = Command::new(&python)
            .arg(&script)
            .arg(home.join("config.json"))
            .env("PYTHONWARNINGS", "ignore")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(
                home.join("provider.log"),
            )?))
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
        let Some(issuer) = line.trim().strip_prefix("issuer ").map(str::to_owned) else {
            let _ = child.kill();
            let log = std::fs::read_to_string(home.join("provider.log")).unwrap_or_default();
            return Err(io::Error::other(format!(
                "the provider did not start: {line:?}\n{log}"
            )));
        };
        Ok(Provider {
            child,
            home,
            issuer,
        })
    }

    /// Makes the next ID token the provider hands out differ: `bare`
    /// (without the basic items, which userinfo gives), or misbehave:
    /// `other-key`, `alg-none`, `expired`, `audience`, `nonce`, `issuer`
    /// (see the script).
    pub fn tamper(&self, mode: &str) -> io::Result<()> {
        let address = self.issuer.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let body = format!("{{\"mode\": {}}}", quoted(mode));
        write!(
            stream,
            "POST /test/tamper HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply)?;
        if reply.starts_with("HTTP/1.0 204") || reply.starts_with("HTTP/1.1 204") {
            Ok(())
        } else {
            Err(io::Error::other(format!("tamper {mode}: {reply}")))
        }
    }

    /// What the provider wrote to its log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home.join("provider.log")).unwrap_or_default()
    }

    /// Stops it: afterwards it is a provider that is down.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}
