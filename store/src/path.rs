//! Node paths: validation, canonicalisation and parent/child arithmetic.
//!
//! Rules (`docs/misc/xenstore.txt`, C `canonicalize`/`valid_chars`):
//! * characters are limited to `A-Z a-z 0-9 - / _ @`;
//! * a path not starting with `/` or `@` is relative to the caller's home
//!   `/local/domain/<domid>`;
//! * `@` starts a special path (`@introduceDomain`, `@releaseDomain`,
//!   `@releaseDomain/<domid>`), accepted only where the operation allows it;
//! * no `//`, no trailing `/` except for the root `/`;
//! * an absolute path is at most [`XENSTORE_ABS_PATH_MAX`] bytes; for an
//!   unprivileged caller the part below `/local/domain/<domid>/` is further
//!   limited by the `path-max` quota (default [`XENSTORE_REL_PATH_MAX`](ring::wire::XENSTORE_REL_PATH_MAX)),
//!   checked by the caller with [`quota_len`].

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;

pub use ring::wire::XENSTORE_ABS_PATH_MAX;

use crate::error::Error;
use crate::ids::DomId;

/// Whether `c` is in the node-name character set.
pub fn valid_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'/' | b'_' | b'@')
}

/// The home directory of `domid`: `/local/domain/<domid>`.
pub fn domain_path(domid: DomId) -> String {
    format!("/local/domain/{}", domid.0)
}

/// A canonical path plus whether the caller wrote it relative.
pub struct Canonical<'a> {
    /// The absolute (or special `@…`) path.
    pub path: Cow<'a, str>,
    /// The request used a relative path (watch events report it relative).
    pub relative: bool,
}

/// Canonicalises `raw` (the request argument without its NUL) for `domid`.
/// Does not apply the `path-max` quota: see [`quota_len`].
pub fn canonicalize(raw: &[u8], domid: DomId, allow_special: bool) -> Result<Canonical<'_>, Error> {
    if raw.is_empty() || !well_formed(raw) {
        return Err(Error::BadPath);
    }
    let s = core::str::from_utf8(raw).map_err(|_| Error::BadPath)?;
    let first = raw.first().copied().unwrap_or(0);
    if first == b'@' && !allow_special {
        return Err(Error::BadPath);
    }
    let relative = first != b'/' && first != b'@';
    let path: Cow<'_, str> = if relative {
        Cow::Owned(format!("/local/domain/{}/{}", domid.0, s))
    } else {
        Cow::Borrowed(s)
    };
    if path.len() > XENSTORE_ABS_PATH_MAX {
        return Err(Error::BadPath);
    }
    Ok(Canonical { path, relative })
}

/// One pass over a path argument: only [`valid_char`]s, no empty segment
/// (`//`) and no trailing `/` unless it is the root itself. A relative
/// path cannot form `//` with the home prefix (it does not start with
/// `/`), so checking the argument checks the canonical path.
fn well_formed(raw: &[u8]) -> bool {
    let mut prev = 0u8;
    for &c in raw {
        if !valid_char(c) || (c == b'/' && prev == b'/') {
            return false;
        }
        prev = c;
    }
    prev != b'/' || raw == b"/"
}

/// The length the `path-max` quota applies to: the whole path, minus a
/// leading `/local/domain/<domid>/` (C: `sscanf("/local/domain/%5u/%n")`).
/// `"/local/domain/"` alone or with a non-numeric part counts whole
/// (XSA-481: such paths must never be special-cased into a crash).
pub fn quota_len(path: &str) -> usize {
    let Some(rest) = path.strip_prefix("/local/domain/") else {
        return path.len();
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 5 {
        return path.len();
    }
    let after = rest.get(digits..).unwrap_or("");
    if !after.starts_with('/') {
        return path.len();
    }
    // The prefix is "/local/domain/" + digits + "/".
    path.len().saturating_sub(digits.saturating_add(15))
}

/// The parent of a canonical path (`/` for top-level nodes and for `/`).
/// Special paths `@x/<n>` have parent `@x`; a bare `@x` has parent `/`.
pub fn parent(path: &str) -> &str {
    match path.get(1..).and_then(|rest| rest.rfind('/')) {
        Some(i) => path.get(..i.saturating_add(1)).unwrap_or("/"),
        None => "/",
    }
}

/// The last segment of a canonical path (`""` for `/`).
pub fn basename(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => path.get(i.saturating_add(1)..).unwrap_or(""),
        None => path,
    }
}

