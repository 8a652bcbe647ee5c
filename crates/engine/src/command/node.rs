//! [`Node`]: a reply tree written in Rust source, used for the generated command
//! metadata so COMMAND INFO and COMMAND DOCS send exactly what Redis 7.0 sends.

use redoubt_resp::ReplyBuf;

/// A constant reply tree.
#[derive(Debug)]
pub enum Node {
    /// A status string.
    S(&'static str),
    /// A bulk string.
    B(&'static str),
    I(i64),
    Null,
    A(&'static [Node]),
    Set(&'static [Node]),
    M(&'static [(Node, Node)]),
}

impl Node {
    /// Writes the tree in the client's protocol.
    pub fn write(&self, out: &mut ReplyBuf) {
        match self {
            Node::S(s) => out.simple(s.as_bytes()),
            Node::B(s) => out.bulk(s.as_bytes()),
            Node::I(i) => out.int(*i),
            Node::Null => out.null(),
            Node::A(items) => {
                out.array(items.len());
                items.iter().for_each(|n| n.write(out));
            }
            Node::Set(items) => {
                out.set(items.len());
                items.iter().for_each(|n| n.write(out));
            }
            Node::M(pairs) => {
                out.map(pairs.len());
                for (k, v) in pairs.iter() {
                    k.write(out);
                    v.write(out);
                }
            }
        }
    }

    /// The string inside an `S` or `B` node.
    pub fn as_str(&self) -> Option<&'static str> {
        match self {
            Node::S(s) | Node::B(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Node::I(i) => Some(*i),
            _ => None,
        }
    }

    /// The items of an array or set node.
    pub fn items(&self) -> &'static [Node] {
        match self {
            Node::A(items) | Node::Set(items) => items,
            _ => &[],
        }
    }

    /// The value stored under `key` in a map node.
    pub fn get(&self, key: &str) -> Option<&'static Node> {
        match self {
            Node::M(pairs) => pairs.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }
}
