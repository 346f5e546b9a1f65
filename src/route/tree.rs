//! The routes of one API as a tree of path segments, searched most specific
//! first.
//!
//! Each node has literal children (sorted, binary-searched), at most one
//! `{param}` child, the routes that end at it, and the greedy `{name+}` routes
//! that hang off it. A search tries, segment by segment, the literal child,
//! then the parameter child, then the node's greedy routes, backtracking when
//! a branch has no route for the method. At a node, a route for the request's
//! own method beats `ANY`, so `ANY` serves exactly the methods that have no
//! route of their own on that path; when neither exists the search falls
//! through to less specific paths.
//!
//! Guarantees: a search allocates nothing and recurses at most as deep as the
//! longest route. Does not: handle stages or `$default` (the caller does) or
//! decide conflicts (config refuses them; the first route inserted wins).

use super::params::Params;
use super::path::{Segment, segments};
use crate::config::{Method, Route, RouteKey};

/// Indexes into `Tree::entries`.
type EntryId = u32;

#[derive(Debug, Default)]
pub(crate) struct Tree {
    nodes: Vec<Node>,
    entries: Vec<Entry>,
    /// The API's `$default` route (index into its routes).
    pub(crate) default_route: Option<usize>,
}

#[derive(Debug)]
struct Entry {
    /// Index into the API's routes.
    route: usize,
    /// The route's path, to find its parameters in a matched request path.
    segs: Box<[Seg]>,
}

#[derive(Debug)]
enum Seg {
    Literal,
    Param(Box<str>),
    Greedy(Box<str>),
}

#[derive(Debug, Default)]
struct Node {
    literals: Vec<(Box<[u8]>, u32)>,
    param: Option<u32>,
    /// Routes whose path ends here.
    end: Endpoint,
    /// Greedy routes whose `{name+}` segment follows this node.
    greedy: Endpoint,
}

/// The routes of one path, by method.
#[derive(Debug, Default)]
struct Endpoint {
    /// By [`method_slot`].
    methods: [Option<EntryId>; 9],
    /// Extension methods, by name.
    other: Vec<(Box<[u8]>, EntryId)>,
    any: Option<EntryId>,
}

/// The slot of a method in `Endpoint::methods`; `None` for `Method::Other`.
fn method_slot(m: Method) -> Option<usize> {
    Some(match m {
        Method::Get => 0,
        Method::Head => 1,
        Method::Post => 2,
        Method::Put => 3,
        Method::Delete => 4,
        Method::Patch => 5,
        Method::Options => 6,
        Method::Connect => 7,
        Method::Trace => 8,
        Method::Other => return None,
    })
}

impl Endpoint {
    /// The route for this method: its own, else `ANY`.
    fn get(&self, method: Method, name: &[u8]) -> Option<EntryId> {
        let own = match method_slot(method) {
            Some(i) => self.methods[i],
            None => self.other.iter().find(|(n, _)| **n == *name).map(|e| e.1),
        };
        own.or(self.any)
    }

    /// Add a route unless its method is taken (first wins).
    fn insert(&mut self, method: Option<Method>, name: &str, id: EntryId) {
        let slot = match method {
            None => &mut self.any,
            Some(m) => match method_slot(m) {
                Some(i) => &mut self.methods[i],
                None => {
                    if !self.other.iter().any(|(n, _)| **n == *name.as_bytes()) {
                        self.other.push((name.as_bytes().into(), id));
                    }
                    return;
                }
            },
        };
        slot.get_or_insert(id);
    }
}

fn split_segment(path: &[u8]) -> (&[u8], &[u8]) {
    // `path` starts with `/`; the segment runs to the next `/`.
    let body = &path[1..];
    let cut = memchr::memchr(b'/', body).unwrap_or(body.len());
    body.split_at(cut)
}