/// The path of child `name` under `parent`.
pub fn child(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// Whether `child` is `parent` or below it, at most `depth` levels down
/// (`None` = any depth). Matches C `is_child` in `watch.c`.
pub fn is_child(child: &str, parent: &str, depth: Option<u32>) -> bool {
    let Some(rest) = child.strip_prefix(parent) else {
        return false;
    };
    if parent.len() > 1 && !rest.is_empty() && !rest.starts_with('/') {
        return false;
    }
    let Some(depth) = depth else {
        return true;
    };
    if rest.is_empty() {
        return true;
    }
    // Levels below `parent`: the number of '/'-separated segments in rest.
    let levels = if parent == "/" {
        rest.bytes().filter(|&c| c == b'/').count().saturating_add(1)
    } else {
        rest.bytes().filter(|&c| c == b'/').count()
    };
    levels <= depth as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> Result<String, Error> {
        canonicalize(s.as_bytes(), DomId(3), false).map(|c| c.path.into_owned())
    }

    #[test]
    fn relative_paths_go_under_the_home() {
        assert_eq!(canon("data/x").unwrap(), "/local/domain/3/data/x");
        assert!(canonicalize(b"data", DomId(3), false).unwrap().relative);
        assert!(!canonicalize(b"/data", DomId(3), false).unwrap().relative);
    }

    #[test]
    fn bad_paths_are_einval() {
        for p in [
            "",
            "/a//b",
            "//",
            "//a",
            "/a/",
            "a/",
            "a//b",
            "/a b",
            "/a\u{e9}",
            "@introduceDomain",
            "/local/domain/3/",
        ] {
            assert_eq!(canon(p), Err(Error::BadPath), "{p:?}");
        }
        assert_eq!(canon("/").unwrap(), "/");
        let long = format!("/{}", "a".repeat(XENSTORE_ABS_PATH_MAX));
        assert_eq!(canon(&long), Err(Error::BadPath));
    }

    #[test]
    fn specials_only_where_allowed() {
        let c = canonicalize(b"@releaseDomain/5", DomId(3), true).unwrap();
        assert_eq!(c.path, "@releaseDomain/5");
        assert!(!c.relative);
    }

    #[test]
    fn xsa_481_local_domain_prefix_corner_cases() {
        assert_eq!(canon("/local/domain/"), Err(Error::BadPath));
        assert_eq!(quota_len("/local/domain"), 13);
        assert_eq!(quota_len("/local/domain/5"), 15);
        assert_eq!(quota_len("/local/domain/5/a"), 1);
        assert_eq!(quota_len("/local/domain/x/a"), 17);
        assert_eq!(quota_len("/local/domain/123456/a"), 22);
    }

    #[test]
    fn parent_and_basename() {
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/"), "/");
        assert_eq!(parent("@releaseDomain"), "/");
        assert_eq!(basename("/a/b"), "b");
        assert_eq!(child("/", "a"), "/a");
        assert_eq!(child("/a", "b"), "/a/b");
    }

    #[test]
    fn is_child_matches_c() {
        assert!(is_child("/a/b", "/a", None));
        assert!(!is_child("/ab", "/a", None));
        assert!(is_child("/a", "/", None));
        assert!(is_child("/a", "/a", Some(0)));
        assert!(!is_child("/a/b", "/a", Some(0)));
        assert!(is_child("/a/b", "/a", Some(1)));
        assert!(!is_child("/a/b/c", "/a", Some(1)));
        assert!(is_child("/a", "/", Some(1)));
        assert!(!is_child("/a/b", "/", Some(1)));
    }
}
