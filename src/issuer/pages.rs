//! The HTML of `/authorize` and `/authorize/signup`: the sign-in and sign-up forms, the error page,
//! and the headers every one of them is served with.

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, RETRY_AFTER, X_FRAME_OPTIONS};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::request::AuthorizeRequest;

/// Headers of every page this issuer serves. The forms take a password, so they must never be cached
/// nor shown inside another site's frame, where a decoy could steer clicks and keystrokes into them
/// (clickjacking): CSP `frame-ancestors` for current browsers, `X-Frame-Options` for older ones
/// (RFC 7034). The rest of the policy allows only the page's own inline style.
pub(super) fn page_headers() -> [(HeaderName, &'static str); 3] {
    [
        (CACHE_CONTROL, "no-store"),
        (X_FRAME_OPTIONS, "DENY"),
        (
            CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
        ),
    ]
}

/// A page with `status`, and `Retry-After` when waiting helps (RFC 9110 §10.2.3).
pub(super) fn respond(status: StatusCode, html: String, retry_after: Option<u64>) -> Response {
    let mut response = (status, page_headers(), Html(html)).into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    }
    response
}

/// Problems found before the redirect URI is trusted are shown here, never sent to it (RFC 6749
/// §4.1.2.1).
pub(super) fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!("<p class=\"error\">{}</p>", escape(message));
    respond(status, page("Cannot sign in", &body), None)
}

/// The sign-in form for `request`, with `error` above it when the last try failed.
pub(super) fn login_page(request: &AuthorizeRequest, csrf: &str, error: Option<&str>) -> String {
    let body = format!(
        r#"{error}<form method="post" action="/authorize">
  {hidden}
  <label for="username">Username or email</label>
  <input id="username" name="username" autocomplete="username" required autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>
<p class="hint">No account yet? <a id="signup" href="/authorize/signup?{query}">Create one</a> (a local development account).</p>"#,
        error = alert(error),
        hidden = hidden_fields(request, csrf),
        query = escape(&request.query()),
    );
    page("Sign in to protected-api", &body)
}

/// The sign-up form for `request`: what `POST /auth/signup` takes, then the same authorization
/// request goes on. `error` and `fields` say what was wrong with the last try; `kept` refills the
/// fields that were not secret.
pub(super) fn signup_page(
    request: &AuthorizeRequest,
    csrf: &str,
    kept: &Kept<'_>,
    error: Option<&str>,
    fields: &[(&str, &str)],
) -> String {
    // A field with a problem says so to screen readers, and points at the message.
    let invalid = |field: &str| {
        if fields.iter().any(|(name, _)| *name == field) {
            format!(" aria-invalid=\"true\" aria-describedby=\"{field}-error\"")
        } else {
            String::new()
        }
    };
    let problem = |field: &str| {
        fields
            .iter()
            .find(|(name, _)| *name == field)
            .map_or_else(String::new, |(_, message)| {
                format!(
                    "<p class=\"field-error\" id=\"{field}-error\">{}</p>",
                    escape(message)
                )
            })
    };
    let body = format!(
        r#"{error}<form method="post" action="/authorize/signup">
  {hidden}
  <label for="username">Username or email</label>
  <input id="username" name="username" autocomplete="username" value="{username}"{username_invalid} required autofocus>
  {username_error}
  <label for="password">Password (8 characters or more)</label>
  <input id="password" name="password" type="password" autocomplete="new-password"{password_invalid} required>
  {password_error}
  <label for="email">Email (optional)</label>
  <input id="email" name="email" type="email" autocomplete="email" value="{email}"{email_invalid}>
  {email_error}
  <label for="name">Name (optional)</label>
  <input id="name" name="name" autocomplete="name" value="{name}"{name_invalid}>
  {name_error}
  <button type="submit">Create account</button>
</form>
<p class="hint">Already have an account? <a id="signin" href="/authorize?{query}">Sign in</a></p>"#,
        error = alert(error),
        hidden = hidden_fields(request, csrf),
        username = escape(kept.username),
        email = escape(kept.email),
        name = escape(kept.name),
        username_invalid = invalid("username"),
        password_invalid = invalid("password"),
        email_invalid = invalid("email"),
        name_invalid = invalid("name"),
        username_error = problem("username"),
        password_error = problem("password"),
        email_error = problem("email"),
        name_error = problem("name"),
        query = escape(&request.query()),
    );
    page("Create a protected-api account", &body)
}

/// What the sign-up form shows again after a refusal (never the password).
#[derive(Debug, Default)]
pub(super) struct Kept<'a> {
    /// The username typed.
    pub(super) username: &'a str,
    /// The email typed.
    pub(super) email: &'a str,
    /// The name typed.
    pub(super) name: &'a str,
}

fn alert(error: Option<&str>) -> String {
    error.map_or_else(String::new, |message| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", escape(message))
    })
}

/// The authorization request and the CSRF token as hidden fields, so the form posts them back.
fn hidden_fields(request: &AuthorizeRequest, csrf: &str) -> String {
    request
        .pairs()
        .chain([("csrf", csrf)])
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                escape(value)
            )
        })
        .collect()
}

/// HTML-escapes text for element content and attribute values.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
  body {{ font: 16px/1.5 system-ui, sans-serif; background: #f4f5f7; color: #1d2330; display: grid; place-items: center; min-height: 100vh; margin: 0; }}
  main {{ background: #fff; padding: 2rem; border-radius: 8px; box-shadow: 0 1px 4px rgba(0,0,0,.12); width: min(22rem, 90vw); }}
  h1 {{ font-size: 1.25rem; margin: 0 0 1rem; }}
  label {{ display: block; margin-top: .75rem; font-weight: 600; }}
  input {{ width: 100%; box-sizing: border-box; padding: .5rem; margin-top: .25rem; border: 1px solid #9aa3b2; border-radius: 4px; font: inherit; }}
  input:focus, button:focus, a:focus {{ outline: 3px solid #7aa7ff; outline-offset: 1px; }}
  button {{ margin-top: 1.25rem; width: 100%; padding: .6rem; border: 0; border-radius: 4px; background: #2856d8; color: #fff; font: inherit; font-weight: 600; cursor: pointer; }}
  a {{ color: #2856d8; }}
  .error {{ color: #a4161a; background: #fde8e8; padding: .5rem .75rem; border-radius: 4px; }}
  .field-error {{ color: #a4161a; font-size: .85rem; margin: .25rem 0 0; }}
  .hint {{ font-size: .85rem; color: #5b6475; margin-top: 1rem; }}
</style>
</head>
<body><main><h1>{title}</h1>
{body}
</main></body>
</html>"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_request_cannot_break_out_of_an_attribute_or_the_link() {
        let request = AuthorizeRequest {
            state: Some(r#""><script>alert(1)</script>&x='"#.to_owned()),
            ..AuthorizeRequest::default()
        };
        let html = login_page(&request, "token", Some("<b>bad</b>"));
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<b>bad"), "{html}");
        assert!(html.contains("&lt;b&gt;bad&lt;/b&gt;"), "{html}");
    }
}
