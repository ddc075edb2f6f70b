//! FEAT replies (RFC 2389) and the feature lists inside them.
//!
//! [`Features::from_reply`] reads a 211 reply leniently (RFC 2389 §3.2, as real servers write it): any
//! `211 `-prefixed last line ends it, feature lines may be indented by more than one space (or by
//! none), unknown features are kept. [`Features::to_reply`] writes the strict form: one leading
//! space per feature, `211 End` last, or the single-line `211 No features`.

use bytes::Bytes;

use crate::reply::{split_semicolons, Reply, ReplyCode};

/// One feature line: an upper-cased label and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Feature {
    /// The label, upper-cased (`MLST`, `REST`, `AUTH`, `UTF8`, ...).
    pub label: Bytes,
    /// The rest of the line after one SP (`size*;modify*;`, `STREAM`, `TLS`), if any.
    pub params: Option<Bytes>,
}

/// An item of a `;`-separated feature parameter list (MLST facts, HASH algorithms, LANG tags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedItem {
    /// The name without its `*`.
    pub name: Bytes,
    /// True when it was marked with `*`: returned by default (MLST) or currently selected
    /// (HASH, LANG).
    pub selected: bool,
}

/// What a server says it supports.
///
/// Guarantees: [`advertised`](Self::advertised) is false exactly when the server answered FEAT
/// with something other than 211 (then every query says "not listed", which a client must not
/// read as "not supported", RFC 2389 §3.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Features {
    advertised: bool,
    features: Vec<Feature>,
}

impl Features {
    /// A feature set to advertise.
    pub fn new(features: impl IntoIterator<Item = Feature>) -> Self {
        Self {
            advertised: true,
            features: features.into_iter().collect(),
        }
    }

    /// Reads the reply to FEAT.
    pub fn from_reply(reply: &Reply) -> Self {
        if reply.code() != ReplyCode::SYSTEM_STATUS {
            return Self::default();
        }
        let lines = reply.lines();
        let inner = match lines.len() {
            0..=2 => &[][..],
            n => &lines[1..n - 1],
        };
        Self {
            advertised: true,
            features: inner.iter().filter_map(parse_feature_line).collect(),
        }
    }

    /// The 211 reply that lists these features.
    pub fn to_reply(&self) -> Reply {
        if self.features.is_empty() {
            return Reply::new(ReplyCode::SYSTEM_STATUS, "No features");
        }
        let mut lines = vec![Bytes::from_static(b"Features:")];
        for feature in &self.features {
            let mut line = Vec::with_capacity(1 + feature.label.len());
            line.push(b' ');
            line.extend_from_slice(&feature.label);
            if let Some(params) = &feature.params {
                line.push(b' ');
                line.extend_from_slice(params);
            }
            lines.push(line.into());
        }
        lines.push(Bytes::from_static(b"End"));
        Reply::multiline(ReplyCode::SYSTEM_STATUS, lines)
    }

    /// True when the server answered FEAT with a feature list (possibly empty).
    pub fn advertised(&self) -> bool {
        self.advertised
    }

    /// Every feature, in the order listed.
    pub fn iter(&self) -> impl Iterator<Item = &Feature> {
        self.features.iter()
    }

    /// The feature with this label (case-insensitive).
    pub fn get(&self, label: &str) -> Option<&Feature> {
        self.features
            .iter()
            .find(|f| f.label.eq_ignore_ascii_case(label.as_bytes()))
    }

    /// True when the feature is listed.
    pub fn has(&self, label: &str) -> bool {
        self.get(label).is_some()
    }

    /// True when `label` is listed with exactly `params` (case-insensitive), e.g.
    /// `("REST", "STREAM")`.
    pub fn has_with(&self, label: &str, params: &str) -> bool {
        self.features.iter().any(|f| {
            f.label.eq_ignore_ascii_case(label.as_bytes())
                && f.params
                    .as_ref()
                    .is_some_and(|p| p.trim_ascii().eq_ignore_ascii_case(params.as_bytes()))
        })
    }