impl Tree {
    pub(crate) fn build(routes: &[Route]) -> Tree {
        let mut tree = Tree {
            nodes: vec![Node::default()],
            ..Tree::default()
        };
        for (index, route) in routes.iter().enumerate() {
            match &route.key {
                RouteKey::Default => {
                    tree.default_route.get_or_insert(index);
                }
                RouteKey::Path {
                    method,
                    method_name,
                    path,
                } => tree.insert(index, *method, method_name, path),
            }
        }
        tree
    }

    fn insert(&mut self, route: usize, method: Option<Method>, name: &str, path: &str) {
        let id = EntryId::try_from(self.entries.len()).unwrap_or(EntryId::MAX);
        let mut node = 0usize;
        let mut segs = Vec::new();
        let mut greedy = false;
        for seg in segments(path) {
            let next = match seg {
                Segment::Literal(lit) => {
                    segs.push(Seg::Literal);
                    // Kept sorted while building: a node may have thousands
                    // of literal children, and a linear search per insert
                    // made building quadratic.
                    let found = self.nodes[node]
                        .literals
                        .binary_search_by(|(l, _)| (**l).cmp(lit.as_bytes()));
                    match found {
                        Ok(i) => self.nodes[node].literals[i].1,
                        Err(i) => {
                            let child = self.new_node();
                            self.nodes[node]
                                .literals
                                .insert(i, (lit.as_bytes().into(), child));
                            child
                        }
                    }
                }
                Segment::Param(p) => {
                    segs.push(Seg::Param(p.into()));
                    match self.nodes[node].param {
                        Some(child) => child,
                        None => {
                            let child = self.new_node();
                            self.nodes[node].param = Some(child);
                            child
                        }
                    }
                }
                Segment::Greedy(p) => {
                    segs.push(Seg::Greedy(p.into()));
                    greedy = true;
                    break;
                }
            };
            node = next as usize;
        }
        let n = &mut self.nodes[node];
        let endpoint = if greedy { &mut n.greedy } else { &mut n.end };
        endpoint.insert(method, name, id);
        self.entries.push(Entry {
            route,
            segs: segs.into(),
        });
    }

    fn new_node(&mut self) -> u32 {
        self.nodes.push(Node::default());
        u32::try_from(self.nodes.len() - 1).unwrap_or(u32::MAX)
    }

    /// The most specific route for `method` on `path` (stage removed, starting
    /// with `/`), as (index into the API's routes, entry for [`Tree::capture`]).
    pub(crate) fn find(&self, method: Method, name: &[u8], path: &[u8]) -> Option<(usize, u32)> {
        let id = if path == b"/" {
            self.nodes[0].end.get(method, name)
        } else if path.first() == Some(&b'/') {
            self.walk(0, path, method, name)
        } else {
            None
        }?;
        Some((self.entries[id as usize].route, id))
    }

    fn walk(&self, node: usize, path: &[u8], method: Method, name: &[u8]) -> Option<EntryId> {
        let n = &self.nodes[node];
        if path.is_empty() {
            return n.end.get(method, name);
        }
        let (seg, after) = split_segment(path);
        if !seg.is_empty() {
            if let Ok(i) = n.literals.binary_search_by(|(l, _)| (**l).cmp(seg))
                && let Some(id) = self.walk(n.literals[i].1 as usize, after, method, name)
            {
                return Some(id);
            }
            if let Some(p) = n.param
                && let Some(id) = self.walk(p as usize, after, method, name)
            {
                return Some(id);
            }
        }
        // A greedy parameter takes everything after the `/`, at least one byte.
        if path.len() > 1 {
            return n.greedy.get(method, name);
        }
        None
    }

    /// Decode the parameters of entry `id` (from [`Tree::find`] on the same
    /// `path`) into `params`.
    pub(crate) fn capture(&self, id: u32, mut path: &[u8], params: &mut Params) {
        for seg in &self.entries[id as usize].segs {
            match seg {
                Seg::Greedy(name) => {
                    params.push(name, &path[1..]);
                    return;
                }
                Seg::Literal => path = split_segment(path).1,
                Seg::Param(name) => {
                    let (value, after) = split_segment(path);
                    params.push(name, value);
                    path = after;
                }
            }
        }
    }
}
