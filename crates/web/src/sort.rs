//! Sortable columns of the tables a page holds whole (an organization's
//! clusters and members, the administrator's organizations): the order is
//! in the address (`?sort=nodes`, `?sort=-nodes` for descending), each
//! column's header links to its order and says which one is shown
//! (`aria-sort`), and the rows are sorted on the server.

use std::cmp::Ordering;

use maud::{Markup, html};

/// The order a table is shown in: a column's key, ascending or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort<'a> {
    /// The query parameter that holds it (one per table on a page).
    param: &'a str,
    pub key: &'a str,
    pub descending: bool,
    /// Where on the page the table is (`#anchor`), for the headers' links.
    anchor: &'a str,
}

impl<'a> Sort<'a> {
    /// The order asked for in `path`'s query parameter `param`, if it names
    /// one of `keys`; otherwise the first key, ascending.
    pub fn of(path: &str, param: &'a str, keys: &[&'a str]) -> Self {
        let query = path.split_once('?').map_or("", |(_, q)| q);
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        let asked = pairs
            .iter()
            .find(|(k, _)| k == param)
            .map(|(_, v)| v.as_str());
        let (descending, name) = match asked {
            Some(v) => v.strip_prefix('-').map_or((false, v), |n| (true, n)),
            None => (false, ""),
        };
        match keys.iter().find(|k| **k == name) {
            Some(key) => Self {
                param,
                key,
                descending,
                anchor: "",
            },
            None => Self {
                param,
                key: keys.first().copied().unwrap_or(""),
                descending: false,
                anchor: "",
            },
        }
    }

    /// The same order, of the table at `#anchor`.
    pub fn at(self, anchor: &'a str) -> Self {
        Self { anchor, ..self }
    }

    /// Sorts `rows` by the column: `compare(key, a, b)` orders two rows by
    /// it ascending; ties keep their order.
    pub fn apply<T>(&self, rows: &mut [T], compare: impl Fn(&str, &T, &T) -> Ordering) {
        rows.sort_by(|a, b| {
            let o = compare(self.key, a, b);
            if self.descending { o.reverse() } else { o }
        });
    }

    /// The header of column `key`: a link to its order (the other way when
    /// it is the one shown), the page's other parameters kept.
    pub fn header(&self, path: &str, key: &str, label: &str) -> Markup {
        let shown = self.key == key;
        let next = if shown && !self.descending {
            format!("-{key}")
        } else {
            key.to_owned()
        };
        let (page, query) = path.split_once('?').unwrap_or((path, ""));
        let mut pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query).unwrap_or_default();
        pairs.retain(|(k, _)| k != self.param && !crate::echo::is_echo(k));
        pairs.push((self.param.to_owned(), next));
        let mut href = format!(
            "{page}?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        );
        if !self.anchor.is_empty() {
            href = format!("{href}#{}", self.anchor);
        }
        let aria = shown.then_some(if self.descending {
            "descending"
        } else {
            "ascending"
        });
        html! {
            th scope="col" aria-sort=[aria] {
                a.sort href=(href) {
                    (label)
                    @if shown { span aria-hidden="true" { @if self.descending { " ↓" } @else { " ↑" } } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_comes_from_the_address_and_an_unknown_one_is_the_default() {
        let keys = ["name", "nodes"];
        let s = Sort::of("/orgs/o?costs=daily&sort=-nodes", "sort", &keys);
        assert_eq!((s.key, s.descending), ("nodes", true));
        let s = Sort::of("/orgs/o?sort=evil", "sort", &keys);
        assert_eq!((s.key, s.descending), ("name", false));
        let mut rows = vec![3, 1, 2];
        Sort::of("/x?sort=-name", "sort", &keys).apply(&mut rows, |_, a, b| a.cmp(b));
        assert_eq!(rows, [3, 2, 1]);
    }

    #[test]
    fn a_header_links_to_its_order_keeping_the_other_parameters() {
        let path = "/orgs/o?costs=daily&sort=nodes";
        let s = Sort::of(path, "sort", &["name", "nodes"]);
        let shown = s.header(path, "nodes", "Nodes").into_string();
        assert!(shown.contains(r#"aria-sort="ascending""#), "{shown}");
        assert!(
            shown.contains(r#"href="/orgs/o?costs=daily&amp;sort=-nodes""#),
            "{shown}"
        );
        let other = s.header(path, "name", "Name").into_string();
        assert!(!other.contains("aria-sort"), "{other}");
        assert!(other.contains("sort=name"), "{other}");
    }
}