    /// `REST STREAM` is listed (RFC 3659 §5.4).
    pub fn rest_stream(&self) -> bool {
        self.has_with("REST", "STREAM")
    }

    /// `UTF8` is listed (RFC 2640).
    pub fn utf8(&self) -> bool {
        self.has("UTF8")
    }

    /// The MLST fact list: every fact the server supports, `selected` for those returned by
    /// default.
    pub fn mlst_facts(&self) -> Option<Vec<ListedItem>> {
        self.listed("MLST")
    }

    /// The HASH algorithms, `selected` for the current one.
    pub fn hash_algorithms(&self) -> Option<Vec<ListedItem>> {
        self.listed("HASH")
    }

    /// The LANG tags, `selected` for the current language.
    pub fn languages(&self) -> Option<Vec<ListedItem>> {
        self.listed("LANG")
    }

    /// The AUTH mechanisms (`TLS`, `SSL`, ...): every `AUTH` line's parameters.
    pub fn auth_mechanisms(&self) -> Vec<Bytes> {
        self.features
            .iter()
            .filter(|f| f.label.eq_ignore_ascii_case(b"AUTH"))
            .filter_map(|f| f.params.as_ref())
            .flat_map(|p| {
                p.split(|&b| b == b' ' || b == b';')
                    .filter(|m| !m.is_empty())
                    .map(|m| p.slice_ref(m))
            })
            .collect()
    }

    fn listed(&self, label: &str) -> Option<Vec<ListedItem>> {
        let params = self.get(label)?.params.clone().unwrap_or_default();
        Some(parse_listed_items(&params))
    }
}

/// Reads `a*;b;c*;` (a trailing `;` optional, RFC 2389 and hash-02 examples omit it).
pub fn parse_listed_items(list: &Bytes) -> Vec<ListedItem> {
    split_semicolons(list)
        .into_iter()
        .map(|item| match item.strip_suffix(b"*") {
            Some(name) => ListedItem {
                name: item.slice_ref(name),
                selected: true,
            },
            None => ListedItem {
                name: item,
                selected: false,
            },
        })
        .collect()
}

/// Writes `a*;b;` for a feature line or an OPTS reply.
pub fn format_listed_items(items: &[ListedItem]) -> Bytes {
    let mut out = Vec::new();
    for item in items {
        out.extend_from_slice(&item.name);
        if item.selected {
            out.push(b'*');
        }
        out.push(b';');
    }
    out.into()
}

fn parse_feature_line(line: &Bytes) -> Option<Feature> {
    let start = line.iter().take_while(|&&b| b == b' ').count();
    let line = line.slice(start..);
    let line = line.slice(..line.trim_ascii_end().len());
    if line.is_empty() {
        return None;
    }
    let (label, params) = match memchr::memchr(b' ', &line) {
        Some(at) => (line.slice(..at), Some(line.slice(at + 1..))),
        None => (line.clone(), None),
    };
    Some(Feature {
        label: label.to_ascii_uppercase().into(),
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_reply_is_strict_and_round_trips() {
        let features = Features::new([
            Feature {
                label: "SIZE".into(),
                params: None,
            },
            Feature {
                label: "MLST".into(),
                params: Some("type*;size*;modify*;".into()),
            },
            Feature {
                label: "REST".into(),
                params: Some("STREAM".into()),
            },
        ]);
        let reply = features.to_reply();
        assert_eq!(
            &reply.to_bytes().unwrap()[..],
            b"211-Features:\r\n SIZE\r\n MLST type*;size*;modify*;\r\n REST STREAM\r\n211 End\r\n"
        );
        assert_eq!(Features::from_reply(&reply), features);
        assert_eq!(
            &Features::new([]).to_reply().to_bytes().unwrap()[..],
            b"211 No features\r\n"
        );
    }

    #[test]
    fn listed_items_round_trip() {
        let items = parse_listed_items(&Bytes::from_static(b"SHA-256;SHA-1*;MD5"));
        assert_eq!(&format_listed_items(&items)[..], b"SHA-256;SHA-1*;MD5;");
    }
}
